"""`make bench`: the plan's speed against its own floor, the suite's time, and growth with the stack's size.

  1. `plan prod --json` against a script that only imports the SDK classes prod's resources use (the
     classes are found by running the plan once in this process), alternating A B A B, median of each and
     the median of the pairwise ratios; target <= 1.0x.
  2. Synthetic stacks of 2 x 10, 4 x 20 and 6 x 30 regions x apps built from prod's stack file: wall time,
     resources and ms per resource (flat growth means the plan is linear); 6 x 30 against prod, target <= 2.5x.
  3. Validating a stack file of 1,000 and of 10,000 apps (the models without their cap on apps): linear
     growth is about 10x; target <= 20x, and 10,000 apps under 2 s.
  4. The suite as `make test` runs it, wall time; target <= 15 s.

Everything it writes goes to a temporary directory; the repository is left as it was (but for the bytecode
caches in the ignored __pycache__ folders, which `make test` writes too).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
SDK_PACKAGES = ("pulumi", "pulumi_aws", "pulumi_eks", "pulumi_kubernetes", "pulumi_policy")
# Regions of the synthetic stacks, in failover order; each offers at least two AZs to the program.
SYNTHETIC_REGIONS = ("us-west-1", "us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1")
SIZES = ((2, 10), (4, 20), (6, 30))


def sdk_classes(project_dir: Path = PROJECT_DIR, stack: str = "prod") -> list[tuple[str, str]]:
    """(module, class) of every SDK resource class the stack's plan instantiates, found by running it once."""
    import pulumi
    from mercur.offline import compliance, synth

    used: set[type] = set()
    declare = pulumi.Resource.__init__

    def recording(self: pulumi.Resource, *args: Any, **kwargs: Any) -> None:
        used.add(type(self))
        declare(self, *args, **kwargs)

    pulumi.Resource.__init__ = recording  # type: ignore[method-assign]
    try:
        plan = synth.synthesize(stack, project_dir)
    finally:
        pulumi.Resource.__init__ = declare  # type: ignore[method-assign]
    compliance.evaluate(plan, plan.environment or stack)  # the policy classes the plan uses come from here
    return sorted((cls.__module__, cls.__qualname__) for cls in used
                  if cls.__module__.split(".")[0] in SDK_PACKAGES)


def import_script(classes: Sequence[tuple[str, str]]) -> str:
    lines = [f"from {module} import {name}" for module, name in classes]
    lines.append("from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy")
    return "\n".join(lines) + "\n"


def _run(command: Sequence[str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and the exit code of one whole process, its output thrown away."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: a mandatory finding, still a full plan
        sys.exit(f"bench: {' '.join(command)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return elapsed, done.returncode


def paired(a: Sequence[str], b: Sequence[str], runs: int, cwd: Path) -> tuple[list[float], list[float]]:
    """A B A B ...: one warm-up each, then `runs` counted pairs; drift hits both sides alike."""
    _run(a, cwd), _run(b, cwd)
    times_a, times_b = [], []
    for _ in range(runs):
        times_a.append(_run(a, cwd)[0])
        times_b.append(_run(b, cwd)[0])
    return times_a, times_b


def synthetic_stack(regions: int, apps: int, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """Prod's stack file with `regions` regions (distinct /16s) and `apps` apps cloned from prod's."""
    values = yaml.safe_load((project_dir / "Pulumi.prod.yaml").read_text())["config"]
    base = ipaddress.ip_network("10.200.0.0/16")
    values["mercur:regions"] = [{"name": name, "cidr": str(ipaddress.ip_network((int(base.network_address)
                                                                               + (i << 16), 16)))}
                                for i, name in enumerate(SYNTHETIC_REGIONS[:regions])]
    templates = values["mercur:apps"]
    values["mercur:apps"] = [{**templates[i % len(templates)], "name": f"app-{i:03d}"} for i in range(apps)]
    # Each region must hold every app's peak: grow prod's NodePool limits with the copies of its apps.
    copies = -(-apps // len(templates))
    limits = values["mercur:nodePool"]["limits"]
    limits.update(cpu=limits["cpu"] * copies, memory=f"{int(limits['memory'].removesuffix('Gi')) * copies}Gi")
    # The database's home is the first synthetic region; beyond two regions DNS fails over down the chain
    # (the Region switch plan covers an active and a passive region).
    values["mercur:database"]["homeRegion"] = values["mercur:regions"][0]["name"]
    if regions != 2:
        values["mercur:dr"].pop("regionSwitch", None)
        values["mercur:dr"].pop("decisionMinutes", None)  # nobody starts a switch where there is none
    dns = values.get("mercur:dns")
    if dns:
        dns["app"] = "app-000"
        arn = next(iter(dns["certificates"].values()))
        dns["certificates"] = {r["name"]: arn.replace(arn.split(":")[3], r["name"])
                               for r in values["mercur:regions"]}
    network = values.get("mercur:deploy", {}).get("network")
    if network:
        gateway = next(iter(network["transitGateways"].values()))
        network["transitGateways"] = {r["name"]: gateway for r in values["mercur:regions"]}
    values["mercur:environment"] = "prod"
    return {"config": values}


def _project_with(stack_files: dict[str, dict[str, Any]], into: Path) -> Path:
    into.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(PROJECT_DIR / name, into / name)
    for stack, body in stack_files.items():
        (into / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return into


def _resources(project: Path, stack: str) -> int:
    import json
    out = subprocess.run([sys.executable, "-m", "mercur", "plan", stack, "--json", "--project-dir", str(project)],
                         capture_output=True, text=True, cwd=PROJECT_DIR)
    return len(json.loads(out.stdout)["resources"])


def validate_apps(count: int, project_dir: Path = PROJECT_DIR) -> tuple[float, int]:
    """Seconds to validate staging's stack file with `count` apps (the models' cap on apps lifted, the NodePool
    made room for them), and how many apps the result holds."""
    import json

    from mercur.config import load, models

    class Roomy(models.StackConfig):  # the same stack without the cap on apps
        apps: tuple[models.AppConfig, ...] = ()

    raw = {**load.stack_file_keys(project_dir, "staging"), "environment": "staging"}
    raw["nodePool"] = {**raw["nodePool"], "limits": {"cpu": 100_000, "memory": "100000Gi"}}
    raw["apps"] = [{**raw["apps"][0], "name": f"app-{i}" if i else "storefront"} for i in range(count)]
    document = json.dumps(raw)
    start = time.perf_counter()
    parsed = Roomy.model_validate_json(document, strict=True, context={"stack": "staging"})
    return time.perf_counter() - start, len(parsed.apps)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mercur.offline.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="counted runs of each timed command (default 7, >= 5)")
    parser.add_argument("--skip-suite", action="store_true", help="leave out the test suite")
    args = parser.parse_args(argv)
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="mercur-bench-") as scratch:
        work = Path(scratch)
        classes = sdk_classes()
        script = work / "import_sdk_classes.py"
        script.write_text(import_script(classes))
        plan = [python, "-m", "mercur", "plan", "prod", "--json", "--project-dir", str(PROJECT_DIR)]
        floor = [python, str(script)]
        plan_times, floor_times = paired(plan, floor, args.runs, PROJECT_DIR)
        ratios = [p / f for p, f in zip(plan_times, floor_times)]
        prod_median = _median(plan_times)
        print(f"plan prod --json          {prod_median:6.2f} s  (median of {args.runs}, alternating)")
        print(f"import {len(classes):3d} SDK classes    {_median(floor_times):6.2f} s  (median of {args.runs})")
        print(f"ratio plan / imports      {_median(ratios):6.2f} x  (median of pairwise ratios; target <= 1.0)")

        prod_resources = _resources(PROJECT_DIR, "prod")
        print(f"\nstack           resources   wall (median of {args.runs})   ms/resource")
        print(f"prod            {prod_resources:9d}   {prod_median:8.2f} s   {1000 * prod_median / prod_resources:10.2f}")
        largest = 0.0
        for regions, apps in SIZES:
            project = _project_with({"bench": synthetic_stack(regions, apps)}, work / f"p{regions}x{apps}")
            command = [python, "-m", "mercur", "plan", "bench", "--json", "--project-dir", str(project)]
            _run(command, PROJECT_DIR)
            wall = _median([_run(command, PROJECT_DIR)[0] for _ in range(args.runs)])
            count = _resources(project, "bench")
            largest = wall
            print(f"{regions} x {apps:<2d} synthetic {count:9d}   {wall:8.2f} s   {1000 * wall / count:10.2f}")
        print(f"6 x 30 / prod             {largest / prod_median:6.2f} x  (target <= 2.5)")

        small = _median([validate_apps(1_000)[0] for _ in range(args.runs)])
        large = _median([validate_apps(10_000)[0] for _ in range(args.runs)])
        print(f"\nvalidate 1,000 apps       {small:6.2f} s  (median of {args.runs})")
        print(f"validate 10,000 apps      {large:6.2f} s  ({large / small:.1f} x; target <= 20 x and 2 s)")

        if not args.skip_suite:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as `make test`
            suite = subprocess.run([python, "-m", "pytest", "-q", "-n", "2", "--dist", "worksteal"],
                                   cwd=PROJECT_DIR, capture_output=True, text=True, env=env)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            last = suite.stdout.strip().splitlines()[-1] if suite.stdout.strip() else "no output"
            print(f"\nmake test                 {wall:6.2f} s wall, {cpu:.1f} s CPU  ({last}; target <= 15 s)")
            if suite.returncode:
                return suite.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
