"""One region's VPC: public and private subnets per AZ, egress, flow logs, endpoints."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_aws as aws

from ..config import (MAX_AZS, PRIVATE_SUBNET_BITS, PUBLIC_SUBNET_BITS, REGIONS, DeployNetwork, NatGateways,
                      NetworkConfig, RegionConfig)

# Reached through interface endpoints when there is no NAT: what nodes need to join EKS and pull images.
# Without NAT, what nodes and pods reach AWS through: images, credentials (STS; Pod Identity's eks-auth), EKS
# Auto Mode's node and load-balancer calls, logs, and the master secret the database bootstrap reads.
PRIVATE_LINK_SERVICES = ("ecr.api", "ecr.dkr", "sts", "eks", "eks-auth", "ec2", "logs", "elasticloadbalancing",
                         "secretsmanager")


@dataclass(frozen=True)
class Zone:
    """An AZ by its id: the same physical zone in every account (letters differ per account)."""

    id: str


@dataclass(frozen=True)
class SubnetPlan:
    zone: Zone
    private: ipaddress.IPv4Network
    public: ipaddress.IPv4Network


def subnet_plan(vpc_cidr: ipaddress.IPv4Network, zones: Sequence[Zone]) -> tuple[SubnetPlan, ...]:
    """Carve fixed per-slot subnets: zone i always gets slot i, so adding a zone renumbers nothing.

    The first half of the VPC holds the private subnets (nodes and pods need the addresses); the next
    eighth holds the small public subnets (load balancers, NAT gateways); the rest stays free.
    """
    if len(zones) > MAX_AZS:
        raise ValueError(f"at most {MAX_AZS} zones fit the subnet layout, got {len(zones)}")
    private = list(vpc_cidr.subnets(prefixlen_diff=PRIVATE_SUBNET_BITS))
    public_block = private[MAX_AZS]
    public = list(public_block.subnets(prefixlen_diff=PUBLIC_SUBNET_BITS - PRIVATE_SUBNET_BITS))
    return tuple(SubnetPlan(zone, private[i], public[i]) for i, zone in enumerate(zones))


def zones_of(region: str, wanted: int) -> list[Zone]:
    """The first `wanted` standard zones by zone id that EKS supports, from the region table: the same
    physical zones whatever letters an account gives them, and no call into the region, so a preview or an
    `up` runs while it is down. (Stack validation refused a count the region does not offer.)"""
    facts = REGIONS[region]
    return [Zone(zone_id) for zone_id in sorted(facts.eks_zone_ids)][:wanted]


class Network(pulumi.ComponentResource):
    """VPC across the given zones; exposes subnet ids for the cluster.

    Every resource inherits the region's AWS provider from the parent chain.
    """

    def __init__(self, name: str, *, region: RegionConfig, network: NetworkConfig, zones: Sequence[Zone],
                 cluster_name: str, log_key_arn: pulumi.Input[str], label: str, deployer: DeployNetwork | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._name, self._label = name, label
        plan = subnet_plan(region.cidr, zones)

        self.vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=str(region.cidr), enable_dns_support=True,
                               enable_dns_hostnames=True, tags=self._tags("vpc"), opts=child)
        vpc_opts = pulumi.ResourceOptions(parent=self.vpc)
        # Managing the default security group with no rules strips AWS's allow-all defaults (CKV2_AWS_12).
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=self.vpc.id,
                                     tags=self._tags("default-closed"), opts=vpc_opts)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=self._tags("igw"),
                                          opts=vpc_opts)

        cluster_tag = {f"kubernetes.io/cluster/{cluster_name}": "shared"}
        public_subnets, private_subnets = [], []
        for slot in plan:
            # Placed by zone id: the subnet stays in its physical zone in every account.
            public_subnets.append(aws.ec2.Subnet(
                f"{name}-public-{slot.zone.id}", vpc_id=self.vpc.id, cidr_block=str(slot.public),
                availability_zone_id=slot.zone.id, map_public_ip_on_launch=False,
                tags={**self._tags(f"public-{slot.zone.id}"), **cluster_tag, "kubernetes.io/role/elb": "1",
                      "mercur:tier": "public"},
                opts=vpc_opts))
            private_subnets.append(aws.ec2.Subnet(
                f"{name}-private-{slot.zone.id}", vpc_id=self.vpc.id, cidr_block=str(slot.private),
                availability_zone_id=slot.zone.id, map_public_ip_on_launch=False,
                tags={**self._tags(f"private-{slot.zone.id}"), **cluster_tag,
                      "kubernetes.io/role/internal-elb": "1", "mercur:tier": "private"},
                opts=vpc_opts))

        public_routes = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id, tags=self._tags("public"),
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            opts=vpc_opts)
        for slot, subnet in zip(plan, public_subnets):
            aws.ec2.RouteTableAssociation(f"{name}-public-rta-{slot.zone.id}", subnet_id=subnet.id,
                                          route_table_id=public_routes.id, opts=vpc_opts)

        # The deployer's network (CI runners), through the region's Transit Gateway: routes for its ranges
        # only, so the private cluster API is reachable from CI and nothing else is.
        gateway_id = deployer.transit_gateways[region.name] if deployer else None
        self.deployer_attachment = aws.ec2transitgateway.VpcAttachment(
            f"{name}-deployer", transit_gateway_id=gateway_id, vpc_id=self.vpc.id,
            subnet_ids=[s.id for s in private_subnets], dns_support="enable", tags=self._tags("deployer"),
            opts=vpc_opts) if deployer else None
        deployer_routes = [aws.ec2.RouteTableRouteArgs(cidr_block=cidr, transit_gateway_id=gateway_id)
                           for cidr in deployer.cidrs] if deployer else []
        table_opts = pulumi.ResourceOptions.merge(vpc_opts, pulumi.ResourceOptions(
            depends_on=[self.deployer_attachment] if self.deployer_attachment else []))

        nats = self._nat_gateways(network.nat_gateways, plan, public_subnets, gateway, vpc_opts)
        private_route_tables = []
        self.deploy_path: list[pulumi.Resource] = [self.deployer_attachment] if self.deployer_attachment else []
        for index, (slot, subnet) in enumerate(zip(plan, private_subnets)):
            # One table per zone whatever the NAT strategy: switching strategy only changes routes.
            nat = nats[index] if len(nats) > 1 else (nats[0] if nats else None)
            routes = [aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)] if nat else []
            table = aws.ec2.RouteTable(f"{name}-private-rt-{slot.zone.id}", vpc_id=self.vpc.id,
                                       routes=routes + deployer_routes, tags=self._tags(f"private-{slot.zone.id}"),
                                       opts=table_opts)
            association = aws.ec2.RouteTableAssociation(f"{name}-private-rta-{slot.zone.id}", subnet_id=subnet.id,
                                                        route_table_id=table.id, opts=vpc_opts)
            private_route_tables.append(table)
            if deployer:
                self.deploy_path += [table, association]

        aws.ec2.VpcEndpoint(f"{name}-s3", vpc_id=self.vpc.id, service_name=f"com.amazonaws.{region.name}.s3",
                            vpc_endpoint_type="Gateway", route_table_ids=[t.id for t in private_route_tables],
                            tags=self._tags("s3"), opts=vpc_opts)
        if network.nat_gateways is NatGateways.NONE:
            self._private_link(region, private_subnets, vpc_opts)
        self._flow_logs(network, log_key_arn, vpc_opts)

        self.zones = list(zones)
        self.deployer_cidrs = tuple(deployer.cidrs) if deployer else ()
        self.vpc_id = self.vpc.id
        self.public_subnet_ids = [s.id for s in public_subnets]
        self.private_subnet_ids = [s.id for s in private_subnets]
        self.zone_names = [s.availability_zone for s in private_subnets]  # this account's letters, from EC2
        self.nat_gateway_count = len(nats)
        self.nat_gateway_ids = [nat.id for nat in nats]
        self.register_outputs({"vpcId": self.vpc_id, "privateSubnetIds": self.private_subnet_ids,
                               "publicSubnetIds": self.public_subnet_ids})

    def _tags(self, role: str) -> dict[str, str]:
        return {"Name": f"{self._label}-{role}"}

    def _nat_gateways(self, strategy: NatGateways, plan: Sequence[SubnetPlan], public_subnets: list,
                      gateway: aws.ec2.InternetGateway, opts: pulumi.ResourceOptions) -> list:
        count = {NatGateways.NONE: 0, NatGateways.SINGLE: 1, NatGateways.PER_AZ: len(plan)}[strategy]
        nats = []
        for slot, subnet in list(zip(plan, public_subnets))[:count]:
            address = aws.ec2.Eip(f"{self._name}-nat-eip-{slot.zone.id}", domain="vpc",
                                  tags=self._tags(f"nat-{slot.zone.id}"), opts=opts)
            nats.append(aws.ec2.NatGateway(
                f"{self._name}-nat-{slot.zone.id}", allocation_id=address.allocation_id, subnet_id=subnet.id,
                connectivity_type="public", tags=self._tags(f"nat-{slot.zone.id}"),
                opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[gateway]))))
        return nats

    def _private_link(self, region: RegionConfig, private_subnets: list, opts: pulumi.ResourceOptions) -> None:
        endpoint_sg = aws.ec2.SecurityGroup(
            f"{self._name}-endpoints-sg", vpc_id=self.vpc.id, description="HTTPS from inside the VPC to AWS APIs",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443,
                                                      cidr_blocks=[str(region.cidr)],
                                                      description="HTTPS from the VPC")],
            tags=self._tags("endpoints"), opts=opts)
        for service in PRIVATE_LINK_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{self._name}-{service.replace('.', '-')}", vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{region.name}.{service}", vpc_endpoint_type="Interface",
                private_dns_enabled=True, subnet_ids=[s.id for s in private_subnets],
                security_group_ids=[endpoint_sg.id], tags=self._tags(service), opts=opts)

    def _flow_logs(self, network: NetworkConfig, key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
        """Every packet decision recorded to an encrypted, retained log group (CKV2_AWS_11, CKV_AWS_158)."""
        group = aws.cloudwatch.LogGroup(f"{self._name}-flow-logs", name=f"/vpc/{self._label}/flow-logs",
                                        retention_in_days=network.flow_log_retention_days, kms_key_id=key_arn,
                                        opts=opts)
        role = aws.iam.Role(f"{self._name}-flow-logs", assume_role_policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                           "Action": "sts:AssumeRole"}],
        }), opts=opts)
        aws.iam.RolePolicy(f"{self._name}-flow-logs", role=role.id, policy=group.arn.apply(lambda arn: json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow",
                           "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                           "Resource": [arn, f"{arn}:*"]}],
        })), opts=opts)
        aws.ec2.FlowLog(f"{self._name}-flow-log", vpc_id=self.vpc.id, traffic_type="ALL",
                        log_destination_type="cloud-watch-logs", log_destination=group.arn,
                        iam_role_arn=role.arn, max_aggregation_interval=60, tags=self._tags("flow-log"), opts=opts)
