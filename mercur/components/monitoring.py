"""Monitoring: one region's alarms on what users and the database feel, and the topic they page through.

Every alarm here sends ALARM and OK to the region's platform alert topic (on the region's key, subscribed by
the stack's alerts). Thresholds come from the stack file (`mercur:monitoring`); the figures derived from an
instance class say which AWS formula they follow.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from ..config import AlertsConfig
from ..config.models import SERVERLESS_CLASS, AppAlarms, DatabaseConfig, MonitoringConfig
from .dashboards import (ALB_NAMESPACE, ERROR_METRICS, MIN_REQUESTS, SERVER_ERRORS, TOTAL_REQUESTS, Expression,
                         Graph, Layout, Metric, Text, Threshold, alarm_widgets, dashboard, error_share,
                         requests_against_limit, response_time, server_error_percent)
from .failover import subscribe
from .keys import from_account, service_statement
from .tags import APP_SIGNALS, APP_TAG, SIGNAL_TAG

GIB = 1024 ** 3
# Aurora PostgreSQL's default max_connections: LEAST({DBInstanceClassMemory/9531392}, 5000) (Aurora User Guide,
# "Maximum connections to an Aurora PostgreSQL DB instance"). DBInstanceClassMemory is the class's memory less
# what RDS keeps for itself, so the class's full memory gives an upper estimate, and the alarm pages a little
# late rather than early.
MAX_CONNECTIONS_BYTES_PER_CONNECTION = 9531392
MAX_CONNECTIONS_CEILING = 5000
# Aurora Serverless v2: each ACU is about 2 GiB of memory, and max_connections follows the maximum capacity
# (Aurora User Guide, "How Aurora Serverless v2 works": "Each ACU is a combination of approximately 2
# gibibytes (GiB) of memory"; "Maximum connections for Aurora Serverless v2").
GIB_PER_ACU = 2
# Memory per vCPU of the classes the stack file accepts (RDS instance types: r-classes 8 GiB, x2g 16 GiB);
# burstable classes by size.
_SIZED = re.compile(r"db\.(?P<family>[a-z0-9]+)\.(?:(?P<n>[0-9]*)xlarge|large|medium)")
_GIB_PER_VCPU = {"r5": 8, "r6g": 8, "r6i": 8, "r7g": 8, "r7i": 8, "r8g": 8, "x2g": 16}
_BURSTABLE_GIB = {"medium": 4, "large": 8}


def instance_memory_gib(database: DatabaseConfig) -> float:
    """The memory of one of the database's instances (a Serverless v2 instance at its maximum capacity)."""
    if database.instance_class == SERVERLESS_CLASS:
        assert database.serverless is not None  # the stack file requires it with db.serverless
        return database.serverless.max_capacity * GIB_PER_ACU
    match = _SIZED.fullmatch(database.instance_class)
    if match is None:
        raise ValueError(f"no memory figure for {database.instance_class}")
    family, size = match["family"], database.instance_class.rsplit(".", 1)[1]
    if family in ("t3", "t4g"):
        return _BURSTABLE_GIB[size]
    vcpus = 2 if size == "large" else 4 * int(match["n"] or 1)
    return vcpus * _GIB_PER_VCPU[family]


def database_thresholds(database: DatabaseConfig, monitoring: MonitoringConfig) -> tuple[int, float]:
    """(connections that page, freeable memory in bytes below which it pages): the alarms' and the graphs'."""
    return (max_connections(database) * monitoring.database.connections_percent // 100,
            instance_memory_gib(database) * GIB * monitoring.database.freeable_memory_percent / 100)


def max_connections(database: DatabaseConfig) -> int:
    return min(int(instance_memory_gib(database) * GIB // MAX_CONNECTIONS_BYTES_PER_CONNECTION),
               MAX_CONNECTIONS_CEILING)


# Page when an hour spends 2% of the SLO window's error budget (Google SRE Workbook, "Alerting on SLOs":
# the fast-burn page of its multiwindow, multi-burn-rate alerts).
FAST_BURN_BUDGET_SHARE = 0.02
SLO_TYPE = "AWS::ApplicationSignals::ServiceLevelObjective"
# CloudWatch computes a burn rate per look-back window an SLO names (shown with its error budget).
SLO_BURN_WINDOWS_MINUTES = (60, 360)


def burn_rate(goal_percent: float) -> str:
    """How fast the period spends the error budget: its 5xx share over what the goal allows (1: exactly the
    budget over the window)."""
    return f"{server_error_percent()} / {100 - goal_percent:g}"


def fast_burn_rate(window_days: int) -> float:
    """The burn rate at which one hour spends FAST_BURN_BUDGET_SHARE of a window of `window_days`."""
    return round(FAST_BURN_BUDGET_SHARE * window_days * 24, 2)


def availability_slo(slo_name: str, app: str, label: str, load_balancer: str, thresholds: AppAlarms) -> dict:
    """A request-based CloudWatch SLO on the load balancer's metrics (CloudFormation's
    AWS::ApplicationSignals::ServiceLevelObjective, through Cloud Control): good requests are those not
    answered with a 5xx. CloudWatch keeps its attainment and error budget over the rolling window."""
    def metric(query_id: str, metric_name: str) -> dict:
        return {"Id": query_id, "ReturnData": False, "MetricStat": {"Period": 60, "Stat": "Sum", "Metric": {
            "Namespace": ALB_NAMESPACE, "MetricName": metric_name,
            "Dimensions": [{"Name": "LoadBalancer", "Value": load_balancer}]}}}
    return {
        "Name": slo_name,
        "Description": f"{app} in {label}: requests not answered with a 5xx (the pods' or the load balancer's)",
        "RequestBasedSli": {"RequestBasedSliMetric": {
            "TotalRequestCountMetric": [metric("requests", "RequestCount"), metric("alb503", "HTTPCode_ELB_503_Count"),
                                        {"Id": "total", "Expression": TOTAL_REQUESTS, "ReturnData": True}],
            "MonitoredRequestCountMetric": {"BadCountMetric": [
                metric("pod5xx", "HTTPCode_Target_5XX_Count"), metric("alb5xx", "HTTPCode_ELB_5XX_Count"),
                {"Id": "bad", "Expression": SERVER_ERRORS, "ReturnData": True}]}}},
        "Goal": {"Interval": {"RollingInterval": {"Duration": thresholds.slo_window_days, "DurationUnit": "DAY"}},
                 "AttainmentGoal": thresholds.availability_goal_percent, "WarningThreshold": 50},
        "BurnRateConfigurations": [{"LookBackWindowMinutes": m} for m in SLO_BURN_WINDOWS_MINUTES],
    }


def app_signal(app: str, signal: str) -> dict[str, str]:
    assert signal in APP_SIGNALS, signal
    return {APP_TAG: app, SIGNAL_TAG: signal}


def app_dimensions(cluster: str, app: str) -> dict[str, pulumi.Input[str]]:
    """An app's pods in Container Insights: by its Service (named after the app, in the app's namespace)."""
    return {"ClusterName": cluster, "Namespace": app, "Service": app}


@dataclass(frozen=True)
class Watched:
    """What one region runs that its alarms watch: plain names, known before anything exists."""

    cluster_name: str
    floors: Mapping[str, int]  # app (its namespace and workload name) -> its HPA minimum here, at creation
    # app -> its load balancer's CloudWatch dimensions (entry.PublicEntry.dimensions)
    load_balancers: Mapping[str, Mapping[str, pulumi.Input[str]]]
    database: DatabaseConfig | None
    instance_ids: Sequence[str]  # the region's Aurora instances
    nat_gateway_ids: Sequence[pulumi.Input[str]]
    node_pool_cpu: float  # the apps' NodePool's CPU limit, vCPU


class Monitoring(pulumi.ComponentResource):
    """A region's platform alert topic and the alarms on its apps, database instances and NAT gateways."""

    def __init__(self, name: str, *, label: str, region: str, account: str, monitoring: MonitoringConfig,
                 watched: Watched, key_arn: pulumi.Input[str], alerts: AlertsConfig | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._label = label
        self.topic = aws.sns.Topic(f"{name}-platform-alerts", name=f"{label}-platform-alerts",
                                   kms_master_key_id=key_arn, opts=child)
        aws.sns.TopicPolicy(f"{name}-platform-alerts", arn=self.topic.arn, opts=child, policy=self.topic.arn.apply(
            lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [service_statement(
                "CloudWatchPublishes", "cloudwatch.amazonaws.com", ("sns:Publish",), from_account(account))
                | {"Resource": arn, "Action": "sns:Publish"}]})))
        subscribe(f"{name}-platform-alerts", self.topic, alerts, child)
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        self.objectives: list[aws.cloudcontrol.Resource] = []
        for app, floor in watched.floors.items():
            self._app(f"{name}-{app}", app, floor, watched.cluster_name, monitoring, child)
            self._user_path(f"{name}-{app}", app, floor, watched.load_balancers[app], monitoring.apps, child)
        if watched.floors:
            self._capacity(name, watched.cluster_name, child)
        if watched.database is not None:
            for instance in watched.instance_ids:
                self._database(name, instance, watched.database, monitoring, child)
        for index, nat in enumerate(watched.nat_gateway_ids):
            self._nat(f"{name}-nat-{index}", f"{label}-nat-{index}", nat, child)
        self.dashboard_name = label
        dashboard(f"{name}-dashboard", label, self._layout(region, watched, monitoring), child)
        self.register_outputs({"alertTopicArn": self.topic.arn, "alarms": len(self.alarms), "dashboard": label})

    def _layout(self, region: str, watched: Watched, monitoring: MonitoringConfig) -> Layout:
        """The region's own dashboard: its apps, nodes, database instances and NAT gateways, then its alarms."""
        cluster = watched.cluster_name
        layout = Layout().add(Text(f"## {self._label} ({region})\nEvery alarm below pages "
                                   f"`{self._label}-platform-alerts`."))
        thresholds = monitoring.apps
        for app, floor in watched.floors.items():
            workload, entry = app_dimensions(cluster, app), watched.load_balancers[app]
            balancer = {"LoadBalancer": entry["LoadBalancer"]}
            # One row per app: what users get, then what the cluster sees, then the error budget's pace.
            layout.add(error_share(f"{app}: 5xx share of requests (%)", region, entry["LoadBalancer"],
                                   thresholds.server_error_percent, width=5),
                       response_time(f"{app}: p99 response time (s)", region, entry["LoadBalancer"],
                                     thresholds.latency_p99_ms / 1000, width=5),
                       Graph(f"{app}: ready pods and healthy targets", region, [
                           Metric("ContainerInsights", "pod_status_ready", workload, "Sum", label="ready pods"),
                           Metric(ALB_NAMESPACE, "HealthyHostCount", entry, "Minimum", label="healthy targets")],
                             [Threshold(floor, "floor")], width=5),
                       Graph(f"{app}: restarts", region, [Metric("ContainerInsights",
                                                                 "pod_number_of_container_restarts", workload,
                                                                 "Sum", label="restarts")],
                             [Threshold(thresholds.restarts, "pages")], period=300, width=5),
                       Graph(f"{app}: error budget burn rate (1 h)", region, [
                           *[Metric(ALB_NAMESPACE, metric, balancer, stat, id=query_id, visible=False)
                             for query_id, (metric, stat) in ERROR_METRICS.items()],
                           Expression(burn_rate(thresholds.availability_goal_percent), "burn rate")],
                             [Threshold(1, "spends the budget over the window"),
                              Threshold(fast_burn_rate(thresholds.slo_window_days), "pages")],
                             period=3600, width=4))
        layout.add(Graph("pods pending (none placeable for 10 minutes pages)", region, [
            Metric("ContainerInsights", "pod_status_pending", {"ClusterName": cluster}, "Sum", "pending")], width=8))
        layout.add(requests_against_limit(region, cluster, watched.node_pool_cpu))
        if watched.database is not None and watched.instance_ids:
            connections, freeable = database_thresholds(watched.database, monitoring)
            for metric, stat, threshold in (
                    ("CPUUtilization", "Average", Threshold(monitoring.database.cpu_percent, "pages")),
                    ("DatabaseConnections", "Maximum", Threshold(connections, "pages")),
                    ("FreeableMemory", "Minimum", Threshold(freeable, "pages below"))):
                layout.add(Graph(f"database: {metric}", region, [
                    Metric("AWS/RDS", metric, {"DBInstanceIdentifier": instance}, stat, instance)
                    for instance in watched.instance_ids], [threshold], width=8))
        if watched.nat_gateway_ids:
            layout.add(Graph("NAT gateways: port allocation errors and dropped packets", region, [
                Metric("AWS/NATGateway", metric, {"NatGatewayId": nat}, "Sum", f"{metric} {index}")
                for index, nat in enumerate(watched.nat_gateway_ids)
                for metric in ("ErrorPortAllocation", "PacketsDropCount")], width=8))
        layout.add(*alarm_widgets(f"{self._label} alarms", [alarm.arn for alarm in self.alarms]))
        return layout

    def _alarm(self, resource: str, alarm: str, description: str, namespace: str, metric: str,
               dimensions: dict[str, pulumi.Input[str]], statistic: str, threshold: float, comparison: str,
               periods: int, child: pulumi.ResourceOptions, period: int = 60, missing: str = "notBreaching",
               statistic_is_extended: bool = False, tags: Mapping[str, str] | None = None) -> None:
        self.alarms.append(aws.cloudwatch.MetricAlarm(
            resource, name=alarm, alarm_description=description, namespace=namespace, metric_name=metric,
            dimensions=dimensions, statistic=None if statistic_is_extended else statistic,
            extended_statistic=statistic if statistic_is_extended else None, period=period, evaluation_periods=periods,
            datapoints_to_alarm=periods, threshold=threshold, comparison_operator=comparison,
            treat_missing_data=missing, alarm_actions=[self.topic.arn], ok_actions=[self.topic.arn],
            tags=dict(tags) if tags else None, opts=child))

    def _app(self, name: str, app: str, floor: int, cluster: str, monitoring: MonitoringConfig,
             child: pulumi.ResourceOptions) -> None:
        """Container Insights (enhanced observability) by the app's Service (its load balancer's, named after
        the app): the one dimension set the same for a Deployment's pods and a StatefulSet's (whose `PodName`
        is each pod's own name). Each pod reports `pod_status_ready` 1 or 0 every minute, so a minute's sum
        counts the ready pods, and `pod_number_of_container_restarts` the restarts since its last report, so
        five minutes' sum counts the app's restarts in them (a container that crashes at once restarts after 10, 20, 40
        and 80 s of back-off: a crash loop passes three in five minutes). The floor is the HPA minimum the region was given
        at creation; a Region switch raises the passive region's at run time and the alarm keeps the lower one
        (it never pages falsely; the program leaves the HPA alone)."""
        thresholds = monitoring.apps
        label = f"{self._label}-{app}"
        workload = app_dimensions(cluster, app)
        self._alarm(f"{name}-not-ready", f"{label}-not-ready",
                    f"{app} in {self._label}: fewer than {floor} ready pods (its floor here) for "
                    f"{thresholds.not_ready_minutes} minutes; no data (no pod reporting) counts as none ready",
                    "ContainerInsights", "pod_status_ready", workload, "Sum", floor, "LessThanThreshold",
                    thresholds.not_ready_minutes, child, missing="breaching", tags=app_signal(app, "not-ready"))
        self._alarm(f"{name}-restarts", f"{label}-restarts",
                    f"{app} in {self._label}: its containers restarted more than {thresholds.restarts} times in 5 "
                    f"minutes", "ContainerInsights", "pod_number_of_container_restarts", workload, "Sum",
                    thresholds.restarts, "GreaterThanThreshold", 1, child, period=300, tags=app_signal(app, "restarts"))

    def _math_alarm(self, resource: str, alarm: str, description: str, expression: str,
                    metrics: Mapping[str, tuple[str, str]], dimensions: Mapping[str, pulumi.Input[str]],
                    threshold: float, period: int, child: pulumi.ResourceOptions, tags: Mapping[str, str]) -> None:
        """An alarm on a metric math expression over the load balancer's metrics (`metrics`: id -> (metric name,
        statistic)), one period long."""
        queries = [aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=query_id, return_data=False, metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=ALB_NAMESPACE, metric_name=metric, stat=stat, period=period, dimensions=dict(dimensions)))
            for query_id, (metric, stat) in metrics.items()]
        queries.append(aws.cloudwatch.MetricAlarmMetricQueryArgs(id="signal", expression=expression,
                                                                 label=alarm, return_data=True))
        self.alarms.append(aws.cloudwatch.MetricAlarm(
            resource, name=alarm, alarm_description=description, metric_queries=queries, evaluation_periods=1,
            datapoints_to_alarm=1, threshold=threshold, comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching", alarm_actions=[self.topic.arn], ok_actions=[self.topic.arn],
            tags=dict(tags), opts=child))

    def _user_path(self, name: str, app: str, floor: int, load_balancer: Mapping[str, pulumi.Input[str]],
                   thresholds: AppAlarms, child: pulumi.ResourceOptions) -> None:
        """What users feel at the app's load balancer (ALB metrics, AWS/ApplicationELB): 5xx from the pods or
        from the load balancer itself as a share of requests, the pods' p99 response time, connections the
        load balancer could not open to them, healthy targets below the floor; and the availability SLO, its
        error budget (CloudWatch computes and shows it) and a page when the budget burns fast."""
        label = f"{self._label}-{app}"
        balancer = {"LoadBalancer": load_balancer["LoadBalancer"]}
        self._math_alarm(f"{name}-5xx", f"{label}-5xx",
                         f"{app} in {self._label}: more than {thresholds.server_error_percent}% of requests answered "
                         f"with a 5xx in 5 minutes (from {MIN_REQUESTS} requests on)",
                         server_error_percent(), ERROR_METRICS, balancer, thresholds.server_error_percent, 300,
                         child, app_signal(app, "5xx"))
        self._alarm(f"{name}-latency", f"{label}-latency",
                    f"{app} in {self._label}: its pods' p99 response time above {thresholds.latency_p99_ms} ms for "
                    f"5 minutes", ALB_NAMESPACE, "TargetResponseTime", balancer, "p99",
                    thresholds.latency_p99_ms / 1000, "GreaterThanThreshold", 5, child, statistic_is_extended=True,
                    tags=app_signal(app, "latency"))
        self._alarm(f"{name}-target-errors", f"{label}-target-connection-errors",
                    f"{app} in {self._label}: the load balancer failed to connect to its pods more than "
                    f"{thresholds.target_connection_errors} times in 5 minutes", ALB_NAMESPACE,
                    "TargetConnectionErrorCount", balancer, "Sum", thresholds.target_connection_errors,
                    "GreaterThanThreshold", 1, child, period=300, tags=app_signal(app, "target-connection-errors"))
        self._alarm(f"{name}-healthy-targets", f"{label}-healthy-targets",
                    f"{app} in {self._label}: fewer than {floor} healthy targets (its floor here) for "
                    f"{thresholds.not_ready_minutes} minutes; no data counts as none healthy", ALB_NAMESPACE,
                    "HealthyHostCount", dict(load_balancer), "Minimum", floor, "LessThanThreshold",
                    thresholds.not_ready_minutes, child, missing="breaching", tags=app_signal(app, "healthy-targets"))
        burn = fast_burn_rate(thresholds.slo_window_days)
        self._math_alarm(f"{name}-budget-burn", f"{label}-error-budget-burn",
                         f"{app} in {self._label}: the last hour spent more than {FAST_BURN_BUDGET_SHARE:.0%} of the "
                         f"{thresholds.slo_window_days}-day error budget of its "
                         f"{thresholds.availability_goal_percent}% "
                         f"availability SLO (burn rate above {burn:g})",
                         burn_rate(thresholds.availability_goal_percent), ERROR_METRICS, balancer, burn, 3600, child,
                         app_signal(app, "error-budget-burn"))
        self.objectives.append(aws.cloudcontrol.Resource(
            f"{name}-availability-slo", type_name=SLO_TYPE, opts=child,
            desired_state=pulumi.Output.from_input(balancer["LoadBalancer"]).apply(
                lambda suffix: json.dumps(availability_slo(f"{label}-availability", app, self._label, suffix,
                                                           thresholds)))))

    def _capacity(self, name: str, cluster: str, child: pulumi.ResourceOptions) -> None:
        """Pods the cluster cannot place: the NodePool at its limits (Karpenter launches nothing past them), or
        no capacity of the allowed kinds. A pod pending for a minute is a node launching; ten are not."""
        self._alarm(f"{name}-pods-pending", f"{self._label}-pods-pending",
                    f"{self._label}: pods pending for 10 minutes: the NodePool is at its limits (mercur:nodePool."
                    f"limits) or EC2 has none of the allowed instances",
                    "ContainerInsights", "pod_status_pending", {"ClusterName": cluster}, "Sum", 0,
                    "GreaterThanThreshold", 10, child)

    def _database(self, name: str, instance: str, database: DatabaseConfig, monitoring: MonitoringConfig,
                  child: pulumi.ResourceOptions) -> None:
        thresholds = monitoring.database
        dimensions: dict[str, pulumi.Input[str]] = {"DBInstanceIdentifier": instance}
        memory = instance_memory_gib(database)
        connections, freeable = database_thresholds(database, monitoring)
        self._alarm(f"{name}-{instance}-cpu", f"{instance}-cpu",
                    f"{instance}: CPU above {thresholds.cpu_percent}% for 10 minutes", "AWS/RDS", "CPUUtilization",
                    dimensions, "Average", thresholds.cpu_percent, "GreaterThanThreshold", 10, child)
        self._alarm(f"{name}-{instance}-memory", f"{instance}-freeable-memory",
                    f"{instance}: freeable memory below {thresholds.freeable_memory_percent}% of {memory:g} GiB",
                    "AWS/RDS", "FreeableMemory", dimensions, "Minimum",
                    freeable, "LessThanThreshold", 5, child)
        self._alarm(f"{name}-{instance}-connections", f"{instance}-connections",
                    f"{instance}: more than {connections} connections, {thresholds.connections_percent}% of the "
                    f"default max_connections ({max_connections(database)} for {memory:g} GiB, AWS's formula)",
                    "AWS/RDS", "DatabaseConnections", dimensions, "Maximum", connections, "GreaterThanThreshold", 5,
                    child)
        self._alarm(f"{name}-{instance}-deadlocks", f"{instance}-deadlocks",
                    f"{instance}: deadlocks (a transaction aborted to break one) in 3 minutes running",
                    "AWS/RDS", "Deadlocks", dimensions, "Sum", 0, "GreaterThanThreshold", 3, child)

    def _nat(self, name: str, alarm: str, nat_gateway_id: pulumi.Input[str], child: pulumi.ResourceOptions) -> None:
        dimensions: dict[str, pulumi.Input[str]] = {"NatGatewayId": nat_gateway_id}
        self._alarm(f"{name}-ports", f"{alarm}-port-allocation",
                    f"{alarm}: out of source ports (ErrorPortAllocation): connections to one destination fail",
                    "AWS/NATGateway", "ErrorPortAllocation", dimensions, "Sum", 0, "GreaterThanThreshold", 3,
                    child)
        self._alarm(f"{name}-drops", f"{alarm}-packets-dropped",
                    f"{alarm}: packets dropped (PacketsDropCount) for 5 minutes running",
                    "AWS/NATGateway", "PacketsDropCount", dimensions, "Sum", 0, "GreaterThanThreshold", 5, child)
