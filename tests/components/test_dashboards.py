"""mercur.components.dashboards: every dashboard body the stacks declare is valid against CloudWatch's documented
body structure and fits its grid; each region's shows its apps against their floors and its alarms; the DR
dashboard puts the regions side by side against the bounds a switch is decided on."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from mercur.components.dashboards import GRID_COLUMNS, AlarmStatus, Graph, Layout, Metric, Text, alarm_widgets
from mercur.components import dr_signals_handler, monitoring
from mercur.offline import synth

SCHEMA = json.loads((Path(__file__).parents[1] / "schemas" / "cloudwatch-dashboard-body.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _dashboards(plan) -> dict[str, tuple[object, dict]]:
    return {d.inputs["dashboardName"]: (d, json.loads(d.inputs["dashboardBody"]))
            for d in plan.of_type("aws:cloudwatch/dashboard:Dashboard")}


def _cells(widget: dict) -> set[tuple[int, int]]:
    return {(x, y) for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_body_is_valid_and_its_widgets_fit_the_grid_without_overlapping(plan_of, stack) -> None:
    dashboards = _dashboards(plan_of(stack))
    assert dashboards
    for name, (_, body) in dashboards.items():
        errors = [e.message for e in VALIDATOR.iter_errors(body)]
        assert not errors, (name, errors[:3])
        taken: set[tuple[int, int]] = set()
        for widget in body["widgets"]:
            assert widget["x"] + widget["width"] <= GRID_COLUMNS
            assert not taken & _cells(widget), (name, widget["properties"].get("title"))
            taken |= _cells(widget)


def test_the_schema_refuses_what_cloudwatch_would() -> None:
    good = Layout().add(Graph("g", "us-west-1", [Metric("AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "a"})]),
                        AlarmStatus("a", ["arn:aws:cloudwatch:us-west-1:111111111111:alarm:x"]), Text("t")).body()
    assert not list(VALIDATOR.iter_errors(good))
    broken = [
        lambda b: b["widgets"][0].update(width=25),
        lambda b: b["widgets"][0]["properties"].pop("region"),
        lambda b: b["widgets"][0]["properties"].update(period=90),
        lambda b: b["widgets"][0]["properties"]["metrics"][0][-1].update(stat="Mean"),
        lambda b: b["widgets"][1]["properties"].update(alarms=["arn:aws:cloudwatch:us-west-1:1:metricAlarm/x"]),
        lambda b: b["widgets"][2]["properties"].pop("markdown"),
        lambda b: b["widgets"][2].update(type="html"),
    ]
    for change in broken:
        body = json.loads(json.dumps(good))
        change(body)
        assert list(VALIDATOR.iter_errors(body)), change


def test_each_regions_dashboard_shows_its_apps_against_the_alarms_floors_and_lists_its_alarms(plan_of) -> None:
    plan = plan_of("prod")
    dashboards = _dashboards(plan)
    for region, details in plan.outputs["regions"].items():
        resource, body = dashboards[details["dashboard"]]
        assert resource.region == region and details["dashboard"] == details["clusterName"]
        alarms = [a for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                  if a.region == region and "mercur:monitoring:Monitoring" in a.urn]
        floors = {a.inputs["dimensions"]["Service"]: a.inputs["threshold"] for a in alarms
                  if a.inputs.get("metricName") == "pod_status_ready"}
        graphs = {w["properties"]["title"]: w["properties"] for w in body["widgets"] if w["type"] == "metric"}
        thresholds = {(a.inputs["tags"]["mercur:app"], a.inputs["tags"]["mercur:signal"]): a.inputs["threshold"]
                      for a in alarms if "mercur:signal" in (a.inputs.get("tags") or {})}
        for app, floor in floors.items():
            ready = graphs[f"{app}: ready pods and healthy targets"]
            assert ready["annotations"]["horizontal"] == [{"value": floor, "label": "floor"}]
            assert ready["region"] == region
            assert [m[1] for m in ready["metrics"]] == ["pod_status_ready", "HealthyHostCount"]
            # The user path, against what pages: the 5xx share (metric math over hidden inputs) and the p99.
            errors = graphs[f"{app}: 5xx share of requests (%)"]
            assert errors["annotations"]["horizontal"][0]["value"] == thresholds[(app, "5xx")]
            [expression] = [m[0] for m in errors["metrics"] if isinstance(m[0], dict)]
            assert {m[-1]["id"] for m in errors["metrics"] if m[-1].get("visible") is False} == {
                "requests", "alb503", "pod5xx", "alb5xx"} and expression["expression"] == monitoring.server_error_percent()
            latency = graphs[f"{app}: p99 response time (s)"]
            assert latency["annotations"]["horizontal"][0]["value"] == thresholds[(app, "latency")]
            # The error budget's pace against 1 (the budget spent exactly over the window) and the page.
            burn = graphs[f"{app}: error budget burn rate (1 h)"]
            assert [t["value"] for t in burn["annotations"]["horizontal"]] == [1, thresholds[(app, "error-budget-burn")]]
            assert burn["period"] == 3600
        [status] = [w["properties"] for w in body["widgets"] if w["type"] == "alarm"]
        assert sorted(status["alarms"]) == sorted(f"arn:aws:cloudwatch:{region}:{plan.account}:alarm:"
                                                  f"{a.inputs['name']}" for a in alarms)


def test_the_dr_dashboard_puts_the_regions_side_by_side_against_the_bounds(plan_of) -> None:
    plan = plan_of("prod")
    name = plan.outputs["drDashboard"]
    resource, body = _dashboards(plan)[name]
    assert resource.region == "us-east-1"  # where Route53's health metrics live
    graphs = [w for w in body["widgets"] if w["type"] == "metric"]
    lag = [w["properties"] for w in graphs if "AuroraGlobalDBRPOLag" in json.dumps(w)]
    assert {g["region"] for g in lag} == set(plan.outputs["failoverOrder"])
    # What users get from each region, side by side: the record's app, at each region's own load balancer.
    balancers = {b.region: synth._computed(b.type, b.name, b.id, b.region, b.inputs, plan.account)["arnSuffix"]
                 for b in plan.of_type("aws:lb/loadBalancer:LoadBalancer") if b.inputs["tags"]["Application"] == "storefront"}
    for region in plan.outputs["failoverOrder"]:
        titles = {w["properties"]["title"]: w["properties"] for w in graphs if w["properties"]["region"] == region}
        for title in (f"{region}: storefront 5xx share of requests (%)", f"{region}: storefront p99 response time (s)"):
            lines = [m for m in titles[title]["metrics"] if isinstance(m[0], str)]
            assert lines and {tuple(m[2:4]) for m in lines} == {("LoadBalancer", balancers[region])}
    bound = plan.outputs["database"]["replicationLagBoundSeconds"] * 1000
    rpo = plan.outputs["objectives"]["rpoMinutes"]["regionLoss"]["target"] * 60_000
    assert all([t["value"] for t in g["annotations"]["horizontal"]] == [bound, rpo] for g in lag)
    # Side by side: each region's rows hold its ready pods, its node headroom and its lag at one height, then
    # its users' errors and latency, its newest recovery points and the plan's evaluation at the next.
    for region in plan.outputs["failoverOrder"]:
        widgets = [w for w in graphs if w["properties"]["region"] == region
                   and not w["properties"]["title"].startswith("Route53")]
        rows = sorted({w["y"] for w in widgets})
        assert [len([w for w in widgets if w["y"] == y]) for y in rows] == [3, 4]
        titles = {w["properties"]["title"]: w["properties"] for w in widgets}
        ages = titles[f"{region}: newest recovery point age (min)"]
        # The DR signals' metrics (dr_signals_handler), against the RPO of losing a region and its data at once.
        assert {(m[0], m[1], m[3], m[5]) for m in ages["metrics"]} == {
            (dr_signals_handler.NAMESPACE, "RecoveryPointAgeMinutes", plan.outputs["regions"][region]["clusterName"],
             origin) for origin in ("own", "copy")}
        assert ages["annotations"]["horizontal"][0]["value"] == \
            plan.outputs["objectives"]["rpoMinutes"]["regionLossAndCorruption"]["target"]
        evaluation = titles[f"{region}: switch plan evaluation (1 passed; minutes since)"]
        assert {m[1] for m in evaluation["metrics"]} == {"PlanEvaluationPassed", "MinutesSinceEvaluation"}
    [health] = [w["properties"] for w in graphs if w["properties"]["title"].startswith("Route53 health")]
    assert {m[3] for m in health["metrics"]} == {d["healthCheckId"] for d in plan.outputs["regions"].values()}
    [status] = [w["properties"] for w in body["widgets"] if w["type"] == "alarm"]
    unhealthy = {a.inputs["name"] for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                 if a.inputs["name"].endswith("-unhealthy")}
    assert unhealthy and {arn.rsplit(":", 1)[1] for arn in status["alarms"]} >= unhealthy


def test_a_one_region_stack_has_no_dr_dashboard(plan_of) -> None:
    plan = plan_of("dev")
    assert "drDashboard" not in plan.outputs
    assert [d.inputs["dashboardName"] for d in plan.of_type("aws:cloudwatch/dashboard:Dashboard")] == [
        plan.outputs["regions"]["us-west-1"]["dashboard"]]


def test_a_region_with_more_alarms_than_a_widget_shows_gets_more_widgets() -> None:
    """A widget shows at most 100 alarms: 30 apps in a region already have more."""
    arns = [f"arn:aws:cloudwatch:us-west-1:111111111111:alarm:a{n}" for n in range(205)]
    widgets = alarm_widgets("alarms", arns)
    assert [len(w.alarm_arns) for w in widgets] == [100, 100, 5]
    assert [w.title for w in widgets] == ["alarms (1 of 3)", "alarms (2 of 3)", "alarms (3 of 3)"]
    assert not list(VALIDATOR.iter_errors(Layout().add(*widgets).body()))
    assert [w.title for w in alarm_widgets("alarms", arns[:3])] == ["alarms"]
