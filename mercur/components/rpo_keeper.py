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
from .scheduled import Schedule, ScheduledFunction, log_statement

HANDLER = Path(rpo_keeper_handler.__file__)
SCHEDULE = "rate(1 minute)"


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
        log_statement(log_group_arn)]})


class RpoKeeper(pulumi.ComponentResource):
    def __init__(self, name: str, *, label: str, partition: str, account: str, region: str,
                 cluster_arn: pulumi.Input[str], global_cluster: str, parameter_group: str,
                 peers: Mapping[str, str], rpo_seconds: int, log_key_arn: pulumi.Input[str],
                 alerts_topic_arn: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:database:RpoKeeper", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        function_name = f"{label}-rpo-keeper"
        scheduled = ScheduledFunction(f"{name}-rpo-keeper", Schedule(
            function_name=function_name, handler=HANDLER, expression=SCHEDULE,
            description=f"{label}: rds.global_db_rpo on the writer while a peer replicates (rpo_keeper_handler.py)",
            policy_name="keep-the-rpo-bound",
            policy=lambda arn: keeper_policy(partition, account, region, global_cluster, parameter_group, arn),
            environment={"CLUSTER_ARN": cluster_arn, "GLOBAL_CLUSTER": global_cluster,
                         "PARAMETER_GROUP": parameter_group, "RPO_SECONDS": str(rpo_seconds),
                         "PEERS": json.dumps([{"region": r, "cluster": c} for r, c in sorted(peers.items())])}),
            account=account, log_key_arn=log_key_arn, parent=self)
        self.function = scheduled.function
        # Once, when the keeper is created (the provider's default lifecycle scope): its first decision before the
        # cluster has instances. An error fails the `up` that made it.
        self.first_run = aws.lambda_.Invocation(
            f"{name}-rpo-keeper-first-run", function_name=self.function.name,
            input=json.dumps({rpo_keeper_handler.FIRST_RUN: True}), opts=child)
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
        scheduled.errors_alarm(f"{label}: the RPO keeper fails; rds.global_db_rpo stays as it was (a writer that "
                               f"lost its secondary may block commits): docs/runbook.md, \"The RPO bound\"",
                               60, alerts_topic_arn)
        self.register_outputs({"functionName": function_name})
