"""mercur.offline.diagram: the Mermaid deployment diagram shows every region, AZ, failover and backup edge."""

from __future__ import annotations

import re

from mercur.offline import diagram


def test_every_region_az_vpc_cluster_and_app_appears(stack_plan) -> None:
    text = diagram.mermaid(stack_plan)
    assert text.startswith("flowchart TB\n")
    for region, details in stack_plan.outputs["regions"].items():
        assert f'["{region} (' in text
        for zone in details["availabilityZoneIds"]:
            assert f'["{zone}"]' in text
        assert f"EKS {details['clusterName']}" in text
        for app in details["endpoints"]:
            assert re.search(rf'{diagram._id("app", region, app)}\(\["{app} x\d+"\]\)', text)
    assert text.count("subgraph") == sum(1 for line in text.splitlines() if line.strip() == "end")


def test_failover_edges_point_at_each_regions_app(plan_of) -> None:
    text = diagram.mermaid(plan_of("prod"))
    assert 'dns_shop_mercur_example ==>|PRIMARY| app_us_west_1_storefront' in text
    assert 'dns_shop_mercur_example -.->|SECONDARY| app_us_east_1_storefront' in text


def test_backup_copy_edges_follow_the_ring(plan_of) -> None:
    text = diagram.mermaid(plan_of("staging"))
    assert "vault_us_west_1 -.->|backup copy| vault_us_east_1" in text
    assert "vault_us_east_1 -.->|backup copy| vault_us_west_1" in text
    assert "backup copy" not in diagram.mermaid(plan_of("dev"))


def test_dev_has_one_plain_record(plan_of) -> None:
    text = diagram.mermaid(plan_of("dev"))
    assert "|ALIAS| app_us_west_1_storefront" in text and "PRIMARY" not in text
