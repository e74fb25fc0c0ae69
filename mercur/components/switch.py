"""One switch for the whole application: an ARC Region switch plan that moves capacity, the database writer
and the traffic together.

Per region a workflow activates it: approval (staging, prod) → in parallel, the apps scaled to the active
region's capacity and the Aurora writer switched over (failed over, when ungraceful) → the Route 53 step,
which flips the health checks the plan controls. The failover records answer by those health checks, so
traffic moves when the plan says and never before the writer. The endpoint health checks and their alarms
stay the detection signal: the plan's application-health alarms and, where configured, its trigger.

Region switch plans execute from the region being activated (its data plane is regional): failing over
needs nothing from the failed region. The plan itself lives in the control plane (us-east-1), created
through the global provider so that reordering the regions does not replace it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws
from pulumi_aws import arcregionswitch as arc

from ..config import AppConfig, RegionSwitchConfig
from ..config.objectives import AURORA_SWITCH_SECONDS, EKS_SCALING_SECONDS, ROUTE53_STEP_SECONDS

SERVICE = "arc-region-switch.amazonaws.com"
CAPACITY_MONITORING = "sampledMaxInLast24Hours"  # the only approach EKS scaling offers
ROLES = ("primary", "secondary")  # the failover records' set identifiers (failover.py), in failover order


def plan_name(label: str) -> str:
    """Region switch plan names: 1-32 letters, digits and dashes."""
    return f"{label}-switch"[:32].rstrip("-")


def execution_role_trust(account: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": SERVICE}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]})


def execution_policy(partition: str, account: str, label: str, zone_id: str, global_cluster: str | None,
                     alarms: Sequence[str]) -> str:
    """What the plan's blocks need (ARC Developer Guide, "Execution block permissions"): reading the
    clusters it scales (Kubernetes rights come from an access entry), switching the global database,
    listing the record sets it maps to regions, and reading the alarms it evaluates."""
    statements: list[dict[str, Any]] = [
        {"Sid": "ScaleTheApps", "Effect": "Allow", "Action": ["eks:DescribeCluster", "eks:ListAssociatedAccessPolicies"],
         "Resource": f"arn:{partition}:eks:*:{account}:cluster/{label}-*"},
        {"Sid": "MapRecordSetsToRegions", "Effect": "Allow", "Action": "route53:ListResourceRecordSets",
         "Resource": f"arn:{partition}:route53:::hostedzone/{zone_id}"},
        {"Sid": "EvaluateItsAlarms", "Effect": "Allow", "Action": "cloudwatch:DescribeAlarms",
         "Resource": list(alarms) or "*"},
    ]
    if global_cluster:
        statements.append({
            "Sid": "MoveTheWriter", "Effect": "Allow",
            "Action": ["rds:DescribeGlobalClusters", "rds:DescribeDBClusters", "rds:SwitchoverGlobalCluster",
                       "rds:FailoverGlobalCluster"],
            "Resource": [f"arn:{partition}:rds::{account}:global-cluster:{global_cluster}",
                         f"arn:{partition}:rds:*:{account}:cluster:{label}-*"]})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


@dataclass(frozen=True)
class SwitchRegion:
    """What the plan needs of one region: its EKS cluster, its Aurora cluster, its health alarm."""

    name: str
    eks_cluster_arn: pulumi.Output[str]
    database_arn: pulumi.Output[str] | None
    health_alarm_arn: pulumi.Output[str]
    health_check_id: pulumi.Output[str]  # the endpoint's: detection, not routing
    lag_alarm_arn: pulumi.Output[str] | None = None


class SwitchRole(pulumi.ComponentResource):
    """The plan's execution role: created before the clusters, whose access entries name it."""

    def __init__(self, name: str, *, label: str, account: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:switch:SwitchRole", name, None, opts)
        self.role = aws.iam.Role(f"{name}-execution", name=f"{label}-region-switch",
                                 description=f"ARC Region switch runs the {label} plan with it",
                                 assume_role_policy=execution_role_trust(account),
                                 opts=pulumi.ResourceOptions(parent=self))
        self.arn = self.role.arn
        self.register_outputs({"arn": self.arn})


class RegionSwitch(pulumi.ComponentResource):
    """The plan, its policy and trigger alarms; `health_checks` maps each region to the health check the plan
    controls for it (the failover records' health checks)."""

    def __init__(self, name: str, *, switch: RegionSwitchConfig, label: str, partition: str, account: str,
                 role: SwitchRole, regions: Sequence[SwitchRegion], apps: Sequence[AppConfig],
                 zone_id: pulumi.Input[str], record: str, global_cluster: str | None, rto_minutes: float,
                 health_check_interval_seconds: int, provider: aws.Provider,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:switch:RegionSwitch", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self._switch, self._regions, self._apps = switch, list(regions), list(apps)
        self._global_cluster, self._record = global_cluster, record

        triggers = {r.name: self._trigger_alarm(name, label, r, child) for r in regions} \
            if switch.automatic_after_minutes else {}
        alarm_arns = [r.health_alarm_arn for r in regions] + [t.arn for t in triggers.values()] + [
            r.lag_alarm_arn for r in regions if r.lag_alarm_arn is not None]
        aws.iam.RolePolicy(f"{name}-execution", role=role.role.id, name="region-switch-blocks", opts=child,
                           policy=pulumi.Output.all(zone_id, *alarm_arns).apply(
                               lambda v: execution_policy(partition, account, label, v[0], global_cluster, v[1:])))

        associated = [arc.PlanAssociatedAlarmArgs(map_block_key=f"{r.name}-health", alarm_type="applicationHealth",
                                                  resource_identifier=r.health_alarm_arn) for r in regions]
        associated += [arc.PlanAssociatedAlarmArgs(map_block_key=f"{r.name}-replication-lag",
                                                   alarm_type="applicationHealth", resource_identifier=r.lag_alarm_arn)
                       for r in regions if r.lag_alarm_arn is not None]
        associated += [arc.PlanAssociatedAlarmArgs(map_block_key=f"{region}-down", alarm_type="trigger",
                                                   resource_identifier=alarm.arn) for region, alarm in triggers.items()]
        # An automatic switch to a region when the other has been red the configured minutes (ungraceful:
        # the red region may be unable to take part).
        plan_triggers = [arc.PlanTriggerArgs(
            target_region=target.name, action="activate", description=f"{other.name} down: switch to {target.name}",
            min_delay_minutes_between_executions=60,
            conditions=[arc.PlanTriggerConditionArgs(associated_alarm_name=f"{other.name}-down", condition="red")])
            for target in regions for other in regions if other is not target] if triggers else None

        self.plan = arc.Plan(
            f"{name}-plan", name=plan_name(label), description=f"{label}: capacity, the writer, then the traffic",
            execution_role=role.arn, recovery_approach="activePassive",
            regions=[r.name for r in regions], primary_region=regions[0].name,
            recovery_time_objective_minutes=max(1, round(rto_minutes)),
            associated_alarms=associated, triggers=plan_triggers,
            workflows=[self._workflow(target, zone_id) for target in regions],
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[role])))

        # The health checks the Route 53 step controls, by region: what the failover records answer by.
        controlled = arc.get_route53_health_checks_output(plan_arn=self.plan.arn,
                                                          opts=pulumi.InvokeOptions(provider=provider))
        self.health_checks: pulumi.Output[dict[str, str]] = controlled.health_checks.apply(
            lambda checks: {c.region: c.health_check_id for c in checks if c.record_name.rstrip(".") == record})
        self.arn = self.plan.arn
        self.trigger_alarms = triggers
        self.register_outputs({"planArn": self.plan.arn})

    def _trigger_alarm(self, name: str, label: str, region: SwitchRegion,
                       child: pulumi.ResourceOptions) -> aws.cloudwatch.MetricAlarm:
        """The region's endpoint health check failing for `automaticAfterMinutes` minutes in a row."""
        minutes = self._switch.automatic_after_minutes
        return aws.cloudwatch.MetricAlarm(
            f"{name}-{region.name}-down", name=f"{label}-{region.name}-down-{minutes}min",
            alarm_description=f"{region.name}'s endpoint unhealthy {minutes} min: the Region switch plan activates "
                              f"the other region", namespace="AWS/Route53", metric_name="HealthCheckStatus",
            dimensions={"HealthCheckId": region.health_check_id}, statistic="Minimum", period=60,
            evaluation_periods=minutes, threshold=1, comparison_operator="LessThanThreshold",
            treat_missing_data="breaching", opts=child)

    def _workflow(self, target: SwitchRegion, zone_id: pulumi.Input[str]) -> arc.PlanWorkflowArgs:
        steps: list[arc.PlanWorkflowStepArgs] = []
        if self._switch.approval_role_arn:
            steps.append(arc.PlanWorkflowStepArgs(
                name="approve", execution_block_type="ManualApproval",
                description="A person approves the switch",
                execution_approval_configs=[arc.PlanWorkflowStepExecutionApprovalConfigArgs(
                    approval_role=self._switch.approval_role_arn,
                    timeout_minutes=self._switch.approval_timeout_minutes)]))
        parallel = [self._scaling()]
        if self._global_cluster:
            parallel.append(self._writer())
        steps.append(arc.PlanWorkflowStepArgs(
            name="capacity-and-writer", execution_block_type="Parallel",
            description="Scale the apps to the active region's capacity while the writer moves",
            parallel_configs=[arc.PlanWorkflowStepParallelConfigArgs(steps=parallel)]))
        steps.append(arc.PlanWorkflowStepArgs(
            name="traffic", execution_block_type="Route53HealthCheck",
            description="Flip the health checks the failover records answer by",
            route53_health_check_configs=[arc.PlanWorkflowStepRoute53HealthCheckConfigArgs(
                hosted_zone_id=zone_id, record_name=self._record,
                timeout_minutes=max(1, -(-ROUTE53_STEP_SECONDS // 60)),
                record_sets=[arc.PlanWorkflowStepRoute53HealthCheckConfigRecordSetArgs(
                    record_set_identifier=role, region=region.name)
                    for role, region in zip(ROLES, self._regions)])]))
        return arc.PlanWorkflowArgs(workflow_target_action="activate", workflow_target_region=target.name,
                                    workflow_description=f"Make {target.name} the active region", steps=steps)

    def _scaling(self) -> arc.PlanWorkflowStepParallelConfigStepArgs:
        """Every app's Deployment and HPA, in both clusters: the activated one grows to the other's capacity."""
        step = arc.PlanWorkflowStepParallelConfigStepEksResourceScalingConfigArgs
        return arc.PlanWorkflowStepParallelConfigStepArgs(
            name="scale-apps", execution_block_type="EKSResourceScaling",
            description="Every app at the active region's capacity",
            eks_resource_scaling_configs=[step(
                capacity_monitoring_approach=CAPACITY_MONITORING, target_percent=100,
                timeout_minutes=max(1, -(-EKS_SCALING_SECONDS // 60)) * 2,
                eks_clusters=[arc.PlanWorkflowStepParallelConfigStepEksResourceScalingConfigEksClusterArgs(
                    cluster_arn=r.eks_cluster_arn) for r in self._regions],
                kubernetes_resource_types=[
                    arc.PlanWorkflowStepParallelConfigStepEksResourceScalingConfigKubernetesResourceTypeArgs(
                        api_version="apps/v1", kind="Deployment")],
                scaling_resources=[
                    arc.PlanWorkflowStepParallelConfigStepEksResourceScalingConfigScalingResourceArgs(
                        namespace=app.name, resources=[
                            arc.PlanWorkflowStepParallelConfigStepEksResourceScalingConfigScalingResourceResourceArgs(
                                resource_name=region.name, name=app.name, namespace=app.name, hpa_name=app.name)
                            for region in self._regions])
                    for app in self._apps if not app.volume])])

    def _writer(self) -> arc.PlanWorkflowStepParallelConfigStepArgs:
        """Graceful: a switchover (no data loss); ungraceful: a failover that may lose the replication lag."""
        return arc.PlanWorkflowStepParallelConfigStepArgs(
            name="move-writer", execution_block_type="AuroraGlobalDatabase",
            description="The Aurora writer to the activated region",
            global_aurora_configs=[arc.PlanWorkflowStepParallelConfigStepGlobalAuroraConfigArgs(
                behavior="switchoverOnly", global_cluster_identifier=self._global_cluster,
                database_cluster_arns=[r.database_arn for r in self._regions if r.database_arn is not None],
                timeout_minutes=max(1, -(-AURORA_SWITCH_SECONDS // 60)) * 3,
                ungracefuls=[arc.PlanWorkflowStepParallelConfigStepGlobalAuroraConfigUngracefulArgs(
                    ungraceful="failover")])])

