"""mercur.components.runtime_state: what the Region switch, Aurora and the autoscalers change at run time is
left alone by every later `up`, and moving the stack file's regions (the runbook's permanent move) changes
nothing the switch owns."""

from __future__ import annotations

import re

from conftest import ROOT
from mercur.components import runtime_state
from mercur.offline import changes

CLUSTER = "aws:rds/cluster:Cluster"


def test_every_aurora_member_ignores_what_a_switchover_an_upgrade_and_a_rotation_change(plan_of) -> None:
    plan = plan_of("prod")
    clusters = plan.of_type(CLUSTER)
    assert len(clusters) == 2 and all(c.inputs.get("globalClusterIdentifier") for c in clusters)
    for cluster in clusters:  # the home cluster too: after a switchover it is a secondary like the other
        assert {"replicationSourceIdentifier", "engineVersion", "masterPasswordWo", "masterPasswordWoVersion",
                "masterUsername"} <= set(cluster.ignore_changes), cluster.urn


def test_a_one_region_cluster_keeps_its_engine_version_managed(plan_of) -> None:
    """Upgrades of a stack without a global database go through its one cluster: nothing else would move it."""
    [cluster] = plan_of("dev").of_type(CLUSTER)
    assert not cluster.inputs.get("globalClusterIdentifier")
    assert "engineVersion" not in cluster.ignore_changes and "masterPasswordWo" in cluster.ignore_changes


def test_hpas_and_workloads_leave_replica_counts_to_the_autoscalers_and_the_switch(stack_plan) -> None:
    hpas = stack_plan.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    workloads = stack_plan.of_type("kubernetes:apps/v1:Deployment") + stack_plan.of_type("kubernetes:apps/v1:StatefulSet")
    assert hpas and workloads
    assert all("spec.minReplicas" in hpa.ignore_changes for hpa in hpas)
    assert all("spec.replicas" in workload.ignore_changes for workload in workloads)


def test_every_resource_the_contract_covers_is_held_to_it(stack_plan) -> None:
    """What the `run-time-state-left-alone` policy checks, over every stack: each entry covers resources of
    the plan (a contract that matched nothing would hold nothing), and each of those ignores its fields."""
    covered = {state: [r for r in stack_plan.resources if state.applies(r.type, r.inputs)]
               for state in runtime_state.CONTRACT if state.handling == runtime_state.IGNORED}
    every_stack = (runtime_state.AURORA_MASTER_CREDENTIALS, runtime_state.HPA_MINIMUM,
                   runtime_state.DEPLOYMENT_REPLICAS)
    assert all(covered[state] for state in every_stack)
    assert bool(covered[runtime_state.AURORA_REPLICATION]) is (stack_plan.stack != "dev")  # the global ones
    for state, resources in covered.items():
        for resource in resources:
            assert set(state.fields) <= set(resource.ignore_changes), (resource.urn, state.fields)


def test_each_entry_names_what_changes_it_where_that_is_written_and_how_it_is_left_alone() -> None:
    for state in runtime_state.CONTRACT:
        assert state.changed_by and state.how and re.search(r"Guide|Reference|pulumi|Kubernetes", state.source)
        assert state.handling in (runtime_state.IGNORED, runtime_state.NOT_MANAGED, runtime_state.AT_RUN_TIME)
        assert bool(state.fields) == (state.handling == runtime_state.IGNORED), state


def test_the_permanent_move_changes_nothing_the_switch_the_database_or_dns_own(project, plan_of) -> None:
    """Swapping the stack file's regions after a switch (docs/runbook.md, "Make a switch permanent"): an `up`
    changes no input of the database, the Region switch or DNS, and elsewhere only what the runbook lists."""
    before = plan_of("prod")
    after = project.edit("prod", lambda v: v["mercur:regions"].reverse()).synthesize("prod", shared=True)
    assert after.outputs["activeRegion"] == "us-east-1"
    owned = ("aws:rds/", "aws:secretsmanager/", "aws:arcregionswitch/", "aws:route53/", "aws:iam/",
             "aws:cloudwatch/metricAlarm:MetricAlarm")
    # The apps' floors (ready pods, healthy targets) follow the region roles: the alarm changes the runbook lists.
    floors = [c for c in changes.changes(before, after, owned) if c.urn.endswith(("-not-ready", "-healthy-targets"))]
    assert {c.field for c in floors} == {"threshold", "alarmDescription"} and floors
    assert [c for c in changes.changes(before, after, owned) if c not in floors] == []
    documented = {(c.urn.rsplit("$", 1)[1].split("::")[0], c.field) for c in changes.changes(before, after)
                  if c not in floors}
    assert documented == {("kubernetes:apps/v1:Deployment", "metadata"),
                          ("aws:cloudwatch/dashboard:Dashboard", "dashboardBody")}  # the floors drawn
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    permanent = runbook[runbook.index("## Make a switch permanent"):]
    assert "its role annotation" in permanent and {c.urn.rsplit("-", 2)[-2] for c in floors} == {"not", "healthy"}
    assert "-not-ready` and `<cluster>-<app>-healthy-targets` alarms, whose floor follows the new roles" in permanent
    assert "and the floor its region's dashboard draws" in permanent
