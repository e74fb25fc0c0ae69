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
    providers = [p for p in stack_plan.of_type("pulumi:providers:aws") if p.parent == platform_component.urn]
    assert sorted(p.inputs["region"] for p in providers) == sorted(r.name for r in stack.regions)
    for provider in providers:
        # Under mocks the engine does not merge default tags into resources: assert the provider's input.
        assert json.loads(provider.inputs["defaultTags"])["tags"] == platform.default_tags(stack, provider.region)


def test_exports_are_the_documented_contract(plan_of) -> None:
    outputs = plan_of("prod").outputs
    assert outputs["activeRegion"] == "us-west-1" and outputs["failoverOrder"] == ["us-west-1", "us-east-1"]
    assert outputs["environment"] == "prod"
    for region, details in outputs["regions"].items():
        assert set(details) == {"vpcId", "availabilityZones", "privateSubnetIds", "clusterName",
                                "oidcProviderArn", "platformKeyArn", "endpoints", "backupVaultArn", "backupKeyArn",
                                "backupCopiesTo", "achievableRpoMinutes", "healthCheckId"}
        assert details["clusterName"] == {"us-west-1": "mercur-prod-usw1", "us-east-1": "mercur-prod-use1"}[region]
        assert details["platformKeyArn"].startswith(f"arn:aws:kms:{region}:")


def test_reordering_regions_swaps_active_and_passive(project) -> None:
    plan = project.edit("staging", lambda v: v["mercur:regions"].reverse()).synthesize("staging")
    assert plan.outputs["activeRegion"] == "us-east-1"
    assert plan.outputs["failoverOrder"] == ["us-east-1", "us-west-1"]
