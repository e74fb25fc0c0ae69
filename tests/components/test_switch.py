"""mercur.components.switch: the ARC Region switch plan, its role and alarms, and what AWS would accept of it."""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from mercur import config
from mercur.components import cluster, switch
from mercur.offline.synth import Plan
from conftest import ROOT

PLAN = "aws:arcregionswitch/plan:Plan"
MODEL = botocore.session.get_session().get_service_model("arc-region-switch")


def _plan(plan: Plan) -> dict:
    [found] = plan.of_type(PLAN)
    return found


# --- the request the provider makes: the plan's inputs in Region switch's own API shape -----------------

def _one(items: list[dict] | None) -> dict | None:
    """Terraform nests every block as a list; the API has one object there."""
    assert items is None or len(items) == 1, items
    return items[0] if items else None


def _scaling(eks: dict) -> dict:
    """scalingResources is a list of {application: {region: resource}} (KubernetesScalingApplication)."""
    return {"kubernetesResourceType": _one(eks["kubernetesResourceTypes"]),
            "eksClusters": [{"clusterArn": c["clusterArn"]} for c in eks["eksClusters"]],
            "scalingResources": [{app["namespace"]: {r["resourceName"]: {k: r[k] for k in ("namespace", "name",
                                                                                             "hpaName")}
                                                     for r in app["resources"]}} for app in eks["scalingResources"]],
            "targetPercent": eks["targetPercent"], "timeoutMinutes": eks["timeoutMinutes"],
            "capacityMonitoringApproach": eks["capacityMonitoringApproach"]}


def _block(step: dict) -> dict:
    if step.get("executionApprovalConfigs"):
        return {"executionApprovalConfig": _one(step["executionApprovalConfigs"])}
    if step.get("parallelConfigs"):
        return {"parallelConfig": {"steps": [_step(s) for s in _one(step["parallelConfigs"])["steps"]]}}
    if step.get("eksResourceScalingConfigs"):
        return {"eksResourceScalingConfig": _scaling(_one(step["eksResourceScalingConfigs"]))}
    if step.get("globalAuroraConfigs"):
        aurora = dict(_one(step["globalAuroraConfigs"]))
        aurora["ungraceful"] = _one(aurora.pop("ungracefuls"))
        return {"globalAuroraConfig": aurora}
    if step.get("route53HealthCheckConfigs"):
        return {"route53HealthCheckConfig": _one(step["route53HealthCheckConfigs"])}
    raise AssertionError(f"unmapped step {step}")


def _step(step: dict) -> dict:
    return {"name": step["name"], "description": step.get("description"),
            "executionBlockType": step["executionBlockType"], "executionBlockConfiguration": _block(step)}


def create_plan_request(inputs: dict) -> dict:
    request = {key: inputs[key] for key in ("name", "description", "executionRole", "recoveryApproach", "regions",
                                            "primaryRegion", "recoveryTimeObjectiveMinutes")}
    request["associatedAlarms"] = {a["mapBlockKey"]: {"resourceIdentifier": a["resourceIdentifier"],
                                                      "alarmType": a["alarmType"]}
                                   for a in inputs["associatedAlarms"]}
    if inputs.get("triggers"):
        request["triggers"] = [{k: t[k] for k in ("targetRegion", "action", "conditions", "description",
                                                  "minDelayMinutesBetweenExecutions")} for t in inputs["triggers"]]
    request["workflows"] = [{"workflowTargetAction": w["workflowTargetAction"],
                             "workflowTargetRegion": w["workflowTargetRegion"],
                             "workflowDescription": w["workflowDescription"],
                             "steps": [_step(s) for s in w["steps"]]} for w in inputs["workflows"]]
    return _without_none(request)


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _enums_and_patterns(value: Any, shape, path: str = "") -> list[str]:
    """What botocore's ParamValidator leaves out: enum members and string patterns of the model."""
    problems = []
    if shape.type_name == "structure":
        for key, member in shape.members.items():
            if key in value:
                problems += _enums_and_patterns(value[key], member, f"{path}.{key}")
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            problems += _enums_and_patterns(item, shape.member, f"{path}[{index}]")
    elif shape.type_name == "map":
        for key, item in value.items():
            problems += _enums_and_patterns(item, shape.value, f"{path}.{key}")
    elif shape.type_name == "string":
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.enum}")
        pattern = shape.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            problems.append(f"{path}: {value!r} does not match {pattern}")
    return problems


def _validate(request: dict) -> None:
    shape = MODEL.operation_model("CreatePlan").input_shape
    validate_parameters(request, shape)
    problems = _enums_and_patterns(request, shape)
    assert not problems, problems


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_plan_is_a_create_plan_request_region_switch_accepts(plan_of, stack) -> None:
    _validate(create_plan_request(_plan(plan_of(stack)).inputs))


@pytest.mark.parametrize("breaking, error", [
    (lambda r: r["workflows"][0]["steps"][0].update(executionBlockType="Approval"), "is not one of"),
    (lambda r: r.update(recoveryApproach="activeStandby"), "is not one of"),
    (lambda r: r.update(name="mercur prod switch"), "does not match"),
    (lambda r: r.pop("executionRole"), "Missing required parameter"),
    (lambda r: r["workflows"][0]["steps"][1]["executionBlockConfiguration"]["parallelConfig"]["steps"][0][
        "executionBlockConfiguration"]["eksResourceScalingConfig"].update(eksClusters=[{"clusterArn": "a"}]),
     "Invalid length"),
])
def test_the_validation_catches_what_aws_would_refuse(plan_of, breaking, error) -> None:
    request = create_plan_request(_plan(plan_of("prod")).inputs)
    breaking(request)
    with pytest.raises((ParamValidationError, AssertionError), match=error):
        _validate(request)


# --- what the plan does ----------------------------------------------------------------------------------

def test_prod_has_one_plan_with_a_workflow_per_region_approval_scaling_writer_and_traffic(plan_of) -> None:
    plan, stack = plan_of("prod"), config.load_file(ROOT, "prod")
    inputs = _plan(plan).inputs
    assert inputs["regions"] == ["us-west-1", "us-east-1"] and inputs["primaryRegion"] == "us-west-1"
    assert inputs["recoveryApproach"] == "activePassive"
    assert inputs["recoveryTimeObjectiveMinutes"] == stack.dr.rto_minutes
    assert [w["workflowTargetRegion"] for w in inputs["workflows"]] == ["us-west-1", "us-east-1"]
    clusters = {c.region: c.inputs["name"] for c in plan.of_type("eks:index:Cluster")}
    for workflow in inputs["workflows"]:
        approve, parallel, traffic = workflow["steps"]
        assert approve["executionBlockType"] == "ManualApproval"
        assert approve["executionApprovalConfigs"][0]["approvalRole"] == stack.dr.region_switch.approval_role_arn
        scale, writer = parallel["parallelConfigs"][0]["steps"]
        eks = scale["eksResourceScalingConfigs"][0]
        assert {c["clusterArn"] for c in eks["eksClusters"]} == {
            f"arn:aws:eks:{r}:123456789012:cluster/{name}" for r, name in clusters.items()}
        assert sorted(s["namespace"] for s in eks["scalingResources"]) == sorted(a.name for a in stack.apps)
        for scaled in eks["scalingResources"]:
            assert {(r["resourceName"], r["name"], r["hpaName"]) for r in scaled["resources"]} == {
                (region, scaled["namespace"], scaled["namespace"]) for region in clusters}
        aurora = writer["globalAuroraConfigs"][0]
        assert aurora["behavior"] == "switchoverOnly" and aurora["ungracefuls"] == [{"ungraceful": "failover"}]
        assert aurora["globalClusterIdentifier"] == "mercur-prod"
        assert len(aurora["databaseClusterArns"]) == 2
        route = traffic["route53HealthCheckConfigs"][0]
        assert route["recordName"] == stack.dns.record and route["hostedZoneId"] == plan.outputs["hostedZoneId"]
        assert route["recordSets"] == [{"recordSetIdentifier": "primary", "region": "us-west-1"},
                                       {"recordSetIdentifier": "secondary", "region": "us-east-1"}]


def test_the_plan_watches_each_regions_health_and_the_replication_lag(stack_plan) -> None:
    if stack_plan.stack == "dev":
        assert not stack_plan.of_type(PLAN)  # one region: nothing to switch to
        return
    inputs = _plan(stack_plan).inputs
    alarms = {a["mapBlockKey"]: a for a in inputs["associatedAlarms"]}
    health = [a for a in stack_plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.name.endswith("-unhealthy")]
    for region in ("us-west-1", "us-east-1"):
        assert alarms[f"{region}-health"]["alarmType"] == "applicationHealth"
        assert alarms[f"{region}-replication-lag"]["alarmType"] == "applicationHealth"
    assert {a["resourceIdentifier"] for k, a in alarms.items() if k.endswith("-health")} == {
        f"arn:aws:cloudwatch:us-east-1:123456789012:metricAlarm/{a.id}" for a in health}


def test_only_staging_switches_by_itself_after_the_configured_minutes_red(plan_of) -> None:
    assert not _plan(plan_of("prod")).inputs.get("triggers")  # in prod a person decides
    plan, stack = plan_of("staging"), config.load_file(ROOT, "staging")
    inputs = _plan(plan).inputs
    triggers = {t["targetRegion"]: t for t in inputs["triggers"]}
    assert set(triggers) == {"us-west-1", "us-east-1"}
    assert triggers["us-east-1"]["conditions"] == [{"associatedAlarmName": "us-west-1-down", "condition": "red"}]
    minutes = stack.dr.region_switch.automatic_after_minutes
    downs = [a for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.name.endswith("-down")]
    assert {a.inputs["evaluationPeriods"] for a in downs} == {minutes} and len(downs) == 2
    checks = {c.id for c in plan.of_type("aws:route53/healthCheck:HealthCheck")}
    assert {a.inputs["dimensions"]["HealthCheckId"] for a in downs} == checks  # the endpoint checks, longer
    assert {k: a["alarmType"] for k, a in ((a["mapBlockKey"], a) for a in inputs["associatedAlarms"])
            if k.endswith("-down")} == {"us-west-1-down": "trigger", "us-east-1-down": "trigger"}


def test_the_execution_role_may_do_what_the_blocks_need_and_no_more(plan_of) -> None:
    plan = plan_of("prod")
    [role] = [r for r in plan.of_type("aws:iam/role:Role") if r.name.endswith("-switch-execution")]
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "arc-region-switch.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": config.load_file(ROOT, "prod").account_id}}
    [policy] = [p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role.id]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    account = config.load_file(ROOT, "prod").account_id
    assert statements["MoveTheWriter"]["Resource"] == [f"arn:aws:rds::{account}:global-cluster:mercur-prod",
                                                       f"arn:aws:rds:*:{account}:cluster:mercur-prod-*"]
    assert statements["MapRecordSetsToRegions"]["Resource"] == \
        f"arn:aws:route53:::hostedzone/{plan.outputs['hostedZoneId']}"
    actions = [a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not any(a.endswith(":*") or a == "*" for a in actions)
    assert [p for p in _plan(plan).inputs["executionRole"].split("/")][-1] == role.id
    # Kubernetes rights: an access entry in every cluster, scaling only, in the apps' namespaces.
    for eks in plan.of_type("eks:index:Cluster"):
        entry = eks.inputs["accessEntries"]["region-switch"]
        assert entry["principalArn"] == f"arn:aws:iam::123456789012:role/{role.id}"
        assert entry["accessPolicies"]["scaling"]["policyArn"] == cluster.REGION_SWITCH_POLICY


def test_plan_names_are_what_region_switch_takes() -> None:
    pattern = MODEL.shape_for("PlanName").metadata["pattern"]
    for label in ("mercur-prod", "mercur-a-very-long-environment-name-x"):
        name = switch.plan_name(label)
        assert re.fullmatch(pattern, name) and len(name) <= 32


def test_a_region_without_region_switch_is_one_line(project, monkeypatch) -> None:
    from dataclasses import replace
    from mercur.config import models
    monkeypatch.setattr(models, "REGIONS", {**models.REGIONS, "us-east-1": replace(models.REGIONS["us-east-1"],
                                                                                  region_switch=False)})
    with pytest.raises(config.ConfigError, match=r"mercur:regions\[1\].name: us-east-1 does not offer ARC Region "
                                                 r"switch; choose a region that does"):
        config.load_file(project.path, "prod")


def test_removing_approval_from_prods_plan_fails_it_naming_the_rule(project, monkeypatch, capsys) -> None:
    from mercur.__main__ import main
    original = switch.RegionSwitch._workflow

    def without_approval(self, target, zone_id):
        workflow = original(self, target, zone_id)
        workflow.steps = workflow.steps[1:]
        return workflow
    monkeypatch.setattr(switch.RegionSwitch, "_workflow", without_approval)
    assert main(["plan", "prod", "--project-dir", str(project.path)]) == 1
    out = capsys.readouterr().out
    assert "[mandatory] region-switch-approval-in-prod:" in out and "needs no approval" in out
