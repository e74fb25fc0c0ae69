"""mercur.offline.plan: the readable summary and the JSON contract."""

from __future__ import annotations

import json
from collections import Counter

import yaml

from conftest import YAML_LOADER
from mercur.offline import plan


def test_document_is_the_contract_later_tools_read(stack_plan) -> None:
    document = json.loads(plan.document(stack_plan))
    assert set(document) == {"project", "stack", "resources", "outputs", "findings"}
    assert document["project"] == "mercur" and document["stack"] == stack_plan.stack
    for resource in document["resources"]:
        assert set(resource) == {"urn", "type", "name", "parent", "region", "inputs"}
    regions = {r["region"] for r in document["resources"]}
    # us-east-1 always: Route53's metrics and their alarms live there.
    assert regions == set(stack_plan.outputs["failoverOrder"]) | {"us-east-1", None}


def test_document_never_carries_secret_values(plan_of) -> None:
    assert '"kubeconfig": "[secret]"' in plan.document(plan_of("prod"))
    assert "get-token" not in plan.document(plan_of("prod"))


def test_out_directory_holds_plan_diagram_and_manifests_that_match(plan_of, tmp_path) -> None:
    result = plan_of("prod")
    written = plan.write(result, [], tmp_path)
    assert json.loads((tmp_path / "plan.json").read_text())["stack"] == "prod"
    assert (tmp_path / "diagram.mmd").read_text().startswith("flowchart")
    objects = [r for r in result.resources if r.type.startswith("kubernetes:") and r.custom
               and r.type != "pulumi:providers:kubernetes"]
    manifests = sorted((tmp_path / "manifests").rglob("*.yaml"))
    assert len(manifests) == len(objects) == len(written) - 2
    parsed = [yaml.load(path.read_text(), Loader=YAML_LOADER) for path in manifests]
    assert sorted((m["kind"], m["metadata"]["name"], m["metadata"].get("namespace")) for m in parsed) == sorted(
        (o.inputs["kind"], o.inputs["metadata"]["name"], o.inputs["metadata"].get("namespace")) for o in objects)
    assert {p.relative_to(tmp_path / "manifests").parts[0] for p in manifests} == {"us-west-1", "us-east-1"}


def test_summary_shows_the_tree_objectives_and_policy_results(plan_of) -> None:
    from mercur.offline import compliance
    text = plan.summary(plan_of("dev"), compliance.evaluate(plan_of("dev"), "dev"))
    assert "├─ EKS mercur-dev-usw1 1.35, public+private API" in text
    assert "RTO: target 60 min; single region, no failover" in text
    assert "Policies: 0 mandatory violation(s), 4 advisory finding(s)" in text
    assert "[advisory] eks-endpoint-private: urn:pulumi:dev::mercur::" in text


def test_summary_lists_regions_in_failover_order_with_counts(plan_of) -> None:
    result = plan_of("prod")
    text = plan.summary(result)
    assert text.splitlines()[0] == f"mercur/prod: {len(result.resources)} resources in 2 region(s)"
    assert text.index("us-west-1 (active)") < text.index("us-east-1 (passive)")
    west = Counter(r.type for r in result.resources if r.region == "us-west-1")
    assert f"us-west-1 (active): {sum(west.values())} resources" in text
    assert "cluster mercur-prod-usw1, AZs us-west-1c, us-west-1b" in text
    assert f"Totals: {len(result.resources)} resources" in text
