"""Active/passive DNS failover between the regions' load balancers (Route53), watched from us-east-1.

Alias A records point straight at each region's NLB (no extra hop, no TTL of our own: resolvers get the
load balancer's 60 s). The first region is PRIMARY; the next is SECONDARY; with three or more regions the
SECONDARY aliases a nested failover set of the remaining regions, in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from ..config import REGIONS, DnsConfig
from .keys import PUBLISH_ENCRYPTED, from_account, key_policy

# Route53 publishes health-check metrics to CloudWatch in us-east-1 only.
METRICS_REGION = "us-east-1"


@dataclass(frozen=True)
class Endpoint:
    """One region's public entry point: its load balancer's hostname and how to probe it."""

    region: str
    hostname: pulumi.Output[str]
    health_path: str


def alarm_topic_key_policy(partition: str, account: str) -> str:
    """CloudWatch alarms may publish to a topic encrypted with this key (the AWS-managed SNS key forbids it)."""
    return key_policy(partition, account, sid="CloudWatchPublishesAlarms", service="cloudwatch.amazonaws.com",
                      actions=PUBLISH_ENCRYPTED, condition=from_account(account))


class Failover(pulumi.ComponentResource):
    """Health checks and alarms per region, and the record (failover chain) the application answers on."""

    def __init__(self, name: str, *, dns: DnsConfig, endpoints: Sequence[Endpoint], label: str,
                 default_tags: Mapping[str, str], protect: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:failover:Failover", name, None, opts)
        self.provider = aws.Provider(f"{name}-{METRICS_REGION}", region=METRICS_REGION,
                                     default_tags=aws.ProviderDefaultTagsArgs(tags=dict(default_tags)),
                                     opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self._dns, self._child = dns, child

        if dns.create_zone:
            zone = aws.route53.Zone(f"{name}-zone", name=dns.zone, comment=f"{label}: application records",
                                    opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=protect)))
            self.zone_id: pulumi.Input[str] = zone.zone_id
        else:
            self.zone_id = aws.route53.get_zone(name=dns.zone, private_zone=False,
                                                opts=pulumi.InvokeOptions(provider=self.provider)).zone_id

        identity = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=self.provider))
        key = aws.kms.Key(f"{name}-alerts-key", description=f"{label}: failover alarm notifications",
                          enable_key_rotation=True, deletion_window_in_days=30, opts=child,
                          policy=alarm_topic_key_policy(identity.arn.split(":")[1], identity.account_id))
        self.alerts = aws.sns.Topic(f"{name}-alerts", name=f"{label}-failover-alerts", kms_master_key_id=key.arn,
                                    opts=child)
        aws.sns.TopicPolicy(f"{name}-alerts", arn=self.alerts.arn, opts=child,
                            policy=self.alerts.arn.apply(lambda arn: json.dumps({
                                "Version": "2012-10-17", "Statement": [{
                                    "Sid": "CloudWatchPublishes", "Effect": "Allow",
                                    "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
                                    "Resource": arn,
                                    "Condition": {"StringEquals": {"aws:SourceAccount": identity.account_id}}}]})))

        self.health_checks = {endpoint.region: self._watch(name, label, endpoint) for endpoint in endpoints}
        # An NLB's canonical hosted zone is a published constant per region (the provider's own
        # `lb.get_hosted_zone_id` reads the same table): no provider call, no import of the lb module.
        self._nlb_zones = {e.region: REGIONS[e.region].nlb_hosted_zone_id for e in endpoints}
        if len(endpoints) == 1:
            self._record(f"{name}-record", dns.record, endpoints[0], policy=None)
        else:
            self._failover_set(name, dns.record, list(endpoints))

        scheme = "https" if dns.tls else "http"
        self.url = f"{scheme}://{dns.record}"
        self.register_outputs({"url": self.url, "zoneId": self.zone_id})

    def _watch(self, name: str, label: str, endpoint: Endpoint) -> aws.route53.HealthCheck:
        """A health check on the region's own load balancer, and an alarm when it fails."""
        dns = self._dns
        check = aws.route53.HealthCheck(
            f"{name}-{endpoint.region}", fqdn=endpoint.hostname, type="HTTPS" if dns.tls else "HTTP",
            port=443 if dns.tls else 80, resource_path=endpoint.health_path,
            request_interval=dns.interval_seconds, failure_threshold=dns.failure_threshold, measure_latency=True,
            tags={"Name": f"{label}-{endpoint.region}", "mercur:region": endpoint.region}, opts=self._child)
        aws.cloudwatch.MetricAlarm(
            f"{name}-{endpoint.region}-unhealthy", name=f"{label}-{endpoint.region}-unhealthy",
            alarm_description=f"Route53 sees {endpoint.region}'s endpoint failing {endpoint.health_path}",
            namespace="AWS/Route53", metric_name="HealthCheckStatus", dimensions={"HealthCheckId": check.id},
            statistic="Minimum", period=60, evaluation_periods=1, threshold=1,
            comparison_operator="LessThanThreshold", treat_missing_data="breaching",
            alarm_actions=[self.alerts.arn], ok_actions=[self.alerts.arn], opts=self._child)
        return check

    def _record(self, name: str, record: str, endpoint: Endpoint, policy: str | None) -> aws.route53.Record:
        failover = {"set_identifier": endpoint.region, "health_check_id": self.health_checks[endpoint.region].id,
                    "failover_routing_policies": [aws.route53.RecordFailoverRoutingPolicyArgs(type=policy)]} \
            if policy else {}
        return aws.route53.Record(
            name, zone_id=self.zone_id, name=record, type="A", opts=self._child,
            aliases=[aws.route53.RecordAliasArgs(name=endpoint.hostname, zone_id=self._nlb_zones[endpoint.region],
                                                 evaluate_target_health=True)], **failover)

    def _failover_set(self, name: str, record: str, endpoints: list[Endpoint], depth: int = 0) -> None:
        first, rest = endpoints[0], endpoints[1:]
        self._record(f"{name}-{first.region}-primary", record, first, "PRIMARY")
        if len(rest) == 1:
            self._record(f"{name}-{rest[0].region}-secondary", record, rest[0], "SECONDARY")
            return
        # Three or more regions: the SECONDARY answers with a nested failover set of the rest, in order.
        nested = f"standby-{depth + 1}.{record}"
        aws.route53.Record(
            f"{name}-standby-{depth + 1}-secondary", zone_id=self.zone_id, name=record, type="A",
            set_identifier=f"standby-{depth + 1}", opts=self._child,
            failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type="SECONDARY")],
            aliases=[aws.route53.RecordAliasArgs(name=nested, zone_id=self.zone_id, evaluate_target_health=True)])
        self._failover_set(f"{name}-standby-{depth + 1}", nested, rest, depth + 1)
