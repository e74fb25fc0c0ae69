"""The GitHub workflows: valid against GitHub's schema, and shaped as the README's CI/CD flow says."""

from __future__ import annotations

import re

import yaml

from conftest import ROOT, YAML_LOADER

WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> dict:
    workflow = yaml.load((WORKFLOWS / name).read_text(), Loader=YAML_LOADER)
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on:` as true
    return workflow


def _check_jsonschema(schema: str, *files: str) -> tuple[int, str]:
    """check-jsonschema's command, run in this process (its CLI is a click command): exit code and output."""
    from check_jsonschema import main as check_jsonschema
    from click.testing import CliRunner
    result = CliRunner().invoke(check_jsonschema, ["--builtin-schema", schema, *files])
    return result.exit_code, result.output


def test_every_workflow_passes_the_github_workflow_schema() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) >= 3
    code, output = _check_jsonschema("vendor.github-workflows", *files)
    assert code == 0, output


def test_the_schema_check_catches_a_broken_workflow(tmp_path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    code, output = _check_jsonschema("vendor.github-workflows", str(broken))
    assert code == 1 and "stepz" in output, output


def test_pull_requests_test_plan_every_stack_and_preview_dev_with_the_policy_pack() -> None:
    ci = _load("ci.yml")
    assert "pull_request" in ci["on"]
    assert any("make test" in step.get("run", "") for step in ci["jobs"]["test"]["steps"])
    assert ci["jobs"]["offline-plan"]["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    preview = ci["jobs"]["preview"]
    assert preview["permissions"]["id-token"] == "write" and preview["permissions"]["pull-requests"] == "write"
    [pulumi] = [s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True and pulumi["with"]["stack-name"] == "mercur/dev"


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
    commands = [s["with"]["command"] for s in up["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert commands == ["preview", "up"]
    assert all(s["with"]["policyPacks"] == "policy" for s in up["steps"] if s.get("uses", "").startswith(
        "pulumi/actions@"))


def test_only_dev_relaxes_the_policies_to_advisory() -> None:
    jobs = _load("deploy.yml")["jobs"]
    assert {stack: jobs[stack]["with"].get("policy-config", "") for stack in ("dev", "staging", "prod")} == {
        "dev": "policy/config.dev.json", "staging": "", "prod": ""}


def test_dr_checks_nightly_on_staging_and_prod_and_drills_staging_weekly() -> None:
    dr = _load("dr.yml")
    crons = [entry["cron"] for entry in dr["on"]["schedule"]]
    assert len(crons) == 2 and crons[0].endswith("* * *") and crons[1].split()[2:4] == ["*", "*"]
    check = dr["jobs"]["check"]
    assert check["strategy"]["matrix"]["stack"] == ["staging", "prod"]
    assert any("mercur dr check" in step.get("run", "") for step in check["steps"])
    drill = dr["jobs"]["drill"]
    assert any("mercur dr drill staging" in step.get("run", "") for step in drill["steps"])
    assert drill["concurrency"]["group"] == "pulumi-staging"  # shared with staging's deploys


# Rules every workflow keeps. Each failed on the workflows before they were fixed (deploy.yml's caller
# granted less than pulumi-up.yml asks; dr.yml piped into tee without pipefail and ran the drill without
# exec; every action was referenced by tag; all previews shared one role and ran on the deploy runners).

WORKFLOW_FILES = ("ci.yml", "deploy.yml", "pulumi-up.yml", "dr.yml")
SHA_PIN = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")


def _steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, job, step


def _all_uses() -> list[str]:
    uses = [s.get("uses", "") for name in WORKFLOW_FILES for _, _, s in _steps(_load(name))]
    uses += [s.get("uses", "") for s in yaml.safe_load(
        (ROOT / ".github" / "actions" / "venv" / "action.yml").read_text())["runs"]["steps"]]
    return [u for u in uses if u]


def test_every_action_is_pinned_to_a_commit_and_dependabot_keeps_them_current() -> None:
    remote = [u for u in _all_uses() if not u.startswith("./")]
    assert remote and all(SHA_PIN.fullmatch(u) for u in remote), [u for u in remote if not SHA_PIN.fullmatch(u)]
    dependabot = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert {u["package-ecosystem"] for u in dependabot["updates"]} == {"github-actions", "pip"}


def test_a_called_workflow_gets_the_permissions_it_asks_for() -> None:
    for name in WORKFLOW_FILES:
        workflow = _load(name)
        for job_name, job in workflow["jobs"].items():
            if not str(job.get("uses", "")).startswith("./.github/workflows/"):
                continue
            called = _load(job["uses"].rsplit("/", 1)[1])
            granted = {**workflow.get("permissions", {}), **job.get("permissions", {})}
            for scope, level in called["permissions"].items():
                assert granted.get(scope) == level, (name, job_name, scope)


def _shell(workflow: dict, job: dict, step: dict) -> str:
    return step.get("shell") or job.get("defaults", {}).get("run", {}).get("shell") or \
        workflow.get("defaults", {}).get("run", {}).get("shell", "")


def test_every_pipe_fails_when_any_stage_fails() -> None:
    for name in WORKFLOW_FILES:
        workflow = _load(name)
        for job_name, job, step in _steps(workflow):
            command = step.get("run", "")
            if re.search(r"(?<!\|)\|(?!\|)", command):
                # GitHub runs `shell: bash` as `bash -eo pipefail`; the default shell has no pipefail.
                assert _shell(workflow, job, step) == "bash" or "pipefail" in command, (name, job_name, command)


def test_long_running_commands_receive_cancellation_signals() -> None:
    for name in WORKFLOW_FILES:
        for job_name, _, step in _steps(_load(name)):
            command = step.get("run", "").strip()
            if "mercur dr drill" in command:
                assert command.startswith("exec ") and "\n" not in command, (name, job_name)


def test_previews_use_their_own_stacks_read_only_role() -> None:
    preview = _load("ci.yml")["jobs"]["preview"]
    assert preview["environment"] == "preview-dev"
    up = _load("pulumi-up.yml")["jobs"]["up"]
    roles = [s["with"]["role-to-assume"] for s in up["steps"]
             if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert roles == ["${{ vars.AWS_PREVIEW_ROLE_ARN }}", "${{ vars.AWS_DEPLOY_ROLE_ARN }}"]  # per environment
    [ci_role] = [s["with"]["role-to-assume"] for s in preview["steps"]
                 if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert ci_role == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"


def test_pull_request_code_never_runs_on_the_deploy_runners_or_near_staging_and_prod() -> None:
    ci = _load("ci.yml")
    for job_name, job in ci["jobs"].items():
        # Only the preview needs dev's allow-listed egress; nothing from a pull request reaches mercur-deploy.
        assert job["runs-on"] == ("mercur-static-egress" if job_name == "preview" else "ubuntu-latest"), job_name
        assert job.get("environment") in (None, "preview-dev"), job_name
    text = (WORKFLOWS / "ci.yml").read_text()
    assert "mercur/staging" not in text and "mercur/prod" not in text


def test_actionlint_knows_every_self_hosted_runner_label() -> None:
    labels = set(yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())["self-hosted-runner"]["labels"])
    used = {job["with"]["runner"] for job in _load("deploy.yml")["jobs"].values() if "with" in job}
    used |= {job["runs-on"] for job in _load("ci.yml")["jobs"].values()}
    assert used - {"ubuntu-latest"} == labels


VENV_ACTION = "./.github/actions/venv"


def test_the_venv_action_passes_the_github_action_schema() -> None:
    code, output = _check_jsonschema("vendor.github-actions", str(ROOT / ".github" / "actions" / "venv" / "action.yml"))
    assert code == 0, output


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
