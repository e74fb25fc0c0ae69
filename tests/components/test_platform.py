"""mercur.components.platform: providers per region with default tags, regions in failover order, the exports."""

from __future__ import annotations

import pytest

import json

from mercur import config
from mercur.components import platform
from conftest import ROOT


def test_default_tags_cannot_be_overridden_by_stack_tags(project) -> None:
    project.edit("dev", lambda v: v["mercur:tags"].update(Team="payments"))
    tags = platform.default_tags(config.load_file(project.path, "dev"), "us-west-1")
    assert tags == {"CostCenter": "platform-dev", "Owner": "platform-team", "Team": "payments",
                    "Project": "mercur", "Environment": "dev", "Region": "us-west-1", "ManagedBy": "pulumi"}
    project.edit("dev", lambda v: v["mercur:tags"].update(Environment="prod"))
    with pytest.raises(config.ConfigError, match="mercur:tags.Environment: is a tag the program sets itself"):
        config.load_file(project.path, "dev")


def test_each_provider_targets_its_region_with_its_default_tags(stack_plan) -> None:
    stack = config.load_file(ROOT, stack_plan.stack)
    [platform_component] = stack_plan.of_type("mercur:platform:Platform")
    providers = [p for p in stack_plan.of_type("pulumi:providers:aws") if p.parent == platform_component.urn
                 and p.name != "global"]
    assert sorted(p.inputs["region"] for p in providers) == sorted(r.name for r in stack.regions)
    for provider in providers:
        # Under mocks the engine does not merge default tags into resources: assert the provider's input.
        assert json.loads(provider.inputs["defaultTags"])["tags"] == platform.default_tags(stack, provider.region)


def test_every_aws_provider_refuses_other_accounts(stack_plan) -> None:
    account = config.load_file(ROOT, stack_plan.stack).account_id
    providers = stack_plan.of_type("pulumi:providers:aws")
    assert len(providers) >= 2
    # Provider inputs are engine-form JSON strings.
    assert {p.inputs.get("allowedAccountIds") for p in providers} == {json.dumps([account])}


def test_global_resources_use_one_provider_that_stays_put(stack_plan) -> None:
    [global_provider] = [p for p in stack_plan.of_type("pulumi:providers:aws") if p.name == "global"]
    assert global_provider.inputs["region"] == platform.GLOBAL_REGION == "us-east-1"
    for resource in stack_plan.resources:
        if resource.type.startswith(("aws:iam/", "aws:route53/")) and resource.provider:
            regional = resource.type.startswith("aws:iam/") and resource.region  # a region's own roles
            assert resource.provider == global_provider.urn or regional, resource.urn


def test_exports_are_the_documented_contract(plan_of) -> None:
    outputs = plan_of("prod").outputs
    assert outputs["activeRegion"] == "us-west-1" and outputs["failoverOrder"] == ["us-west-1", "us-east-1"]
    assert outputs["environment"] == "prod"
    for region, details in outputs["regions"].items():
        assert set(details) == {"vpcId", "availabilityZones", "availabilityZoneIds", "privateSubnetIds", "clusterName",
                                "platformKeyArn", "endpoints", "backupVaultArn", "backupKeyArn", "alertTopicArn", "dashboard",
                                "backupCopiesTo", "achievableRpoMinutes", "healthCheckId", "database"}
        assert set(details["database"]) == {"clusterArn", "clusterId", "endpoint", "readerEndpoint", "role",
                                            "subnetGroupName", "securityGroupId", "engineVersion"}
        assert details["database"]["role"] == ("home" if region == "us-west-1" else "member")
        assert details["database"]["clusterArn"].startswith(f"arn:aws:rds:{region}:")
        assert details["clusterName"] == {"us-west-1": "mercur-prod-usw1", "us-east-1": "mercur-prod-use1"}[region]
        assert details["platformKeyArn"].startswith(f"arn:aws:kms:{region}:")
    assert outputs["database"]["globalClusterId"] == "mercur-prod"
    assert outputs["database"]["globalWriterEndpoint"].endswith(".global.rds.amazonaws.com")
    switch = outputs["regionSwitch"]
    assert switch["planArn"].startswith(f"arn:aws:arc-region-switch::{plan_of('prod').account}:plan/mercur-prod-switch")
    assert set(switch["workflows"]) == set(switch["healthCheckIds"]) == {"us-west-1", "us-east-1"}
    assert outputs["drDashboard"] == "mercur-prod-dr"


def test_reordering_regions_swaps_active_and_passive(project) -> None:
    plan = project.edit("staging", lambda v: v["mercur:regions"].reverse()).synthesize("staging")
    assert plan.outputs["activeRegion"] == "us-east-1"
    assert plan.outputs["failoverOrder"] == ["us-east-1", "us-west-1"]


def test_a_retiring_region_loses_its_protection_its_traffic_and_its_copies(project) -> None:
    def retire(values: dict) -> None:
        values["mercur:regions"].append({"name": "us-east-2", "cidr": "10.32.0.0/16", "retiring": True})
        values["mercur:dns"]["certificates"]["us-east-2"] = \
            "arn:aws:acm:us-east-2:333333333333:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        values["mercur:deploy"]["network"]["transitGateways"]["us-east-2"] = "tgw-0123456789abcdef0"
    plan = project.edit("prod", retire).synthesize("prod")
    retiring = [r for r in plan.resources if r.region == "us-east-2"]
    assert retiring and not any(r.protect for r in retiring)
    [eks] = [c for c in plan.of_type("eks:index:Cluster") if c.region == "us-east-2"]
    assert eks.inputs["deletionProtection"] is False
    switched = plan.outputs["regionSwitch"]["healthCheckIds"]  # the plan covers the two serving regions
    assert set(switched) == {"us-west-1", "us-east-1"}
    assert {c.inputs["healthCheckId"] for c in plan.of_type("aws:route53/record:Record")} == set(switched.values())
    assert plan.outputs["regions"]["us-east-2"]["backupCopiesTo"] is None
    assert "us-east-2" not in {p["backupCopiesTo"] for p in plan.outputs["regions"].values()}
    assert any(r.protect for r in plan.resources if r.region == "us-west-1")


def test_the_active_region_cannot_retire(project) -> None:
    project.edit("prod", lambda v: v["mercur:regions"][0].update(retiring=True))
    with pytest.raises(config.ConfigError, match=r"mercur:regions\[0\].retiring: the active region cannot be"):
        config.load_file(project.path, "prod")
