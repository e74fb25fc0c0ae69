"""mercur.offline.bench: its floor is the SDK classes the plan really uses; its synthetic stacks are valid stacks."""

from __future__ import annotations

import ipaddress
import yaml

from mercur.offline import bench
from mercur import config
from conftest import ROOT


def test_the_floor_imports_exactly_the_sdk_classes_a_plan_instantiates(plan_of) -> None:
    classes = bench.sdk_classes(ROOT, "dev")  # `make bench` asks for prod's; dev's is the same code, quicker
    assert ("pulumi_aws.ec2.vpc", "Vpc") in classes and ("pulumi_eks.cluster", "Cluster") in classes
    assert all(module.split(".")[0] in bench.SDK_PACKAGES for module, _ in classes)  # never our components
    types = {r.type for r in plan_of("dev").resources if r.custom}
    assert len([c for c in classes if c[0].startswith("pulumi_aws.") and c[1] != "Provider"]) == len(
        {t for t in types if t.startswith("aws:")})
    namespace: dict = {}
    exec(bench.import_script(classes), namespace)  # the script the bench times, line for line
    assert {name for _, name in classes} <= set(namespace)


def test_synthetic_stacks_load_with_the_asked_regions_and_apps(tmp_path) -> None:
    body = bench.synthetic_stack(6, 30)
    project = bench._project_with({"bench": body}, tmp_path / "project")
    stack = config.load_file(project, "bench")
    assert len(stack.regions) == 6 and len(stack.apps) == 30 and stack.environment == "prod"
    cidrs = [region.cidr for region in stack.regions]
    assert not any(a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1:])
    assert all(ipaddress.ip_network("10.0.0.0/8").supernet_of(c) for c in cidrs)
    assert yaml.safe_load((project / "Pulumi.bench.yaml").read_text()) == body


def test_the_app_validation_bench_validates_every_app_it_times() -> None:
    """`make bench` times this (1,000 against 10,000 apps); the suite only checks it does the work it times."""
    _, count = bench.validate_apps(1_000)
    assert count == 1_000
