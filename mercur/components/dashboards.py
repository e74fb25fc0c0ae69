"""Dashboards as code: typed widgets laid out on CloudWatch's 24-column grid, serialized to a dashboard body
(CloudWatch User Guide, "Dashboard Body Structure and Syntax"), and the DR dashboard that puts every region
side by side. No body is written by hand: each widget knows its own properties, and the tests validate every
body the stacks declare against the documented structure (tests/schemas/cloudwatch-dashboard-body.json).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_aws as aws

GRID_COLUMNS = 24
ALARM_WIDGET_LIMIT = 100  # alarms one alarm status widget shows ("Dashboard Body Structure and Syntax")
NODE_CPU_REQUEST = ("ContainerInsights", "node_cpu_request")  # millicores requested, per node
DR_NAMESPACE = "Mercur/DR"  # dr_signals_handler.NAMESPACE: what AWS publishes no metric of

# The user path, as the alarms, the SLOs and the graphs all read it.
ALB_NAMESPACE = "AWS/ApplicationELB"
# The 5xx a user can get: the pods' (HTTPCode_Target_5XX_Count) and the load balancer's own, 502/503/504 when
# no pod answers (HTTPCode_ELB_5XX_Count), against every request (ALB User Guide, "CloudWatch metrics for your
# Application Load Balancer"). RequestCount counts only requests for which the ALB could choose a target: the
# 503s it answers with no target registered (every pod gone) are added from HTTPCode_ELB_503_Count, or an
# outage would read as no traffic. A 503 after a target was chosen then counts twice in the total, which
# understates the share a little. By the load balancer alone: each serves one app, and ELB's own codes have no
# target group dimension.
ERROR_METRICS = {"requests": ("RequestCount", "Sum"), "alb503": ("HTTPCode_ELB_503_Count", "Sum"),
                 "pod5xx": ("HTTPCode_Target_5XX_Count", "Sum"), "alb5xx": ("HTTPCode_ELB_5XX_Count", "Sum")}
TOTAL_REQUESTS = "FILL(requests, 0) + FILL(alb503, 0)"
SERVER_ERRORS = "FILL(pod5xx, 0) + FILL(alb5xx, 0)"
# Fewer requests than this in a period say too little for a rate to page on: one failure in three requests
# is not an outage (the healthy-targets alarm and the Route53 check catch an app that answers nothing).
MIN_REQUESTS = 50


def server_error_percent() -> str:
    """The 5xx share of all requests, in percent; 0 under MIN_REQUESTS requests."""
    return f"IF({TOTAL_REQUESTS} >= {MIN_REQUESTS}, 100 * ({SERVER_ERRORS}) / ({TOTAL_REQUESTS}), 0)"


@dataclass(frozen=True)
class Metric:
    """One line of a graph: `[namespace, name, dimension, value, ..., {options}]` in the body."""

    namespace: str
    name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    stat: str = "Average"
    label: str | None = None
    region: str | None = None  # a widget's own region unless set (a DR graph mixes them)
    id: str | None = None  # named, an Expression of the same graph can use it
    visible: bool = True  # hidden: only an Expression's input

    def body(self) -> list[Any]:
        options: dict[str, Any] = {"stat": self.stat}
        if self.label:
            options["label"] = self.label
        if self.region:
            options["region"] = self.region
        if self.id:
            options["id"] = self.id
        if not self.visible:
            options["visible"] = False
        return [self.namespace, self.name, *[part for item in self.dimensions.items() for part in item], options]


@dataclass(frozen=True)
class Expression:
    """A line computed by metric math from the graph's named metrics."""

    expression: str
    label: str
    id: str = "e1"

    def body(self) -> list[Any]:
        return [{"expression": self.expression, "label": self.label, "id": self.id}]


@dataclass(frozen=True)
class Threshold:
    """A horizontal line: the bound the lines are read against."""

    value: float
    label: str


@dataclass(frozen=True)
class Graph:
    title: str
    region: str
    metrics: Sequence[Metric | Expression]
    thresholds: Sequence[Threshold] = ()
    period: int = 60
    view: str = "timeSeries"
    width: int = 12
    height: int = 6

    def properties(self) -> dict[str, Any]:
        properties: dict[str, Any] = {"title": self.title, "region": self.region, "view": self.view,
                                      "period": self.period, "metrics": [m.body() for m in self.metrics]}
        if self.thresholds:
            properties["annotations"] = {"horizontal": [{"value": t.value, "label": t.label}
                                                        for t in self.thresholds]}
        return properties

    kind = "metric"


@dataclass(frozen=True)
class AlarmStatus:
    title: str
    alarm_arns: Sequence[pulumi.Input[str]]
    width: int = 24
    height: int = 4

    def properties(self) -> dict[str, Any]:
        return {"title": self.title, "alarms": list(self.alarm_arns), "sortBy": "stateUpdatedTimestamp"}

    kind = "alarm"


def alarm_widgets(title: str, alarm_arns: Sequence[pulumi.Input[str]], height: int = 6) -> list[AlarmStatus]:
    """As many alarm status widgets as the alarms need, each within its limit."""
    chunks = [alarm_arns[i:i + ALARM_WIDGET_LIMIT] for i in range(0, len(alarm_arns), ALARM_WIDGET_LIMIT)]
    return [AlarmStatus(title if len(chunks) == 1 else f"{title} ({n} of {len(chunks)})", chunk, height=height)
            for n, chunk in enumerate(chunks, 1)]


@dataclass(frozen=True)
class Text:
    markdown: str
    width: int = 24
    height: int = 2

    def properties(self) -> dict[str, Any]:
        return {"markdown": self.markdown}

    kind = "text"


Widget = Graph | AlarmStatus | Text


@dataclass
class Layout:
    """Widgets left to right, a new row when the next does not fit; each row as tall as its tallest."""

    widgets: list[Widget] = field(default_factory=list)

    def add(self, *widgets: Widget) -> "Layout":
        self.widgets.extend(widgets)
        return self

    def body(self) -> dict[str, Any]:
        placed, x, y, row = [], 0, 0, 0
        for widget in self.widgets:
            if x + widget.width > GRID_COLUMNS:
                x, y, row = 0, y + row, 0
            placed.append({"type": widget.kind, "x": x, "y": y, "width": widget.width, "height": widget.height,
                           "properties": widget.properties()})
            x, row = x + widget.width, max(row, widget.height)
        return {"start": "-PT6H", "periodOverride": "inherit", "widgets": placed}


def dashboard(name: str, dashboard_name: str, layout: Layout, opts: pulumi.ResourceOptions) -> aws.cloudwatch.Dashboard:
    return aws.cloudwatch.Dashboard(name, dashboard_name=dashboard_name,
                                    dashboard_body=pulumi.Output.json_dumps(layout.body()), opts=opts)


@dataclass(frozen=True)
class DrRegion:
    """What the DR dashboard shows of one region."""

    name: str
    cluster_name: str
    database_cluster: str | None
    health_check_id: pulumi.Input[str] | None
    app: str | None  # the app the DNS record serves (its namespace and Service name)
    load_balancer: pulumi.Input[str] | None  # that app's load balancer (its CloudWatch dimension)
    node_pool_cpu: float  # the apps' NodePool's CPU limit, vCPU
    dashboard: str  # the region's own dashboard (its alarms)
    vault: str  # the region's backup vault (dr_signals.DrSignals publishes its recovery points' ages)


def requests_against_limit(region: str, cluster: str, limit_cpu: float, width: int = 8) -> Graph:
    """Headroom: what the pods request, summed over the cluster's nodes, against the apps' NodePool limit
    (Karpenter launches nothing past it; the built-in system pool's nodes add a little to the sum)."""
    return Graph("CPU requested by pods (millicores) against the NodePool limit", region, [
        Metric(*NODE_CPU_REQUEST, {"ClusterName": cluster}, "Sum", "requested")],
        [Threshold(limit_cpu * 1000, "NodePool limit")], width=width)


def error_share(title: str, region: str, load_balancer: pulumi.Input[str], pages_at: float | None = None,
                width: int = 6) -> Graph:
    """The 5xx share of an app's requests (%), computed from its load balancer's metrics as the alarm does."""
    balancer = {"LoadBalancer": load_balancer}
    return Graph(title, region, [*[Metric(ALB_NAMESPACE, metric, balancer, stat, id=query_id, visible=False)
                                   for query_id, (metric, stat) in ERROR_METRICS.items()],
                                 Expression(server_error_percent(), "5xx %")],
                 [Threshold(pages_at, "pages")] if pages_at is not None else [], period=300, width=width)


def response_time(title: str, region: str, load_balancer: pulumi.Input[str], pages_at: float | None = None,
                  width: int = 6) -> Graph:
    """The pods' p99 response time (s) at the app's load balancer."""
    return Graph(title, region, [Metric(ALB_NAMESPACE, "TargetResponseTime", {"LoadBalancer": load_balancer}, "p99",
                                        label="p99")],
                 [Threshold(pages_at, "pages")] if pages_at is not None else [], width=width)


class DrDashboard(pulumi.ComponentResource):
    """Every region side by side, for the person deciding a switch: is the region healthy as Route53 sees
    it, are its pods ready, how much the pods request against the NodePool's limit, how far behind is its
    database against the bounds, and what users get from it (5xx share, p99 response time); then the alarms
    a switch is decided on. Declared through the global provider (us-east-1, where Route53's health metrics
    and their alarms are); each graph reads its own region. The alarm widget lists only us-east-1's alarms
    (an alarm status widget shows alarms of its dashboard's region): each region's other alarms are on its
    own dashboard, named in the text at the top."""

    def __init__(self, name: str, *, dashboard_name: str, regions: Sequence[DrRegion], lag_bound_seconds: int | None,
                 rpo_bound_seconds: int | None, alarm_arns: Sequence[pulumi.Input[str]], switch_plan: str | None,
                 copy_rpo_minutes: int,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:monitoring:DrDashboard", name, None, opts)
        layout = Layout().add(Text(
            f"## {dashboard_name}: can the other region take over?\n"
            + (f"Region switch plan `{switch_plan}`: its latest evaluation as each region's ARC endpoint "
               f"reports it; its executions are ARC's console's." if switch_plan else
               "No Region switch plan: DNS fails over by the health checks below.")
            + " Recovery point ages and evaluations come from each region's `-dr-signals` function every 5 "
              "minutes: a gap is a region that stopped reporting."
            + "\nEach region's alarms: " + ", ".join(f"`{r.dashboard}` ({r.name})" for r in regions) + "."))
        checks = [(r.name, r.health_check_id) for r in regions if r.health_check_id is not None]
        if checks:
            layout.add(Graph("Route53 health (1 healthy, 0 not)", "us-east-1", [
                Metric("AWS/Route53", "HealthCheckStatus", {"HealthCheckId": check}, "Minimum", label=region)
                for region, check in checks], width=24, height=5))
        for region in regions:
            app = region.app
            lines = [Metric("ContainerInsights", "pod_status_ready",
                            {"ClusterName": region.cluster_name, "Namespace": app, "Service": app},
                            "Sum", label=f"{app} ready pods")] if app else []
            layout.add(Graph(f"{region.name}: {region.app or 'apps'} ready pods", region.name, lines, width=8)
                       if lines else Text(f"{region.name}: no app behind the record", width=8, height=6))
            headroom = requests_against_limit(region.name, region.cluster_name, region.node_pool_cpu)
            layout.add(Graph(f"{region.name}: {headroom.title}", headroom.region, headroom.metrics,
                             headroom.thresholds, width=8))
            if region.database_cluster and lag_bound_seconds is not None:
                thresholds = [Threshold(lag_bound_seconds * 1000, "paged")]
                if rpo_bound_seconds is not None:
                    thresholds.append(Threshold(rpo_bound_seconds * 1000, "rds.global_db_rpo: commits wait"))
                layout.add(Graph(f"{region.name}: RPO lag behind the writer (ms; none while it is the writer)",
                                 region.name, [Metric("AWS/RDS", "AuroraGlobalDBRPOLag",
                                                      {"DBClusterIdentifier": region.database_cluster}, "Maximum",
                                                      label=region.database_cluster)], thresholds, width=8))
            else:
                layout.add(Text(f"{region.name}: no replicated database", width=8, height=6))
            if app and region.load_balancer is not None:
                # What users get from each region: the same app's errors and latency, side by side.
                layout.add(error_share(f"{region.name}: {app} 5xx share of requests (%)", region.name,
                                       region.load_balancer, width=6),
                           response_time(f"{region.name}: {app} p99 response time (s)", region.name,
                                         region.load_balancer, width=6))
            # What a restore could start from: the vault's newest own recovery point and newest copy from the
            # peer, against the RPO for losing a region and its data at once (copies are all that is left).
            layout.add(Graph(f"{region.name}: newest recovery point age (min)", region.name, [
                Metric(DR_NAMESPACE, "RecoveryPointAgeMinutes", {"BackupVaultName": region.vault, "Origin": origin},
                       "Maximum", label=origin) for origin in ("own", "copy")],
                [Threshold(copy_rpo_minutes, "RPO, both at once")], period=300, width=6))
            if switch_plan:
                layout.add(Graph(f"{region.name}: switch plan evaluation (1 passed; minutes since)", region.name, [
                    Metric(DR_NAMESPACE, "PlanEvaluationPassed", {"Plan": switch_plan}, "Minimum", label="passed"),
                    Metric(DR_NAMESPACE, "MinutesSinceEvaluation", {"Plan": switch_plan}, "Maximum",
                           label="minutes since")], period=300, width=6))
        layout.add(*alarm_widgets("DR alarms in us-east-1: health and the switch's triggers", alarm_arns))
        self.dashboard = dashboard(f"{name}-dashboard", dashboard_name, layout, pulumi.ResourceOptions(parent=self))
        self.name = dashboard_name
        self.register_outputs({"dashboardName": dashboard_name})
