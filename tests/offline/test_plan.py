"""mercur.offline.plan: the readable summary and the JSON contract."""

from __future__ import annotations

import copy
import io
import json
import re
from collections import Counter

import yaml

from conftest import YAML_LOADER, third_region
from mercur.offline import diagram, plan


def test_document_is_the_contract_later_tools_read(stack_plan) -> None:
    document = json.loads(plan.document(stack_plan))
    assert set(document) == {"project", "stack", "resources", "outputs", "findings"}
    assert document["project"] == "mercur" and document["stack"] == stack_plan.stack
    for resource in document["resources"]:
        assert set(resource) == {"urn", "type", "name", "parent", "region", "inputs", "options"}
        assert set(resource["options"]) == {"protect", "retainOnDelete", "ignoreChanges", "replaceOnChanges",
                                            "dependsOn", "deleteBeforeReplace", "aliases"}
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
    assert "\nflowchart TB\n" in (tmp_path / "diagram.mmd").read_text()
    objects = [r for r in result.resources if r.type.startswith("kubernetes:") and r.custom
               and r.type != "pulumi:providers:kubernetes"]
    manifests = sorted((tmp_path / "manifests").rglob("*.yaml"))
    assert len(manifests) == len(objects) == len(written) - 3  # plan.json, tfplan.json, diagram.mmd
    assert json.loads((tmp_path / "tfplan.json").read_text())["planned_values"]["root_module"]["resources"]
    parsed = [yaml.load(path.read_text(), Loader=YAML_LOADER) for path in manifests]
    assert sorted((m["kind"], m["metadata"]["name"], m["metadata"].get("namespace")) for m in parsed) == sorted(
        (o.inputs["kind"], o.inputs["metadata"]["name"], o.inputs["metadata"].get("namespace")) for o in objects)
    assert {p.relative_to(tmp_path / "manifests").parts[0] for p in manifests} == {"us-west-1", "us-east-1"}


def _summary(plan_of, stack: str, **options) -> str:
    from mercur.offline import compliance
    result = plan_of(stack)
    return plan.summary(result, compliance.evaluate(result, stack), **options)


def test_the_first_line_is_the_verdict_on_policies_rpo_rto_and_capacity(plan_of) -> None:
    rto = plan_of("prod").outputs["objectives"]["rtoMinutes"]
    first = _summary(plan_of, "prod").splitlines()[0]
    # Until `dr record` brings a measured copy time, the both-at-once point is not proven: the verdict says so.
    assert first.startswith("mercur/prod FAIL: policies pass (0 violations, 0 advisories) · RPO FAIL (2 of 3 kinds "
                            "of loss; both at once not proven) · ")
    assert f"RTO pass ({rto['achievable']:.1f} of {rto['target']:g} min from the failure)" in first
    assert "capacity pass (NodePool limits hold the peak in 2 of 2 regions)" in first
    assert first.endswith(f"; {len(plan_of('prod').resources)} resources in 2 regions")
    dev = _summary(plan_of, "dev").splitlines()[0]
    assert dev.endswith("resources in 1 region") and " · RTO n/a (single region) · " in dev


def test_a_failing_objective_or_policy_turns_the_verdict_to_fail_naming_it(plan_of) -> None:
    from mercur.offline.compliance import Finding
    result = copy.deepcopy(plan_of("prod"))
    result.outputs["objectives"]["rpoMinutes"]["corruption"]["target"] = 1  # achievable is 5 min
    [east] = [p for p in result.of_type("kubernetes:karpenter.sh/v1:NodePool") if p.region == "us-east-1"]
    east.inputs["spec"]["limits"]["cpu"] = "8"  # the pool as built, whatever the stack file said
    violation = Finding("rule-x", "urn:pulumi:prod::mercur::x", "broken", True)
    first, *rest = plan.summary(result, [violation]).splitlines()
    assert first.startswith("mercur/prod FAIL: policies FAIL (1 violation, 0 advisories) · RPO FAIL (1 of 3 ")
    assert "RTO pass" in first and "capacity FAIL (NodePool limits hold the peak in 1 of 2 regions)" in first
    [holds] = [line for line in rest if line.startswith("  nodes ") and "(DOES NOT HOLD)" in line]
    assert "limits 8 vCPU / 256Gi < 24 vCPU" in holds
    assert "  [mandatory] rule-x: urn:pulumi:prod::mercur::x: broken" in rest
    assert any(line.startswith("  bad data written ") and " FAIL " in line for line in rest)


def test_prods_summary_fits_60_lines_and_the_type_counts_wait_for_types(plan_of) -> None:
    text = _summary(plan_of, "prod")
    assert len(text.splitlines()) <= 60 and "aws:ec2/subnet:Subnet" not in text
    typed = _summary(plan_of, "prod", types=True)
    west = Counter(r.type for r in plan_of("prod").resources if r.region == "us-west-1")
    block = typed[typed.index("us-west-1 · active"):typed.index("us-east-1 · passive")]
    assert all(re.search(rf"^    {re.escape(type_)} +{count}$", block, re.M) for type_, count in west.items())


def test_one_block_per_region_in_failover_order_with_azs_ranges_database_and_copies(plan_of) -> None:
    result = plan_of("prod")
    text = _summary(plan_of, "prod")
    west, east = text.index("\nus-west-1 · active · "), text.index("\nus-east-1 · passive · ")
    assert west < east
    block = text[west:east]
    assert block.splitlines()[1].endswith(f"{sum(1 for r in result.resources if r.region == 'us-west-1')} resources")
    for hpa in (r for r in result.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
                if r.region == "us-west-1"):
        spec = hpa.inputs["spec"]
        assert f"{spec['scaleTargetRef']['name']} {spec['minReplicas']}–{spec['maxReplicas']}" in block
    assert "Aurora mercur-prod-usw1 (writer)" in block and "→ copies to us-east-1" in block
    assert "(DOES NOT HOLD)" not in block and "(holds)" in block
    assert "unhealthy" not in text[east:text.index("\nDNS ")]  # us-east-1 holds them; the DNS block shows them


def test_azs_are_listed_by_zone_id_whatever_order_the_account_returns_them(plan_of) -> None:
    result = copy.deepcopy(plan_of("prod"))
    east = result.outputs["regions"]["us-east-1"]
    east["availabilityZoneIds"].reverse()
    east["availabilityZones"].reverse()
    network = next(line for line in plan.summary(result).splitlines()
                   if line.startswith("  network    VPC 10.31."))
    assert "(use1-az1 us-east-1b, use1-az2 us-east-1c, use1-az4 us-east-1d)" in network


def test_dns_and_the_region_switch_follow_the_regions(plan_of) -> None:
    text = _summary(plan_of, "prod")
    dns = text[text.index("DNS shop.mercur.example · failover record"):]
    assert dns.index("PRIMARY    → us-west-1 storefront") < dns.index("SECONDARY  → us-east-1 storefront")
    assert "mercur-prod-us-west-1-unhealthy" in dns and "Region switch mercur-prod-switch · approve → " in dns
    assert ("  answers    by the health checks the Region switch plan sets: DNS moves only with the switch, after "
            "the writer\n") in dns


def test_three_regions_show_the_nested_failover_set_in_summary_and_diagram(project) -> None:
    result = project.edit("prod", third_region).synthesize("prod", shared=True)
    text = plan.summary(result)
    assert ("  PRIMARY    → us-west-1 storefront load balancer\n"
            "  SECONDARY  → failover set standby-1.shop.mercur.example\n"
            "    PRIMARY  → us-east-1 storefront load balancer\n"
            "    SECONDARY → us-east-2 storefront load balancer\n") in text
    # The writer stays where it is when DNS fails over: no time to the first request is proven.
    first = text.splitlines()[0]
    assert "RTO FAIL (not proven: the writer does not move with DNS: no Region switch plan over 3 serving " \
           "regions)" in first and first.startswith("mercur/prod FAIL") and "in 3 of 3 regions" in first
    assert "RTO · target 30 min: NOT PROVEN, the writer does not move with DNS" in text
    edges = [line for line in diagram.mermaid(result).splitlines() if line.startswith("  dns ")]
    assert edges == ["  dns ==>|PRIMARY| lb_us_west_1", "  dns -.->|SECONDARY·PRIMARY| lb_us_east_1",
                     "  dns -.->|SECONDARY·SECONDARY| lb_us_east_2"]


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert plan.Style.for_stream(Terminal()).verdict(False) == "\033[1;31mFAIL\033[0m"
    assert plan.Style.for_stream(io.StringIO()).verdict(False) == "FAIL"
    monkeypatch.setenv("NO_COLOR", "1")
    assert plan.Style.for_stream(Terminal()).verdict(True) == "pass"


def test_plurals() -> None:
    assert [plan.plural(1, "resource"), plan.plural(2, "region"), plan.plural(0, "advisory", "advisories"),
            plan.plural(1, "AZ")] == ["1 resource", "2 regions", "0 advisories", "1 AZ"]


def test_the_rto_is_the_chain_from_the_failure_each_term_with_its_source(plan_of) -> None:
    text = _summary(plan_of, "prod")
    rto = plan_of("prod").outputs["objectives"]["rtoMinutes"]
    block = text[text.index("RTO from the failure to the first request"):].split("\n\n")[0].splitlines()
    assert block[0] == f"RTO from the failure to the first request · {rto['achievable']:.1f} of 30 min  pass"
    rows = [line.split() for line in block[1:8]]
    assert [(row[0], row[1], row[3]) for row in rows] == [
        ("detection", "90", "doc"), ("alarm", "120", "assumed"), ("decision", "900", "stack"),
        ("capacityAndWriter", "260", "assumed"), ("checksFlip", "10", "assumed"), ("dnsTtl", "60", "doc"),
        ("standbyServes", "0", "mechanism")]
    assert sum(int(row[1]) for row in rows) == round(rto["achievable"] * 60) == 1440
    assert "mercur:dr.decisionMinutes" in block[3]
    assert block[8] == "  assumed: alarm, decision, capacityAndWriter, checksFlip (1290 s of 1440); drills measure them"
    assert block[9].startswith("  not counted: a step that fails pauses the plan's execution")


def test_an_automatic_switch_counts_its_trigger_its_graceful_writer_timing_out_and_a_person(plan_of) -> None:
    """A trigger names no mode: its graceful writer step cannot finish with the region lost; it times out,
    the execution pauses and a person switches it to ungraceful."""
    first, *rest = _summary(plan_of, "staging").splitlines()
    assert "RTO pass (34.0 of 35 min from the failure)" in first
    names = [line.split()[0] for line in rest[rest.index(next(l for l in rest if l.startswith("RTO from"))) + 1:]
             if line.startswith("  ") and not line.startswith(("  assumed", "  not counted"))][:5]
    assert names == ["detection", "trigger", "writerTimeout", "decision", "capacityAndWriter"]
    assert any(line.startswith("  writerTimeout ") and " 360 s  mechanism " in line for line in rest)
    assert not any(line.startswith("  alarm ") for line in rest)