"""An app's public entry in one region: an Application Load Balancer the program owns, in front of the pods.

The program, not a Kubernetes controller, creates the load balancer and its target group, so everything the
alarms, the SLOs and the DNS records need (the CloudWatch dimensions, the alias target) is an output of this
deployment, known before any traffic flows. The cluster only keeps the target group's members in step with the
pods: a TargetGroupBinding (eks.amazonaws.com/v1, Auto Mode's load balancer controller) names this target group.

An ALB, not an NLB: it publishes what users feel (HTTP 5xx by origin, response time percentiles, connection
errors to targets), which a TCP/TLS NLB cannot see.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from ..config import AppConfig
from ..config.objectives import TARGET_HEALTH_INTERVAL_SECONDS, TARGET_HEALTHY_THRESHOLD
from .tags import PUBLIC_LISTENER_PORTS, PUBLIC_LISTENER_TAG

HTTP_PORT, TLS_PORT = PUBLIC_LISTENER_PORTS
# TLS 1.3 and 1.2 only (Elastic Load Balancing, "Security policies for your Application Load Balancer").
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# ELB names: at most 32 characters, letters, digits and hyphens (CreateLoadBalancer `Name`).
ELB_NAME_LENGTH = 32
# Auto Mode's controller may register and deregister targets only in target groups of its own cluster.
CLUSTER_TAG = "eks:eks-cluster-name"
# Pods stop within their grace period (workloads.TERMINATION_GRACE_SECONDS, 30 s): the target group drains them
# no longer than that.
DEREGISTRATION_DELAY_SECONDS = 30


def elb_name(label: str, app: str) -> str:
    """`<label>-<app>`, or, when that is longer than ELB allows, its first characters and a digest of the whole
    (still unique per region and app, and the same on every run)."""
    name = f"{label}-{app}"
    if len(name) <= ELB_NAME_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[:ELB_NAME_LENGTH - 7].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class EntryNetwork:
    """Where a region's load balancers live and whom they send to."""

    vpc_id: pulumi.Input[str]
    public_subnet_ids: Sequence[pulumi.Input[str]]
    # Auto Mode's nodes (and so the pods, which share the node's network interfaces' groups) carry the
    # cluster security group (cluster.node_class_spec).
    node_security_group_id: pulumi.Input[str]
    cluster_name: str


class PublicEntry(pulumi.ComponentResource):
    """Internet-facing ALB across the public subnets: HTTPS with the region's certificate (plain HTTP
    redirected to it), or plain HTTP where the stack has no certificate; forwarding to the app's pods by IP,
    health-checked on its health path. Only the listener ports are open to the internet, and the ALB reaches
    the nodes on the app's port only."""

    def __init__(self, name: str, *, app: AppConfig, label: str, network: EntryNetwork,
                 certificate_arn: str | None, tags: Mapping[str, str], protect: bool,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:entry:PublicEntry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        load_balancer_name = elb_name(label, app.name)
        group = aws.ec2.SecurityGroup(f"{name}-alb", vpc_id=network.vpc_id, name=f"{load_balancer_name}-alb",
                                      description=f"{app.name}: its public listeners, and the pods' port",
                                      tags={**tags, "Name": f"{load_balancer_name}-alb"}, opts=child)
        ports = (TLS_PORT, HTTP_PORT) if certificate_arn else (HTTP_PORT,)
        for port in ports:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-listener-{port}", security_group_id=group.id, ip_protocol="tcp", from_port=port,
                to_port=port, cidr_ipv4="0.0.0.0/0", description=f"clients to the public listener on {port}",
                tags={**tags, PUBLIC_LISTENER_TAG: "true"}, opts=child)
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-to-pods", security_group_id=group.id, ip_protocol="tcp", from_port=app.port, to_port=app.port,
            referenced_security_group_id=network.node_security_group_id,
            description=f"to {app.name}'s pods (health checks and requests)", tags=dict(tags), opts=child)
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-alb", security_group_id=network.node_security_group_id, ip_protocol="tcp",
            from_port=app.port, to_port=app.port, referenced_security_group_id=group.id,
            description=f"{app.name}'s load balancer to its pods", tags=dict(tags), opts=child)

        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb", name=load_balancer_name, load_balancer_type="application", internal=False,
            security_groups=[group.id], subnets=list(network.public_subnet_ids), ip_address_type="ipv4",
            drop_invalid_header_fields=True, desync_mitigation_mode="strictest",
            enable_deletion_protection=protect, idle_timeout=60, tags=dict(tags), opts=child)
        # Named after the app and its port. The provider deletes a named resource before replacing it, which
        # ELB refuses while a listener forwards to it: here the new group comes first (delete_before_replace
        # False), under the new name a new port gives it. Protocol, target type and VPC would also replace it
        # but are not in the name: changing one needs the name changed too (or the create finds it taken).
        self.target_group_name = elb_name(label, f"{app.name}-{app.port}")
        self.target_group = aws.lb.TargetGroup(
            f"{name}-pods", name=self.target_group_name, target_type="ip", protocol="HTTP", port=app.port,
            vpc_id=network.vpc_id, deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True, protocol="HTTP", path=app.health_path, port="traffic-port", matcher="200-399",
                interval=TARGET_HEALTH_INTERVAL_SECONDS, timeout=5, healthy_threshold=TARGET_HEALTHY_THRESHOLD,
                unhealthy_threshold=2),
            tags={**tags, CLUSTER_TAG: network.cluster_name},
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False))
        self._name, self._tags, self._certificate_arn = name, dict(tags), certificate_arn

        self.hostname = self.load_balancer.dns_name
        self.zone_id = self.load_balancer.zone_id
        self.target_group_arn = self.target_group.arn
        self.dimensions = {"LoadBalancer": self.load_balancer.arn_suffix, "TargetGroup": self.target_group.arn_suffix}
        self.register_outputs({"hostname": self.hostname, "targetGroupArn": self.target_group_arn})

    def listen(self, after: pulumi.Resource) -> None:
        """The listeners, once `after` (the binding that fills the target group) exists: a listener moved to a
        new group forwards to it at once, so the binding is asked for the pods first. Registering them and
        their first health checks still take some 20 to 40 s after that, in which the new group answers 503."""
        name, tags, child = self._name, self._tags, pulumi.ResourceOptions(parent=self, depends_on=[after])
        forward = [aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)]
        if self._certificate_arn:
            aws.lb.Listener(f"{name}-https", load_balancer_arn=self.load_balancer.arn, port=TLS_PORT,
                            protocol="HTTPS", ssl_policy=TLS_POLICY, certificate_arn=self._certificate_arn,
                            default_actions=forward, tags=tags, opts=child)
            to_https = aws.lb.ListenerDefaultActionRedirectArgs(port=str(TLS_PORT), protocol="HTTPS",
                                                                status_code="HTTP_301")
            aws.lb.Listener(f"{name}-http", load_balancer_arn=self.load_balancer.arn, port=HTTP_PORT,
                            protocol="HTTP", tags=tags, opts=child,
                            default_actions=[aws.lb.ListenerDefaultActionArgs(type="redirect", redirect=to_https)])
        else:
            aws.lb.Listener(f"{name}-http", load_balancer_arn=self.load_balancer.arn, port=HTTP_PORT,
                            protocol="HTTP", default_actions=forward, tags=tags, opts=child)
