"""One locked build: the program, the dev tools and the policy pack each install a hashed lock compiled from
its .in file, one resolution for all three; make, CI and the Pulumi CLI (program and pack) install those locks;
one file pins the CLI."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT

LOCKS = {"requirements-dev.txt": "requirements-dev.in", "requirements.txt": "requirements.in",
         "policy/requirements.txt": "policy/requirements.in", "requirements-checkov.txt": "requirements-checkov.in"}
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")
HASH = re.compile(r"^\s+--hash=sha256:([0-9a-f]{64})")


def _lock(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a compiled lock; every requirement line must be `name==version` with hashes."""
    pins: dict[str, tuple[str, set[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if match := HASH.match(line):
            assert current, f"{path}: a hash before any requirement"
            pins[current][1].add(match[1])
        elif match := PIN.match(line):
            current = canonicalize_name(match[1])
            pins.setdefault(current, (match[2], set()))
        else:
            raise AssertionError(f"{path}: not a pinned, hashed requirement: {line!r}")
    assert all(hashes for _, hashes in pins.values()), f"{path}: a requirement without a hash"
    return {name: (version, frozenset(hashes)) for name, (version, hashes) in pins.items()}


def _direct(path: Path) -> list[Requirement]:
    """The requirements an .in file asks for, following its -r includes (relative to the file)."""
    found: list[Requirement] = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found += _direct((path.parent / line[3:].strip()).resolve())
        elif line:
            found.append(Requirement(line))
    return found


def test_every_lock_pins_each_package_with_its_hashes() -> None:
    for lock in LOCKS:
        assert len(_lock(ROOT / lock)) > 10, lock


def test_every_lock_holds_what_its_in_file_asks_for() -> None:
    """An .in file edited without `make lock` fails here: a missing package or a pin outside the new range."""
    for lock, source in LOCKS.items():
        pins = _lock(ROOT / lock)
        for requirement in _direct(ROOT / source):
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{lock} lacks {requirement} ({source}): run make lock"
            assert requirement.specifier.contains(pins[name][0], prereleases=True), \
                f"{lock} pins {name}=={pins[name][0]}, outside {source}'s {requirement}: run make lock"


def test_one_resolution_one_version_everywhere() -> None:
    """The program and the pack install exactly the dev lock's version and hashes of each package, so the
    offline gate (make, dev lock) tests what Pulumi's venv (requirements.txt) and the pack run."""
    dev = _lock(ROOT / "requirements-dev.txt")
    for lock in ("requirements.txt", "policy/requirements.txt"):
        for name, pinned in _lock(ROOT / lock).items():
            assert dev.get(name) == pinned, f"{lock}: {name} {pinned[0]} differs from requirements-dev.txt"
    program, pack = _lock(ROOT / "requirements.txt"), _lock(ROOT / "policy/requirements.txt")
    assert set(pack) <= set(program) <= set(dev)


def test_the_cli_builds_the_program_venv_from_the_lock() -> None:
    """Pulumi.yaml's pip toolchain installs requirements.txt into ./venv; being a hashed lock, pip checks it."""
    runtime = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["runtime"]
    assert runtime == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    assert _lock(ROOT / "requirements.txt")


def test_make_installs_the_locks_and_checks_their_hashes() -> None:
    for target, lock in ((".plan-deps", "requirements.txt"), (".dev-deps", "requirements-dev.txt")):
        recipe = subprocess.run(["make", "-n", "-B", f"VENV=/nonexistent-venv", f"/nonexistent-venv/{target}"],
                                cwd=ROOT, capture_output=True, text=True, check=True).stdout
        assert f"--require-hashes --compile-bytecode --python /nonexistent-venv/bin/python -r {lock}" in recipe
        assert f"--require-hashes -r {lock}" in recipe  # pip, where uv cannot be had


def test_one_file_pins_the_cli_and_every_workflow_installs_that_version() -> None:
    """.pulumi-version is the CLI every job runs; the CLI and the Python SDK ship together, so it is the locked
    SDK's version (a Dependabot bump of pulumi is red here until .pulumi-version moves with it)."""
    version = (ROOT / ".pulumi-version").read_text().strip()
    assert version == _lock(ROOT / "requirements.txt")["pulumi"][0]
    installs = 0
    for path in sorted((ROOT / ".github").rglob("*.yml")):
        document = yaml.safe_load(path.read_text())
        jobs = document.get("jobs", {}).values() if "jobs" in document else [document.get("runs", {})]
        for step in (step for job in jobs for step in job.get("steps", [])):
            if step.get("uses", "").startswith("pulumi/actions@"):
                installs += 1
                assert step.get("with", {}).get("pulumi-version-file") == ".pulumi-version", path
                assert "pulumi-version" not in step.get("with", {}), path
    assert installs == 4  # ci's PR preview, dr's two jobs, the pulumi-cli action every other job uses


def test_ci_caches_the_venv_by_the_locks_and_the_interpreter_it_links_to() -> None:
    """A runner image with a new 3.11.x must not restore a venv whose interpreter is gone."""
    action = yaml.safe_load((ROOT / ".github" / "actions" / "venv" / "action.yml").read_text())
    steps = action["runs"]["steps"]
    [setup] = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    [cache] = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    assert f"steps.{setup['id']}.outputs.python-path" in cache["with"]["key"]  # holds the full version
    assert "runner.environment" in cache["with"]["key"]  # github-hosted and self-hosted tool caches differ
    assert "hashFiles('requirements.txt', 'requirements-dev.txt')" in cache["with"]["key"]


def test_dependabot_updates_every_lock_after_a_cooldown() -> None:
    updates = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())["updates"]
    [pip] = [u for u in updates if u["package-ecosystem"] == "pip"]
    assert set(pip["directories"]) == {"/", "/policy"}
    assert all(u["cooldown"]["default-days"] >= 7 for u in updates)
