"""mercur.config: typed stack config, and one clear line for every kind of bad input."""

from __future__ import annotations

import ipaddress
from typing import Any, Callable

import pytest
from pydantic import ValidationError

from mercur import config
from mercur.config import ConfigError, NatGateways
from conftest import ROOT, STACKS, assert_rejected


def _region(values: dict, index: int) -> dict:
    return values["mercur:regions"][index]


def _set(section: str, name: str, value: Any) -> Callable[[dict], None]:
    def change(values: dict) -> None:
        values[f"mercur:{section}"][name] = value
    return change


def _node_pool(**changes: Any) -> Callable[[dict], None]:
    def change(values: dict) -> None:
        values["mercur:nodePool"].update(changes)
    return change


def _app(index: int, **changes: Any) -> Callable[[dict], None]:
    def change(values: dict) -> None:
        values["mercur:apps"][index].update(changes)
    return change


def _drop(section: str, name: str) -> Callable[[dict], None]:
    def change(values: dict) -> None:
        del values[f"mercur:{section}"][name]
    return change


# (stack, change, the key the line must name, words the problem or fix must contain)
BAD_INPUT = {
    "typo in a key": ("prod", lambda v: v["mercur:network"].update(natGateway=v["mercur:network"].pop("natGateways")),
                      "mercur:network.natGateway", "did you mean `natGateways`"),
    "typo in a top-level key": ("dev", lambda v: v.update({"mercur:nodePools": v.pop("mercur:nodePool")}),
                                "mercur:nodePools", "did you mean `nodePool`"),
    "missing required key": ("staging", _drop("cluster", "adminRoleArn"), "mercur:cluster.adminRoleArn", "add it"),
    "missing section": ("dev", lambda v: v.pop("mercur:regions"), "mercur:regions", "add it"),
    "malformed CIDR": ("dev", lambda v: _region(v, 0).update(cidr="10.10.0.300/16"), "mercur:regions[0].cidr",
                       "like 10.20.0.0/16"),
    "CIDR with host bits": ("dev", lambda v: _region(v, 0).update(cidr="10.10.0.1/16"), "mercur:regions[0].cidr",
                            "network address"),
    "public CIDR": ("dev", lambda v: _region(v, 0).update(cidr="8.8.0.0/16"), "mercur:regions[0].cidr", "10.0.0.0/8"),
    "overlapping CIDRs in one file": ("prod", lambda v: _region(v, 1).update(cidr="10.30.128.0/17"),
                                      "mercur:regions[1].cidr", "own range"),
    "CIDR overlapping another environment": ("staging", lambda v: _region(v, 1).update(cidr="10.30.0.0/16"),
                                             "mercur:regions[1].cidr", "Pulumi.prod.yaml"),
    "CIDR too small for its subnets": ("dev", lambda v: _region(v, 0).update(cidr="10.10.0.0/24"),
                                       "mercur:regions[0].cidr", "/16 to /21"),
    "CIDR larger than a VPC": ("dev", lambda v: _region(v, 0).update(cidr="10.0.0.0/8"), "mercur:regions[0].cidr",
                               "/16 to /21"),
    "duplicate region": ("prod", lambda v: _region(v, 1).update(name="us-west-1"), "mercur:regions[1].name",
                         "each region once"),
    "unknown region": ("dev", lambda v: _region(v, 0).update(name="us-west-3"), "mercur:regions[0].name",
                       "did you mean"),
    "more AZs than the region offers": ("prod", lambda v: _region(v, 0).update(azCount=3), "mercur:regions[0].azCount",
                                        "at most 2"),
    "fewer AZs than EKS needs": ("prod", lambda v: _region(v, 1).update(azCount=1), "mercur:regions[1].azCount",
                                 "EKS needs"),
    # prod's peak after a failover: 20 x 250m + 30 x 500m = 20 vCPU, 20Gi; an 85% requestable share needs 24.
    "NodePool too small for the peak": ("prod", _node_pool(limits={"cpu": 20, "memory": "256Gi"}),
                                        "mercur:nodePool.limits.cpu", "set it to at least 24"),
    "HPA maxima beyond the NodePool": ("prod", _app(1, replicas={"min": 3, "max": 50}),
                                       "mercur:nodePool.limits.cpu", "set it to at least 36"),
    "NodePool memory too small": ("staging", _node_pool(limits={"cpu": 8, "memory": "4Gi"}),
                                  "mercur:nodePool.limits.memory", 'at least "'),
    "prod on spot only": ("prod", _node_pool(capacityTypes=["spot"]), "mercur:nodePool.capacityTypes",
                          "keep on-demand"),
    "unknown instance category": ("dev", _node_pool(categories=["g"]), "mercur:nodePool.categories",
                                  "use some of: c, m, r, t"),
    "memory limit without a unit": ("dev", _node_pool(limits={"cpu": 4, "memory": 16}), "mercur:nodePool.limits.memory",
                                    '"256Gi"'),
    "unsupported EKS version": ("prod", _set("cluster", "version", "1.27"), "mercur:cluster.version", "1.35"),
    "EKS version read as a number": ("prod", _set("cluster", "version", 1.3), "mercur:cluster.version", "quote it"),
    "API open to the world": ("dev", _set("cluster", "publicAccessCidrs", ["0.0.0.0/0"]),
                              "mercur:cluster.publicAccessCidrs[0]", "office/VPN"),
    "public API without CIDRs": ("staging", _set("cluster", "endpointPublicAccess", True),
                                 "mercur:cluster.publicAccessCidrs", "egress ranges"),
    "admin that is not an ARN": ("prod", _set("cluster", "adminRoleArn", "platform-admin"),
                                 "mercur:cluster.adminRoleArn", "arn:aws:iam::"),
    "unknown NAT strategy": ("dev", _set("network", "natGateways", "two"), "mercur:network.natGateways", "per-az"),
    "wrong type": ("dev", _set("network", "maxAzs", "three"), "mercur:network.maxAzs", "an integer"),
    "retention CloudWatch does not offer": ("dev", _set("network", "flowLogRetentionDays", 100),
                                            "mercur:network.flowLogRetentionDays", "use 90"),
    "unachievable RPO": ("prod", lambda v: v["mercur:dr"]["rpoMinutes"].update(regionLossAndCorruption=60),
                         "mercur:dr.rpoMinutes.regionLossAndCorruption", "best achievable is 180 minutes"),
    "lag bound beyond the region-loss RPO": ("prod", _set("database", "replicationLagBoundSeconds", 90),
                                             "mercur:database.replicationLagBoundSeconds", "lower it below 60"),
    "lag bound at the region-loss RPO": ("prod", _set("database", "replicationLagBoundSeconds", 60),
                                         "mercur:database.replicationLagBoundSeconds", "the page would come too late"),
    "corruption RPO below point-in-time restore": (
        "staging", lambda v: v["mercur:dr"]["rpoMinutes"].update(corruption=2), "mercur:dr.rpoMinutes.corruption",
        "best achievable is 5 minutes"),
    "region-loss RPO snapshots cannot meet": ("dev", lambda v: v["mercur:dr"]["rpoMinutes"].update(regionLoss=30),
                                              "mercur:dr.rpoMinutes.regionLoss", "best achievable is 135 minutes"),
    "an app using a database that is not there": ("dev", lambda v: v.pop("mercur:database"),
                                                  "mercur:apps[1].database", "add mercur:database"),
    "burstable class in a global database": ("staging", lambda v: v["mercur:database"].update(
        instanceClass="db.t4g.medium", serverless=None) or v["mercur:database"].pop("serverless"),
        "mercur:database.instanceClass", "burstable"),
    "one database instance in prod": ("prod", _set("database", "instances", 1),
                                      "mercur:database.instances", "at least 2"),
    "a global database without its home region": ("prod", _drop("database", "homeRegion"),
                                                  "mercur:database.homeRegion", "never change it"),
    "a home region the stack does not have": ("prod", _set("database", "homeRegion", "eu-west-1"),
                                              "mercur:database.homeRegion", "is not one of mercur:regions"),
    "two regions without a switch plan": ("staging", lambda v: (v["mercur:dr"].pop("regionSwitch"),
                                                                v["mercur:dr"].pop("decisionMinutes")),
                                          "mercur:dr.regionSwitch", "is required with two regions"),
    "a prod switch nobody approves": ("prod", lambda v: v["mercur:dr"]["regionSwitch"].pop("approvalRoleArn"),
                                      "mercur:dr.regionSwitch.approvalRoleArn", "a person approves"),
    "a staging switch neither approved nor automatic": (
        "staging", lambda v: v["mercur:dr"]["regionSwitch"].pop("automaticAfterMinutes"),
        "mercur:dr.regionSwitch.approvalRoleArn", "automaticAfterMinutes"),
    # ARC runs a trigger through the workflow a person starts: its approval step would hold the automatic switch
    "an automatic switch that waits for approval": (
        "staging", lambda v: v["mercur:dr"]["regionSwitch"].update(
            approvalRoleArn="arn:aws:iam::222222222222:role/mercur-region-switch-approvers"),
        "mercur:dr.regionSwitch.automaticAfterMinutes", "remove approvalRoleArn"),
    "a prod switch that starts by itself": ("prod", lambda v: (v["mercur:dr"]["regionSwitch"].update(
        automaticAfterMinutes=10), v["mercur:dr"].update(rtoMinutes=60)),
        "mercur:dr.regionSwitch.automaticAfterMinutes", "a person decides"),
    "an RTO the chain cannot meet": ("prod", _set("dr", "rtoMinutes", 20), "mercur:dr.rtoMinutes",
                                     "+ 1290 s for the alarm, the decision and the switch)"),
    "a decision that leaves nothing of the RTO": ("prod", _set("dr", "decisionMinutes", 30), "mercur:dr.decisionMinutes",
                                                  "leaves nothing of mercur:dr.rtoMinutes (30 min)"),
    "a triggered switch without a decision": ("staging", lambda v: v["mercur:dr"].pop("decisionMinutes"),
                                              "mercur:dr.decisionMinutes", "to its paused writer step switched"),
    "a person's switch without a decision": ("prod", lambda v: v["mercur:dr"].pop("decisionMinutes"),
                                             "mercur:dr.decisionMinutes", "is required with a Region switch plan"),
    "a switch plan in a one-region stack": ("dev", lambda v: v["mercur:dr"].update(regionSwitch={}),
                                            "mercur:dr.regionSwitch", "needs two serving regions"),
    "engine version global databases refuse": ("prod", _set("database", "engineVersion", "16.0"),
                                               "mercur:database.engineVersion", "16.1 or later"),
    "engine version read as a number": ("prod", _set("database", "engineVersion", 16.9),
                                        "mercur:database.engineVersion", "quote it"),
    "serverless class without capacity": ("prod", _set("database", "instanceClass", "db.serverless"),
                                          "mercur:database.serverless", "minCapacity"),
    "unpinned bootstrap image in prod": ("prod", lambda v: v["mercur:database"]["bootstrapImages"].update(
        awsCli="public.ecr.aws/aws-cli/aws-cli:2.27.50"), "mercur:database.bootstrapImages.awsCli", "sha256"),
    "prod without cross-region copies": ("prod", _set("dr", "crossRegionCopy", False), "mercur:dr.crossRegionCopy",
                                         "only dev may opt out"),
    "copies with nowhere to go": ("dev", _set("dr", "crossRegionCopy", True), "mercur:dr.crossRegionCopy",
                                  "add a passive region"),
    "missing objectives": ("staging", lambda v: v.pop("mercur:dr"), "mercur:dr", "rpoMinutes"),
    "key outside any namespace": ("dev", lambda v: v.update(regions=[]), "regions", "mercur:regions"),
}


@pytest.mark.parametrize("case", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_one_line_naming_file_key_and_fix(project, case) -> None:
    assert_rejected(project, *case)


def test_missing_stack_file_names_the_known_stacks(tmp_path) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    with pytest.raises(ConfigError, match="use one of: dev"):
        config.load_file(tmp_path, "qa")


def test_invalid_yaml_names_the_line(project) -> None:
    (project.path / "Pulumi.dev.yaml").write_text("config:\n  mercur:regions: [\n")
    with pytest.raises(ConfigError, match=r"^Pulumi.dev.yaml: line \d+: is not valid YAML"):
        config.load_file(project.path, "dev")


@pytest.mark.parametrize("stack", STACKS)
def test_checked_in_stacks_load_as_frozen_typed_config(stack) -> None:
    loaded = config.load_file(ROOT, stack)
    assert loaded.environment == stack
    assert all(isinstance(r.cidr, ipaddress.IPv4Network) for r in loaded.regions)
    with pytest.raises(ValidationError, match="frozen"):
        loaded.cluster.version = "1.20"  # type: ignore[misc]


def test_environments_differ_as_the_platform_team_expects() -> None:
    dev, staging, prod = (config.load_file(ROOT, s) for s in STACKS)
    assert [r.name for r in dev.regions] == ["us-west-1"]
    assert [r.name for r in staging.regions] == [r.name for r in prod.regions] == ["us-west-1", "us-east-1"]
    assert dev.network.nat_gateways is NatGateways.SINGLE and prod.network.nat_gateways is NatGateways.PER_AZ
    assert not prod.cluster.endpoint_public_access and not staging.cluster.endpoint_public_access
    assert staging.node_pool.limits.cpu < prod.node_pool.limits.cpu
    assert "spot" in dev.node_pool.capacity_types and prod.node_pool.capacity_types == ("on-demand",)
    assert prod.active_region.name == "us-west-1" and prod.is_production and not staging.is_production


def test_every_cidr_is_distinct_across_regions_and_environments() -> None:
    networks = [r.cidr for s in STACKS for r in config.load_file(ROOT, s).regions]
    assert all(not a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1:])


def test_az_count_is_every_usable_az_up_to_max() -> None:
    prod = config.load_file(ROOT, "prod")
    assert {r.name: r.az_count for r in prod.regions} == {"us-west-1": 2, "us-east-1": 3}


def test_explicit_az_count_wins_over_max(project) -> None:
    project.edit("prod", lambda v: _region(v, 1).update(azCount=2))
    assert config.load_file(project.path, "prod").regions[1].az_count == 2


def test_region_order_is_failover_priority(project) -> None:
    project.edit("prod", lambda v: v["mercur:regions"].reverse())
    assert config.load_file(project.path, "prod").active_region.name == "us-east-1"


def test_engine_config_map_loads_the_same_config_as_the_file() -> None:
    values = config.stack_file_values(ROOT, "prod")
    assert all(isinstance(v, str) for v in values.values())  # as the engine hands them over
    assert config.load_engine(values, stack="prod", project_dir=ROOT) == config.load_file(ROOT, "prod")


def test_secrets_have_no_place_in_platform_config(project) -> None:
    project.edit("dev", lambda v: v.update({"mercur:tags": {"secure": "AAABAJ..."}}))
    with pytest.raises(ConfigError, match="mercur:tags: is a secret outside apps"):
        config.load_file(project.path, "dev")


def test_a_broken_sibling_file_does_not_block_other_stacks(project) -> None:
    (project.path / "Pulumi.staging.yaml").write_text("config: [not, a, mapping]\n")
    assert config.load_file(project.path, "prod").stack == "prod"


def test_a_version_past_its_standard_support_is_refused(project, monkeypatch) -> None:
    from datetime import date
    from mercur.config import models
    monkeypatch.setattr(models, "today", lambda: date(2026, 11, 27))
    assert_rejected(project, "prod", _set("cluster", "version", "1.33"), "mercur:cluster.version",
                    "left EKS standard support on 2026-07-29")


def test_a_version_near_its_end_of_support_warns_ninety_days_ahead(project, monkeypatch) -> None:
    from datetime import date
    from mercur.config import models
    monkeypatch.setattr(models, "today", lambda: date(2026, 12, 27))
    assert config.load_file(ROOT, "prod").warnings == [
        "Pulumi.prod.yaml: mercur:cluster.version: 1.35 leaves EKS standard support on 2027-03-27 (90 days); "
        "upgrade before then"]
    monkeypatch.setattr(models, "today", lambda: date(2026, 12, 26))
    assert config.load_file(ROOT, "prod").warnings == []


@pytest.mark.parametrize("change, key, words", [
    (lambda v: v["mercur:deploy"]["network"]["transitGateways"].pop("us-east-1"),
     "mercur:deploy.network.transitGateways", "has no Transit Gateway for us-east-1"),
    (lambda v: v["mercur:deploy"]["network"].update(cidrs=["10.30.0.0/24"]),
     "mercur:deploy.network.cidrs[0]", "overlaps us-west-1's VPC"),
    (lambda v: v["mercur:deploy"]["network"].update(cidrs=["8.8.8.0/24"]),
     "mercur:deploy.network.cidrs[0]", "not a private (RFC 1918) range"),
    (lambda v: v["mercur:deploy"]["network"]["transitGateways"].update({"us-east-1": "tgw-xyz"}),
     "mercur:deploy.network.transitGateways.us-east-1", "not a transit gateway id"),
    (lambda v: v.update({"mercur:accountId": "12345"}), "mercur:accountId", "not an AWS account id"),
    (lambda v: v["mercur:alerts"].update(email="on call"), "mercur:alerts.email", "not an email address"),
    (lambda v: v["mercur:alerts"].update(httpsEndpoint="http://x"), "mercur:alerts.httpsEndpoint", "HTTPS URL"),
])
def test_bad_deploy_and_alert_settings_are_one_line(project, change, key, words) -> None:
    assert_rejected(project, "prod", change, key, words)


def test_a_missing_stack_file_names_the_directory_as_the_reader_sees_it(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inner").mkdir()
    for directory, shown in ((tmp_path, "the current directory"), (tmp_path / "inner", "inner"),
                             (ROOT, str(ROOT))):
        with pytest.raises(ConfigError) as caught:
            config.load_file(directory, "nosuch")
        assert f"no such stack file in {shown};" in str(caught.value)
