"""mercur.components.monitoring: every region pages, through its platform topic, on what users feel (each
app's ready pods, restarts), on each database instance (CPU, memory, connections against its
default maximum, deadlocks) and on each NAT gateway; thresholds from the stack file."""

from __future__ import annotations

import json

import pytest

from mercur.components import monitoring
from mercur.config.models import DatabaseConfig

CLUSTER_INSIGHTS = "ContainerInsights"


def _alarms(plan, region: str, namespace: str | None = None) -> list:
    return [a for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.region == region
            and "mercur:monitoring:Monitoring" in a.urn and (namespace is None or a.inputs["namespace"] == namespace)]


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
        alarms = {a.inputs["metricName"]: a for a in _alarms(plan, region, CLUSTER_INSIGHTS)
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
                if a.inputs["metricName"] == "pod_number_of_container_restarts"]
    ready = [a for a in _alarms(plan, "us-west-1", CLUSTER_INSIGHTS) if a.inputs["metricName"] == "pod_status_ready"]
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
                alarm.inputs["metricName"]] = alarm.inputs
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
        assert sorted(a.inputs["metricName"] for a in alarms) == sorted(["ErrorPortAllocation", "PacketsDropCount"]
                                                                         * len(nats))


def test_each_cluster_pages_when_pods_cannot_be_placed(plan_of) -> None:
    """The NodePool at its limits shows as pods pending: ten minutes of them page."""
    plan = plan_of("prod")
    for cluster in plan.of_type("eks:index:Cluster"):
        [alarm] = [a.inputs for a in _alarms(plan, cluster.region, CLUSTER_INSIGHTS)
                   if a.inputs["metricName"] == "pod_status_pending"]
        assert alarm["dimensions"] == {"ClusterName": cluster.inputs["name"]}
        assert (alarm["statistic"], alarm["threshold"], alarm["comparisonOperator"]) == ("Sum", 0,
                                                                                         "GreaterThanThreshold")
        assert alarm["evaluationPeriods"] == alarm["datapointsToAlarm"] == 10
