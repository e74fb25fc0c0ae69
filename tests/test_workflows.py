"""The GitHub workflows: valid against GitHub's schema, and shaped as the README's CI/CD flow says."""

from __future__ import annotations

import re
from pathlib import Path

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


def _uses(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if s.get("uses", "").split("@")[0] == action]


def _runs(job: dict) -> list[str]:
    return [s.get("run", "") for s in job.get("steps", [])]


def test_pull_requests_test_plan_every_stack_and_comment_dev_preview_on_the_pr() -> None:
    ci = _load("ci.yml")
    assert "pull_request" in ci["on"]
    assert any("make test" in step.get("run", "") for step in ci["jobs"]["test"]["steps"])
    assert ci["jobs"]["offline-plan"]["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    preview = ci["jobs"]["preview"]
    assert preview["permissions"]["id-token"] == "write" and preview["permissions"]["pull-requests"] == "write"
    [pulumi] = _uses(preview, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True and pulumi["with"]["comment-on-summary"] is True
    assert pulumi["with"]["stack-name"] == "${{ vars.PULUMI_ORG }}/mercur/dev"


def test_fork_and_dependabot_pull_requests_skip_the_live_preview_with_a_notice() -> None:
    """They get no secrets and no OIDC token: the live preview would fail and turn the required check red."""
    jobs = _load("ci.yml")["jobs"]
    live, skipped = jobs["preview"]["if"], jobs["preview-skipped"]["if"]
    for condition in (live, skipped):
        assert "github.event.pull_request.head.repo.full_name" in condition
        assert "github.event.pull_request.user.login" in condition and "'dependabot[bot]'" in condition
    assert "== github.repository" in live and "!= 'dependabot[bot]'" in live and " && " in live
    assert "!= github.repository" in skipped and "== 'dependabot[bot]'" in skipped and " || " in skipped
    assert jobs["preview-skipped"]["needs"] == jobs["preview"]["needs"] == ["test", "offline-plan"]
    [say] = _runs(jobs["preview-skipped"])
    assert "::notice::" in say and "GITHUB_STEP_SUMMARY" in say and "offline plans" in say


def test_main_deploys_dev_then_staging_then_prod_each_in_its_own_queue() -> None:
    deploy = _load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert (jobs["dev"]["needs"], jobs["staging"]["needs"], jobs["prod"]["needs"]) == ("test", "dev", "staging")
    for stack in ("dev", "staging", "prod"):
        assert jobs[stack]["uses"] == "./.github/workflows/pulumi-up.yml"
        assert jobs[stack]["with"]["stack"] == stack
        assert "secrets" not in jobs[stack]  # each job's Pulumi token comes from its own environment
        assert set(jobs[stack]["with"]) <= {"stack", "policy-config"}  # no caller picks the runner
    for name, job in _load("pulumi-up.yml")["jobs"].items():
        # queue: max keeps every pending run (the default cancels it); not held while reviewers decide.
        assert job["concurrency"] == {"group": "pulumi-${{ inputs.stack }}", "cancel-in-progress": False,
                                      "queue": "max"}, name
        assert job["if"] == "github.ref == 'refs/heads/main'", name  # a branch calling main's file still has its ref
        assert job["runs-on"] == "${{ inputs.stack == 'dev' && 'mercur-static-egress' || 'mercur-deploy' }}"


def test_the_reviewers_approve_a_preview_and_the_apply_refuses_any_other_change() -> None:
    jobs = _load("pulumi-up.yml")["jobs"]
    preview, apply = jobs["preview"], jobs["apply"]
    # The preview runs before the gate, in an environment without reviewers; the apply waits for the reviewers.
    assert preview["environment"] == "preview-${{ inputs.stack }}" and "needs" not in preview
    assert apply["environment"] == "${{ inputs.stack }}" and apply["needs"] == "preview"
    runs = _runs(preview)
    [made] = [r for r in runs if "pulumi preview" in r]
    assert "--json" in made and "--policy-pack policy" in made and "> preview.json" in made
    assert any("mercur preview summary preview.json" in r and "GITHUB_STEP_SUMMARY" in r for r in runs)
    [upload] = _uses(preview, "actions/upload-artifact")
    [download] = _uses(apply, "actions/download-artifact")
    assert upload["with"]["name"] == download["with"]["name"] == "preview-${{ inputs.stack }}"
    assert upload["with"]["path"] == "preview.json" and download["with"]["path"] == "approved"
    steps = apply["steps"]
    compare = next(i for i, s in enumerate(steps) if "mercur preview compare approved/preview.json now.json"
                   in s.get("run", ""))
    assert "pulumi preview" in steps[compare]["run"] and "> now.json" in steps[compare]["run"]
    up = next(i for i, s in enumerate(steps) if "pulumi up" in s.get("run", ""))
    assert compare < up and steps[up]["run"].startswith("exec pulumi up") and "--policy-pack policy" in steps[up]["run"]
    # Both jobs refuse a commit that is no longer the head of main, first thing after the checkout.
    for job in (preview, apply):
        assert job["steps"][1]["uses"] == "./.github/actions/head-of-main"


def test_a_killed_up_releases_its_lock_and_alerts() -> None:
    steps = _load("pulumi-up.yml")["jobs"]["apply"]["steps"]
    [cancel] = [s for s in steps if "pulumi cancel" in s.get("run", "")]
    assert cancel["if"] == "cancelled()" and "--yes" in cancel["run"]
    [alert] = [s for s in steps if s.get("uses") == "./.github/actions/alert"]
    assert "cancelled()" in alert["if"] and "failure()" in alert["if"]
    assert "steps.head.outcome == 'success'" in alert["if"]  # a refused old commit is no alert
    assert steps.index(cancel) < steps.index(alert)


def test_head_of_main_asks_github_and_refuses_any_other_commit() -> None:
    action = yaml.safe_load((ROOT / ".github" / "actions" / "head-of-main" / "action.yml").read_text())
    [step] = action["runs"]["steps"]
    assert 'gh api "repos/$GITHUB_REPOSITORY/commits/main" --jq .sha' in step["run"]
    assert '[ "$head" != "$GITHUB_SHA" ]' in step["run"] and "exit 1" in step["run"]


def test_only_dev_relaxes_the_policies_to_advisory() -> None:
    jobs = _load("deploy.yml")["jobs"]
    assert {stack: jobs[stack]["with"].get("policy-config", "") for stack in ("dev", "staging", "prod")} == {
        "dev": "policy/config.dev.json", "staging": "", "prod": ""}
    drift = {row["stack"]: row["policy-config"] for row in _load("drift.yml")["jobs"]["drift"]["strategy"]["matrix"][
        "include"]}
    assert drift == {"dev": "policy/config.dev.json", "staging": "", "prod": ""}


def test_drift_is_detected_nightly_on_every_stack_and_alerts_with_the_diff() -> None:
    drift = _load("drift.yml")
    assert drift["on"]["schedule"][0]["cron"].endswith("* * *")
    job = drift["jobs"]["drift"]
    assert [row["stack"] for row in job["strategy"]["matrix"]["include"]] == ["dev", "staging", "prod"]
    assert job["environment"] == "preview-${{ matrix.stack }}"  # the read-only preview role
    [check] = [r for r in _runs(job) if "pulumi preview" in r]
    assert "--refresh" in check and "--expect-no-changes" in check and "> drift.json" in check
    [alert] = _uses(job, "./.github/actions/alert")
    assert alert["if"] == "failure()" and alert["with"]["body-file"] == "drift.md"
    assert any("mercur preview summary drift.json" in r and "drift.md" in r for r in _runs(job))


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


def test_a_cancelled_drill_is_undone_from_its_report_and_pages_when_anything_is_left() -> None:
    """A cancelled job's last steps get at most 5 minutes: keep the report first, page, try the undo; then
    dr-undo.yml finishes it from the kept report in a run of its own."""
    steps = _load("dr.yml")["jobs"]["drill"]["steps"]
    [drill] = [s for s in steps if "mercur dr drill staging" in s.get("run", "")]
    report = drill["run"].split("--report ", 1)[1].split()[0]
    keep = [s for s in _uses({"steps": steps}, "actions/upload-artifact")]
    [alert] = [s for s in steps if s.get("uses") == "./.github/actions/alert"]
    [undo] = [s for s in steps if "mercur dr undo staging" in s.get("run", "")]
    assert undo["if"].startswith("cancelled()") and f"--report {report}" in undo["run"] and undo["run"].startswith("exec ")
    assert steps.index(drill) < steps.index(keep[0]) < steps.index(alert) < steps.index(undo) < steps.index(keep[1])
    assert report in keep[0]["with"]["path"] and "outputs.json" in keep[0]["with"]["path"]
    assert "failure()" in alert["if"] and "cancelled()" in alert["if"]
    follow = _load("dr-undo.yml")
    assert follow["on"]["workflow_run"] == {"workflows": ["dr"], "types": ["completed"]}
    job = follow["jobs"]["undo"]
    assert "'cancelled'" in job["if"] and "'failure'" in job["if"] and "head_branch == 'main'" in job["if"]
    [download] = _uses(job, "actions/download-artifact")
    assert download["with"]["name"] == keep[0]["with"]["name"]
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    [finish] = [s for s in job["steps"] if "mercur dr undo staging" in s.get("run", "")]
    assert f"--report drill/{report}" in finish["run"] and "--outputs drill/outputs.json" in finish["run"]
    [page] = _uses(job, "./.github/actions/alert")
    assert page["if"] == "failure()" and job["concurrency"]["group"] == "pulumi-staging"


def test_everything_that_changes_or_reads_a_stack_queues_in_its_group() -> None:
    groups = [job["concurrency"] for name in ("pulumi-up.yml", "dr.yml", "dr-undo.yml", "drift.yml")
              for job in _load(name)["jobs"].values() if "concurrency" in job]
    assert len(groups) == 5
    assert all(g["cancel-in-progress"] is False and g["queue"] == "max" and g["group"].startswith("pulumi-")
               for g in groups)


def test_an_apps_ci_releases_a_digest_to_dev_through_a_pull_request_that_merges_itself() -> None:
    release = _load("release.yml")
    assert set(release["on"]) == {"workflow_dispatch"}
    assert set(release["on"]["workflow_dispatch"]["inputs"]) == {"app", "image"}
    job = release["jobs"]["dev"]
    [step] = [s for s in job["steps"] if "mercur release" in s.get("run", "")]
    assert '.venv/bin/python -m mercur release "$APP" "$IMAGE" --stack dev' in step["run"]
    assert step["env"] == {"APP": "${{ inputs.app }}", "IMAGE": "${{ inputs.image }}"}  # never spliced into the script
    [pr] = _uses(job, "./.github/actions/stack-file-pr")
    assert pr["with"]["auto-merge"] == "true" and pr["with"]["token"] == "${{ steps.token.outputs.token }}"


def test_promotion_copies_what_runs_in_the_stage_before_as_a_reviewed_pull_request() -> None:
    promote = _load("promote.yml")
    assert promote["on"]["workflow_dispatch"]["inputs"]["to"]["options"] == ["staging", "prod"]
    job = promote["jobs"]["promote"]
    steps = job["steps"]
    [applied] = [s for s in steps if "check-runs" in s.get("run", "")]
    assert "%20%2F%20apply" in applied["run"] and '!= "success"' in applied["run"]
    # The check run is named `<caller job> / <called job>` only while neither job has a name of its own.
    assert not any("name" in job for job in [*_load("deploy.yml")["jobs"].values(),
                                             *_load("pulumi-up.yml")["jobs"].values()])
    [copy] = [s for s in steps if "mercur promote" in s.get("run", "")]
    assert '.venv/bin/python -m mercur promote "$APP" --from "$FROM" --to "$TO"' in copy["run"]
    assert steps.index(applied) < steps.index(copy)
    [pr] = _uses(job, "./.github/actions/stack-file-pr")
    assert pr["with"].get("auto-merge", "false") == "false"  # a person reviews; deploy's reviewers approve


def test_release_pull_requests_are_opened_with_an_app_token_so_their_checks_run() -> None:
    action = yaml.safe_load((ACTIONS / "stack-file-pr" / "action.yml").read_text())
    [step] = action["runs"]["steps"]
    assert step["env"]["GH_TOKEN"] == "${{ inputs.token }}"
    assert "git diff --quiet" in step["run"] and "gh pr create" in step["run"]
    for name in ("release.yml", "promote.yml"):
        [token] = [s for job in _load(name)["jobs"].values()
                   for s in _uses(job, "actions/create-github-app-token")]
        assert token["with"]["permission-contents"] == "write" and token["with"]["permission-pull-requests"] == "write"


# Rules every workflow keeps. Each failed on the workflows before they were fixed (deploy.yml's caller
# granted less than pulumi-up.yml asks; dr.yml piped into tee without pipefail and ran the drill without
# exec; every action was referenced by tag; all previews shared one role and ran on the deploy runners).

WORKFLOW_FILES = ("ci.yml", "deploy.yml", "pulumi-up.yml", "dr.yml", "dr-undo.yml", "drift.yml", "release.yml",
                  "promote.yml")
ACTIONS = ROOT / ".github" / "actions"
SHA_PIN = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")


def _steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, job, step


def _all_uses() -> list[str]:
    uses = [s.get("uses", "") for name in WORKFLOW_FILES for _, _, s in _steps(_load(name))]
    uses += [s.get("uses", "") for path in ACTIONS.glob("*/action.yml")
             for s in yaml.safe_load(path.read_text())["runs"]["steps"]]
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
            if "mercur dr drill" in command or "mercur dr undo" in command or command.startswith(
                    ("pulumi up", "exec pulumi up")):
                assert command.startswith("exec ") and "\n" not in command, (name, job_name)


def test_previews_use_their_own_stacks_read_only_role() -> None:
    preview = _load("ci.yml")["jobs"]["preview"]
    assert preview["environment"] == "preview-dev"
    jobs = _load("pulumi-up.yml")["jobs"]
    roles = {name: [s["with"]["role-to-assume"] for s in _uses(job, "aws-actions/configure-aws-credentials")]
             for name, job in jobs.items()}
    # The gated preview uses the approved preview's read-only role (the same kind of Kubernetes diff), then `up`
    # the deploy role.
    assert roles == {"preview": ["${{ vars.AWS_PREVIEW_ROLE_ARN }}"],
                     "apply": ["${{ vars.AWS_PREVIEW_ROLE_ARN }}", "${{ vars.AWS_DEPLOY_ROLE_ARN }}"]}
    apply = jobs["apply"]["steps"]
    compare = next(i for i, s in enumerate(apply) if "mercur preview compare" in s.get("run", ""))
    deploy_role = next(i for i, s in enumerate(apply) if "AWS_DEPLOY_ROLE_ARN" in str(s.get("with", {})))
    assert compare < deploy_role
    [ci_role] = [s["with"]["role-to-assume"] for s in _uses(preview, "aws-actions/configure-aws-credentials")]
    assert ci_role == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    [drift_role] = [s["with"]["role-to-assume"] for s in _uses(_load("drift.yml")["jobs"]["drift"],
                                                                "aws-actions/configure-aws-credentials")]
    assert drift_role == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"


def test_pull_request_code_never_runs_on_the_deploy_runners_or_near_staging_and_prod() -> None:
    ci = _load("ci.yml")
    for job_name, job in ci["jobs"].items():
        # Only the preview needs dev's allow-listed egress; nothing from a pull request reaches mercur-deploy.
        assert job["runs-on"] == ("mercur-static-egress" if job_name == "preview" else "ubuntu-latest"), job_name
        assert job.get("environment") in (None, "preview-dev"), job_name
    text = (WORKFLOWS / "ci.yml").read_text()
    assert "mercur/staging" not in text and "mercur/prod" not in text
    # The deploy runners' group admits only these workflows' jobs on main (docs/deploying.md says how).
    on_deploy_runners = {name for name in WORKFLOW_FILES for job in _load(name)["jobs"].values()
                         if "mercur-deploy" in str(job.get("runs-on", ""))
                         + str(job.get("strategy", {}).get("matrix", {}).get("include", ""))}
    assert on_deploy_runners == {"pulumi-up.yml", "drift.yml"}
    assert all(job["if"].startswith("github.ref == 'refs/heads/main'") for name in on_deploy_runners
               for job in _load(name)["jobs"].values())
    docs = (ROOT / "docs" / "deploying.md").read_text()
    for workflow in ("pulumi-up.yml", "drift.yml"):
        assert f"/.github/workflows/{workflow}@refs/heads/main" in docs


def test_actionlint_knows_every_self_hosted_runner_label() -> None:
    labels = set(yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())["self-hosted-runner"]["labels"])
    used = set(re.findall(r"'(mercur-[a-z-]+)'", _load("pulumi-up.yml")["jobs"]["apply"]["runs-on"]))
    used |= {job["runs-on"] for job in _load("ci.yml")["jobs"].values()}
    used |= {row["runner"] for row in _load("drift.yml")["jobs"]["drift"]["strategy"]["matrix"]["include"]}
    assert used - {"ubuntu-latest"} == labels


def test_every_environment_a_workflow_uses_is_set_up_by_the_docs() -> None:
    """A job bound to an environment the docs never create runs without its roles and token."""
    used = set()
    for name in WORKFLOW_FILES:
        for job in _load(name)["jobs"].values():
            environment = str(job.get("environment", ""))
            matrix = job.get("strategy", {}).get("matrix", {})
            stacks = {"inputs.stack": ("dev", "staging", "prod"),
                      "matrix.stack": matrix.get("stack") or [row["stack"] for row in matrix.get("include", [])]}
            variable = next((v for v in stacks if "${{ " + v + " }}" in environment), None)
            used |= {environment.replace("${{ " + variable + " }}", s) for s in stacks[variable]} if variable else \
                ({environment} if environment else set())
    docs = (ROOT / "docs" / "deploying.md").read_text()
    assert used >= {"dev", "staging", "prod", "preview-dev", "preview-staging", "preview-prod", "dr-staging"}
    assert all(f"`{environment}`" in docs for environment in used), sorted(e for e in used if f"`{e}`" not in docs)


def test_stacks_live_in_the_organization_the_docs_create_them_in() -> None:
    """Workflows never create a stack (a mistyped organization would start a second platform); the docs create
    each once, under the organization in the PULUMI_ORG variable the workflows read."""
    texts = {path.name: path.read_text() for path in WORKFLOWS.glob("*.yml")}
    assert not any("--create" in text or "upsert" in text for text in texts.values())
    for name in ("pulumi-up.yml", "drift.yml", "dr.yml", "ci.yml"):
        assert "vars.PULUMI_ORG" in texts[name], name
    assert 'pulumi stack init "$PULUMI_ORG/mercur/$stack"' in (ROOT / "docs" / "deploying.md").read_text()


ZIZMOR_JUSTIFIED = re.compile(r"^- zizmor `([a-z-]+)` in `([^`]+)`:", re.M)


def _zizmor(cwd: Path) -> list[dict]:
    """zizmor's findings of medium or high severity in cwd/.github, offline (no GitHub API)."""
    import json
    import shutil
    import subprocess
    import sys
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    result = subprocess.run([zizmor, "--offline", "--format", "json", "--min-severity", "medium", ".github"],
                            cwd=cwd, capture_output=True, text=True)
    assert result.returncode in (0, 11, 12, 13, 14), result.stderr  # 1x: findings of that severity
    return json.loads(result.stdout)


def test_zizmor_finds_nothing_medium_or_high_that_the_design_choices_do_not_justify() -> None:
    found = {(f["ident"], f["locations"][0]["symbolic"]["key"]["Local"]["verbatim_path"].removeprefix(".github/"))
             for f in _zizmor(ROOT)}
    justified = set(ZIZMOR_JUSTIFIED.findall((ROOT / "docs" / "design-choices.md").read_text()))
    assert found <= justified, sorted(found - justified)


def test_the_zizmor_check_sees_a_finding(tmp_path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text("on: pull_request\npermissions: write-all\njobs:\n  x:\n    runs-on: "
                                       "ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.pull_request."
                                       "title }}\n")
    assert "template-injection" in {f["ident"] for f in _zizmor(tmp_path)}


VENV_ACTION = "./.github/actions/venv"


def test_every_composite_action_passes_the_github_action_schema() -> None:
    actions = sorted(str(p) for p in ACTIONS.glob("*/action.yml"))
    assert len(actions) == 5
    code, output = _check_jsonschema("vendor.github-actions", *actions)
    assert code == 0, output


def test_dependabot_passes_its_schema() -> None:
    code, output = _check_jsonschema("vendor.dependabot", str(ROOT / ".github" / "dependabot.yml"))
    assert code == 0, output


def test_the_venv_cache_is_keyed_on_every_requirement_file() -> None:
    action = yaml.safe_load((ROOT / ".github" / "actions" / "venv" / "action.yml").read_text())
    [cache] = [s for s in action["runs"]["steps"] if s.get("uses", "").startswith("actions/cache@")]
    assert cache["with"]["path"] == ".venv"
    # Checkov's lock fills its own venv (`make checkov`, installed by the job that runs it), not this one.
    files = sorted(p.name for p in ROOT.glob("requirements*.txt") if p.name != "requirements-checkov.txt")
    assert files == ["requirements-dev.txt", "requirements.txt"]
    assert all(f"'{name}'" in cache["with"]["key"] for name in files)


def test_every_job_that_runs_the_project_gets_the_cached_venv_and_ci_installs_it_once() -> None:
    for name in WORKFLOW_FILES:
        for job_name, job in _load(name)["jobs"].items():
            steps = job.get("steps", [])
            uses = [s.get("uses", "") for s in steps]
            runs_project = any("make " in s.get("run", "") or ".venv/" in s.get("run", "") for s in steps)
            assert not any(s.get("with", {}).get("cache") == "pip" for s in steps), (name, job_name)
            if runs_project:
                assert VENV_ACTION in uses, (name, job_name)
    jobs = _load("ci.yml")["jobs"]
    assert jobs["test"]["needs"] == "venv" and jobs["offline-plan"]["needs"] == "venv"
