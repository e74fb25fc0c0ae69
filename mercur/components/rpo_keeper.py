"""RpoKeeper: one region's scheduled Lambda that keeps `rds.global_db_rpo` on its cluster's parameter group
exactly while that cluster is the writer and another region's cluster replicates from it
(`rpo_keeper_handler.py` says why, and decides). Every child inherits the region's AWS provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import pulumi
import pulumi_aws as aws

from . import rpo_keeper_handler
from .keys import from_account

HANDLER = Path(rpo_keeper_handler.__file__)
SCHEDULE = "rate(1 minute)"
LOG_RETENTION_DAYS = 365  # CKV_AWS_338: a year at least


def keeper_policy(partition: str, account: str, region: str, global_cluster: str, parameter_group: str,
                  log_group_arn: str) -> str:
    """What the keeper does, on what: where the writer is (the global cluster), its own group's parameter,
    the peers' RPO lag (GetMetricData has no resource-level permission), its log."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "FindTheWriter", "Effect": "Allow", "Action": "rds:DescribeGlobalClusters",
         "Resource": f"arn:{partition}:rds::{account}:global-cluster:{global_cluster}"},
        {"Sid": "KeepTheBoundOnItsOwnGroup", "Effect": "Allow",
         "Action": ["rds:DescribeDBClusterParameters", "rds:ModifyDBClusterParameterGroup",
                    "rds:ResetDBClusterParameterGroup"],
         "Resource": f"arn:{partition}:rds:{region}:{account}:cluster-pg:{parameter_group}"},
        {"Sid": "ReadThePeersLag", "Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"},
        {"Sid": "NoteItsOwnVerdicts", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
         "Condition": {"StringEquals": {"cloudwatch:namespace": rpo_keeper_handler.OWN_NAMESPACE}}},
        {"Sid": "WriteItsLog", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": f"{log_group_arn}:*"}]})


class RpoKeeper(pulumi.ComponentResource):
    def __init__(self, name: str, *, label: str, partition: str, account: str, region: str,
                 cluster_arn: pulumi.Input[str], global_cluster: str, parameter_group: str,
                 peers: Mapping[str, str], rpo_seconds: int, log_key_arn: pulumi.Input[str],
                 alerts_topic_arn: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:database:RpoKeeper", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        function_name = f"{label}-rpo-keeper"
        logs = aws.cloudwatch.LogGroup(f"{name}-rpo-keeper", name=f"/aws/lambda/{function_name}",
                                       retention_in_days=LOG_RETENTION_DAYS, kms_key_id=log_key_arn, opts=child)
        role = aws.iam.Role(f"{name}-rpo-keeper", name=function_name, opts=child,
                            description=f"{label}: keeps rds.global_db_rpo on the writer's parameter group",
                            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole", "Condition": from_account(account)}]}))
        policy = aws.iam.RolePolicy(f"{name}-rpo-keeper", role=role.id, name="keep-the-rpo-bound", opts=child,
                                    policy=logs.arn.apply(lambda arn: keeper_policy(
                                        partition, account, region, global_cluster, parameter_group, arn)))
        self.function = aws.lambda_.Function(
            f"{name}-rpo-keeper", name=function_name, role=role.arn, runtime=aws.lambda_.Runtime.PYTHON3D13,
            handler=f"{HANDLER.stem}.handler", architectures=["arm64"], memory_size=128, timeout=60,
            code=pulumi.AssetArchive({HANDLER.name: pulumi.FileAsset(str(HANDLER))}),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables={
                "CLUSTER_ARN": cluster_arn, "GLOBAL_CLUSTER": global_cluster, "PARAMETER_GROUP": parameter_group,
                "RPO_SECONDS": str(rpo_seconds),
                "PEERS": json.dumps([{"region": r, "cluster": c} for r, c in sorted(peers.items())])}),
            description=f"{label}: rds.global_db_rpo on the writer while a peer replicates (rpo_keeper_handler.py)",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, logs]))
        # Once, when the keeper is created (the provider's default lifecycle scope): its first decision before the
        # cluster has instances. An error fails the `up` that made it.
        self.first_run = aws.lambda_.Invocation(
            f"{name}-rpo-keeper-first-run", function_name=self.function.name,
            input=json.dumps({rpo_keeper_handler.FIRST_RUN: True}), opts=child)
        every_minute = aws.cloudwatch.EventRule(f"{name}-rpo-keeper", name=function_name,
                                                description=f"{label}: run the RPO keeper",
                                                schedule_expression=SCHEDULE, opts=child)
        permission = aws.lambda_.Permission(f"{name}-rpo-keeper", action="lambda:InvokeFunction",
                                            function=self.function.name, principal="events.amazonaws.com",
                                            source_arn=every_minute.arn, source_account=account, opts=child)
        aws.cloudwatch.EventTarget(f"{name}-rpo-keeper", rule=every_minute.name, arn=self.function.arn,
                                   opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]))
        # A keeper that fails, or stops running, leaves the bound as it was: on a writer that lost its peer,
        # commits wait. Its errors page, and so does a minute without a run (missing data: breaching).
        aws.cloudwatch.MetricAlarm(
            f"{name}-rpo-keeper-silent", name=f"{function_name}-not-running",
            alarm_description=f"{label}: the RPO keeper has not run for 5 minutes (disabled, throttled, its schedule "
                              f"gone): rds.global_db_rpo stays as it was",
            namespace="AWS/Lambda", metric_name="Invocations", dimensions={"FunctionName": function_name},
            statistic="Sum", period=300, evaluation_periods=1, threshold=1, comparison_operator="LessThanThreshold",
            treat_missing_data="breaching", alarm_actions=[alerts_topic_arn], ok_actions=[alerts_topic_arn],
            opts=child)
        self.errors = aws.cloudwatch.MetricAlarm(
            f"{name}-rpo-keeper-errors", name=f"{function_name}-errors",
            alarm_description=f"{label}: the RPO keeper fails; rds.global_db_rpo stays as it was (a writer that "
                              f"lost its secondary may block commits): docs/runbook.md, \"The RPO bound\"",
            namespace="AWS/Lambda", metric_name="Errors", dimensions={"FunctionName": function_name},
            statistic="Sum", period=60, evaluation_periods=3, datapoints_to_alarm=2, threshold=0,
            comparison_operator="GreaterThanThreshold", treat_missing_data="notBreaching",
            alarm_actions=[alerts_topic_arn], ok_actions=[alerts_topic_arn], opts=child)
        self.register_outputs({"functionName": function_name})
