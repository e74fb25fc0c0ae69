"""mercur.components.rpo_keeper: every region of a global database runs the keeper of its own cluster's bound,
every minute, with no more permission than that; the program itself leaves the parameter to it."""

from __future__ import annotations

import hashlib
import json

import pytest

from mercur.components import rpo_keeper, rpo_keeper_handler, runtime_state


def test_every_region_of_a_global_database_keeps_its_own_clusters_bound(plan_of) -> None:
    plan = plan_of("prod")
    functions = {f.region: f for f in plan.of_type("aws:lambda/function:Function") if "rpo-keeper" in f.name}
    clusters = {c.region: c for c in plan.of_type("aws:rds/cluster:Cluster")}
    groups = {g.region: g for g in plan.of_type("aws:rds/clusterParameterGroup:ClusterParameterGroup")}
    assert set(functions) == set(clusters) == {"us-west-1", "us-east-1"}
    for region, function in functions.items():
        env = function.inputs["environment"]["variables"]
        identifier = clusters[region].inputs["clusterIdentifier"]
        assert env["CLUSTER_ARN"] == f"arn:aws:rds:{region}:333333333333:cluster:{identifier}"
        assert env["PARAMETER_GROUP"] == groups[region].inputs["name"] == clusters[region].inputs[
            "dbClusterParameterGroupName"]
        assert env["GLOBAL_CLUSTER"] == plan.one("aws:rds/globalCluster:GlobalCluster").inputs[
            "globalClusterIdentifier"]
        assert env["RPO_SECONDS"] == str(plan.outputs["objectives"]["rpoMinutes"]["regionLoss"]["target"] * 60)
        [peer] = json.loads(env["PEERS"])
        assert peer == {"region": (other := next(r for r in clusters if r != region)),
                        "cluster": clusters[other].inputs["clusterIdentifier"]}
        # The code uploaded is the handler the tests run.
        source = rpo_keeper.HANDLER.read_bytes()
        assert function.inputs["code"] == {"archive": {"rpo_keeper_handler.py": {
            "file": "rpo_keeper_handler.py", "sha256": hashlib.sha256(source).hexdigest()}}}
        assert function.inputs["handler"] == "rpo_keeper_handler.handler" and hasattr(rpo_keeper_handler, "handler")


def test_the_keeper_runs_every_minute_on_its_own_permission(plan_of) -> None:
    plan = plan_of("prod")
    for function in (f for f in plan.of_type("aws:lambda/function:Function") if "rpo-keeper" in f.name):
        [rule] = [r for r in plan.of_type("aws:cloudwatch/eventRule:EventRule")
                  if r.region == function.region and r.inputs.get("name") == function.inputs["name"]]
        assert rule.inputs["scheduleExpression"] == "rate(1 minute)"
        [target] = [t for t in plan.of_type("aws:cloudwatch/eventTarget:EventTarget")
                    if t.region == function.region and t.inputs["rule"] == rule.inputs["name"]]
        assert target.inputs["arn"].endswith(f":function:{function.inputs['name']}")
        [permission] = [p for p in plan.of_type("aws:lambda/permission:Permission")
                        if p.region == function.region and "rpo-keeper" in p.name]
        assert permission.inputs["principal"] == "events.amazonaws.com"
        assert permission.inputs["sourceArn"].endswith(f":rule/{rule.inputs['name']}")


def test_the_keepers_role_reaches_its_own_group_only() -> None:
    policy = json.loads(rpo_keeper.keeper_policy("aws", "333333333333", "us-west-1", "mercur-prod",
                                                 "mercur-prod-usw1-aurora-postgresql16", "arn:log"))
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["KeepTheBoundOnItsOwnGroup"]["Resource"] == \
        "arn:aws:rds:us-west-1:333333333333:cluster-pg:mercur-prod-usw1-aurora-postgresql16"
    assert by_sid["FindTheWriter"]["Resource"] == "arn:aws:rds::333333333333:global-cluster:mercur-prod"
    assert all("*" not in json.dumps(s["Action"]) for s in policy["Statement"])
    assert [s["Sid"] for s in policy["Statement"] if s["Resource"] == "*"] == ["ReadThePeersLag", "NoteItsOwnVerdicts"]
    assert by_sid["NoteItsOwnVerdicts"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Mercur/RpoKeeper"}}


def test_the_stack_files_bound_starts_on_the_home_group_only_and_the_keeper_owns_it_after(plan_of) -> None:
    """The home cluster is where the writer starts; a secondary's group keeps Aurora's default (AWS's advice for
    two regions), and no group's parameters are managed after creation: the keeper moves the bound."""
    for stack in ("dev", "staging", "prod"):
        plan = plan_of(stack)
        objectives = plan.outputs["objectives"]["rpoMinutes"]["regionLoss"]
        clusters = {c.region: c for c in plan.of_type("aws:rds/cluster:Cluster")}
        for group in plan.of_type("aws:rds/clusterParameterGroup:ClusterParameterGroup"):
            assert group.ignore_changes == tuple(runtime_state.AURORA_RPO_BOUND.fields) == ("parameters",)
            declared = {p["name"]: p for p in group.inputs["parameters"]}
            home = "masterUsername" in clusters[group.region].inputs and len(clusters) > 1
            assert set(declared) == ({"rds.force_ssl", "rds.global_db_rpo"} if home else {"rds.force_ssl"}), stack
            if home:
                assert declared["rds.global_db_rpo"] == {"name": "rds.global_db_rpo", "applyMethod": "immediate",
                                                         "value": str(objectives["target"] * 60)}


def test_a_one_region_database_has_no_bound_to_keep(plan_of) -> None:
    plan = plan_of("dev")
    assert plan.of_type("aws:rds/cluster:Cluster") and not plan.of_type("aws:lambda/function:Function")


def test_the_rpo_lag_pages_before_the_writer_holds_commits(plan_of) -> None:
    plan = plan_of("prod")
    alarms = [a for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if a.inputs.get("metricName") == rpo_keeper_handler.METRIC]
    assert {a.region for a in alarms} == {"us-west-1", "us-east-1"}
    for alarm in alarms:
        assert alarm.inputs["threshold"] == 30_000 < 60_000  # ms: the lag bound, below rds.global_db_rpo
        assert alarm.inputs["alarmActions"] and "holds commits" in alarm.inputs["alarmDescription"]
    keeper = [a for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.inputs.get("namespace") == "AWS/Lambda"
              and "-rpo-keeper" in a.inputs["name"]]
    assert sorted(a.inputs.get("metricName") for a in keeper) == ["Errors", "Errors", "Invocations", "Invocations"]
    assert all(a.inputs["alarmActions"] for a in keeper)
    # A keeper that stops running pages too: no invocation in 5 minutes, missing data counted as breaching.
    assert all(a.inputs["treatMissingData"] == "breaching" for a in keeper if a.inputs.get("metricName") == "Invocations")


def test_the_instances_start_after_the_keepers_first_run(plan_of) -> None:
    """On a new global database the first run lifts the declared bound (no peer in sync yet) before any instance
    can take a commit; a keeper that cannot work fails that `up` instead of leaving the RPO unenforced."""
    plan = plan_of("prod")
    runs = {r.region: r for r in plan.of_type("aws:lambda/invocation:Invocation")}
    functions = {f.region: f for f in plan.of_type("aws:lambda/function:Function") if "rpo-keeper" in f.name}
    assert set(runs) == set(functions) == {"us-west-1", "us-east-1"}
    for region, run in runs.items():
        assert run.inputs["functionName"] == functions[region].inputs["name"]
        assert json.loads(run.inputs["input"]) == {rpo_keeper_handler.FIRST_RUN: True}
        for instance in (i for i in plan.of_type("aws:rds/clusterInstance:ClusterInstance") if i.region == region):
            assert run.urn in instance.depends_on


def test_the_first_run_waits_out_iams_propagation_and_nothing_else() -> None:
    from botocore.exceptions import ClientError
    calls, pauses = [], []

    def denied_then(result, code="AccessDeniedException", times=2):
        def run():
            calls.append(1)
            if len(calls) <= times:
                raise ClientError({"Error": {"Code": code, "Message": "not yet"}}, "ResetDBClusterParameterGroup")
            return result
        return run

    assert rpo_keeper_handler.patiently(denied_then({"change": None}), 5, pauses.append) == {"change": None}
    assert len(calls) == 3 and pauses == [rpo_keeper_handler.FIRST_RUN_PAUSE_SECONDS] * 2
    calls.clear()
    with pytest.raises(ClientError):  # a scheduled run does not wait: the next minute is its retry
        rpo_keeper_handler.patiently(denied_then({}), 1, pauses.append)
    calls.clear()
    with pytest.raises(ClientError):  # any other error is not IAM's delay
        rpo_keeper_handler.patiently(denied_then({}, code="DBClusterParameterGroupNotFound"), 5, pauses.append)
    assert len(calls) == 1
