"""mercur.dr.record: what a failover drill and a check measured, fed back to the plan term by term."""

from __future__ import annotations

import json

import pytest

from mercur.__main__ import main
from mercur.config import ConfigError
from mercur.dr import record
from mercur.dr.check import check, dumps
from mercur.offline import plan
from test_dr_drill import _drill, _setup


def _reports(world, tmp_path):
    seeded, config, parsed, options, pace, _ = _setup(world, tmp=tmp_path)
    report = _drill(seeded, config, parsed, options, pace)
    assert report.verdict == "pass", report.line()
    checked = tmp_path / "check.json"
    checked.write_text(dumps(check(config, parsed, seeded.client)))
    return report, options.report, checked


def test_the_measured_terms_replace_the_assumed_ones_in_the_plan(world, tmp_path, project, capsys) -> None:
    report, drill_file, check_file = _reports(world, tmp_path)
    assert main(["dr", "record", "staging", "--from", str(drill_file), "--from", str(check_file),
                 "--project-dir", str(project.path)]) == 0
    block = capsys.readouterr().out
    measured = report.drills[0]["measuredRto"]
    assert f"detection: {round(measured['detectionSeconds'], 1)}" in block
    assert f"checksFlip: {round(measured['dnsSeconds'], 1)}" in block and "crossRegionCopy: 2400.0" in block
    assert "capacityAndWriter" not in block  # a graceful switchover's step: not the failover the chain counts
    assert f"dr drill {report.drill_id}" in block
    # Pasted under mercur:dr, as the printed comment says.
    text = (project.path / "Pulumi.staging.yaml").read_text()
    (project.path / "Pulumi.staging.yaml").write_text(text.replace("  mercur:dr:\n", "  mercur:dr:\n"
                                                                   + block.replace("\n    ", "\n    ", ), 1))
    result = project.synthesize("staging")
    terms = {t["name"]: t for t in result.outputs["objectives"]["rtoMinutes"]["terms"]}
    assert terms["checksFlip"]["basis"] == "measured" and f"dr drill {report.drill_id}" in terms["checksFlip"]["source"]
    assert terms["checksFlip"]["seconds"] == round(measured["dnsSeconds"], 1)
    assert terms["dnsTtl"]["basis"] == "doc" and terms["capacityAndWriter"]["basis"] == "assumed"
    both = result.outputs["objectives"]["rpoMinutes"]["regionLossAndCorruption"]
    assert both["proven"] and both["achievable"] == 8 * 60 + 60 + 15 + 40 and "the copy 40 min measured" in both["basis"]
    first = plan.summary(result).splitlines()[0]
    assert "RPO pass (3 of 3 kinds of loss)" in first


def test_without_a_measured_copy_the_both_at_once_point_is_not_proven(plan_of) -> None:
    both = plan_of("staging").outputs["objectives"]["rpoMinutes"]["regionLossAndCorruption"]
    assert not both["proven"] and "NOT PROVEN" in both["basis"] and "can take hours" in both["basis"]
    assert "RPO FAIL (2 of 3 kinds of loss" in plan.summary(plan_of("staging")).splitlines()[0]


def test_another_stacks_report_is_one_line(world, tmp_path) -> None:
    _, drill_file, _ = _reports(world, tmp_path)
    with pytest.raises(ConfigError, match=r"stack: is 'staging', not 'prod'; pass prod's reports"):
        record.load(drill_file, "prod")


@pytest.mark.parametrize("content, problem", [("{", "is not a JSON report"), ("[1]", "is neither a drill report"),
                                              ('{"stack": "staging", "drills": []}', "hold no measurement")])
def test_bad_reports_are_one_line(tmp_path, content, problem) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=problem):
        record.main("staging", [path])


def test_a_measured_term_the_plan_does_not_know_is_refused_naming_it(project) -> None:
    project.edit("staging", lambda v: v["mercur:dr"].update(measured={"source": "x", "seconds": {"decision": 5}}))
    from mercur.config import load_file
    with pytest.raises(ConfigError, match=r'mercur:dr\.measured\.seconds\.decision: "decision" is not a term'):
        load_file(project.path, "staging")
