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
from mercur.components import cluster, switch, switch_permissions as permissions
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
            "capacityMonitoringApproach": eks["capacityMonitoringApproach"],
            "ungraceful": _one(eks.get("ungracefuls"))}


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
    """What botocore's ParamValidator leaves out: enum members, string patterns and integer maxima of the model
    (it checks minima only)."""
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
    elif shape.type_name == "integer" and "max" in shape.metadata and value > shape.metadata["max"]:
        problems.append(f"{path}: {value} is above the model's max {shape.metadata['max']}")
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


# --- ungraceful: every block that has an ungraceful mode in the API sets it, as the API defines it ---------

# Pulumi (Terraform) names a block's configuration in the plural and nests it as a list of one
# (eksResourceScalingConfigs: [{...}]); the API's ExecutionBlockConfiguration union names it in the singular
# (eksResourceScalingConfig: {...}). Inside it, `ungracefuls: [{...}]` is the API's `ungraceful: {...}`.
# Every other member keeps its name (camelCase on both sides).
def _api_block(step: dict) -> tuple[str, dict]:
    """The step's block configuration as (API union member, API-shaped body without nested steps)."""
    [(key, items)] = [(k, v) for k, v in step.items() if k.endswith("Configs") and v]
    body = dict(_one(items))
    if "ungracefuls" in body:
        body["ungraceful"] = _one(body.pop("ungracefuls") or None)
    return key.removesuffix("s"), body


def _ungraceful_problems(step: dict) -> list[str]:
    member, body = _api_block(step)
    shape = MODEL.shape_for("ExecutionBlockConfiguration").members[member]
    where = f"{step['name']} ({member})"
    if "ungraceful" not in shape.members:
        return [f"{where}: the API has no ungraceful for it, the plan sets one"] if "ungraceful" in body else []
    if body.get("ungraceful") is None:
        return [f"{where}: no ungraceful setting (the API's {shape.members['ungraceful'].name})"]
    try:
        validate_parameters(body["ungraceful"], shape.members["ungraceful"])
    except ParamValidationError as error:
        return [f"{where}: {error}"]
    return [f"{where}{p}" for p in _enums_and_patterns(body["ungraceful"], shape.members["ungraceful"])]


def _all_problems(inputs: dict) -> list[str]:
    return [p for w in inputs["workflows"] for s in _steps(w["steps"]) for p in _ungraceful_problems(s)]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_block_with_an_ungraceful_mode_sets_it_in_the_apis_shape(plan_of, stack) -> None:
    inputs = _plan(plan_of(stack)).inputs
    assert _all_problems(inputs) == []
    # the two the plan has: the writer fails over (may lose the replication lag), scaling settles for part
    members = {_api_block(s)[0]: _api_block(s)[1] for w in inputs["workflows"] for s in _steps(w["steps"])}
    assert members["globalAuroraConfig"]["ungraceful"] == {"ungraceful": "failover"}
    assert members["eksResourceScalingConfig"]["ungraceful"] == {
        "minimumSuccessPercentage": switch.UNGRACEFUL_CAPACITY_PERCENT}


def _eks(inputs: dict) -> dict:
    return inputs["workflows"][0]["steps"][-2]["parallelConfigs"][0]["steps"][0]["eksResourceScalingConfigs"][0]


def _aurora(inputs: dict) -> dict:
    return inputs["workflows"][0]["steps"][-2]["parallelConfigs"][0]["steps"][1]["globalAuroraConfigs"][0]


@pytest.mark.parametrize("breaking, words", [
    (lambda i: _eks(i).pop("ungracefuls"), "no ungraceful setting"),
    (lambda i: _eks(i).update(ungracefuls=[{"minimumSuccessPercentage": 100}]), "above the model's max 99"),
    (lambda i: _eks(i).update(ungracefuls=[{"minimumSuccessPercent": 50}]), "Unknown parameter"),
    (lambda i: _aurora(i).update(ungracefuls=[{"ungraceful": "failOver"}]), "is not one of ['failover']"),
    (lambda i: _aurora(i).update(ungracefuls=[]), "no ungraceful setting"),
    (lambda i: i["workflows"][0]["steps"][-1]["route53HealthCheckConfigs"][0].update(
        ungracefuls=[{"ungraceful": "skip"}]), "the API has no ungraceful for it"),
])
def test_the_ungraceful_check_catches_what_the_api_would_refuse_or_miss(plan_of, breaking, words) -> None:
    import copy
    inputs = copy.deepcopy(_plan(plan_of("prod")).inputs)
    breaking(inputs)
    problems = _all_problems(inputs)
    assert problems and any(words in p for p in problems), problems


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
            f"arn:aws:eks:{r}:{stack.account_id}:cluster/{name}" for r, name in clusters.items()}
        assert sorted(s["namespace"] for s in eks["scalingResources"]) == sorted(a.name for a in stack.apps)
        for scaled in eks["scalingResources"]:
            assert {(r["resourceName"], r["name"], r["hpaName"]) for r in scaled["resources"]} == {
                (region, scaled["namespace"], scaled["namespace"]) for region in clusters}
        aurora = writer["globalAuroraConfigs"][0]
        assert aurora["behavior"] == "switchoverOnly" and aurora["ungracefuls"] == [{"ungraceful": "failover"}]
        assert eks["ungracefuls"] == [{"minimumSuccessPercentage": switch.UNGRACEFUL_CAPACITY_PERCENT}]
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
    inputs, account = _plan(stack_plan).inputs, config.load_file(ROOT, stack_plan.stack).account_id
    alarms = {a["mapBlockKey"]: a for a in inputs["associatedAlarms"]}
    health = [a for a in stack_plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.name.endswith("-unhealthy")]
    for region in ("us-west-1", "us-east-1"):
        assert alarms[f"{region}-health"]["alarmType"] == "applicationHealth"
        assert alarms[f"{region}-replication-lag"]["alarmType"] == "applicationHealth"
    assert {a["resourceIdentifier"] for k, a in alarms.items() if k.endswith("-health")} == {
        f"arn:aws:cloudwatch:us-east-1:{account}:alarm:{a.inputs['name']}" for a in health}  # CloudWatch's form


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
    # A trigger runs the workflow of its target region, the one a person would start: nothing in it waits
    # for a person (ManualApproval has no ungraceful behaviour to skip it by; ARC, "Add execution blocks").
    for workflow in inputs["workflows"]:
        assert "ManualApproval" not in _block_types(workflow["steps"]), workflow["workflowTargetRegion"]


def test_only_arc_assumes_the_execution_role_and_kubernetes_lets_it_scale_only(plan_of) -> None:
    plan, account = plan_of("prod"), config.load_file(ROOT, "prod").account_id
    [role] = [r for r in plan.of_type("aws:iam/role:Role") if r.name.endswith("-switch-execution")]
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "arc-region-switch.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    assert _plan(plan).inputs["executionRole"].split("/")[-1] == role.id
    # Kubernetes rights: an access entry in every cluster, scaling only, in the apps' namespaces.
    for eks in plan.of_type("eks:index:Cluster"):
        entry = eks.inputs["accessEntries"]["region-switch"]
        assert entry["principalArn"] == f"arn:aws:iam::{account}:role/{role.id}"
        assert entry["accessPolicies"]["scaling"]["policyArn"] == cluster.REGION_SWITCH_POLICY


# --- the execution role's policy, held to the table of what ARC documents (switch_permissions) -----------

def _steps(steps: list[dict]) -> list[dict]:
    """Every step, the Parallel block's nested steps included."""
    return [s for step in steps for s in [step, *(n for p in step.get("parallelConfigs") or [] for n in p["steps"])]]


def _block_types(steps: list[dict]) -> set[str]:
    return {s["executionBlockType"] for s in _steps(steps)}


def _what_the_plan_names(inputs: dict, account: str) -> dict[str, set[str]]:
    """Each scope's ARNs, read from the plan's own inputs (what its blocks act on), not from the builder."""
    steps = _steps([s for w in inputs["workflows"] for s in w["steps"]])
    configs = lambda key: [c for s in steps for c in s.get(key) or []]  # noqa: E731
    eks = {c["clusterArn"] for e in configs("eksResourceScalingConfigs") for c in e["eksClusters"]}
    aurora = configs("globalAuroraConfigs")
    return {
        permissions.PLAN: {f"arn:aws:arc-region-switch::{account}:plan/{inputs['name']}:*"},
        permissions.ROLE: {inputs["executionRole"]},
        permissions.ALARMS: {a["resourceIdentifier"] for a in inputs.get("associatedAlarms") or []},
        permissions.EKS_CLUSTERS: eks,
        # the Service Authorization Reference's access-entry ARN: arn:aws:eks:REGION:ACCOUNT:access-entry/CLUSTER/...
        permissions.EKS_ACCESS_ENTRIES: {re.sub(r":cluster/(.+)$", r":access-entry/\1/*", arn) for arn in eks},
        permissions.GLOBAL_CLUSTER: {f"arn:aws:rds::{account}:global-cluster:{a['globalClusterIdentifier']}"
                                     for a in aurora},
        permissions.DB_CLUSTERS: {arn for a in aurora for arn in a["databaseClusterArns"]},
        permissions.HOSTED_ZONE: {f"arn:aws:route53:::hostedzone/{r['hostedZoneId']}"
                                  for r in configs("route53HealthCheckConfigs")},
        permissions.ANY: {"*"},
    }


def _granted(plan: Plan) -> set[tuple[str, str]]:
    [role] = [r for r in plan.of_type("aws:iam/role:Role") if r.name.endswith("-switch-execution")]
    [policy] = [p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")
                if p.name.endswith("-switch-execution") and p.inputs["role"] == role.id]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    assert all(s["Effect"] == "Allow" and set(s) == {"Sid", "Effect", "Action", "Resource"} for s in statements)
    listed = lambda v: [v] if isinstance(v, str) else v  # noqa: E731
    return {(a, r) for s in statements for a in listed(s["Action"]) for r in listed(s["Resource"])}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_execution_role_holds_what_arc_documents_for_its_plan_scoped_to_what_the_plan_names(
        plan_of, stack) -> None:
    plan, account = plan_of(stack), config.load_file(ROOT, stack).account_id
    inputs = _plan(plan).inputs
    blocks = _block_types([s for w in inputs["workflows"] for s in w["steps"]])
    needs = permissions.needed(blocks, associated_alarms=bool(inputs.get("associatedAlarms")),
                               triggers=bool(inputs.get("triggers")))
    # every block type the plan uses is in the table, with its permissions or as one ARC lists none for
    known = {g.needed_for for g in permissions.GRANTS} | set(permissions.WITHOUT_PERMISSIONS)
    assert blocks <= known, blocks - known
    names = _what_the_plan_names(inputs, account)
    expected = {(g.action, arn) for g in permissions.GRANTS if g.needed_for in needs
                for scope in g.scope for arn in names[scope]}
    assert _granted(plan) == expected
    # what an outside review found missing, in case the table itself loses it
    actions = {a for a, _ in expected}
    assert {"arc-region-switch:GetPlan", "arc-region-switch:GetPlanExecution", "arc-region-switch:ListPlanExecutions",
            "iam:SimulatePrincipalPolicy", "cloudwatch:DescribeAlarmHistory", "eks:ListAssociatedAccessPolicies",
            } <= actions
    assert ("iam:SimulatePrincipalPolicy", inputs["executionRole"]) in expected
    assert {r for a, r in expected if a == "eks:ListAssociatedAccessPolicies"} == {
        re.sub(r":cluster/(.+)$", r":access-entry/\1/*", arn) for arn in names[permissions.EKS_CLUSTERS]}
    if inputs.get("triggers"):
        assert ("arc-region-switch:StartPlanExecution", names[permissions.PLAN].pop()) in expected
    # nothing is granted on every resource but what the reference scopes to nothing
    assert {a for a, r in expected if r == "*"} == {"cloudwatch:GetMetricStatistics"}


def test_each_row_of_the_permission_table_cites_the_arc_page_it_comes_from() -> None:
    for row in [*permissions.GRANTS, *(permissions.Grant("-", block, (), block, *page, "-")
                                       for block, page in permissions.WITHOUT_PERMISSIONS.items())]:
        assert row.url.startswith("https://docs.aws.amazon.com/r53recovery/latest/dg/") and row.url.split("#")[0] \
            .endswith(".html"), row
        assert row.page and not row.page.startswith("http"), row
        if row.scope:
            assert row.scope_basis.startswith("SAR https://docs.aws.amazon.com/service-authorization/"), row
        assert re.fullmatch(r"[A-Za-z0-9]+", row.sid) or row.sid == "-", row
    # one scope per statement: a Sid never mixes resources
    for sid in {g.sid for g in permissions.GRANTS}:
        assert len({g.scope for g in permissions.GRANTS if g.sid == sid}) == 1, sid


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
