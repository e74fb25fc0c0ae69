"""mercur.dr.unplanned against the simulated AWS: an unplanned loss of staging's active region, measured from
the moment of failure (RTO to the first request elsewhere, RPO as the markers that did not arrive), and
everything put back — or named — under faults: a step that fails, an approval that never comes, a lost
response, SIGTERM mid-switch."""

from __future__ import annotations

import json
import signal

import pytest

from mercur.config import load_file
from mercur.dr import drill, unplanned
from aws_simulation import REPLICATION_LAG_SECONDS, WorldProbes
from conftest import ROOT
from test_dr_drill import _setup
from test_dr_faults import _interrupt_when, _world_put_back, answer_lost


def _unplanned(world, tmp_path, stack="staging", **options):
    seeded, config, parsed, opts, pace, lines = _setup(world, stack, ("ungraceful",), tmp=tmp_path, **options)
    return seeded, config, parsed, opts, pace, lines


def _run(seeded, config, parsed, options, pace):
    return drill.run(config, parsed, options, seeded.client, pace, WorldProbes(seeded))


def test_the_unplanned_loss_is_measured_from_the_failure_and_everything_is_put_back(world, tmp_path) -> None:
    seeded, config, parsed, options, pace, lines = _unplanned(world, tmp_path)
    report = _run(seeded, config, parsed, options, pace)
    [result] = report.drills
    assert report.verdict == "pass" and report.restored, report.line()
    rto, rpo = result["measuredRto"], result["measuredRpo"]
    dns, switch = config.dns, config.dr.region_switch
    # From the failure: Route53's detection, the trigger's minutes red, the ungraceful steps, then DNS.
    assert rto["rtoSeconds"] >= dns.interval_seconds * dns.failure_threshold + switch.automatic_after_minutes * 60
    assert rto["rtoSeconds"] <= config.dr.rto_minutes * 60
    # Markers went on until the failover took the writer; what had not replicated then is lost.
    lost = rpo["markersWritten"] - rpo["markersArrived"]
    assert lost >= 1 and 0 < rpo["rpoSeconds"] <= REPLICATION_LAG_SECONDS, rpo  # the lag at the failover, no more
    assert f"RPO {rpo['rpoSeconds']:g} s ({lost} of {rpo['markersWritten']} markers lost)" in report.line()
    [triggered] = [e for e in seeded.executions.items.values() if e["comment"] == "triggered"]
    assert triggered["mode"] == "ungraceful" and triggered["target"] == "us-east-1"
    assert _world_put_back(seeded) and not seeded.restores.http_enabled
    assert not seeded.health_check("us-west-1")["HealthCheckConfig"]["Inverted"]
    assert report.line().startswith("staging drill: PASS — unplanned loss: RTO ")
    kinds = [c["undo"]["kind"] for c in json.loads(options.report.read_text())["changes"]]
    assert kinds == ["data-api-on", "data-api-on", "marker-table", "trigger-may-fire", "health-check-inverted",
                     "trigger-switch-back"]


def test_not_in_prod(world, tmp_path) -> None:
    seeded, config, parsed, options, pace, _ = _unplanned(world, tmp_path, "prod")
    report = _run(seeded, config, parsed, options, pace)
    assert report.verdict == "not started" and not report.changes and "not in prod" in report.line()


def test_a_failover_step_that_fails_is_put_back_or_named(world, tmp_path) -> None:
    seeded, config, parsed, options, pace, _ = _unplanned(world, tmp_path)
    seeded.executions.pause_step = "traffic"  # the trigger's execution pauses on its traffic step

    def unpause_later(handlers=seeded.executions.handlers):  # the switch back is not paused
        def made(region):
            found = handlers(region)
            start = found["StartPlanExecution"]

            def start_back(**params):
                seeded.executions.pause_step = None
                return start(**params)
            return {**found, "StartPlanExecution": start_back}
        return made
    seeded.executions.handlers = unpause_later()
    report = _run(seeded, config, parsed, options, pace)
    assert report.verdict in ("fail", "not restored") and report.drills[0].get("error"), report.line()
    assert report.restored and _world_put_back(seeded), report.line()


def test_an_approval_that_never_comes_is_cancelled_and_nothing_stays_changed(world, tmp_path, project) -> None:
    """Without a trigger a person starts the switch; the drill starts it, and its approval never comes."""
    def no_trigger(values):
        values["mercur:dr"]["regionSwitch"] = {
            "approvalRoleArn": "arn:aws:iam::222222222222:role/mercur-region-switch-approvers"}
        values["mercur:dr"]["decisionMinutes"] = 10
    project.edit("staging", no_trigger)
    seeded = world("staging", project=project)
    config = load_file(project.path, "staging")
    from mercur.dr import outputs
    parsed = outputs.parse(seeded.outputs, "outputs.json", config)
    options = drill.Options(("ungraceful",), tmp_path / "r.json", 900, 10, False)
    pace = drill.Pace(900, 10, clock=lambda: seeded.clock, sleep=seeded.advance, progress=lambda _: None)
    report = _run(seeded, config, parsed, options, pace)
    assert report.verdict == "fail" and "DrillTimeout" in report.drills[0]["error"], report.line()
    assert report.restored and _world_put_back(seeded), report.line()


def test_a_lost_answer_to_the_switch_to_ungraceful_fails_the_drill_and_everything_is_put_back(world, tmp_path) -> None:
    """The answer to switchToUngraceful is lost (it took effect): the drill fails, restores, and says so."""
    seeded, config, parsed, options, pace, _ = _unplanned(world, tmp_path)
    answer_lost(seeded, "UpdatePlanExecution")
    report = _run(seeded, config, parsed, options, pace)
    assert report.verdict == "fail" and "EndpointConnectionError" in report.drills[0]["error"]
    assert report.restored and _world_put_back(seeded), report.line()


@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_sigterm_mid_switch_restores_everything_and_exits_143(world, tmp_path, signum) -> None:
    seeded, config, parsed, options, pace, _ = _unplanned(world, tmp_path)
    sent = _interrupt_when(seeded, pace, lambda: seeded.executions.writer_move is not None, signum)
    report = _run(seeded, config, parsed, options, pace)
    assert sent and report.exit_code == 128 + signum and report.restored, report.line()
    assert _world_put_back(seeded) and not seeded.restores.http_enabled
    assert not seeded.health_check("us-west-1")["HealthCheckConfig"]["Inverted"]


def test_a_drill_stopped_as_the_trigger_fires_switches_back_from_the_triggers_switch(world, tmp_path) -> None:
    """The trigger starts its switch between two polls and the drill is stopped before it sees it: the switch
    is in no ledger entry of its own, yet the undo of 'the trigger may fire' finds it and switches back."""
    seeded, config, parsed, options, pace, _ = _unplanned(world, tmp_path)
    sent = _interrupt_when(seeded, pace, lambda: bool(seeded.executions.triggered))
    report = _run(seeded, config, parsed, options, pace)
    assert sent and report.exit_code == 130 and report.restored, report.line()
    assert _world_put_back(seeded), [(e["target"], e["state"]) for e in seeded.executions.items.values()]


def test_every_change_of_the_drill_can_be_undone_from_its_description() -> None:
    kinds = drill.undo_kinds()
    for kind, undo in unplanned.UNDO.items():
        assert kinds[kind] is undo and undo.fields
