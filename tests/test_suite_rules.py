"""Rules the suite keeps about itself: a test asserts behaviour, never a duration (a loaded 2-core CI machine
makes such a test fail at random); speed figures live in `make bench`."""

from __future__ import annotations

import ast
import re

from conftest import ROOT, parse_python

CLOCKS = {"perf_counter", "monotonic", "time", "process_time", "perf_counter_ns", "monotonic_ns"}
# Names that hold a wall-clock measurement even when a helper took it (`code, out, seconds = _plan(...)`).
MEASURED = re.compile(r"^(seconds|elapsed|duration|timings|wall)$")


def _timed(node: ast.AST, timed_names: set[str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in CLOCKS \
                and isinstance(sub.func.value, ast.Name) and sub.func.value.id == "time":
            return True
        if isinstance(sub, ast.Name) and (sub.id in timed_names or MEASURED.match(sub.id)):
            return True
    return False


def _timed_asserts(tree: ast.AST) -> list[int]:
    """Lines of asserts that read a clock, directly or through a name bound to a clock reading."""
    lines = []
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        timed: set[str] = set()
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and _timed(node.value, timed):
                timed |= {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        lines += [n.lineno for n in ast.walk(function) if isinstance(n, ast.Assert) and _timed(n.test, timed)]
    return lines


def test_no_test_asserts_a_duration() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{line}" for path in sorted((ROOT / "tests").rglob("*.py"))
                 for line in _timed_asserts(parse_python(path.read_text()))]
    assert not offenders, offenders


def test_the_rule_sees_a_timed_assertion() -> None:
    tree = ast.parse("def test_x():\n    start = time.perf_counter()\n    run()\n"
                     "    seconds = time.perf_counter() - start\n    assert seconds < 2\n"
                     "    assert time.monotonic() - start < 1\n    assert run() == 2\n")
    assert _timed_asserts(tree) == [5, 6]
    helper = ast.parse("def test_y():\n    code, out, seconds = _plan()\n    assert seconds < 10\n"
                       "    timings = []\n    timings.append(1)\n    assert timings[1] < 2\n")
    assert _timed_asserts(helper) == [3, 6]
