"""Active/passive DNS failover between the regions' load balancers (Route53), watched from us-east-1.

Alias A records point straight at each region's ALB (no extra hop, no TTL of our own: resolvers get the
load balancer's 60 s). The first region is PRIMARY; the next is SECONDARY; with three or more regions the
SECONDARY aliases a nested failover set of the remaining regions, in order. Records are named after their
region, not their role: reordering the regions (a permanent failover) updates them in place.

A zone the stack creates (dev) is signed with DNSSEC and logs its queries.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from ..config import AlertsConfig, DnsConfig
from ..config.regions import PARTITION
from .keys import PUBLISH_ENCRYPTED, from_account, key_policy, logs_may_encrypt, service_statement

# Route53 publishes health-check metrics to CloudWatch in us-east-1 only.
METRICS_REGION = "us-east-1"


@dataclass(frozen=True)
class Endpoint:
    """One region's public entry point: its load balancer's hostname and hosted zone (the alias target), and
    how to probe it."""

    region: str
    hostname: pulumi.Output[str]
    zone_id: pulumi.Output[str]
    health_path: str


def alarm_topic_key_policy(partition: str, account: str) -> str:
    """CloudWatch alarms may publish to a topic encrypted with this key (the AWS-managed SNS key forbids it);
    CloudWatch Logs encrypts the zone's query log with it."""
    policy = json.loads(key_policy(partition, account, sid="CloudWatchPublishesAlarms",
                                   service="cloudwatch.amazonaws.com", actions=PUBLISH_ENCRYPTED,
                                   condition=from_account(account)))
    policy["Statement"].append(logs_may_encrypt(partition, account, METRICS_REGION))
    return json.dumps(policy)


def dnssec_key_policy(partition: str, account: str) -> str:
    """Route53 signs the zone with this asymmetric key (the KSK), for this account's zones only; it also
    holds a grant on it for as long as the KSK exists (Route53 Developer Guide, "Working with customer managed
    keys for DNSSEC")."""
    own_zones = {"StringEquals": {"aws:SourceAccount": account},
                 "ArnLike": {"aws:SourceArn": f"arn:{partition}:route53:::hostedzone/*"}}
    policy = json.loads(key_policy(partition, account, sid="Route53DnssecSigns",
                                   service="dnssec-route53.amazonaws.com",
                                   actions=("kms:DescribeKey", "kms:GetPublicKey", "kms:Sign"), condition=own_zones))
    policy["Statement"].append(service_statement(
        "Route53DnssecHoldsAGrant", "dnssec-route53.amazonaws.com", ("kms:CreateGrant",),
        {"Bool": {"kms:GrantIsForAWSResource": "true"}}))
    return json.dumps(policy)


def subscribe(name: str, topic: aws.sns.Topic, alerts: AlertsConfig | None, opts: pulumi.ResourceOptions) -> None:
    """The on-call endpoints the stack file names, on a topic: alerts that reach no one are not alerts."""
    if alerts and alerts.email:
        aws.sns.TopicSubscription(f"{name}-email", topic=topic.arn, protocol="email", endpoint=alerts.email,
                                  opts=opts)
    if alerts and alerts.https_endpoint:
        aws.sns.TopicSubscription(f"{name}-https", topic=topic.arn, protocol="https",
                                  endpoint=alerts.https_endpoint, endpoint_auto_confirms=True, opts=opts)


class Failover(pulumi.ComponentResource):
    """Health checks and alarms per region, and the record (failover chain) the application answers on."""

    def __init__(self, name: str, *, dns: DnsConfig, endpoints: Sequence[Endpoint], label: str, account: str,
                 provider: aws.Provider, alerts: AlertsConfig | None, protect: bool, multi_region: bool,
                 switched: bool = False, opts: pulumi.ResourceOptions | None = None) -> None:
        """`switched`: a Region switch plan drives the records; `route` declares them once its health checks
        exist. Otherwise the records answer by the endpoint health checks directly."""
        super().__init__("mercur:failover:Failover", name, None, opts)
        # The stack's global provider (us-east-1, where Route53 keeps its metrics), whatever the regions.
        self.provider = provider
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self._dns, self._child = dns, child

        # The account and the zone come from the stack file: nothing is looked up, so a preview or an `up` runs
        # while us-east-1 (where Route53's control plane answers) is down.
        key = aws.kms.Key(f"{name}-alerts-key", description=f"{label}: failover alarm notifications",
                          enable_key_rotation=True, deletion_window_in_days=30, opts=child,
                          policy=alarm_topic_key_policy(PARTITION, account))
        self.zone_id: pulumi.Input[str] = self._zone(name, label, PARTITION, account, key, protect) \
            if dns.create_zone else str(dns.zone_id)

        self.alerts = aws.sns.Topic(f"{name}-alerts", name=f"{label}-failover-alerts", kms_master_key_id=key.arn,
                                    opts=child)
        subscribe(f"{name}-alerts", self.alerts, alerts, child)
        aws.sns.TopicPolicy(f"{name}-alerts", arn=self.alerts.arn, opts=child,
                            policy=self.alerts.arn.apply(lambda arn: json.dumps({
                                "Version": "2012-10-17", "Statement": [{
                                    "Sid": "CloudWatchPublishes", "Effect": "Allow",
                                    "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
                                    "Resource": arn,
                                    "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]})))

        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        self.health_checks = {endpoint.region: self._watch(name, label, endpoint) for endpoint in endpoints}
        self._name, self._endpoints, self._multi_region = name, list(endpoints), multi_region
        # The regions in the order the records name them: PRIMARY first, then down the chain (`dr check`).
        self.order = [endpoint.region for endpoint in endpoints]
        # Where a Region switch plan drives the records, DNS moves only with it (after the writer), unless the
        # stack file opts into DNS-only failover: with `evaluate_target_health` Route53 also answers the
        # standby by itself when the active load balancer has no healthy target (Route53 Developer Guide,
        # "Evaluate target health"), the writer left behind. Without a plan, DNS is the failover.
        self.follows_target_health = dns.dns_only_failover or not switched
        scheme = "https" if dns.tls else "http"
        self.url = f"{scheme}://{dns.record}"
        if not switched:
            self.route({e.region: self.health_checks[e.region].id for e in endpoints})

    def route(self, checks: Mapping[str, pulumi.Input[str]] | pulumi.Output[Mapping[str, str]], *,
              keep_checks: bool = False) -> None:
        """The record the application answers on, each region's alias answering by `checks[region]`.

        `keep_checks`: `checks` could not be asked for in this run (its region declared down, lookups.py);
        the records keep the health check ids they have rather than take an unknown one."""
        self._checks = checks
        self._record_opts = pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(
            ignore_changes=["healthCheckId"] if keep_checks else None))
        name, dns, endpoints, multi_region = self._name, self._dns, self._endpoints, self._multi_region
        if len(endpoints) > 1:
            self._failover_set(name, dns.record, list(endpoints))
        elif multi_region:
            # The other regions are retiring: the survivor stays a (lone) PRIMARY, so its record is left as it
            # is while the others are deleted; Route53 would refuse a plain record beside failover ones.
            self._record(f"{name}-primary", dns.record, endpoints[0], "PRIMARY")
        else:
            self._record(f"{name}-record", dns.record, endpoints[0], policy=None)

        self.register_outputs({"url": self.url, "zoneId": self.zone_id})

    def _zone(self, name: str, label: str, partition: str, account: str, log_key: aws.kms.Key,
              protect: bool) -> pulumi.Output[str]:
        """The zone, DNSSEC-signed (CKV2_AWS_38) with its queries logged (CKV2_AWS_39)."""
        child = self._child
        zone = aws.route53.Zone(f"{name}-zone", name=self._dns.zone, comment=f"{label}: application records",
                                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=protect)))
        signing_key = aws.kms.Key(
            f"{name}-dnssec-key", description=f"{label}: DNSSEC key-signing key for {self._dns.zone}",
            customer_master_key_spec="ECC_NIST_P256", key_usage="SIGN_VERIFY", deletion_window_in_days=30,
            policy=dnssec_key_policy(partition, account), opts=child)
        # Route53 takes letters, digits and underscores only in a key-signing key's name.
        ksk = aws.route53.KeySigningKey(f"{name}-ksk", hosted_zone_id=zone.zone_id,
                                        name=re.sub(r"[^A-Za-z0-9_]", "_", f"{label}_ksk"),
                                        key_management_service_arn=signing_key.arn, status="ACTIVE", opts=child)
        aws.route53.HostedZoneDnsSec(f"{name}-dnssec", hosted_zone_id=zone.zone_id, signing_status="SIGNING",
                                     opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                                         depends_on=[ksk])))
        # Route53 writes query logs only to us-east-1, into groups under /aws/route53/ it may write to.
        logs = aws.cloudwatch.LogGroup(f"{name}-query-logs", name=f"/aws/route53/{self._dns.zone}",
                                       retention_in_days=365, kms_key_id=log_key.arn, opts=child)
        may_log = aws.cloudwatch.LogResourcePolicy(
            f"{name}-query-logs", policy_name=f"{label}-route53-query-logs", opts=child,
            policy_document=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Sid": "Route53WritesQueryLogs", "Effect": "Allow", "Principal": {"Service": "route53.amazonaws.com"},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:{partition}:logs:{METRICS_REGION}:{account}:log-group:/aws/route53/*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]}))
        aws.route53.QueryLog(f"{name}-query-log", zone_id=zone.zone_id, cloudwatch_log_group_arn=logs.arn,
                             opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[may_log])))
        return zone.zone_id

    def _watch(self, name: str, label: str, endpoint: Endpoint) -> aws.route53.HealthCheck:
        """A health check on the region's own load balancer, and an alarm when it fails."""
        dns = self._dns
        check = aws.route53.HealthCheck(
            f"{name}-{endpoint.region}", fqdn=endpoint.hostname, type="HTTPS" if dns.tls else "HTTP",
            port=443 if dns.tls else 80, resource_path=endpoint.health_path,
            request_interval=dns.interval_seconds, failure_threshold=dns.failure_threshold, measure_latency=True,
            tags={"Name": f"{label}-{endpoint.region}", "mercur:region": endpoint.region}, opts=self._child)
        self.alarms[endpoint.region] = aws.cloudwatch.MetricAlarm(
            f"{name}-{endpoint.region}-unhealthy", name=f"{label}-{endpoint.region}-unhealthy",
            alarm_description=f"Route53 sees {endpoint.region}'s endpoint failing {endpoint.health_path}",
            namespace="AWS/Route53", metric_name="HealthCheckStatus", dimensions={"HealthCheckId": check.id},
            statistic="Minimum", period=60, evaluation_periods=1, threshold=1,
            comparison_operator="LessThanThreshold", treat_missing_data="breaching",
            alarm_actions=[self.alerts.arn], ok_actions=[self.alerts.arn], opts=self._child)
        return check

    def _record(self, name: str, record: str, endpoint: Endpoint, policy: str | None) -> aws.route53.Record:
        """An alias to the endpoint's load balancer; in a failover set, named and identified by its role, so
        swapping the regions' order only re-targets each record (Route53 refuses to turn a PRIMARY into a
        SECONDARY while the other record still is one)."""
        return aws.route53.Record(
            name, zone_id=self.zone_id, name=record, type="A", opts=self._record_opts,
            aliases=[aws.route53.RecordAliasArgs(name=endpoint.hostname, zone_id=endpoint.zone_id,
                                                 evaluate_target_health=self.follows_target_health)],
            set_identifier=policy.lower() if policy else None,
            health_check_id=self._check(endpoint.region) if policy else None,
            failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type=policy)] if policy else None)

    def _check(self, region: str) -> pulumi.Input[str]:
        checks = self._checks
        if isinstance(checks, pulumi.Output):
            return checks.apply(lambda found: found[region])
        return checks[region]

    def _failover_set(self, name: str, record: str, endpoints: list[Endpoint], depth: int = 0) -> None:
        first, rest = endpoints[0], endpoints[1:]
        self._record(f"{name}-primary", record, first, "PRIMARY")
        if len(rest) == 1:
            self._record(f"{name}-secondary", record, rest[0], "SECONDARY")
            return
        # Three or more regions: the SECONDARY answers with a nested failover set of the rest, in order.
        nested = f"standby-{depth + 1}.{record}"
        aws.route53.Record(  # this set's SECONDARY; the nested set's records are named under `{name}-standby-N`
            f"{name}-secondary", zone_id=self.zone_id, name=record, type="A",
            set_identifier=f"standby-{depth + 1}", opts=self._record_opts,
            failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type="SECONDARY")],
            aliases=[aws.route53.RecordAliasArgs(name=nested, zone_id=self.zone_id,
                                                 evaluate_target_health=self.follows_target_health)])
        self._failover_set(f"{name}-standby-{depth + 1}", nested, rest, depth + 1)
