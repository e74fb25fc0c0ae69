"""The CrossGuard pack as the Pulumi CLI runs it: its own venv from policy/requirements.txt alone, started
with `<venv>/bin/python -u -m pulumi.policy <engine> <pack dir>` (the CLI's pulumi-analyzer-policy-python
shim), asked over gRPC which policies it serves."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

PACK = ROOT / "policy"
START_SECONDS = 60  # a bound on a hang, not a speed check: a healthy pack prints its port in about a second


def _pack_venv(where: Path) -> Path:
    """A venv holding policy/requirements.txt and nothing else: no system site-packages, no project venv.
    uv from its cache stands in for the CLI's `python -m venv` + `pip install -r` (same lock, same hashes)."""
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([uv, "venv", "--quiet", "--python", base, str(where)], check=True)
    subprocess.run([uv, "pip", "install", "--quiet", "--require-hashes", "--python", str(where / "bin" / "python"),
                    "-r", str(PACK / "requirements.txt")], check=True)
    return where / "bin" / "python"


def _served_policies(python: Path) -> list[str]:
    """Start the pack, read the port it prints, ask GetAnalyzerInfo, stop it. Fails with the pack's stderr."""
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    pack = subprocess.Popen([str(python), "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK)], cwd=PACK,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + START_SECONDS
        line = b""
        while not line.endswith(b"\n") and pack.poll() is None and time.monotonic() < deadline:
            if select.select([pack.stdout], [], [], 0.5)[0]:
                line += os.read(pack.stdout.fileno(), 64)
        if not line.strip().isdigit():
            pack.kill()
            raise AssertionError(f"the pack did not start: {pack.stderr.read().decode()[-2000:]}")
        with grpc.insecure_channel(f"127.0.0.1:{int(line)}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=START_SECONDS)
        return [policy.name for policy in info.policies]
    finally:
        pack.kill()
        pack.wait()
        pack.stdout.close()
        pack.stderr.close()


@pytest.mark.costly
def test_the_pack_starts_from_its_own_lock_and_serves_every_rule(tmp_path: Path) -> None:
    from mercur.offline.policies import all_policies

    served = _served_policies(_pack_venv(tmp_path / "venv"))
    assert sorted(served) == sorted(policy.name for policy in all_policies())
    assert len(served) > 20


def test_the_cli_builds_the_pack_venv_from_the_lock_with_pip() -> None:
    """PulumiPolicy.yaml's toolchain is pip: the CLI runs `pip install -r requirements.txt`, which checks
    every hash of a hashed lock by itself (pip's hash-checking mode)."""
    runtime = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())["runtime"]
    assert runtime == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
