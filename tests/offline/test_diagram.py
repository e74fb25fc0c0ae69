"""mercur.offline.diagram: the Mermaid deployment diagram, and prod's committed rendering in docs/."""

from __future__ import annotations

import copy
import hashlib
import re

from conftest import ROOT
from mercur.offline import diagram


def _subgraphs(text: str) -> list[str]:
    return re.findall(r"^\s*subgraph (\w+)\[", text, re.M)


def test_every_region_az_cluster_load_balancer_and_app_appears(stack_plan) -> None:
    text = diagram.mermaid(stack_plan)
    assert text.startswith("---\ntitle: \"mercur/") and "\nflowchart TB\n" in text
    for region, details in stack_plan.outputs["regions"].items():
        assert f'["{region} · ' in text
        for zone in details["availabilityZoneIds"]:
            assert f'{diagram._id("az", zone)}["{zone} · ' in text
        assert f"EKS {details['clusterName']}" in text and diagram._id("lb", region) in text
        for hpa in (r for r in stack_plan.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
                    if r.region == region):
            spec = hpa.inputs["spec"]
            assert f"{spec['scaleTargetRef']['name']} ×{spec['minReplicas']}–{spec['maxReplicas']}" in text
    assert text.count("subgraph") == sum(1 for line in text.splitlines() if line.strip() == "end")


def test_the_active_region_comes_first_coloured_apart_from_the_passive(plan_of) -> None:
    text = diagram.mermaid(plan_of("prod"))
    assert text.index('["us-west-1 · active"]') < text.index('["us-east-1 · passive"]')
    assert "  class region_us_west_1 active\n" in text and "  class region_us_east_1 passive\n" in text
    assert 'title: "mercur/prod · us-west-1 active, us-east-1 passive"' in text


def test_azs_are_drawn_in_zone_id_order_whatever_order_resources_come_in(plan_of) -> None:
    result = copy.deepcopy(plan_of("prod"))
    result.resources.reverse()
    text = diagram.mermaid(result)
    zones = re.findall(r"^      az_(use1_az\d)\[", text, re.M)
    assert zones == ["use1_az1", "use1_az2", "use1_az4"]
    assert "private 10.31.0.0/19<br/>public 10.31.128.0/22" in text  # subnets by address within an AZ


def test_dns_and_health_checks_lead_to_each_regions_load_balancer(plan_of) -> None:
    text = diagram.mermaid(plan_of("prod"))
    assert "  dns ==>|PRIMARY| lb_us_west_1\n" in text and "  dns -.->|SECONDARY| lb_us_east_1\n" in text
    assert "  check_us_west_1 -.-|checks| lb_us_west_1\n" in text
    assert "switch[[\"Region switch plan mercur-prod-switch" in text and "switch -.->|flips| dns" in text
    assert _subgraphs(text)[0] == "route53"


def test_the_global_database_joins_writer_and_replica(plan_of) -> None:
    text = diagram.mermaid(plan_of("prod"))
    assert "  db_us_west_1 ===|writer| gdb\n" in text and "  db_us_east_1 ---|replica| gdb\n" in text
    assert "storage replication us-west-1 → us-east-1<br/>apps in every region use its writer endpoint" in text
    assert not re.search(r"eks_\w+ -+> db_", text)  # no app talks to its own region's replica
    assert "gdb" not in diagram.mermaid(plan_of("dev"))


def test_backup_copies_between_two_vaults_are_one_two_way_edge(plan_of) -> None:
    text = diagram.mermaid(plan_of("staging"))
    assert text.count("|backup copies|") == 1
    assert "  vault_us_east_1 <-.->|backup copies| vault_us_west_1\n" in text
    assert "|backup copies|" not in diagram.mermaid(plan_of("dev"))


def test_dev_has_one_alias_record_and_a_legend(plan_of) -> None:
    text = diagram.mermaid(plan_of("dev"))
    assert "  dns ==>|ALIAS| lb_us_west_1\n" in text and "PRIMARY" not in text
    assert 'subgraph legend["Legend"]' in text and "amber" not in text


def test_the_committed_prod_diagram_is_what_plan_prod_out_writes_today(plan_of, tmp_path) -> None:
    """docs/prod-diagram.mmd (rendered into docs/prod-diagram.png by `make diagram`) must not go stale."""
    from mercur.offline import compliance, plan
    result = plan_of("prod")
    plan.write(result, compliance.evaluate(result, "prod"), tmp_path)
    assert (ROOT / "docs" / "prod-diagram.mmd").read_text() == (tmp_path / "diagram.mmd").read_text()
    mmd = (ROOT / "docs" / "prod-diagram.mmd").read_bytes()
    rendered_from = (ROOT / "docs" / "prod-diagram.png.sha256").read_text().split()[0]
    assert rendered_from == hashlib.sha256(mmd).hexdigest(), "run `make diagram`: the PNG shows an older .mmd"
    png = (ROOT / "docs" / "prod-diagram.png").read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and 1.0 <= width / height <= 2.0
    assert "(docs/prod-diagram.png)" in (ROOT / "README.md").read_text()
