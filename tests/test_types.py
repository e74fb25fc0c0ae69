"""mercur/ type-checks against the installed SDKs' own inline hints (ty, configured in pyproject.toml): a
misspelt argument or a value of the wrong type passes the mocks (they record whatever the program sends) and
fails only in the cloud. ty reads only what mercur uses of pulumi_aws, about a second with no cache, so the
check runs with the suite on a fresh clone as well."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT

# Mistakes the check must catch, each an SDK call mercur makes: pulumi_aws's compute config where pulumi_eks
# takes its own (what cluster.py once passed), a misspelt argument, a ConfigMap value that is not a string.
CONTROL = """\
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

eks.AutoModeOptionsArgs(enabled=True, compute_config=aws.eks.ClusterComputeConfigArgs(enabled=True))
aws.eks.Addon("addon", cluster_name="c", addon_nme="metrics-server")
k8s.core.v1.ConfigMap("config", data={"enable-network-policy-controller": True})
"""


@pytest.mark.costly
def test_mercur_type_checks_against_the_sdks_and_the_check_sees_their_hints(tmp_path) -> None:
    control = tmp_path / "control.py"
    control.write_text(CONTROL)
    result = subprocess.run([sys.executable, "-m", "ty", "check", "--python", sys.prefix, "--no-progress",
                             "--color", "never", "--output-format", "concise", "mercur", str(control)],
                            cwd=ROOT, capture_output=True, text=True)
    errors = [line for line in result.stdout.splitlines() if ": error[" in line]
    ours = [line for line in errors if not line.startswith(str(control))]
    assert not ours, "\n".join(ours)
    # Without the SDKs' hints (an unresolved import, a checker that gave up on pulumi_aws) these would pass.
    assert sorted({int(line.split(":")[1]) for line in errors}) == [5, 6, 7], result.stdout + result.stderr
