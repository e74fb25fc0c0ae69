"""Whole-program tests over the three checked-in stack files."""

from __future__ import annotations

from collections import Counter

import pytest

from mercur.config import REGIONS

EXPECTED_REGIONS = {"dev": ["us-west-1"], "staging": ["us-west-1", "us-east-1"], "prod": ["us-west-1", "us-east-1"]}


def test_one_vpc_and_one_cluster_per_region(stack_plan) -> None:
    regions = EXPECTED_REGIONS[stack_plan.stack]
    for type_ in ("aws:ec2/vpc:Vpc", "eks:index:Cluster", "mercur:network:Network", "mercur:cluster:Cluster",
                  "pulumi:providers:kubernetes"):
        assert Counter(r.region for r in stack_plan.of_type(type_)) == Counter(regions), type_


def test_subnets_span_at_least_two_azs_per_region(stack_plan) -> None:
    for region in EXPECTED_REGIONS[stack_plan.stack]:
        zones = {s.inputs["availabilityZoneId"] for s in stack_plan.of_type("aws:ec2/subnet:Subnet")
                 if s.region == region}
        assert len(zones) >= 2 and zones <= set(REGIONS[region].zone_ids) - set(REGIONS[region].eks_unsupported_zone_ids)


def test_prod_uses_every_usable_az_up_to_three(plan_of) -> None:
    zones = plan_of("prod").outputs["regions"]
    assert {r: len(d["availabilityZones"]) for r, d in zones.items()} == {"us-west-1": 2, "us-east-1": 3}


@pytest.mark.parametrize("stack, nats", [("dev", 1), ("staging", 2), ("prod", 5)])
def test_nat_gateways_per_environment(plan_of, stack, nats) -> None:
    assert len(plan_of(stack).of_type("aws:ec2/natGateway:NatGateway")) == nats


def test_no_world_open_ingress_anywhere(stack_plan) -> None:
    for resource in stack_plan.resources:
        for rule in resource.inputs.get("ingress") or []:
            assert "0.0.0.0/0" not in rule.get("cidrBlocks", []), resource.urn


def test_only_prod_protects_stateful_resources(stack_plan) -> None:
    protected = {r.type for r in stack_plan.resources if r.protect}
    expected = {"aws:kms/key:Key", "eks:index:Cluster", "aws:backup/vault:Vault",
                "aws:backup/vaultLockConfiguration:VaultLockConfiguration", "aws:rds/globalCluster:GlobalCluster",
                "aws:rds/cluster:Cluster", "aws:rds/clusterInstance:ClusterInstance",
                "aws:secretsmanager/secret:Secret"}
    assert protected == (expected if stack_plan.stack == "prod" else set())
