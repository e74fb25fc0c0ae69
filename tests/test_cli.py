"""mercur/__main__.py: `python -m mercur plan STACK [--json]` and its exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from mercur.__main__ import main
from conftest import ROOT


def test_plan_json_is_one_document_on_stdout(capsys, checked_in_plans) -> None:
    assert main(["plan", "dev", "--json", "--project-dir", str(ROOT)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["stack"] == "dev"


def test_plan_prints_the_summary_quietly_when_quick(capsys, checked_in_plans) -> None:
    assert main(["plan", "staging", "--project-dir", str(ROOT)]) == 0
    captured = capsys.readouterr()
    # exit 0: only a mandatory policy blocks; the verdict says what is not proven yet (the copies' time)
    assert captured.out.startswith("mercur/staging FAIL: policies pass ") and "\nus-east-1 · passive · " in captured.out
    assert "\033[" not in captured.out and captured.err == ""  # not a terminal; done before any progress line


def test_a_slow_plan_reports_progress_on_stderr(capsys, monkeypatch, checked_in_plans) -> None:
    import time
    import mercur.__main__ as cli
    from mercur.offline import synth
    answer = synth.synthesize
    monkeypatch.setattr(cli, "PROGRESS_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(synth, "synthesize", lambda *args: time.sleep(0.3) or answer(*args))
    assert main(["plan", "dev", "--project-dir", str(ROOT)]) == 0
    captured = capsys.readouterr()
    progress = captured.err.splitlines()
    assert len(progress) >= 2 and all(line.startswith("planning dev: ") for line in progress)
    assert captured.out.startswith("mercur/dev PASS: ")


def test_a_reader_that_leaves_early_gets_no_traceback(capsys, monkeypatch) -> None:
    """`python -m mercur plan prod | head`: the pipe closes under the command. It exits 141 without a word,
    and stdout then points at /dev/null, so the interpreter's own flush at exit cannot fail either."""
    import mercur.__main__ as cli
    reader, writer = os.pipe()
    os.close(reader)  # the reader has left

    class Pipe(io.StringIO):
        def write(self, text: str) -> int:
            return os.write(writer, text.encode())  # raises BrokenPipeError, as the real stdout would

        def fileno(self) -> int:
            return writer

    monkeypatch.setattr(sys, "stdout", Pipe())
    monkeypatch.setattr(cli, "main", lambda: print("mercur/prod PASS: ...") or 0)
    try:
        assert cli.run() == 141
        assert capsys.readouterr().err == ""
        assert os.readlink(f"/proc/self/fd/{writer}") == os.devnull
    finally:
        os.close(writer)


def test_bad_config_exits_2_with_one_line_and_no_resources(project, capsys, monkeypatch) -> None:
    from mercur.offline import synth
    monkeypatch.setattr(synth, "run_program", lambda *a, **k: pytest.fail("resources were declared"))
    project.edit("prod", lambda v: v["mercur:regions"][1].update(cidr="10.30.0.0/17"))
    assert main(["plan", "prod", "--project-dir", str(project.path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("Pulumi.prod.yaml: mercur:regions[1].cidr: 10.30.0.0/17 overlaps mercur:regions[0].cidr "
                            "(10.30.0.0/16); give every region its own range\n")


def test_unachievable_rpo_exits_2_naming_the_key_and_the_achievable_value(project, capsys) -> None:
    project.edit("staging", lambda v: v["mercur:dr"]["rpoMinutes"].update(regionLossAndCorruption=90))
    assert main(["plan", "staging", "--project-dir", str(project.path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("Pulumi.staging.yaml: mercur:dr.rpoMinutes.regionLossAndCorruption: 90 cannot be met: "
                           "the best achievable is 180 ")
    assert line.endswith("set it to at least 180")


def test_a_lag_bound_beyond_the_region_loss_target_exits_2_naming_the_key(project, capsys) -> None:
    project.edit("prod", lambda v: v["mercur:database"].update(replicationLagBoundSeconds=120))
    assert main(["plan", "prod", "--project-dir", str(project.path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == ("Pulumi.prod.yaml: mercur:database.replicationLagBoundSeconds: 120 s reaches "
                    "mercur:dr.rpoMinutes.regionLoss (1 min), where the writer holds commits: the page would come "
                    "too late; lower it below 60, or raise the target")


def test_ten_second_rto_exits_2_naming_the_key_and_the_achievable_value(project, capsys) -> None:
    project.edit("prod", lambda v: v["mercur:dr"].update(rtoMinutes=round(10 / 60, 4), decisionMinutes=0.1))
    assert main(["plan", "prod", "--project-dir", str(project.path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("Pulumi.prod.yaml: mercur:dr.rtoMinutes: 0.1667 min (10 s) cannot be met: "
                           "the best achievable is 466 s")


def test_plan_out_writes_the_report_and_exits_0(tmp_path, capsys, checked_in_plans) -> None:
    assert main(["plan", "prod", "--out", str(tmp_path), "--project-dir", str(ROOT)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"plan.json", "tfplan.json", "diagram.mmd", "manifests"}
    assert "Policies · 0 mandatory violations, 0 advisory findings" in capsys.readouterr().out


def test_a_public_prod_api_exits_1_naming_the_rule(project, capsys, checked_in_plans) -> None:
    project.edit("prod", lambda v: v["mercur:cluster"].update(endpointPublicAccess=True,
                                                              publicAccessCidrs=["198.51.100.0/24"]))
    assert main(["plan", "prod", "--json", "--project-dir", str(project.path)]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["findings"][0]["rule"] == "eks-endpoint-private"
    assert captured.err.startswith("[mandatory] eks-endpoint-private: urn:pulumi:prod::mercur::")


def test_unknown_stack_exits_2(capsys) -> None:
    assert main(["plan", "qa", "--project-dir", str(ROOT)]) == 2
    assert "use one of: dev, prod, staging" in capsys.readouterr().err


def test_the_real_command_from_the_project_root(project) -> None:
    """As the README says: run from the project root, in a fresh interpreter, with a broken file."""
    project.edit("dev", lambda v: v["mercur:cluster"].update(version="1.20"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bad = subprocess.run([sys.executable, "-m", "mercur", "plan", "dev"], cwd=project.path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("Pulumi.dev.yaml: mercur:cluster.version: ")
    good = subprocess.run([sys.executable, "-m", "mercur", "plan", "dev", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["stack"] == "dev"


def test_dr_commands_describe_themselves(capsys) -> None:
    for command in (["dr", "check", "--help"], ["dr", "drill", "--help"]):
        with pytest.raises(SystemExit) as exited:
            main(command)
        assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps at the terminal's width
    assert "--outputs FILE" in text and "Exit 0: READY; 1: NOT READY" in text
    assert "--confirm STACK" in text and "130/143: interrupted (SIGINT/SIGTERM) and everything restored" in text


def _outputs_file(world_, tmp_path, stack: str, monkeypatch=None):
    seeded = world_(stack)
    path = tmp_path / f"{stack}.json"
    path.write_text(json.dumps(seeded.outputs))
    if monkeypatch is not None:  # the CLI's boto3 clients are the world's
        from mercur.dr import aws
        monkeypatch.setattr(aws, "default_clients", seeded.client)
    return seeded, path


def test_dr_check_reports_ready_and_exits_0(world, tmp_path, capsys, monkeypatch) -> None:
    _, path = _outputs_file(world, tmp_path, "prod", monkeypatch)
    assert main(["dr", "check", "prod", "--outputs", str(path), "--json", "--project-dir", str(ROOT)]) == 0
    assert json.loads(capsys.readouterr().out)["ready"] is True


def test_dr_check_exits_1_when_not_ready(world, tmp_path, capsys, monkeypatch) -> None:
    seeded, path = _outputs_file(world, tmp_path, "staging", monkeypatch)
    seeded.client("route53", "us-east-1").update_health_check(
        HealthCheckId=seeded.outputs["regions"]["us-east-1"]["healthCheckId"], Inverted=True)
    assert main(["dr", "check", "staging", "--outputs", str(path), "--project-dir", str(ROOT)]) == 1
    assert "NOT READY (1 of" in capsys.readouterr().out


def test_dr_check_of_outputs_missing_a_region_is_a_fail_line_and_exit_1(world, tmp_path, capsys, monkeypatch) -> None:
    seeded, path = _outputs_file(world, tmp_path, "prod", monkeypatch)
    seeded.outputs["regions"].pop("us-east-1")
    path.write_text(json.dumps(seeded.outputs))
    assert main(["dr", "check", "prod", "--outputs", str(path), "--project-dir", str(ROOT)]) == 1
    out = capsys.readouterr().out
    assert "FAIL global     outputs" in out and "regions.us-east-1 is missing" in out


def test_dr_check_of_unreadable_outputs_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"environment": "pr\xf6d"}')
    missing_order = tmp_path / "prod.json"
    missing_order.write_text(json.dumps({"environment": "prod", "regions": {}}))
    for path, message in ((tmp_path, "(file): is a directory"), (latin, "byte 19: is not UTF-8 text"),
                          (missing_order, "failoverOrder: is missing")):
        assert main(["dr", "check", "prod", "--outputs", str(path), "--project-dir", str(ROOT)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"{path}: {message}; ") and err.count("\n") == 1


def test_dr_check_without_credentials_is_one_line_and_exit_2(plan_of, tmp_path, capsys, monkeypatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(plan_of("prod").outputs))
    assert main(["dr", "check", "prod", "--outputs", str(path), "--project-dir", str(ROOT)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dr check: no AWS credentials found") and err.count("\n") == 1


def test_dr_outputs_of_another_stack_are_refused(plan_of, tmp_path, capsys) -> None:
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(plan_of("dev").outputs))
    assert main(["dr", "check", "staging", "--outputs", str(path), "--project-dir", str(ROOT)]) == 2
    assert "dev.json: environment: is dev, but Pulumi.staging.yaml is staging" in capsys.readouterr().err


def test_drills_refuse_prod_without_confirmation(plan_of, tmp_path, capsys) -> None:
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(plan_of("prod").outputs))
    assert main(["dr", "drill", "prod", "--outputs", str(path), "--project-dir", str(ROOT)]) == 2
    assert "--confirm prod" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--timeout", "nan"], "--timeout: nan: is not a finite number"),
    (["--report", "missing/dir/r.json"], "--report: missing/dir/r.json: is in missing/dir, which does not exist"),
])
def test_drill_flags_are_checked_before_anything_changes(plan_of, tmp_path, capsys, flags, message) -> None:
    path = tmp_path / "staging.json"
    path.write_text(json.dumps(plan_of("staging").outputs))
    assert main(["dr", "drill", "staging", "--outputs", str(path), "--project-dir", str(ROOT), *flags]) == 2
    assert capsys.readouterr().err.startswith(message)


def test_drill_ends_with_one_verdict_line_naming_rto_and_rpo(world, tmp_path, capsys, monkeypatch) -> None:
    seeded, path = _outputs_file(world, tmp_path, "staging", monkeypatch)
    from aws_simulation import WorldProbes
    from mercur.dr import drill, probes
    monkeypatch.setattr(probes, "Probes", lambda *_: WorldProbes(seeded))
    pace = _world_pace(seeded, 900, 10)  # the drill's own pace, on the world's clock
    monkeypatch.setattr(drill, "Pace", lambda timeout, poll: pace)
    report = tmp_path / "drill.json"
    code = main(["dr", "drill", "staging", "--outputs", str(path), "--report", str(report), "--approve",
                 "--kind", "failover", "--project-dir", str(ROOT)])
    captured = capsys.readouterr()
    last = captured.out.strip().splitlines()[-1]
    assert code == 0 and last.startswith("staging drill: PASS — failover: RTO ") and "s target" in last
    assert "RPO" in last and "waiting" in captured.err
    assert json.loads(report.read_text())["exitCode"] == 0


def _world_pace(seeded, timeout: float, poll: float):
    from mercur.dr.drill import Pace
    return Pace(timeout, poll, clock=lambda: seeded.clock, sleep=seeded.advance)


def test_a_private_stack_without_a_deployer_network_exits_1_naming_the_rule(project, capsys) -> None:
    project.edit("staging", lambda v: v["mercur:deploy"].pop("network"))
    assert main(["plan", "staging", "--json", "--project-dir", str(project.path)]) == 1
    captured = capsys.readouterr()
    assert {f["rule"] for f in json.loads(captured.out)["findings"]} == {"eks-private-api-deploy-path"}
    assert captured.err.startswith("[mandatory] eks-private-api-deploy-path: ")


def test_warnings_reach_stderr_beside_the_plan(capsys, monkeypatch) -> None:
    from datetime import date
    from mercur.config import models
    monkeypatch.setattr(models, "today", lambda: date(2027, 1, 15))
    assert main(["plan", "dev", "--json", "--project-dir", str(ROOT)]) == 0
    assert "warning: Pulumi.dev.yaml: mercur:cluster.version: 1.35 leaves EKS standard support" in \
        capsys.readouterr().err


def test_an_unknown_unreachable_region_is_one_line_and_exit_2(capsys) -> None:
    assert main(["plan", "prod", "--unreachable", "us-west-9", "--project-dir", str(ROOT)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("--unreachable: us-west-9 is not an AWS region this platform knows")


@pytest.mark.costly
def test_a_rehearsed_outage_plans_and_warns_which_region_it_could_not_ask(capsys) -> None:
    assert main(["plan", "prod", "--unreachable", "us-east-1", "--project-dir", str(ROOT)]) == 0
    captured = capsys.readouterr()
    declared, asked = captured.err.splitlines()
    assert declared.startswith("warning: us-east-1 is declared down (MERCUR_UNREACHABLE)")
    assert asked.startswith("warning: could not ask us-east-1 for the health checks of the Region switch")
    assert "(not known in this run: see the warning)" in captured.out
