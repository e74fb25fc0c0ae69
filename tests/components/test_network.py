"""mercur.components.network: subnet carving, and the VPC each region gets."""

from __future__ import annotations

import ipaddress
import json

import pytest

from mercur.components import network
from mercur.offline import synth

VPC = ipaddress.IPv4Network("10.30.0.0/16")


def test_subnets_are_disjoint_and_inside_the_vpc() -> None:
    plan = network.subnet_plan(VPC, ["a", "b", "c", "d"])
    subnets = [s.private for s in plan] + [s.public for s in plan]
    assert all(s.subnet_of(VPC) for s in subnets)
    assert all(not x.overlaps(y) for i, x in enumerate(subnets) for y in subnets[i + 1:])
    assert [str(s.private) for s in plan[:2]] == ["10.30.0.0/19", "10.30.32.0/19"]
    assert [str(s.public) for s in plan[:2]] == ["10.30.128.0/22", "10.30.132.0/22"]


def test_adding_an_az_never_renumbers_existing_subnets() -> None:
    zones = [network.Zone(f"usw1-az{n}") for n in (1, 3, 4)]
    two = network.subnet_plan(VPC, zones[:2])
    three = network.subnet_plan(VPC, zones)
    assert three[:2] == two


def test_smallest_allowed_vpc_still_fits_every_slot() -> None:
    plan = network.subnet_plan(ipaddress.IPv4Network("10.0.8.0/21"),
                              [network.Zone(f"{z}-id") for z in "abcd"])
    assert {s.private.prefixlen for s in plan} == {24} and {s.public.prefixlen for s in plan} == {27}


def test_more_zones_than_slots_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 4"):
        network.subnet_plan(VPC, [network.Zone(f"{z}-id") for z in "abcde"])


def _in(plan: synth.Plan, type_: str, region: str) -> list[synth.Resource]:
    return [r for r in plan.of_type(type_) if r.region == region]


def test_public_and_private_subnet_per_az(stack_plan) -> None:
    for region, details in stack_plan.outputs["regions"].items():
        subnets = _in(stack_plan, "aws:ec2/subnet:Subnet", region)
        zones = details["availabilityZoneIds"]
        assert len(zones) >= 2
        for tier, elb_tag in (("public", "kubernetes.io/role/elb"), ("private", "kubernetes.io/role/internal-elb")):
            tiered = [s for s in subnets if s.inputs["tags"]["mercur:tier"] == tier]
            assert [s.inputs["availabilityZoneId"] for s in sorted(tiered, key=lambda s: s.inputs["cidrBlock"])] \
                == zones
            assert all(s.inputs["tags"][elb_tag] == "1" for s in tiered)
        assert not any(s.inputs["mapPublicIpOnLaunch"] for s in subnets)


def test_vpc_has_dns_and_the_configured_cidr(plan_of) -> None:
    vpcs = {v.region: v.inputs for v in plan_of("prod").of_type("aws:ec2/vpc:Vpc")}
    assert {r: v["cidrBlock"] for r, v in vpcs.items()} == {"us-west-1": "10.30.0.0/16", "us-east-1": "10.31.0.0/16"}
    assert all(v["enableDnsSupport"] and v["enableDnsHostnames"] for v in vpcs.values())


@pytest.mark.parametrize("stack, expected", [("dev", {"us-west-1": 1}), ("staging", {"us-west-1": 1, "us-east-1": 1}),
                                             ("prod", {"us-west-1": 2, "us-east-1": 3})])
def test_nat_gateway_count_follows_the_strategy(plan_of, stack, expected) -> None:
    nats = plan_of(stack).of_type("aws:ec2/natGateway:NatGateway")
    assert {r: sum(1 for n in nats if n.region == r) for r in expected} == expected


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_private_subnets_route_egress_through_a_nat_in_the_vpc(plan_of, stack) -> None:
    """per-az: each private subnet through the NAT in its own zone; single: all through the one NAT."""
    plan = plan_of(stack)
    for association in plan.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation"):
        subnet = plan.by_id(association.inputs["subnetId"])
        if subnet.inputs["tags"]["mercur:tier"] != "private":
            continue
        [route] = [r for r in plan.by_id(association.inputs["routeTableId"]).inputs["routes"]
                   if r["cidrBlock"] == "0.0.0.0/0"]
        nat_subnet = plan.by_id(plan.by_id(route["natGatewayId"]).inputs["subnetId"])
        assert nat_subnet.inputs["tags"]["mercur:tier"] == "public"
        assert nat_subnet.inputs["vpcId"] == subnet.inputs["vpcId"]
        if stack == "prod":
            assert nat_subnet.inputs["availabilityZoneId"] == subnet.inputs["availabilityZoneId"]


def test_without_nat_nodes_reach_aws_through_interface_endpoints(project) -> None:
    plan = project.edit("dev", lambda v: v["mercur:network"].update(natGateways="none")).synthesize("dev")
    assert not plan.of_type("aws:ec2/natGateway:NatGateway")
    private_tables = [t for t in plan.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in t.name]
    assert all(not t.inputs.get("routes") for t in private_tables)
    interface = [e for e in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs["vpcEndpointType"] == "Interface"]
    services = {e.inputs["serviceName"].removeprefix("com.amazonaws.us-west-1.") for e in interface}
    assert services == set(network.PRIVATE_LINK_SERVICES)
    [group] = [g for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name.endswith("-endpoints-sg")]
    assert [rule["cidrBlocks"] for rule in group.inputs["ingress"]] == [["10.10.0.0/16"]]


def test_s3_gateway_endpoint_serves_the_private_route_tables(plan_of) -> None:
    plan = plan_of("prod")
    for region in ("us-west-1", "us-east-1"):
        [s3] = [e for e in _in(plan, "aws:ec2/vpcEndpoint:VpcEndpoint", region) if e.inputs["vpcEndpointType"] == "Gateway"]
        assert s3.inputs["serviceName"] == f"com.amazonaws.{region}.s3"
        private_tables = {t.name for t in _in(plan, "aws:ec2/routeTable:RouteTable", region) if "-private-" in t.name}
        assert len(s3.inputs["routeTableIds"]) == len(private_tables) == len(plan.outputs["regions"][region]["availabilityZones"])


def test_default_security_group_is_closed(stack_plan) -> None:
    for group in stack_plan.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"):
        assert not group.inputs.get("ingress") and not group.inputs.get("egress")


def test_flow_logs_capture_all_traffic_into_a_retained_encrypted_group(plan_of) -> None:
    plan = plan_of("prod")
    for log in plan.of_type("aws:ec2/flowLog:FlowLog"):
        group = next(g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
                     if g.region == log.region and g.inputs["name"].endswith("/flow-logs"))
        key = plan.by_id(group.inputs["kmsKeyId"].rsplit("/", 1)[1])
        assert log.inputs["trafficType"] == "ALL" and log.inputs["logDestination"].endswith(group.inputs["name"])
        assert group.inputs["retentionInDays"] == 365
        assert key.type == "aws:kms/key:Key" and key.region == log.region and key.name.endswith("-platform-key")


def test_flow_log_role_may_only_write_its_own_group(plan_of) -> None:
    policies = [p for p in plan_of("dev").of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-flow-logs")]
    assert len(policies) == 1
    for policy in policies:
        [statement] = json.loads(policy.inputs["policy"])["Statement"]
        assert "*" not in statement["Resource"] and all(":log-group:/vpc/" in r for r in statement["Resource"])
        assert all(action.startswith("logs:") and "*" not in action for action in statement["Action"])


def test_zones_come_from_the_region_table_by_id_and_no_region_is_asked(plan_of) -> None:
    """The first zones by id where EKS runs (use1-az3 and usw1-az2 left out), with no call into the region:
    a plan or an `up` runs while it is down."""
    plan = plan_of("prod")
    assert not [call for call in plan.calls if call[0].endswith("getAvailabilityZones")]
    for region, details in plan.outputs["regions"].items():
        ids = sorted({s.inputs["availabilityZoneId"] for s in plan.of_type("aws:ec2/subnet:Subnet")
                      if s.region == region})
        assert ids == details["availabilityZoneIds"] == {"us-west-1": ["usw1-az1", "usw1-az3"],
                                                         "us-east-1": ["use1-az1", "use1-az2", "use1-az4"]}[region]
        # The letters are EC2's answer for this account, read back from the subnets.
        assert sorted(details["availabilityZones"]) == sorted(
            dict((i, z) for z, i in synth.ACCOUNT_ZONES[region])[zone_id] for zone_id in ids)