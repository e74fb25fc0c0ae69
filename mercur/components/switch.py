"""One switch for the whole application: an ARC Region switch plan that moves capacity, the database writer
and the traffic together.

Per region a workflow activates it: approval (where a person decides; none where the plan switches by
itself) → in parallel, the apps scaled to the active region's capacity (ungraceful: enough of it) and the
Aurora writer switched over (failed over, when ungraceful) → the Route 53 step,
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
from . import switch_permissions as permissions
from .lookups import tolerated, unanswered
from ..config.objectives import AURORA_STEP_TIMEOUT_SECONDS, EKS_SCALING_SECONDS, ROUTE53_STEP_SECONDS

SERVICE = "arc-region-switch.amazonaws.com"
# pulumi-aws's `arcregionswitch.get_route53_health_checks`, called by its token (see lookups.py)
HEALTH_CHECKS_FUNCTION = "aws:arcregionswitch/getRoute53HealthChecks:getRoute53HealthChecks"
CAPACITY_MONITORING = "sampledMaxInLast24Hours"  # the only approach EKS scaling offers
ROLES = ("primary", "secondary")  # the failover records' set identifiers (failover.py), in failover order
# Ungraceful (the other region lost), the scaling step succeeds once this share of the target capacity is
# ready instead of all of it: until the traffic step runs nobody is served at all, and after it the HPAs
# (whose scale-down the block disables) and Auto Mode keep adding the rest. The API takes 0-99.
UNGRACEFUL_CAPACITY_PERCENT = 50


def plan_name(label: str) -> str:
    """Region switch plan names: 1-32 letters, digits and dashes."""
    return f"{label}-switch"[:32].rstrip("-")


def execution_role_trust(account: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": SERVICE}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]})


def block_types(workflows: Sequence[arc.PlanWorkflowArgs]) -> set[str]:
    """The execution block types the workflows use, parallel steps included: what the role needs rows for."""
    found: set[str] = set()

    def walk(steps: Sequence[Any]) -> None:
        for step in steps:
            found.add(step.execution_block_type)
            for parallel in getattr(step, "parallel_configs", None) or []:  # nested steps cannot nest again
                walk(parallel.steps)
    for workflow in workflows:
        steps = workflow.steps or []
        assert isinstance(steps, Sequence), "the program builds its workflows' steps as lists"
        walk(steps)
    return found


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
                 health_check_interval_seconds: int, provider: aws.Provider, provider_region: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:switch:RegionSwitch", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self._switch, self._regions, self._apps = switch, list(regions), list(apps)
        self._global_cluster, self._record = global_cluster, record

        triggers = {r.name: self._trigger_alarm(name, label, r, child) for r in regions} \
            if switch.automatic_after_minutes else {}

        associated = [arc.PlanAssociatedAlarmArgs(map_block_key=f"{r.name}-health", alarm_type="applicationHealth",
                                                  resource_identifier=r.health_alarm_arn) for r in regions]
        associated += [arc.PlanAssociatedAlarmArgs(map_block_key=f"{r.name}-replication-lag",
                                                   alarm_type="applicationHealth", resource_identifier=r.lag_alarm_arn)
                       for r in regions if r.lag_alarm_arn is not None]
        associated += [arc.PlanAssociatedAlarmArgs(map_block_key=f"{region}-down", alarm_type="trigger",
                                                   resource_identifier=alarm.arn) for region, alarm in triggers.items()]
        # An automatic switch to a region when the other has been red the configured minutes. A trigger runs
        # the same workflow a person starts (ARC has one per action and region, and a trigger names no mode),
        # so the config never pairs it with an approval step (RegionSwitchConfig); should it run graceful
        # while the red region cannot take part, the writer's switchover fails and the runbook switches the
        # execution to ungraceful.
        plan_triggers = [arc.PlanTriggerArgs(
            target_region=target.name, action="activate", description=f"{other.name} down: switch to {target.name}",
            min_delay_minutes_between_executions=60,
            conditions=[arc.PlanTriggerConditionArgs(associated_alarm_name=f"{other.name}-down", condition="red")])
            for target in regions for other in regions if other is not target] if triggers else None
        workflows = [self._workflow(target, zone_id) for target in regions]

        # Before the plan, so that its first evaluation finds what each of its blocks needs (switch_permissions).
        needs = permissions.needed(block_types(workflows), associated_alarms=bool(associated),
                                   triggers=bool(plan_triggers))
        resources = pulumi.Output.all(
            zone=zone_id, role=role.arn, alarms=pulumi.Output.all(*[a.resource_identifier for a in associated]),
            eks=pulumi.Output.all(*[r.eks_cluster_arn for r in regions]),
            databases=pulumi.Output.all(*[r.database_arn for r in regions if r.database_arn is not None]))
        policy = aws.iam.RolePolicy(
            f"{name}-execution", role=role.role.id, name="region-switch-blocks", opts=child,
            policy=resources.apply(lambda v: json.dumps(permissions.policy(needs, permissions.Resources(
                partition=partition, account=account, plan_name=plan_name(label), role_arn=v["role"],
                alarms=tuple(v["alarms"]), eks_clusters=tuple(v["eks"]), global_cluster=global_cluster,
                db_clusters=tuple(v["databases"]), hosted_zone=v["zone"])))))

        self.plan_name = plan_name(label)
        self.plan = arc.Plan(
            f"{name}-plan", name=self.plan_name, description=f"{label}: capacity, the writer, then the traffic",
            execution_role=role.arn, recovery_approach="activePassive",
            regions=[r.name for r in regions], primary_region=regions[0].name,
            recovery_time_objective_minutes=max(1, round(rto_minutes)),
            associated_alarms=associated, triggers=plan_triggers,
            workflows=workflows,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[role, policy])))

        # The health checks the Route 53 step controls, by region: what the failover records answer by.
        # Only ARC knows their ids: asked of its control plane through the global provider; unknown (not a
        # failed run) while that region cannot answer (lookups.py).
        async def ask() -> arc.GetRoute53HealthChecksResult | None:
            plan_arn = await self.plan.arn.future()
            return None if plan_arn is None else await pulumi.runtime.invoke_async(
                HEALTH_CHECKS_FUNCTION, {"planArn": plan_arn}, opts=pulumi.InvokeOptions(provider=provider),
                typ=arc.GetRoute53HealthChecksResult)

        controlled = tolerated(
            ask, region=provider_region, what="the health checks of the Region switch plan", depends_on={self.plan},
            meanwhile="the failover records keep the health checks they have")
        # Declared down for this run: the records are told to keep their health check ids (failover.route).
        self.unanswered = unanswered(provider_region)
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
            parallel.append(self._writer(self._global_cluster))
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
                ungracefuls=[arc.PlanWorkflowStepParallelConfigStepEksResourceScalingConfigUngracefulArgs(
                    minimum_success_percentage=UNGRACEFUL_CAPACITY_PERCENT)],
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

    def _writer(self, global_cluster: str) -> arc.PlanWorkflowStepParallelConfigStepArgs:
        """Graceful: a switchover (no data loss); ungraceful: a failover that may lose the replication lag."""
        return arc.PlanWorkflowStepParallelConfigStepArgs(
            name="move-writer", execution_block_type="AuroraGlobalDatabase",
            description="The Aurora writer to the activated region",
            global_aurora_configs=[arc.PlanWorkflowStepParallelConfigStepGlobalAuroraConfigArgs(
                behavior="switchoverOnly", global_cluster_identifier=global_cluster,
                database_cluster_arns=[r.database_arn for r in self._regions if r.database_arn is not None],
                timeout_minutes=AURORA_STEP_TIMEOUT_SECONDS // 60,
                ungracefuls=[arc.PlanWorkflowStepParallelConfigStepGlobalAuroraConfigUngracefulArgs(
                    ungraceful="failover")])])

