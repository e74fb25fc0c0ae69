"""mercur.components.entry: each app's public ALB in each region, owned by the program."""

from __future__ import annotations

import pytest

from mercur import config
from mercur.components import entry
from mercur.components.tags import PUBLIC_LISTENER_TAG
from mercur.offline import synth
from mercur.offline.synth import Plan
from conftest import ROOT

INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


def _entries(plan: Plan) -> dict:
    """(region, app) -> the PublicEntry component and its children by type."""
    found = {}
    for component in plan.of_type("mercur:entry:PublicEntry"):
        children: dict[str, list] = {}
        for child in plan.children(component):
            children.setdefault(child.type, []).append(child)
        app = component.name.removesuffix("-entry").split("-", 1)[1]
        found[(component.region or children["aws:lb/loadBalancer:LoadBalancer"][0].region, app)] = children
    return found


def test_long_names_are_cut_to_elbs_limit_and_stay_unique() -> None:
    assert entry.elb_name("mercur-prod-usw1", "storefront") == "mercur-prod-usw1-storefront"
    long_a, long_b = (entry.elb_name("mercur-staging-apse2", f"recommendations-{n}") for n in ("a", "b"))
    assert len(long_a) == len(long_b) == entry.ELB_NAME_LENGTH and long_a != long_b
    assert long_a == entry.elb_name("mercur-staging-apse2", "recommendations-a")  # the same on every run
    assert not long_a.endswith("-") and all(c.isalnum() or c == "-" for c in long_a)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_app_has_an_internet_facing_alb_across_its_regions_public_subnets(plan_of, stack) -> None:
    plan, stack_config = plan_of(stack), config.load_file(ROOT, stack)
    entries = _entries(plan)
    assert set(entries) == {(r.name, a.name) for r in stack_config.regions for a in stack_config.apps}
    public = {}
    for subnet in plan.of_type("aws:ec2/subnet:Subnet"):
        if subnet.inputs["tags"]["mercur:tier"] == "public":
            public.setdefault(subnet.region, set()).add(subnet.id)
    for (region, app), children in entries.items():
        [balancer] = children["aws:lb/loadBalancer:LoadBalancer"]
        inputs = balancer.inputs
        assert inputs["loadBalancerType"] == "application" and inputs["internal"] is False
        assert set(inputs["subnets"]) == public[region] and len(inputs["subnets"]) >= 2
        assert inputs["dropInvalidHeaderFields"] is True and inputs["desyncMitigationMode"] == "strictest"
        # ELB refuses to delete it in prod; it holds no state, so Pulumi does not protect it.
        assert inputs["enableDeletionProtection"] is stack_config.is_production and not balancer.protect
        assert len(inputs["name"]) <= entry.ELB_NAME_LENGTH
        [group] = children["aws:lb/targetGroup:TargetGroup"]
        app_config = next(a for a in stack_config.apps if a.name == app)
        assert (group.inputs["targetType"], group.inputs["protocol"], group.inputs["port"]) == ("ip", "HTTP", app_config.port)
        assert group.inputs["healthCheck"]["path"] == app_config.health_path
        # Auto Mode's controller may fill only its own cluster's target groups (cluster.cluster_role_policy).
        assert group.inputs["tags"][entry.CLUSTER_TAG] == f"mercur-{stack}-{config.REGIONS[region].short}"
        assert group.inputs["deregistrationDelay"] <= 30  # no longer than the pods' grace period


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_https_with_the_regions_certificate_or_plain_http_where_the_stack_has_none(plan_of, stack) -> None:
    plan, stack_config = plan_of(stack), config.load_file(ROOT, stack)
    certificates = stack_config.dns.certificates if stack_config.dns else {}
    for (region, _), children in _entries(plan).items():
        listeners = {listener.inputs["port"]: listener for listener in children["aws:lb/listener:Listener"]}
        [group] = children["aws:lb/targetGroup:TargetGroup"]
        group_arn = synth._computed(group.type, group.name, group.id, group.region, group.inputs, plan.account)["arn"]
        if certificates:
            assert set(listeners) == {80, 443}
            https = listeners[443].inputs
            assert (https["protocol"], https["certificateArn"], https["sslPolicy"]) == (
                "HTTPS", certificates[region], entry.TLS_POLICY)
            assert https["defaultActions"] == [{"type": "forward", "targetGroupArn": group_arn}]
            [redirect] = listeners[80].inputs["defaultActions"]
            assert redirect["redirect"] == {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}
        else:
            assert set(listeners) == {80}
            assert listeners[80].inputs["defaultActions"] == [{"type": "forward", "targetGroupArn": group_arn}]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_only_the_listener_ports_are_open_and_the_alb_reaches_the_pods_port_alone(plan_of, stack) -> None:
    plan, stack_config = plan_of(stack), config.load_file(ROOT, stack)
    clusters = {c.region: synth._computed(c.type, c.name, c.id, c.region, c.inputs, plan.account)["clusterSecurityGroupId"]
                for c in plan.of_type("eks:index:Cluster")}
    for (region, app), children in _entries(plan).items():
        [group] = children["aws:ec2/securityGroup:SecurityGroup"]
        assert "ingress" not in group.inputs and "egress" not in group.inputs  # rules of their own only
        port = next(a.port for a in stack_config.apps if a.name == app)
        world = [r for r in children[INGRESS] if r.inputs.get("cidrIpv4") == "0.0.0.0/0"]
        assert {r.inputs["fromPort"] for r in world} == ({80, 443} if stack_config.dns.certificates else {80})
        assert all(r.inputs["fromPort"] == r.inputs["toPort"] and r.inputs["tags"][PUBLIC_LISTENER_TAG] == "true"
                   for r in world)
        [to_pods] = children[EGRESS]
        [from_alb] = [r for r in children[INGRESS] if r not in world]
        assert (to_pods.inputs["fromPort"], to_pods.inputs["toPort"]) == (port, port) == (
            from_alb.inputs["fromPort"], from_alb.inputs["toPort"])
        assert to_pods.inputs["referencedSecurityGroupId"] == from_alb.inputs["securityGroupId"] == clusters[region]
        assert from_alb.inputs["referencedSecurityGroupId"] == to_pods.inputs["securityGroupId"]
