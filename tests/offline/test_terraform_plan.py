"""mercur.offline.terraform_plan: every stack's plan in Terraform's plan format, as Checkov's `terraform_plan`
framework reads it: every AWS resource under its Terraform type, its arguments in Terraform's names, and the
references Checkov's graph checks follow."""

from __future__ import annotations

import pytest

from mercur.offline import terraform_plan
from mercur.offline.terraform_plan import BLOCKS, MAPS, SAME_NAME, TERRAFORM_TYPES

STACKS = ("dev", "staging", "prod")


def _by_address(document: dict) -> dict[str, dict]:
    return {r["address"]: r for r in document["planned_values"]["root_module"]["resources"]}


@pytest.mark.parametrize("stack", STACKS)
def test_every_aws_resource_is_there_once_under_its_terraform_type(plan_of, stack) -> None:
    plan = plan_of(stack)
    aws = [r for r in plan.resources if r.type.startswith("aws:") or r.type == terraform_plan.EKS_COMPONENT]
    assert {r.type for r in aws} <= set(TERRAFORM_TYPES), "a new AWS type needs its Terraform name"
    document = terraform_plan.terraform_plan(plan)
    resources = document["planned_values"]["root_module"]["resources"]
    assert len(_by_address(document)) == len(resources) == len(aws) == len(document["resource_changes"])
    assert sorted(r["type"] for r in resources) == sorted(TERRAFORM_TYPES[r.type] for r in aws)


def _repeated_blocks(value, found: set[str], key: str | None = None) -> None:
    if isinstance(value, dict):
        for inner, item in value.items():
            if inner not in MAPS:
                _repeated_blocks(item, found, inner)
    elif isinstance(value, list):
        if value and key and all(isinstance(item, dict) for item in value):
            found.add(key)
        for item in value:
            _repeated_blocks(item, found)


def test_every_repeated_block_and_map_of_the_stacks_has_its_terraform_name(plan_of) -> None:
    """A block Pulumi pluralizes and Terraform does not would hide it from every check that reads it; a map
    converted like a block would rename its keys."""
    for stack in STACKS:
        for resource in plan_of(stack).resources:
            if resource.type not in TERRAFORM_TYPES or resource.type == terraform_plan.EKS_COMPONENT:
                continue  # the EKS cluster's values are built field by field (eks_cluster_values)
            kind = TERRAFORM_TYPES[resource.type]
            found: set[str] = set()
            _repeated_blocks(dict(resource.inputs), found)
            unnamed = found - set(BLOCKS.get(kind, {})) - SAME_NAME.get(kind, set())
            assert not unnamed, f"{kind}: repeated blocks {sorted(unnamed)} need their Terraform names"
            for key, value in resource.inputs.items():
                if isinstance(value, dict) and any(not k[:1].islower() or not k.isalnum() for k in value):
                    assert key in MAPS or key in terraform_plan.ASSETS, f"{kind}.{key} looks like a map"


def test_arguments_take_terraforms_names_and_maps_keep_their_keys(plan_of) -> None:
    document = terraform_plan.terraform_plan(plan_of("prod"))
    by_type: dict[str, list[dict]] = {}
    for resource in document["planned_values"]["root_module"]["resources"]:
        by_type.setdefault(resource["type"], []).append(resource["values"])
    for instance in by_type["aws_rds_cluster_instance"]:  # what CKV_AWS_118 and CKV_AWS_353/354 read
        assert instance["monitoring_interval"] > 0 and instance["monitoring_role_arn"].startswith("arn:aws:iam::")
        assert instance["performance_insights_enabled"] is True and instance["performance_insights_kms_key_id"]
    [plan_rule] = by_type["aws_backup_plan"][0]["rule"][:1]
    assert plan_rule["copy_action"][0]["destination_vault_arn"].startswith("arn:aws:backup:")
    record = next(r for r in by_type["aws_route53_record"] if r.get("failover_routing_policy"))
    assert record["failover_routing_policy"][0]["type"] in ("PRIMARY", "SECONDARY") and record["alias"]
    vpc = by_type["aws_vpc"][0]
    assert "Name" in vpc["tags"] and vpc["enable_dns_support"] is True
    function = by_type["aws_lambda_function"][0]
    assert "code" not in function and set(function["environment"]["variables"]) >= {"CLUSTER_ARN", "RPO_SECONDS"}


def test_references_join_what_the_program_joined(plan_of) -> None:
    """Checkov's graph checks (a VPC's flow log, its default security group, a cluster's backup plan) follow
    these; each is found from a value the program passed, not from a name."""
    document = terraform_plan.terraform_plan(plan_of("prod"))
    expressions = {c["address"]: c["expressions"] for c in document["configuration"]["root_module"]["resources"]}
    resources = _by_address(document)
    flow_logs = [a for a in expressions if a.startswith("aws_flow_log.")]
    assert flow_logs
    for address in flow_logs:
        [vpc, _] = expressions[address]["vpc_id"]["references"][:2]
        assert vpc.startswith("aws_vpc.") and vpc.endswith(".id")
        assert resources[vpc.rsplit(".", 1)[0]]["values"]["region"] == resources[address]["values"]["region"]
    selections = [a for a in expressions if a.startswith("aws_backup_selection.")]
    assert any(ref.startswith("aws_rds_cluster.") and ref.endswith(".arn")
               for a in selections for ref in expressions[a].get("resources", {}).get("references", []))
    assert not any(ref.startswith(f"{address}.") for address, refs in expressions.items()
                   for expression in refs.values() for ref in expression["references"])


def test_renamed_arguments_take_terraforms_names(plan_of) -> None:
    """What Checkov reads by name: an alarm's `alarm_name`, a function's `function_name`, a subscription's
    `topic_arn`."""
    document = terraform_plan.terraform_plan(plan_of("prod"))
    by_type: dict[str, list[dict]] = {}
    for resource in document["planned_values"]["root_module"]["resources"]:
        by_type.setdefault(resource["type"], []).append(resource["values"])
    assert all(a["alarm_name"] and "name" not in a for a in by_type["aws_cloudwatch_metric_alarm"])
    assert all(f["function_name"].endswith(("-rpo-keeper", "-dr-signals")) for f in by_type["aws_lambda_function"])
    assert all(p["function_name"] for p in by_type["aws_lambda_permission"])
    assert all(s["topic_arn"].startswith("arn:aws:sns:") for s in by_type["aws_sns_topic_subscription"])


def test_the_eks_cluster_is_checked_as_pulumi_eks_creates_it(plan_of) -> None:
    """CKV_AWS_37/38/39/58/339 read these: log types, the endpoint's exposure, secrets encryption, version."""
    plan = plan_of("prod")
    document = terraform_plan.terraform_plan(plan)
    clusters = [r["values"] for r in document["planned_values"]["root_module"]["resources"]
                if r["type"] == "aws_eks_cluster"]
    components = {c.inputs["name"]: c.inputs for c in plan.of_type(terraform_plan.EKS_COMPONENT)}
    assert {c["name"] for c in clusters} == set(components)
    for cluster in clusters:
        inputs = components[cluster["name"]]
        assert cluster["vpc_config"][0]["endpoint_public_access"] is False
        assert cluster["vpc_config"][0]["subnet_ids"] == inputs["privateSubnetIds"]
        assert set(cluster["enabled_cluster_log_types"]) == {"api", "audit", "authenticator", "controllerManager",
                                                             "scheduler"}
        assert cluster["encryption_config"] == [{"resources": ["secrets"],
                                                 "provider": [{"key_arn": inputs["encryptionConfigKeyArn"]}]}]
        assert cluster["compute_config"][0]["enabled"] is True and cluster["version"] == inputs["version"]
