"""mercur.components.monitoring: every region pages, through its platform topic, on what users feel (each
app's 5xx, response time, connection errors, healthy targets, error budget, ready pods, restarts; its
availability SLO), on each database instance (CPU, memory, connections against its
default maximum, deadlocks) and on each NAT gateway; thresholds from the stack file."""

from __future__ import annotations

import json
import math
import re

import pytest

from mercur import config
from mercur.components import monitoring
from mercur.components.tags import APP_SIGNALS, APP_TAG, SIGNAL_TAG
from mercur.config.models import DatabaseConfig
from mercur.offline import synth

CLUSTER_INSIGHTS = "ContainerInsights"


def _alarms(plan, region: str, namespace: str | None = None) -> list:
    return [a for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.region == region
            and "mercur:monitoring:Monitoring" in a.urn and (namespace is None or a.inputs.get("namespace") == namespace)]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_alarm_pages_the_regions_platform_topic_on_alarm_and_ok(plan_of, stack) -> None:
    plan = plan_of(stack)
    topics = {t.region: t for t in plan.of_type("aws:sns/topic:Topic") if t.inputs["name"].endswith("-platform-alerts")}
    assert set(topics) == set(plan.outputs["failoverOrder"])
    for region, topic in topics.items():
        arn = f"arn:aws:sns:{region}:{plan.account}:{topic.inputs['name']}"
        alarms = _alarms(plan, region)
        assert alarms and all(a.inputs["alarmActions"] == a.inputs["okActions"] == [arn] for a in alarms)
        assert plan.outputs["regions"][region]["alertTopicArn"] == arn
        assert topic.inputs["kmsMasterKeyId"] == plan.outputs["regions"][region]["platformKeyArn"]
        [policy] = [p for p in plan.of_type("aws:sns/topicPolicy:TopicPolicy") if p.inputs["arn"] == arn]
        [statement] = json.loads(policy.inputs["policy"])["Statement"]
        assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": plan.account}}
        subscribed = [s for s in plan.of_type("aws:sns/topicSubscription:TopicSubscription") if s.inputs["topic"] == arn]
        assert subscribed  # alerts that reach no one are not alerts


def test_each_app_pages_below_its_regions_floor_and_on_restarts(plan_of) -> None:
    """By the app's Service: the dimension set a StatefulSet's pods share too (their PodName is their own)."""
    plan = plan_of("prod")
    hpas = {(h.region, h.inputs["spec"]["scaleTargetRef"]["name"]): h.inputs["spec"]["minReplicas"]
            for h in plan.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")}
    clusters = {c.region: c.inputs["name"] for c in plan.of_type("eks:index:Cluster")}
    for (region, app), floor in hpas.items():
        alarms = {a.inputs.get("metricName"): a for a in _alarms(plan, region, CLUSTER_INSIGHTS)
                  if a.inputs["dimensions"].get("Service") == app}
        assert set(alarms) == {"pod_status_ready", "pod_number_of_container_restarts"}
        for alarm in alarms.values():
            assert alarm.inputs["dimensions"] == {"ClusterName": clusters[region], "Namespace": app, "Service": app}
        ready = alarms["pod_status_ready"].inputs
        assert (ready["threshold"], ready["comparisonOperator"], ready["statistic"]) == (
            floor, "LessThanThreshold", "Sum")
        assert ready["treatMissingData"] == "breaching"  # no pod reporting is no pod ready
        assert ready["evaluationPeriods"] == ready["datapointsToAlarm"] == 5 and ready["period"] == 60
        restarts = alarms["pod_number_of_container_restarts"].inputs
        # Each report is the restarts since the pod's last one: five minutes' sum is the app's restarts in them.
        assert (restarts["threshold"], restarts["statistic"], restarts["period"]) == (3, "Sum", 300)
        assert restarts["comparisonOperator"] == "GreaterThanThreshold"
    floors = {floor for (region, _), floor in hpas.items()}
    assert len(floors) > 1  # active and passive floors differ, and each alarm has its own region's


def test_app_thresholds_come_from_the_stack_file(project) -> None:
    plan = project.edit("dev", lambda v: v.setdefault("mercur:monitoring", {}).update(
        apps={"restarts": 7, "notReadyMinutes": 12})).synthesize("dev", shared=True)
    restarts = [a for a in _alarms(plan, "us-west-1", CLUSTER_INSIGHTS)
                if a.inputs.get("metricName") == "pod_number_of_container_restarts"]
    ready = [a for a in _alarms(plan, "us-west-1", CLUSTER_INSIGHTS) if a.inputs.get("metricName") == "pod_status_ready"]
    assert restarts and {a.inputs["threshold"] for a in restarts} == {7}
    assert ready and {a.inputs["evaluationPeriods"] for a in ready} == {12}


def test_each_database_instance_pages_on_cpu_memory_connections_and_deadlocks(plan_of) -> None:
    plan = plan_of("prod")
    for region in ("us-west-1", "us-east-1"):
        instances = {i.inputs["identifier"] for i in plan.of_type("aws:rds/clusterInstance:ClusterInstance")
                     if i.region == region}
        by_instance: dict[str, dict[str, dict]] = {}
        for alarm in _alarms(plan, region, "AWS/RDS"):
            by_instance.setdefault(alarm.inputs["dimensions"]["DBInstanceIdentifier"], {})[
                alarm.inputs.get("metricName")] = alarm.inputs
        assert set(by_instance) == instances
        for alarms in by_instance.values():
            assert set(alarms) == {"CPUUtilization", "FreeableMemory", "DatabaseConnections", "Deadlocks"}
            # db.r7g.large: 16 GiB; max_connections = 16 GiB / 9531392 = 1802; 80% of it pages.
            assert alarms["DatabaseConnections"]["threshold"] == 1802 * 80 // 100
            assert alarms["FreeableMemory"]["threshold"] == pytest.approx(16 * 1024 ** 3 * 0.10)
            assert alarms["CPUUtilization"]["threshold"] == 80


@pytest.mark.parametrize("instance_class,serverless,gib,connections", [
    ("db.r7g.large", None, 16, 1802), ("db.r6i.2xlarge", None, 64, 5000), ("db.x2g.xlarge", None, 64, 5000),
    ("db.t4g.medium", None, 4, 450), ("db.serverless", {"minCapacity": 0.5, "maxCapacity": 4}, 8, 901)])
def test_memory_and_default_max_connections_follow_the_class(instance_class, serverless, gib, connections) -> None:
    """AWS's formula, LEAST(DBInstanceClassMemory/9531392, 5000); Serverless v2 at its maximum ACUs, 2 GiB each."""
    database = DatabaseConfig.model_validate(
        {"engineVersion": "16.9", "instanceClass": instance_class, **({"serverless": serverless} if serverless else {}),
         "instances": 1, "passwordVersion": 1,
         "bootstrapImages": {"awsCli": "public.ecr.aws/aws-cli/aws-cli:2.27.50",
                             "postgres": "public.ecr.aws/docker/library/postgres:16.9-alpine"}},
        strict=False, by_alias=True)
    assert monitoring.instance_memory_gib(database) == gib
    assert monitoring.max_connections(database) == connections


def test_each_nat_gateway_pages_on_port_exhaustion_and_drops(plan_of) -> None:
    plan = plan_of("prod")
    for region in ("us-west-1", "us-east-1"):
        nats = {n.id for n in plan.of_type("aws:ec2/natGateway:NatGateway") if n.region == region}
        alarms = _alarms(plan, region, "AWS/NATGateway")
        assert {a.inputs["dimensions"]["NatGatewayId"] for a in alarms} == nats
        assert sorted(a.inputs.get("metricName") for a in alarms) == sorted(["ErrorPortAllocation", "PacketsDropCount"]
                                                                         * len(nats))


def test_each_cluster_pages_when_pods_cannot_be_placed(plan_of) -> None:
    """The NodePool at its limits shows as pods pending: ten minutes of them page."""
    plan = plan_of("prod")
    for cluster in plan.of_type("eks:index:Cluster"):
        [alarm] = [a.inputs for a in _alarms(plan, cluster.region, CLUSTER_INSIGHTS)
                   if a.inputs.get("metricName") == "pod_status_pending"]
        assert alarm["dimensions"] == {"ClusterName": cluster.inputs["name"]}
        assert (alarm["statistic"], alarm["threshold"], alarm["comparisonOperator"]) == ("Sum", 0,
                                                                                         "GreaterThanThreshold")
        assert alarm["evaluationPeriods"] == alarm["datapointsToAlarm"] == 10


def _balancers(plan, region: str) -> dict:
    """app -> its load balancer's and target group's CloudWatch dimensions, as ELB names them."""
    found = {}
    for kind, key in (("aws:lb/loadBalancer:LoadBalancer", "LoadBalancer"), ("aws:lb/targetGroup:TargetGroup", "TargetGroup")):
        for resource in plan.of_type(kind):
            if resource.region == region:
                found.setdefault(resource.inputs["tags"]["Application"], {})[key] = synth._computed(
                    resource.type, resource.name, resource.id, region, resource.inputs, plan.account)["arnSuffix"]
    return found


def _by_signal(plan, region: str) -> dict:
    return {(a.inputs["tags"][APP_TAG], a.inputs["tags"][SIGNAL_TAG]): a.inputs
            for a in _alarms(plan, region) if APP_TAG in (a.inputs.get("tags") or {})}


def _queries(alarm: dict) -> dict:
    return {q["id"]: q for q in alarm["metricQueries"]}


def test_each_app_pages_on_what_users_feel_at_its_own_load_balancer(plan_of) -> None:
    plan = plan_of("prod")
    hpas = {(h.region, h.inputs["spec"]["scaleTargetRef"]["name"]): h.inputs["spec"]["minReplicas"]
            for h in plan.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")}
    for region in ("us-west-1", "us-east-1"):
        balancers, alarms = _balancers(plan, region), _by_signal(plan, region)
        assert set(alarms) == {(app, signal) for app in balancers for signal in APP_SIGNALS}
        for app, dimensions in balancers.items():
            errors = alarms[(app, "5xx")]
            queries = _queries(errors)
            # The pods' 5xx and the ALB's own (no pod answering) against the requests, by the app's load balancer.
            # The 503s of a load balancer with no target count too: RequestCount leaves them out.
            inputs = ("requests", "alb503", "pod5xx", "alb5xx")
            assert {q: queries[q]["metric"]["metricName"] for q in inputs} == {
                "requests": "RequestCount", "alb503": "HTTPCode_ELB_503_Count", "pod5xx": "HTTPCode_Target_5XX_Count",
                "alb5xx": "HTTPCode_ELB_5XX_Count"}
            assert all(queries[q]["metric"]["dimensions"] == {"LoadBalancer": dimensions["LoadBalancer"]}
                       and queries[q]["metric"]["namespace"] == "AWS/ApplicationELB" for q in inputs)
            assert [q["id"] for q in errors["metricQueries"] if q.get("returnData")] == ["signal"]
            assert (errors["threshold"], errors["comparisonOperator"]) == (5, "GreaterThanThreshold")
            latency = alarms[(app, "latency")]
            assert (latency["extendedStatistic"], latency["threshold"], latency["metricName"]) == (
                "p99", 1.0, "TargetResponseTime") and "statistic" not in latency
            assert latency["dimensions"] == {"LoadBalancer": dimensions["LoadBalancer"]}
            healthy = alarms[(app, "healthy-targets")]
            assert healthy["dimensions"] == dimensions  # HealthyHostCount is per target group and load balancer
            assert (healthy["threshold"], healthy["comparisonOperator"], healthy["treatMissingData"]) == (
                hpas[(region, app)], "LessThanThreshold", "breaching")
            connection = alarms[(app, "target-connection-errors")]
            assert (connection["metricName"], connection["threshold"], connection["period"]) == (
                "TargetConnectionErrorCount", 10, 300)


class _Series(float):
    """One datapoint as metric math treats it: a division by zero gives no value (NaN), not an error (IF picks
    a branch per datapoint; Python evaluates both)."""

    def __add__(self, other):
        return _Series(float(self) + float(other))

    def __mul__(self, other):
        return _Series(float(self) * float(other))

    def __truediv__(self, other):
        return _Series(float(self) / float(other) if float(other) else math.nan)

    __radd__, __rmul__ = __add__, __mul__


def test_the_5xx_rate_and_the_burn_rate_compute_what_they_say() -> None:
    """The expressions, evaluated as CloudWatch's metric math would on one period's sums."""
    def evaluate(expression: str, **sums: float | None) -> float:
        """None: the metric has no datapoint (NaN, as metric math carries a gap, until FILL replaces it)."""
        def fill(value, default):
            return _Series(default if math.isnan(value) else value)

        def if_(condition, then, otherwise):
            return then if condition else otherwise
        python = expression.replace("FILL(", "fill(").replace("IF(", "if_(")
        values = {k: _Series(math.nan if v is None else v) for k, v in sums.items()}
        return eval(python, {"fill": fill, "if_": if_}, values)  # noqa: S307

    rate = monitoring.server_error_percent()
    assert evaluate(rate, requests=1000, alb503=None, pod5xx=30, alb5xx=20) == 5.0
    assert evaluate(rate, requests=1000, alb503=None, pod5xx=None, alb5xx=10) == 1.0  # no data counts 0
    assert evaluate(rate, requests=49, alb503=None, pod5xx=49, alb5xx=0) == 0  # too few requests to tell
    assert evaluate(rate, requests=None, alb503=None, pod5xx=None, alb5xx=None) == 0
    # Every pod gone: the ALB answers 503 itself, and RequestCount (targets chosen) has no data: all failed.
    assert evaluate(rate, requests=None, alb503=400, pod5xx=None, alb5xx=400) == 100.0
    # 99.9%: 0.1% of requests may fail; an hour at 2.8% errors burns 28 times as fast as the budget allows.
    assert evaluate(monitoring.burn_rate(99.9), requests=1000, alb503=None, pod5xx=28, alb5xx=0) == pytest.approx(28)
    # 2% of a 28-day budget in one hour: 0.02 x 672 hours.
    assert monitoring.fast_burn_rate(28) == 13.44 and monitoring.fast_burn_rate(30) == 14.4


def test_each_app_has_an_availability_slo_its_burn_alarm_reads_the_same_way(plan_of) -> None:
    plan = plan_of("prod")
    objectives = [r for r in plan.of_type("aws:cloudcontrol/resource:Resource") if r.inputs["typeName"] == monitoring.SLO_TYPE]
    assert len(objectives) == 4  # two apps, two regions
    for objective in objectives:
        state = json.loads(objective.inputs["desiredState"])
        app = state["Name"].removeprefix(f"mercur-prod-{config.REGIONS[objective.region].short}-").removesuffix("-availability")
        dimensions = _balancers(plan, objective.region)[app]
        sli = state["RequestBasedSli"]["RequestBasedSliMetric"]
        total = {q["Id"]: q for q in sli["TotalRequestCountMetric"]}
        assert [q for q, query in total.items() if query["ReturnData"]] == ["total"]
        # The same totals and failures the alarms divide: the 503s of a load balancer with no target count.
        assert total["total"]["Expression"] == "FILL(requests, 0) + FILL(alb503, 0)"
        assert {total[q]["MetricStat"]["Metric"]["MetricName"] for q in ("requests", "alb503")} == {
            "RequestCount", "HTTPCode_ELB_503_Count"}
        assert all(total[q]["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "LoadBalancer", "Value": dimensions["LoadBalancer"]}]
                   for q in ("requests", "alb503"))
        bad = {q["Id"]: q for q in sli["MonitoredRequestCountMetric"]["BadCountMetric"]}
        assert [q for q, query in bad.items() if query["ReturnData"]] == ["bad"]
        assert bad["bad"]["Expression"] == "FILL(pod5xx, 0) + FILL(alb5xx, 0)"
        assert {bad[q]["MetricStat"]["Metric"]["MetricName"] for q in ("pod5xx", "alb5xx")} == {
            "HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count"}
        assert state["Goal"] == {"Interval": {"RollingInterval": {"Duration": 28, "DurationUnit": "DAY"}},
                                 "AttainmentGoal": 99.9, "WarningThreshold": 50}
        burn = _by_signal(plan, objective.region)[(app, "error-budget-burn")]
        assert burn["threshold"] == monitoring.fast_burn_rate(28) and burn["metricQueries"][0]["metric"]["period"] == 3600
        assert "/ 0.1" in _queries(burn)["signal"]["expression"]


def test_the_slo_is_a_request_the_application_signals_api_accepts(plan_of) -> None:
    """Cloud Control hands the state to CloudFormation's handler, which calls CreateServiceLevelObjective: the
    state, renamed as the handler renames it, validates against that operation's model in botocore."""
    import botocore.session
    from botocore.validate import ParamValidator
    renamed = {"Sli": "SliConfig", "SliMetric": "SliMetricConfig", "RequestBasedSli": "RequestBasedSliConfig",
               "RequestBasedSliMetric": "RequestBasedSliMetricConfig"}

    def api(value):
        if isinstance(value, dict):
            return {renamed.get(k, k): api(v) for k, v in value.items()}
        return [api(v) for v in value] if isinstance(value, list) else value
    model = botocore.session.get_session().get_service_model("application-signals")
    shape = model.operation_model("CreateServiceLevelObjective").input_shape
    objectives = [r for r in plan_of("dev").of_type("aws:cloudcontrol/resource:Resource")]
    assert objectives
    for objective in objectives:
        state = json.loads(objective.inputs["desiredState"])
        report = ParamValidator().validate(api(state), shape)
        assert not report.has_errors(), report.generate_report()
        assert not _enum_errors(api(state), shape)
        assert re.fullmatch(r"[0-9A-Za-z][-._0-9A-Za-z ]{0,126}[0-9A-Za-z]", state["Name"])
    state = api(json.loads(objectives[0].inputs["desiredState"]))
    assert _enum_errors(state | {"Goal": {"Interval": {"RollingInterval": {"Duration": 28, "DurationUnit": "WEEK"}}}},
                        shape) == ["WEEK"]  # the checks can fail
    assert ParamValidator().validate(state | {"Goal": {"Rolling": {}}}, shape).has_errors()


def _enum_errors(value, shape) -> list:
    """Values outside their shape's enum (botocore's validator checks types and names, not enums)."""
    if shape.type_name == "structure":
        return [e for k, v in value.items() if k in shape.members for e in _enum_errors(v, shape.members[k])]
    if shape.type_name == "list":
        return [e for item in value for e in _enum_errors(item, shape.member)]
    return [value] if getattr(shape, "enum", None) and value not in shape.enum else []


def test_user_path_thresholds_come_from_the_stack_file(project) -> None:
    plan = project.edit("dev", lambda v: v.setdefault("mercur:monitoring", {}).update(apps={
        "serverErrorPercent": 2, "latencyP99Ms": 250, "targetConnectionErrors": 40, "availabilityGoalPercent": 99.5,
        "sloWindowDays": 7})).synthesize("dev", shared=True)
    alarms = _by_signal(plan, "us-west-1")
    assert {a["threshold"] for (_, s), a in alarms.items() if s == "5xx"} == {2}
    assert {a["threshold"] for (_, s), a in alarms.items() if s == "latency"} == {0.25}
    assert {a["threshold"] for (_, s), a in alarms.items() if s == "target-connection-errors"} == {40}
    assert {a["threshold"] for (_, s), a in alarms.items() if s == "error-budget-burn"} == {monitoring.fast_burn_rate(7)}
    assert all("/ 0.5" in _queries(a)["signal"]["expression"] for (_, s), a in alarms.items() if s == "error-budget-burn")
    goals = {json.dumps(json.loads(r.inputs["desiredState"])["Goal"], sort_keys=True)
             for r in plan.of_type("aws:cloudcontrol/resource:Resource")}
    assert goals == {json.dumps({"AttainmentGoal": 99.5, "Interval": {"RollingInterval": {"Duration": 7, "DurationUnit": "DAY"}},
                                 "WarningThreshold": 50}, sort_keys=True)}
