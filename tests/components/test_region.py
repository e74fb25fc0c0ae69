"""mercur.components.region: each region's key, and every AWS resource through that region's provider."""

from __future__ import annotations

import json

import pytest

from mercur.components import region


ROLE = "arn:aws:iam::123456789012:role/usw1-cluster-role"


def test_key_policy_lets_auto_modes_cluster_role_use_the_key_and_grant_it_to_aws_only() -> None:
    *_, use, grants, _ = json.loads(region.platform_key_policy("aws", "123456789012", "us-west-1", ROLE))["Statement"]
    assert use["Principal"] == grants["Principal"] == {"AWS": ROLE}
    assert "kms:CreateGrant" not in use["Action"] and "kms:CreateGrant" in grants["Action"]
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_key_policy_lets_logs_use_the_key_only_for_this_accounts_log_groups() -> None:
    policy = json.loads(region.platform_key_policy("aws", "123456789012", "us-west-1", ROLE))
    admin, logs, ebs, role_use, role_grants, alarms = policy["Statement"]
    assert admin["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert logs["Principal"] == {"Service": "logs.us-west-1.amazonaws.com"}
    assert logs["Condition"]["ArnLike"] == {
        "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-west-1:123456789012:log-group:*"}
    assert not any(action in ("kms:*", "kms:ScheduleKeyDeletion") for action in logs["Action"])


def test_key_policy_lets_this_accounts_alarms_publish_to_the_encrypted_platform_topic() -> None:
    alarms = json.loads(region.platform_key_policy("aws", "123456789012", "us-west-1", ROLE))["Statement"][-1]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]
    assert alarms["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_key_policy_lets_ebs_use_the_key_through_ec2_in_its_region_for_this_account_only() -> None:
    ebs = json.loads(region.platform_key_policy("aws", "123456789012", "us-west-1", ROLE))["Statement"][2]
    assert ebs["Condition"] == {"StringEquals": {"kms:CallerAccount": "123456789012",
                                                 "kms:ViaService": "ec2.us-west-1.amazonaws.com"}}
    assert "kms:CreateGrant" in ebs["Action"]  # EBS attaches volumes through grants
    assert not any(action in ("kms:*", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy") for action in ebs["Action"])


def test_one_region_component_per_configured_region(stack_plan) -> None:
    regions = stack_plan.of_type("mercur:region:Region")
    assert sorted(r.inputs["region"] for r in regions) == sorted(stack_plan.outputs["failoverOrder"])


def _owner(plan, resource):
    """The Region component a resource sits in, or None for stack-level ones (the failover)."""
    while resource.parent and resource.type != "mercur:region:Region":
        resource = plan.by_urn(resource.parent)
    return resource if resource.type == "mercur:region:Region" else None


def test_every_aws_resource_in_a_region_uses_that_regions_provider(stack_plan) -> None:
    providers = {p.urn: p.inputs["region"] for p in stack_plan.of_type("pulumi:providers:aws")}
    in_regions = [(r, _owner(stack_plan, r)) for r in stack_plan.resources if r.type.startswith("aws:")]
    in_regions = [(r, owner) for r, owner in in_regions if owner]
    assert len(in_regions) > 40
    for resource, owner in in_regions:
        assert resource.provider in providers, f"{resource.urn} has no explicit provider"
        assert providers[resource.provider] == resource.region == owner.inputs["region"], resource.urn


def test_platform_key_rotates_and_names_its_region(plan_of) -> None:
    keys = [k for k in plan_of("staging").of_type("aws:kms/key:Key") if k.name.endswith("-platform-key")]
    assert len(keys) == 2
    for key in keys:
        assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 30
        statement = json.loads(key.inputs["policy"])["Statement"][1]
        assert statement["Principal"]["Service"] == f"logs.{key.region}.amazonaws.com"


@pytest.mark.parametrize("stack, protected", [("dev", False), ("prod", True)])
def test_keys_survive_accidental_deletion_in_prod(plan_of, stack, protected) -> None:
    keys = [k for k in plan_of(stack).of_type("aws:kms/key:Key") if k.name.endswith(("-platform-key", "-backup-key"))]
    assert keys
    for key in keys:
        assert key.protect is protected and key.retain_on_delete is protected
