"""`dr undo` (mercur.dr.undo) against moto and the simulated AWS of aws_simulation: a drill killed outright
(as a cancelled CI job is, 10 s after its signal: no restore, no final write) leaves its report as it went;
`dr undo` puts back what the report names, once, and says what it could not."""

from __future__ import annotations

import json

import pytest

from mercur.__main__ import main
from mercur.config import load_file
from mercur.dr import aws, drill, outputs, probes
from mercur.dr.drill import Pace
from aws_simulation import WorldProbes
from conftest import ROOT


class Killed(BaseException):
    """SIGKILL, as near as a test gets: nothing of the drill runs after it (no restore, no final write)."""


# When to kill a staging drill: the change it is in the middle of, as the world shows it.
MOMENTS = {
    "mid-detection": lambda seeded: seeded.health_check("us-west-1")["HealthCheckConfig"]["Inverted"],
    "mid-switch": lambda seeded: seeded.executions.answering == "us-east-1",
    # SIGTERM, the drill's restore starts the switch back, SIGKILL 10 s later: the way back is under way
    "mid-switch-back": lambda seeded: any(e["target"] == "us-west-1" and e["state"] == "inProgress"
                                          for e in seeded.executions.items.values()),
    "mid-restore": lambda seeded: bool(seeded.restores.clusters),
}


def _killed(world, tmp_path, moment: str, kind: str):
    """A staging drill killed at `moment`: the world as it left it, its report as it was on disk then."""
    seeded = world("staging")
    config = load_file(ROOT, "staging")
    parsed = outputs.parse(seeded.outputs, "outputs.json", config)
    report = tmp_path / "dr-drill-staging.json"
    on_disk: list[bytes] = []

    def sleep(seconds: float) -> None:
        if on_disk:
            raise Killed()
        seeded.advance(seconds)
        if MOMENTS[moment](seeded):
            on_disk.append(report.read_bytes())
            raise Killed()

    def progress(_line: str) -> None:
        if on_disk:
            raise Killed()  # the restore's first word: it never gets further
    pace = Pace(1800, 10, clock=lambda: seeded.clock, sleep=sleep, progress=progress)
    with pytest.raises(Killed):
        drill.run(config, parsed, drill.Options((kind,), report, 1800, 10, True), seeded.client, pace,
                  WorldProbes(seeded))
    report.write_bytes(on_disk[0])
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(seeded.outputs))
    assert MOMENTS[moment](seeded)  # left changed
    return seeded, report, outputs_file


def _undo(seeded, outputs_file, report, monkeypatch, capsys) -> tuple[int, str]:
    """`python -m mercur dr undo staging --outputs outputs.json --report dr-drill-staging.json`, as CI runs it."""
    monkeypatch.setattr(aws, "default_clients", seeded.client)
    monkeypatch.setattr(probes, "Probes", lambda *_: WorldProbes(seeded))
    monkeypatch.setattr(drill, "Pace", lambda timeout, poll: Pace(timeout, poll, clock=lambda: seeded.clock,
                                                                  sleep=seeded.advance, progress=lambda _: None))
    code = main(["dr", "undo", "staging", "--outputs", str(outputs_file), "--report", str(report),
                 "--project-dir", str(ROOT)])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return code, out[0]


@pytest.mark.parametrize("moment, executions", [
    ("mid-detection", []),
    ("mid-switch", [("us-east-1", "canceled"), ("us-west-1", "completed")]),  # the writer and traffic back
    ("mid-switch-back", [("us-east-1", "completed"), ("us-west-1", "completed")]),  # followed, not started again
], ids=["mid-detection", "mid-switch", "mid-switch-back"])
def test_undo_restores_what_a_killed_drill_left_and_a_second_undo_changes_nothing(
        world, tmp_path, monkeypatch, capsys, moment, executions) -> None:
    seeded, report, outputs_file = _killed(world, tmp_path, moment, "failover")
    killed = report.read_bytes()
    assert json.loads(killed)["verdict"] == "running" and json.loads(killed)["changes"][-1]["restored"] is False
    code, line = _undo(seeded, outputs_file, report, monkeypatch, capsys)
    assert code == 0 and line.startswith("staging undo: RESTORED — "), line
    assert not seeded.health_check("us-west-1")["HealthCheckConfig"]["Inverted"]
    assert WorldProbes(seeded).answering() == "us-west-1"
    assert [(e["target"], e["state"]) for e in seeded.executions.items.values()] == executions
    document = json.loads(report.read_text())
    assert document["verdict"] == "restored by dr undo"
    assert [(c["restored"], c["undoByHand"]) for c in document["changes"]] == [(True, None)] * len(document["changes"])
    written, require_credentials = report.read_bytes(), aws.require_credentials
    monkeypatch.setattr(aws, "require_credentials", lambda: pytest.fail("AWS was asked"))
    code, line = _undo(seeded, outputs_file, report, monkeypatch, capsys)
    assert code == 0 and line == f"staging undo: NOTHING TO UNDO — every change of {document['drillId']} is restored"
    assert report.read_bytes() == written and len(seeded.executions.items) == len(executions)
    # As if the drill had put it all back and was killed before saying so: the undo finds it done.
    report.write_bytes(killed)
    monkeypatch.setattr(aws, "require_credentials", require_credentials)
    code, line = _undo(seeded, outputs_file, report, monkeypatch, capsys)
    assert code == 0 and line.startswith("staging undo: RESTORED — "), line
    assert len(seeded.executions.items) == len(executions) and WorldProbes(seeded).answering() == "us-west-1"


def test_a_change_undo_cannot_put_back_exits_1_naming_the_command_and_a_later_undo_finishes(
        world, tmp_path, monkeypatch, capsys) -> None:
    seeded, report, outputs_file = _killed(world, tmp_path, "mid-restore", "restore")
    seeded.restores.fail_delete = drill.RESTORE_ATTEMPTS  # RDS refuses each try
    code, line = _undo(seeded, outputs_file, report, monkeypatch, capsys)
    drill_id = json.loads(report.read_text())["drillId"]
    manual = f"aws rds delete-db-cluster --region us-east-1 --db-cluster-identifier {drill_id} --skip-final-snapshot"
    assert code == 1 and line == (f"staging undo: NOT RESTORED — LEFT CHANGED: cluster {drill_id} in us-east-1 "
                                  f"(undo: {manual})")
    [change] = json.loads(report.read_text())["changes"]
    assert not change["restored"] and change["undoByHand"] == manual and "simulated failure" in change["error"]
    assert seeded.restores.left() == [drill_id]
    code, line = _undo(seeded, outputs_file, report, monkeypatch, capsys)
    assert code == 0 and line == f"staging undo: RESTORED — 1 change(s) of {drill_id} restored"
    assert not seeded.restores.left() and "error" not in json.loads(report.read_text())["changes"][0]


def test_bad_input_exits_2_with_one_line_naming_the_file_and_key(plan_of, tmp_path, capsys) -> None:
    good_outputs = tmp_path / "outputs.json"
    good_outputs.write_text(json.dumps(plan_of("staging").outputs))
    broken_outputs = tmp_path / "broken.json"
    broken_outputs.write_text(json.dumps({"environment": "staging", "regions": {}}))
    change = {"what": "a health check inverted", "restored": False, "undo": {"kind": "health-check-inverted"}}
    files = {"not-json.json": "{", "outputs-as-report.json": good_outputs.read_text(),
             "prod.json": json.dumps({"stack": "prod", "verdict": "pass", "changes": []}),
             "half.json": json.dumps({"stack": "staging", "verdict": "running", "drillId": "drill-1",
                                      "changes": [change]}),
             "good.json": json.dumps({"stack": "staging", "verdict": "pass", "changes": []})}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    cases = [("missing.json", good_outputs, "missing.json: (file): does not exist; pass the --report file"),
             ("not-json.json", good_outputs, "not-json.json: line 1: is not valid JSON; "),
             ("outputs-as-report.json", good_outputs, "outputs-as-report.json: stack: is missing: not a drill report"),
             ("prod.json", good_outputs, 'prod.json: stack: is "prod", but the command names staging; pass staging'),
             ("half.json", good_outputs, "half.json: changes[0].undo.checkId: is missing; "),
             ("good.json", broken_outputs, "broken.json: failoverOrder: is missing; ")]
    for report, outputs_file, message in cases:
        code = main(["dr", "undo", "staging", "--outputs", str(outputs_file), "--report", str(tmp_path / report),
                     "--project-dir", str(ROOT)])
        captured = capsys.readouterr()
        assert code == 2 and captured.out == "", (report, captured)
        assert captured.err.startswith(f"{tmp_path}/{message}") and captured.err.count("\n") == 1, captured.err
