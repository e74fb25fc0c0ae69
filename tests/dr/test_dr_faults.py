"""The DR tools under faults, against the simulated AWS (aws_simulation): what a drill says it left changed is
what the world shows after its undo; `dr check` tells its alarms apart and the traffic from the writer; AWS
errors and signals end in a verdict line, never a traceback. One test per fault the outside review found
(issue 23, "DR tools that stay truthful under faults")."""

from __future__ import annotations

import json
import os
import signal

from botocore.exceptions import ClientError, EndpointConnectionError

from mercur.dr import drill
from mercur.dr.check import check
from aws_simulation import WRITER_BEGINS_AFTER_SECONDS, WRITER_MOVE_SECONDS
from test_dr_drill import _drill, _setup


def _denied(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, operation)


def answer_lost(seeded, operation: str, after=None) -> None:
    """`operation` of the simulated ARC takes effect, then its answer is lost (`after()` runs in between)."""
    handlers = seeded.executions.handlers

    def losing(region):
        found = handlers(region)
        call = found[operation]

        def applied_but_lost(**params):
            call(**params)
            if after:
                after()
            return EndpointConnectionError(endpoint_url=f"https://arc-region-switch.{region}.amazonaws.com")
        return {**found, operation: applied_but_lost}
    seeded.executions.handlers = losing


def _interrupt_when(seeded, pace, condition, signum=signal.SIGINT) -> list[int]:
    """Send `signum` to this process once, the first time `condition()` holds between two polls."""
    advance, sent = seeded.advance, []

    def sleeping(seconds: float) -> None:
        advance(seconds)
        if not sent and condition():
            sent.append(signum)
            os.kill(os.getpid(), signum)
    pace.sleep = sleeping
    return sent


def _world_put_back(seeded) -> bool:
    """After the drill, once RDS has finished whatever it had begun: the writer, the traffic and the plan's
    executions as before the drill."""
    seeded.advance(WRITER_MOVE_SECONDS + 1)
    return seeded.executions.writer == "us-west-1" and seeded.executions.answering in (None, "us-west-1") and \
        not seeded.executions.writer_move and not any(
            e["state"] in ("inProgress", "pendingManualApproval", "pausedByFailedStep")
            for e in seeded.executions.items.values())


def test_a_drill_stopped_while_the_writer_moves_switches_it_back(world, tmp_path) -> None:
    """A switchover RDS has begun cannot be cancelled: the cancelled plan step moved the writer all the same,
    so the undo must switch back, not report everything restored with the writer in the passive region."""
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    sent = _interrupt_when(seeded, pace, lambda: seeded.executions.writer_move is not None)
    report = _drill(seeded, config, parsed, options, pace)
    assert sent and report.interrupted == signal.SIGINT
    assert _world_put_back(seeded), (report.line(), seeded.executions.writer)  # moved by the cancelled step, back
    assert report.restored and report.line().startswith("staging drill: INTERRUPTED (everything restored)")


def test_a_lost_answer_to_the_approval_still_counts_what_the_switch_moved(world, tmp_path) -> None:
    """The approval took effect but its answer never came: the drill fails, cancels, and the writer that
    moved meanwhile comes back."""
    seeded, config, parsed, options, pace, _ = _setup(world, "prod", tmp=tmp_path)
    # the switchover begins before the error arrives
    answer_lost(seeded, "ApprovePlanExecutionStep", lambda: seeded.advance(WRITER_BEGINS_AFTER_SECONDS + 5))
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict in ("fail", "not restored") and _world_put_back(seeded), report.line()
    assert report.restored, report.line()


def test_a_cancel_that_is_refused_names_the_execution_still_waiting_and_its_cancel(world, tmp_path) -> None:
    """Nobody approves (prod, no --approve), the drill times out, and CancelPlanExecution is denied: what is
    left is an execution anyone with the approver role can still approve, not a region 'made active'."""
    seeded, config, parsed, options, pace, _ = _setup(world, "prod", tmp=tmp_path, approve=False, timeout=600)
    seeded.executions.cancel_fault = "denied"
    report = _drill(seeded, config, parsed, options, pace)
    [waiting] = [e for e in seeded.executions.items.values() if e["state"] == "pendingManualApproval"]
    line = report.line()
    assert report.verdict == "not restored" and report.exit_code == 1
    assert f"execution {waiting['executionId']} to us-east-1 is pendingManualApproval" in line
    assert (f"aws arc-region-switch cancel-plan-execution --region us-east-1 --plan-arn {parsed.switch_plan_arn} "
            f"--execution-id {waiting['executionId']}") in line
    assert "made active" not in line.split("LEFT CHANGED", 1)[1] and "start-plan-execution" not in line
    document = json.loads(options.report.read_text())
    assert document["changes"][-1]["leftOver"] and document["changes"][-1]["undoByHand"].startswith(
        "aws arc-region-switch cancel-plan-execution")


def test_a_cancel_that_never_takes_effect_is_named_the_same_way(world, tmp_path) -> None:
    seeded, config, parsed, options, pace, _ = _setup(world, "prod", tmp=tmp_path, approve=False, timeout=600)
    seeded.executions.cancel_fault = "ignored"
    line = _drill(seeded, config, parsed, options, pace).line()
    assert "to us-east-1 is pendingManualApproval" in line and "cancel-plan-execution --region us-east-1" in line


def test_a_switch_back_paused_on_its_traffic_step_names_that_execution_and_retries_with_new_tokens(
        world, tmp_path) -> None:
    """The way back fails on its traffic step and ARC pauses it: each try cancels the paused execution and
    starts a new one (a fresh token: an old one reattaches to the paused execution); what is left is named
    from the world: the traffic still in us-east-1, and how to move it."""
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    handlers, tokens = seeded.executions.handlers, []

    def pausing_back(region):
        found = handlers(region)
        start = found["StartPlanExecution"]

        def start_back(**params):
            if params["targetRegion"] == "us-west-1":
                tokens.append(params["clientToken"])
                seeded.executions.pause_step = "traffic"
            return start(**params)
        return {**found, "StartPlanExecution": start_back}
    seeded.executions.handlers = pausing_back
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "not restored" and len(tokens) == len(set(tokens)) == drill.RESTORE_ATTEMPTS + 1
    line = report.line()
    assert "LEFT CHANGED: the zone answers with us-east-1" in line and "start-plan-execution --region us-west-1" in line
    paused = [e for e in seeded.executions.items.values() if e["state"] == "pausedByFailedStep"]
    assert all(f"execution {e['executionId']}" in line for e in paused)


def test_an_uninvert_whose_answers_are_lost_is_not_reported_left_changed(world, tmp_path, monkeypatch) -> None:
    """The health check is put back each time, but every answer is lost: the world shows it restored."""
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    route53 = seeded.client("route53", "us-east-1")
    update = route53.update_health_check

    def applied_but_lost(**params):
        answer = update(**params)
        if params.get("Inverted") is False:
            raise EndpointConnectionError(endpoint_url="https://route53.amazonaws.com")
        return answer
    monkeypatch.setattr(route53, "update_health_check", applied_but_lost)
    report = _drill(seeded, config, parsed, options, pace)
    assert not seeded.health_check("us-west-1")["HealthCheckConfig"]["Inverted"]
    assert report.restored and "LEFT CHANGED" not in report.line(), report.line()


def test_check_tells_the_detection_alarm_from_the_plans_trigger_alarm(world) -> None:
    """Staging's plan switches by itself: a trigger alarm watches the same health check as the detection
    alarm. With the detection alarm deleted, nobody is paged: not ready."""
    seeded, config, parsed, *_ = _setup(world)
    cloudwatch = seeded.client("cloudwatch", "us-east-1")
    detection = f"{config.project}-{config.environment}-us-east-1-unhealthy"
    cloudwatch.delete_alarms(AlarmNames=[detection])
    report = check(config, parsed, seeded.client)
    [item] = [i for i in report.items if i.region == "us-east-1" and i.check == "health check"]
    assert not item.ok and f"detection alarm {detection} MISSING" in item.detail and not report.ready


def test_check_is_not_ready_when_the_traffic_and_the_writer_are_in_different_regions(world) -> None:
    """The plan's health checks send traffic to us-east-1 while the writer stays in us-west-1: a switch half
    done. A switch done (both moved) is ready: to switch back."""
    seeded, config, parsed, *_ = _setup(world)
    checks = parsed.regions
    seeded.route53_health.status[checks["us-west-1"].record_check_id] = 0.0
    seeded.route53_health.status[checks["us-east-1"].record_check_id] = 1.0
    report = check(config, parsed, seeded.client)
    [item] = [i for i in report.items if i.check == "traffic and writer"]
    assert not item.ok and "traffic goes to us-east-1, the writer is in us-west-1" in item.detail
    seeded.executions.writer = "us-east-1"
    [item] = [i for i in check(config, parsed, seeded.client).items if i.check == "traffic and writer"]
    assert item.ok, item.detail


def test_a_denied_list_at_pre_flight_is_a_not_started_line(world, tmp_path) -> None:
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    handlers = seeded.executions.handlers
    seeded.executions.handlers = lambda region: {**handlers(region),
                                                 "ListPlanExecutions": lambda **_: _denied("ListPlanExecutions")}
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "not started" and report.exit_code == 1 and not report.changes
    assert report.line().startswith("staging drill: NOT STARTED (pre-flight failed, nothing changed)")
    assert "AccessDeniedException" in report.line()


def test_the_first_signal_decides_the_exit_and_a_second_never_cuts_the_restore_short(world, tmp_path) -> None:
    """SIGINT mid-switch, then SIGTERM while the drill turns to its restore: the exit is 130, everything is
    restored, and the SIGTERM never reached anyone but the drill."""
    seeded, config, parsed, options, pace, lines = _setup(world, tmp=tmp_path)
    escaped: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _: escaped.append(signum))
    try:
        _interrupt_when(seeded, pace, lambda: seeded.executions.answering == "us-east-1")
        say = pace.progress

        def progress(line: str) -> None:
            say(line)
            if line.startswith("SIGINT received"):  # between the interruption and the restore
                os.kill(os.getpid(), signal.SIGTERM)
        pace.progress = progress
        report = _drill(seeded, config, parsed, options, pace)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not escaped and report.exit_code == 130 and report.restored, report.line()
    assert _world_put_back(seeded)
