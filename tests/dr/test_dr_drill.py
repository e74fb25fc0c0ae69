"""mercur.dr.drill against moto and the simulated AWS of aws_simulation: measured terms, pre-flight, and
everything restored (or loudly not) whatever happens — one test per failure the fault-injection run found."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest

from mercur.config import ConfigError, load_file
from mercur.dr import drill, outputs
from aws_simulation import PARALLEL_STEP_SECONDS, WorldProbes
from conftest import ROOT


def _setup(world, stack: str = "staging", kinds: tuple[str, ...] = ("failover",), tmp: Path | None = None,
           approve: bool = True, timeout: float = 1800):
    seeded = world(stack)
    config = load_file(ROOT, stack)
    parsed = outputs.parse(seeded.outputs, "outputs.json", config)
    report = (tmp or Path(os.environ.get("TMPDIR", "/tmp"))) / f"drill-{os.getpid()}.json"
    options = drill.Options(kinds, report, timeout, 10, approve)
    lines: list[str] = []
    pace = drill.Pace(timeout, 10, clock=lambda: seeded.clock, sleep=seeded.advance, progress=lines.append)
    return seeded, config, parsed, options, pace, lines


def _drill(seeded, config, parsed, options, pace, probes=None):
    return drill.run(config, parsed, options, seeded.client, pace, probes or WorldProbes(seeded))


def _calls(seeded, region: str, operation: str) -> list[dict]:
    answered = seeded._answered.get(("arc-region-switch", region))
    return answered.called(operation) if answered else []


def test_failover_drill_measures_each_term_and_switches_back(world, tmp_path) -> None:
    seeded, config, parsed, options, pace, lines = _setup(world, tmp=tmp_path)
    report = _drill(seeded, config, parsed, options, pace)
    [result] = report.drills
    assert report.verdict == "pass" and report.exit_code == 0, (report.line(), result)
    measured = result["measuredRto"]
    # detection as Route53 published it: the staging health check's interval x threshold
    assert measured["detectionSeconds"] >= config.dns.interval_seconds * config.dns.failure_threshold
    assert measured["stepsSeconds"]["capacity-and-writer"] >= PARALLEL_STEP_SECONDS
    assert measured["rtoSeconds"] == pytest.approx(
        measured["stepsSeconds"]["capacity-and-writer"] + measured["dnsSeconds"] + measured["firstRequestSeconds"],
        abs=20)
    assert set(result["measuredRpo"]) == {"replicationLagSeconds", "newestCopyMinutes"}
    # put back: the active region answers again, the health check is as it was, every change restored
    assert seeded.executions.answering == "us-west-1"
    assert not seeded.health_check("us-west-1")["HealthCheckConfig"]["Inverted"]
    assert [c.restored for c in report.changes] == [True, True]
    starts = _calls(seeded, "us-east-1", "StartPlanExecution") + _calls(seeded, "us-west-1", "StartPlanExecution")
    assert [s["targetRegion"] for s in starts] == ["us-east-1", "us-west-1"] and all(s["clientToken"] for s in starts)
    assert {s["mode"] for s in starts} == {"graceful"}
    line = report.line()
    assert line.startswith("staging drill: PASS — failover: RTO ") and f"vs {round(config.dr.rto_minutes * 60)} s target" in line and "RPO" in line
    assert any("waiting" in l for l in lines)
    assert json.loads(options.report.read_text())["verdict"] == "pass"


def test_detection_never_lets_the_plans_own_trigger_alarm_fire(world, tmp_path) -> None:
    """Staging switches by itself after 10 min red: the drill measures detection on the detection alarm only
    and puts the check back long before the trigger alarm on the same check fires."""
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "pass", report.line()
    assert any(name.endswith("-unhealthy") for name in seeded.route53_health.fired)
    assert not [name for name in seeded.route53_health.fired if "-down-" in name]


def test_without_approve_the_drill_waits_for_a_person_and_says_how(world, tmp_path) -> None:
    # prod: staging's plan switches by itself and has no approval step (config: one or the other)
    seeded, config, parsed, options, pace, lines = _setup(world, "prod", tmp=tmp_path, approve=False, timeout=600)
    report = _drill(seeded, config, parsed, options, pace)
    assert any("waiting for a person to approve step approve: aws arc-region-switch approve-plan-execution-step"
               in line for line in lines)
    # nobody approved: the switch timed out, was cancelled, and nothing had moved
    assert report.verdict == "fail" and report.restored and "DrillTimeout" in report.drills[0]["error"]
    assert _calls(seeded, "us-east-1", "CancelPlanExecution")


def test_preflight_failing_changes_nothing(world, tmp_path) -> None:
    """Why: the drill inverted the primary before checking the secondary exists."""
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    seeded.switch["evaluation"]["evaluationState"] = "actionRequired"
    before = seeded.health_check("us-west-1")
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "not started" and report.exit_code == 1 and not report.changes
    assert seeded.health_check("us-west-1") == before
    assert not _calls(seeded, "us-east-1", "StartPlanExecution")
    assert report.line().startswith("staging drill: NOT STARTED (pre-flight failed, nothing changed)")


def test_an_inverted_primary_is_left_alone(world, tmp_path) -> None:
    """Why: an already-inverted primary (a manual failover in progress) was un-inverted."""
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    check_id = seeded.outputs["regions"]["us-west-1"]["healthCheckId"]
    seeded.client("route53", "us-east-1").update_health_check(HealthCheckId=check_id, Inverted=True)
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "not started" and seeded.health_check("us-west-1")["HealthCheckConfig"]["Inverted"]


def test_a_switch_in_progress_is_left_alone(world, tmp_path) -> None:
    # prod: an execution waiting at its approval step (staging's plan has none)
    seeded, config, parsed, options, pace, _ = _setup(world, "prod", tmp=tmp_path)
    arc = seeded.client("arc-region-switch", "us-east-1")
    arc.start_plan_execution(planArn=parsed.switch_plan_arn, targetRegion="us-east-1", action="activate",
                             mode="ungraceful", clientToken="someone-else")
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "not started" and any("is pendingManualApproval" in f for f in report.preflight["failing"])
    assert len(_calls(seeded, "us-east-1", "StartPlanExecution")) == 1  # only theirs


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_switch_restores_and_exits_128_plus_n(world, tmp_path, signum) -> None:
    """Why: a cancelled CI drill left traffic failed over, with no report."""
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    advance = seeded.advance

    def interrupting(seconds: float) -> None:
        advance(seconds)
        if seeded.executions.answering == "us-east-1" and not getattr(seeded, "sent", False):
            seeded.sent = True
            os.kill(os.getpid(), signum)
    pace.sleep = interrupting
    report = _drill(seeded, config, parsed, options, pace)
    assert report.interrupted == signum and report.restored and report.exit_code == 128 + signum
    assert seeded.executions.answering == "us-west-1"  # switched back
    assert json.loads(options.report.read_text())["verdict"] == "interrupted, restored"


def test_a_second_interrupt_while_restoring_is_ignored(world, tmp_path) -> None:
    """Why: a second Ctrl-C during the restore left the health check inverted, with a traceback."""
    seeded, config, parsed, options, pace, lines = _setup(world, tmp=tmp_path)
    advance, sent = seeded.advance, []

    def interrupting(seconds: float) -> None:
        advance(seconds)
        if seeded.executions.answering == "us-east-1" and len(sent) < 2:
            sent.append(signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the first stops the drill, the second lands in the restore
    pace.sleep = interrupting
    report = _drill(seeded, config, parsed, options, pace)
    assert len(sent) == 2 and report.restored and report.exit_code == 130
    assert any("received while restoring: the restore finished first" in line for line in lines)
    assert seeded.executions.answering == "us-west-1"


def test_a_switch_back_that_fails_is_named_with_its_undo_and_exits_1(world, tmp_path) -> None:
    """Why: a drill that failed to put things back printed NOT RESTORED and still exited 0 with 'pass'."""
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    starts = []
    handlers = seeded.executions.handlers

    def failing_back(region):
        found = handlers(region)
        start = found["StartPlanExecution"]

        def start_once_then_fail(**params):
            starts.append(params["targetRegion"])
            seeded.executions.fail_step = "capacity-and-writer" if params["targetRegion"] == "us-west-1" else None
            return start(**params)
        return {**found, "StartPlanExecution": start_once_then_fail}
    seeded.executions.handlers = failing_back
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "not restored" and report.exit_code == 1
    assert starts.count("us-west-1") == drill.RESTORE_ATTEMPTS + 1  # in the drill, then each restore attempt
    line = report.line()  # what the world shows: the writer and the traffic still in us-east-1
    assert "LEFT CHANGED: the writer is in us-east-1; the zone answers with us-east-1 (undo: aws arc-region-switch " \
           "start-plan-execution --region us-west-1" in line
    document = json.loads(options.report.read_text())
    assert document["changes"][-1]["undoByHand"].startswith("aws arc-region-switch start-plan-execution")


def test_a_switch_back_that_fails_once_is_retried_with_a_new_token(world, tmp_path) -> None:
    """Why: the way back had one client token, so each retry after a failed execution reattached to the failed
    one: a single transient failure left staging failed over."""
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    tokens: list[str] = []
    handlers = seeded.executions.handlers

    def failing_once(region):
        found = handlers(region)
        start = found["StartPlanExecution"]

        def start_back(**params):
            if params["targetRegion"] == "us-west-1":
                tokens.append(params["clientToken"])
                seeded.executions.fail_step = "capacity-and-writer" if len(tokens) == 1 else None
            return start(**params)
        return {**found, "StartPlanExecution": start_back}
    seeded.executions.handlers = failing_once
    report = _drill(seeded, config, parsed, options, pace)
    assert report.restored and seeded.executions.answering == "us-west-1", report.line()
    assert len(tokens) == 2 and len(set(tokens)) == 2


def test_the_report_on_disk_names_each_change_before_it_is_made_and_when_restored(world, tmp_path) -> None:
    """Why: a cancelled CI job is killed 10 s after its signal, mid-restore; the report, written at the start
    and the end only, named nothing to undo."""
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    advance, seen, mid_switch = seeded.advance, [], []

    def reading(seconds: float) -> None:  # between two polls, as a kill would find the file
        document = json.loads(options.report.read_text())
        assert document["verdict"] == "running" and document["options"]["approve"] is True
        changes = [(c["undo"]["kind"], c["restored"]) for c in document["changes"]]
        if not seen or seen[-1] != changes:
            seen.append(changes)
        if seeded.executions.answering == "us-east-1":
            mid_switch.append(document["changes"][-1])
        advance(seconds)
    pace.sleep = reading
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "pass", report.line()
    assert seen == [[("health-check-inverted", False)], [("health-check-inverted", True)],
                    [("health-check-inverted", True), ("switch-back", False)]]
    assert mid_switch and mid_switch[0]["undo"] == {"kind": "switch-back", "planArn": parsed.switch_plan_arn,
                                                    "region": "us-east-1", "target": "us-west-1"}
    assert json.loads(options.report.read_text())["drillId"] == report.drill_id
    assert [c["restored"] for c in json.loads(options.report.read_text())["changes"]] == [True, True]


def test_a_report_that_cannot_be_rewritten_mid_drill_does_not_stop_it(world, tmp_path) -> None:
    """Why: a report directory removed mid-drill made the rewrite raise: the drill failed, and the final write
    raised out of the restore's `finally`."""
    (folder := tmp_path / "reports").mkdir()
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=folder)
    advance = seeded.advance
    pace.sleep = lambda step: (shutil.rmtree(folder, ignore_errors=True), advance(step))
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "pass" and report.restored and seeded.executions.answering == "us-west-1"
    assert report.line().endswith(f"the report could NOT be written to {options.report} (FileNotFoundError: "
                                  "No such file or directory)")


def test_restore_drill_restores_the_newest_copy_answers_and_deletes_it(world, tmp_path) -> None:
    seeded, config, parsed, options, pace, _ = _setup(world, "prod", ("restore",), tmp_path)
    report = _drill(seeded, config, parsed, options, pace)
    [result] = report.drills
    assert report.verdict == "pass", report.line()
    assert result["answered"] is True and result["region"] == "us-east-1"
    assert result["recoveryPointArn"].endswith("awsbackup-us-west-1")  # the copy of the active region's cluster
    assert result["restoreSeconds"] >= 300 and not seeded.restores.left()
    assert report.line().startswith("prod drill: PASS — restore: ")


def test_a_restored_cluster_that_does_not_answer_1_fails_the_drill(world, tmp_path) -> None:
    seeded, config, parsed, options, pace, _ = _setup(world, "prod", ("restore",), tmp_path)
    seeded.restores.answers_one = False
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "fail" and "does not answer SELECT 1" in report.line()
    assert report.restored and not seeded.restores.left()  # deleted all the same


def test_a_delete_that_keeps_failing_is_not_restored(world, tmp_path) -> None:
    """Why: a failed delete reported cleanedUp: false and exited 0."""
    seeded, config, parsed, options, pace, _ = _setup(world, "prod", ("restore",), tmp_path)
    seeded.restores.fail_delete = drill.RESTORE_ATTEMPTS
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "not restored" and report.exit_code == 1
    # Named from what RDS still has, each with its own command (the instance went; the cluster would not).
    assert f"LEFT CHANGED: cluster {report.drill_id} in us-east-1 (undo: aws rds delete-db-cluster --region " \
           f"us-east-1 --db-cluster-identifier {report.drill_id} --skip-final-snapshot)" in report.line()


def test_a_retried_restore_call_finds_its_own_cluster(world, tmp_path) -> None:
    """Why: a lost response made botocore retry a create: the drill's identifiers make the retry find its own."""
    seeded, config, parsed, options, pace, _ = _setup(world, "prod", ("restore",), tmp_path)
    rds = seeded.client("rds", "us-east-1")
    original = rds.restore_db_cluster_from_snapshot

    def sent_twice(**params):  # the first response is lost: the same request goes again
        original(**params)
        return original(**params)
    rds.restore_db_cluster_from_snapshot = sent_twice
    report = _drill(seeded, config, parsed, options, pace)
    assert seeded.restores.calls == ["restore", "restore"] and len(seeded.restores.clusters) == 1
    assert report.verdict == "pass" and not seeded.restores.left()


def test_a_lost_create_volume_response_leaves_no_volume(project, world, tmp_path) -> None:
    """Why: a lost CreateVolume response made botocore retry without a client token: two volumes, one deleted."""
    project.edit("prod", lambda v: (v["mercur:apps"][1].update(volume={"sizeGb": 20, "mountPath": "/data"}),
                                    v.pop("mercur:database"), v["mercur:apps"][1].pop("database"),
                                    v["mercur:dr"]["rpoMinutes"].update(regionLoss=240, corruption=240)))
    seeded = world("prod", project=project)
    config = load_file(project.path, "prod")
    parsed = outputs.parse(seeded.outputs, "outputs.json", config)
    ec2 = seeded.client("ec2", "us-east-1")
    tokens: list[str] = []

    def lose_first_response(params, **_):
        tokens.append(params.get("ClientToken"))
    ec2.meta.events.register("before-parameter-build.ec2.CreateVolume", lose_first_response)
    original = ec2.create_volume

    def create_twice(**params):  # the first response is lost: botocore sends the same request again
        original(**params)
        return original(**params)
    ec2.create_volume = create_twice
    options = drill.Options(("restore",), tmp_path / "r.json", 600, 10, False)
    pace = drill.Pace(600, 10, clock=lambda: seeded.clock, sleep=seeded.advance, progress=lambda _: None)
    report = drill.run(config, parsed, options, lambda s, r: ec2 if (s, r) == ("ec2", "us-east-1")
                       else seeded.client(s, r), pace, None)
    assert report.verdict == "pass", report.line()
    assert len(tokens) == 2 and tokens[0] == tokens[1] == report.drill_id  # one token: AWS makes one volume
    assert not ec2.describe_volumes(Filters=[{"Name": "tag-key", "Values": [drill.DRILL_TAG]}])["Volumes"]


@pytest.mark.parametrize("flag, value, message", [
    ("timeout", "nan", "--timeout: nan: is not a finite number of seconds of at least 1"),
    ("timeout", "inf", "--timeout: inf: is not a finite number"),
    ("poll", "-1", "--poll: -1: is not a finite number of seconds"),
])
def test_waits_are_bounded(flag, value, message, tmp_path) -> None:
    """Why: `--timeout nan` never timed out."""
    args = SimpleNamespace(timeout="900", poll="10", confirm=None, stack="staging", report=tmp_path / "r.json",
                           kind="all", approve=False)
    setattr(args, flag, value)
    with pytest.raises(ConfigError, match=f"^{message}"):
        drill.Options.from_args(args, load_file(ROOT, "staging"))


def test_a_report_path_in_a_missing_directory_is_refused_first(tmp_path) -> None:
    """Why: --report into a missing directory lost the whole result after the drill."""
    args = SimpleNamespace(timeout="900", poll="10", confirm=None, stack="staging", kind="all", approve=False,
                           report=tmp_path / "nowhere" / "r.json")
    with pytest.raises(ConfigError, match="does not exist"):
        drill.Options.from_args(args, load_file(ROOT, "staging"))
