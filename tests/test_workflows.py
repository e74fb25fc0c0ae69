"""The GitHub workflows: valid against GitHub's schema, and shaped as the README's CI/CD flow says."""

from __future__ import annotations

import subprocess
import sys

import yaml

from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on:` as true
    return workflow


def test_every_workflow_passes_the_github_workflow_schema() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) >= 3
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                             *files], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                             str(broken)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1


def test_pull_requests_test_plan_every_stack_and_preview_with_the_policy_pack() -> None:
    ci = _load("ci.yml")
    assert "pull_request" in ci["on"]
    assert any("make test" in step.get("run", "") for step in ci["jobs"]["test"]["steps"])
    assert ci["jobs"]["offline-plan"]["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    preview = ci["jobs"]["preview"]
    assert preview["permissions"]["id-token"] == "write" and preview["permissions"]["pull-requests"] == "write"
    [pulumi] = [s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True
    assert any(s.get("uses", "").startswith("aws-actions/configure-aws-credentials@") and
               "role-to-assume" in s["with"] for s in preview["steps"])


def test_main_deploys_dev_then_staging_then_prod_behind_environments() -> None:
    deploy = _load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert (jobs["dev"]["needs"], jobs["staging"]["needs"], jobs["prod"]["needs"]) == ("test", "dev", "staging")
    for stack in ("dev", "staging", "prod"):
        assert jobs[stack]["uses"] == "./.github/workflows/pulumi-up.yml"
        assert jobs[stack]["with"]["stack"] == stack
    up = _load("pulumi-up.yml")["jobs"]["up"]
    assert up["environment"] == "${{ inputs.stack }}"  # required reviewers live on the environments
    assert up["concurrency"] == {"group": "pulumi-${{ inputs.stack }}", "cancel-in-progress": False}
    [pulumi] = [s for s in up["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "up" and pulumi["with"]["policyPacks"] == "policy"


def test_only_dev_relaxes_the_policies_to_advisory() -> None:
    matrix = _load("ci.yml")["jobs"]["preview"]["strategy"]["matrix"]["include"]
    assert {entry["stack"]: entry["policy-config"] for entry in matrix} == {
        "dev": "policy/config.dev.json", "staging": "", "prod": ""}
    jobs = _load("deploy.yml")["jobs"]
    assert {stack: jobs[stack]["with"].get("policy-config", "") for stack in ("dev", "staging", "prod")} == {
        "dev": "policy/config.dev.json", "staging": "", "prod": ""}


def test_dr_checks_nightly_on_staging_and_prod_and_drills_staging_monthly() -> None:
    dr = _load("dr.yml")
    crons = [entry["cron"] for entry in dr["on"]["schedule"]]
    assert len(crons) == 2 and crons[0].endswith("* * *") and crons[1].endswith("1 * *")
    check = dr["jobs"]["check"]
    assert check["strategy"]["matrix"]["stack"] == ["staging", "prod"]
    assert any("mercur dr check" in step.get("run", "") for step in check["steps"])
    drill = dr["jobs"]["drill"]
    assert any("mercur dr drill staging" in step.get("run", "") for step in drill["steps"])
    assert drill["concurrency"]["group"] == "pulumi-staging"  # shared with staging's deploys


VENV_ACTION = "./.github/actions/venv"


def test_the_venv_action_passes_the_github_action_schema() -> None:
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-actions",
                             str(ROOT / ".github" / "actions" / "venv" / "action.yml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_venv_cache_is_keyed_on_every_requirement_file() -> None:
    action = yaml.safe_load((ROOT / ".github" / "actions" / "venv" / "action.yml").read_text())
    [cache] = [s for s in action["runs"]["steps"] if s.get("uses", "").startswith("actions/cache@")]
    assert cache["with"]["path"] == ".venv"
    files = sorted(p.name for p in ROOT.glob("requirements*.txt"))
    assert files == ["requirements-dev.txt", "requirements.txt"]
    assert all(f"'{name}'" in cache["with"]["key"] for name in files)


def test_every_job_that_runs_the_project_gets_the_cached_venv_and_ci_installs_it_once() -> None:
    for name in ("ci.yml", "deploy.yml", "dr.yml"):
        for job_name, job in _load(name)["jobs"].items():
            steps = job.get("steps", [])
            uses = [s.get("uses", "") for s in steps]
            runs_project = any("make " in s.get("run", "") or ".venv/" in s.get("run", "") for s in steps)
            assert not any(s.get("with", {}).get("cache") == "pip" for s in steps), (name, job_name)
            if runs_project:
                assert VENV_ACTION in uses, (name, job_name)
    jobs = _load("ci.yml")["jobs"]
    assert jobs["test"]["needs"] == "venv" and jobs["offline-plan"]["needs"] == "venv"
