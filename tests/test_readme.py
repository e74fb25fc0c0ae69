"""README.md: a quick start that cannot go stale. Every `console` block is run and its output compared with
the real one; the word budget, the make targets and the links it names are checked."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess

import pytest

from conftest import ROOT
from mercur.__main__ import main

README = (ROOT / "README.md").read_text()
CONSOLE_BLOCKS = re.findall(r"```console\n(.*?)```", README, re.S)


def _run(command: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """What the command prints (stdout, then stderr), as a reader at the project root would see it."""
    words = shlex.split(command)
    if words == ["make"]:
        return subprocess.run(["make", "--no-print-directory"], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, check=True).stdout
    if words[:2] == ["make", "plan"]:
        stack = dict(w.split("=", 1) for w in words[2:]).get("STACK", "prod")
        recipe = subprocess.run(["make", "--no-print-directory", "-n", *words[1:]], cwd=ROOT, capture_output=True,
                                text=True, timeout=60, check=True).stdout.splitlines()
        assert recipe[-1].split() == [".venv/bin/python", "-m", "mercur", "plan", stack], recipe  # run here
        args = ["plan", stack]
    elif words[:3] == [".venv/bin/python", "-m", "mercur"]:
        args = words[3:]
    else:
        pytest.fail(f"README runs `{command}`: teach tests/test_readme.py how to run it, or use a sh block")
    monkeypatch.chdir(ROOT)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        main(args)
    return out.getvalue() + err.getvalue()


def _chunks(shown: list[str]) -> list[list[str]]:
    """The shown output split at `...` lines, which stand for lines left out."""
    chunks: list[list[str]] = [[]]
    for line in shown:
        if line == "...":
            chunks.append([])
        else:
            chunks[-1].append(line)
    return [chunk for chunk in chunks if chunk]


@pytest.mark.parametrize("block", CONSOLE_BLOCKS, ids=[b.splitlines()[0] for b in CONSOLE_BLOCKS])
def test_each_example_prints_what_the_readme_shows(block, monkeypatch, checked_in_plans) -> None:
    first, *shown = block.rstrip("\n").splitlines()
    assert first.startswith("$ ")
    real = _run(first[2:], monkeypatch).rstrip("\n").splitlines()
    position = 0
    for index, chunk in enumerate(_chunks(shown)):
        starts = [i for i in range(position, len(real) - len(chunk) + 1) if real[i:i + len(chunk)] == chunk]
        assert starts, f"not in the real output of `{first[2:]}` (in order): {chunk[0]!r}"
        assert index or starts[0] == 0, f"`{first[2:]}` prints {real[0]!r} first, not {chunk[0]!r}"
        position = starts[0] + len(chunk)


def test_the_readme_runs_every_kind_of_example_and_stays_short() -> None:
    assert {b.splitlines()[0].split()[1] for b in CONSOLE_BLOCKS} == {"make", ".venv/bin/python"}
    assert len(README.split()) <= 1500


def test_every_make_target_and_document_it_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"`make (\w+)", README)) | set(re.findall(r"^make (\w+)", README, re.M)):
        assert re.search(rf"^{target}:", makefile, re.M), f"README names `make {target}`"
    for link in re.findall(r"\]\(([^)#]+)", README):
        assert (ROOT / link).exists(), f"README links {link}"
    assert makefile.index(".DEFAULT_GOAL := help") < makefile.index("\nplan:")


def test_the_alarm_counts_the_readme_budgets_are_the_plans(plan_of) -> None:
    """The cost paragraph counts alarms per region; the plans' monitoring lines count the same."""
    from mercur.offline import plan as summary
    counts = re.search(r"prod: (\d+) in us-west-1, (\d+) in us-east-1; dev: (\d+)\)", README.replace("\n", " "))
    assert counts, "the README's alarm counts moved"
    lines = {stack: [line for line in summary.summary(plan_of(stack)).splitlines() if "  monitoring " in line]
             for stack in ("prod", "dev")}
    found = {stack: [int(re.search(r"; (\d+) alarms", line)[1]) for line in found] for stack, found in lines.items()}
    assert found == {"prod": [int(counts[1]), int(counts[2])], "dev": [int(counts[3])]}
