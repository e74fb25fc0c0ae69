"""mercur.offline.gcpolicy: the collector is held off while the program runs, in the CLI and in the tests alike."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest

from mercur.offline import gcpolicy, synth
from conftest import ROOT


@pytest.mark.parametrize("enabled", (True, False))
def test_held_off_restores_the_collector_as_it_found_it(enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with gcpolicy.held_off():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_synthesis_runs_with_the_collector_off_and_gives_it_back(project, monkeypatch) -> None:
    seen: set[bool] = set()
    record = synth._RecordingMonitor._record
    monkeypatch.setattr(synth._RecordingMonitor, "_record",
                        lambda self, *args: seen.add(gc.isenabled()) or record(self, *args))
    assert gc.isenabled()
    project.synthesize("dev")
    assert seen == {False} and gc.isenabled()


def test_the_plan_command_keeps_the_collector_off_and_freezes_the_heap_before_exit() -> None:
    probe = ("import atexit, gc, runpy, sys\n"
             "atexit.register(lambda: print(gc.isenabled(), gc.get_freeze_count() > 10000, file=sys.stderr))\n"
             f"sys.argv = ['mercur', 'plan', 'nosuchstack', '--project-dir', {str(ROOT)!r}]\n"
             "runpy.run_module('mercur', run_name='__main__', alter_sys=True)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == "False True"
