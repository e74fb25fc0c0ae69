"""The deploy path (issue: deployable for real): private APIs reachable from the deployer network only,
every provider pinned to the stack's account, identities that survive a region swap."""

from __future__ import annotations

import pytest

from mercur import config
from mercur.components.tags import PUBLIC_LISTENER_TAG
from mercur.offline import synth
from conftest import ROOT


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_each_region_attaches_the_deployer_network_and_admits_exactly_its_cidrs(plan_of, stack) -> None:
    plan, deploy = plan_of(stack), config.load_file(ROOT, stack).deploy
    for region in ("us-west-1", "us-east-1"):
        [attachment] = [a for a in plan.of_type("aws:ec2transitgateway/vpcAttachment:VpcAttachment")
                        if a.region == region]
        assert attachment.inputs["transitGatewayId"] == deploy.network.transit_gateways[region]
        private = {s.id for s in plan.of_type("aws:ec2/subnet:Subnet")
                   if s.region == region and s.inputs["tags"]["mercur:tier"] == "private"}
        assert set(attachment.inputs["subnetIds"]) == private
        rules = [r for r in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                 if r.region == region and "cidrIpv4" in r.inputs  # the database's admits a security group
                 and PUBLIC_LISTENER_TAG not in (r.inputs.get("tags") or {})]  # and the load balancers' admit anyone
        assert sorted(r.inputs["cidrIpv4"] for r in rules) == sorted(deploy.network.cidrs)
        assert {(r.inputs["fromPort"], r.inputs["toPort"], r.inputs["ipProtocol"]) for r in rules} == {
            (443, 443, "tcp")}
        [eks] = [c for c in plan.of_type("eks:index:Cluster") if c.region == region]
        cluster_sg = synth._computed("eks:index:Cluster", eks.name, eks.id, region, eks.inputs)[
            "clusterSecurityGroupId"]
        assert {r.inputs["securityGroupId"] for r in rules} == {cluster_sg}
        for table in (t for t in plan.of_type("aws:ec2/routeTable:RouteTable")
                      if t.region == region and "-private-" in t.name):
            to_gateway = {r["cidrBlock"] for r in table.inputs["routes"] if r.get("transitGatewayId")}
            assert to_gateway == set(deploy.network.cidrs)


def test_dev_has_no_transit_gateway_and_a_public_api_for_its_runners(plan_of) -> None:
    plan = plan_of("dev")
    assert not plan.of_type("aws:ec2transitgateway/vpcAttachment:VpcAttachment")
    [eks] = plan.of_type("eks:index:Cluster")
    assert "203.0.113.0/28" in eks.inputs["publicAccessCidrs"]


def _urns(plan: synth.Plan, prefixes: tuple[str, ...]) -> set[str]:
    return {r.urn for r in plan.resources if r.type.startswith(prefixes)}


def test_swapping_the_regions_keeps_every_global_and_stateful_identity(project, plan_of) -> None:
    before = plan_of("prod")
    after = project.edit("prod", lambda v: v["mercur:regions"].reverse()).synthesize("prod", shared=True)
    assert after.outputs["activeRegion"] == "us-east-1"
    kinds = ("aws:route53/", "aws:iam/", "aws:kms/key:Key", "aws:backup/vault:Vault", "aws:ec2/vpc:Vpc",
             "eks:index:Cluster", "aws:rds/", "aws:secretsmanager/", "aws:arcregionswitch/")
    assert _urns(before, kinds) == _urns(after, kinds)
    # Global resources stay on the one global provider.
    roles = {r.urn: r.provider for r in before.of_type("aws:iam/role:Role") if "BackupRoles" in r.urn}
    assert roles and roles == {r.urn: r.provider for r in after.of_type("aws:iam/role:Role") if r.urn in roles}


def test_zones_are_chosen_by_id_whatever_letters_the_account_uses(project, plan_of, monkeypatch) -> None:
    before = plan_of("prod")
    # Another account: the same zone ids under other letters.
    relabelled = tuple((f"us-east-1{'fedcba'[i]}", zone_id) for i, (_, zone_id) in
                       enumerate(synth.ACCOUNT_ZONES["us-east-1"]))
    monkeypatch.setitem(synth.ACCOUNT_ZONES, "us-east-1", relabelled)
    after = project.synthesize("prod")

    def subnets(plan: synth.Plan) -> dict[str, str]:
        return {s.urn: s.inputs["availabilityZoneId"] for s in plan.of_type("aws:ec2/subnet:Subnet")}
    assert subnets(before) == subnets(after)
    chosen = set(subnets(after).values())
    assert "use1-az3" not in chosen  # EKS does not run there
