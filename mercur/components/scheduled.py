"""A Python Lambda that EventBridge runs on a schedule: its code one handler file (boto3 and the standard
library only: the runtime provides both), a role of its own with only the statements it needs, and its log
group on the region's key, kept a year. The RPO keeper and the DR signals are built this way."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import pulumi
import pulumi_aws as aws

from .keys import from_account

LOG_RETENTION_DAYS = 365  # CKV_AWS_338: a year at least


@dataclass(frozen=True)
class Schedule:
    function_name: str
    description: str  # the function's, and its role's purpose
    handler: Path  # the handler module's file: `<stem>.handler` is called
    expression: str  # EventBridge's `rate(...)` or `cron(...)`
    policy_name: str
    policy: Callable[[str], pulumi.Input[str]]  # the log group's ARN -> the role's inline policy document
    environment: Mapping[str, pulumi.Input[str]]
    timeout_seconds: int = 60


class ScheduledFunction:
    """Declares the function and what runs it, as children of `parent`, each named `name`."""

    def __init__(self, name: str, schedule: Schedule, *, account: str, log_key_arn: pulumi.Input[str],
                 parent: pulumi.Resource) -> None:
        child = pulumi.ResourceOptions(parent=parent)
        self._name, self._parent = name, parent
        function_name = self.function_name = schedule.function_name
        self.logs = aws.cloudwatch.LogGroup(name, name=f"/aws/lambda/{function_name}",
                                            retention_in_days=LOG_RETENTION_DAYS, kms_key_id=log_key_arn, opts=child)
        role = aws.iam.Role(name, name=function_name, opts=child, description=schedule.description,
                            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole", "Condition": from_account(account)}]}))
        policy = aws.iam.RolePolicy(name, role=role.id, name=schedule.policy_name, opts=child,
                                    policy=self.logs.arn.apply(schedule.policy))
        handler = schedule.handler
        self.function = aws.lambda_.Function(
            name, name=function_name, role=role.arn, runtime=aws.lambda_.Runtime.PYTHON3D13,
            handler=f"{handler.stem}.handler", architectures=["arm64"], memory_size=128,
            timeout=schedule.timeout_seconds, code=pulumi.AssetArchive({handler.name: pulumi.FileAsset(str(handler))}),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(schedule.environment)),
            description=schedule.description,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy, self.logs]))
        rule = aws.cloudwatch.EventRule(name, name=function_name, description=f"run {function_name}",
                                        schedule_expression=schedule.expression, opts=child)
        permission = aws.lambda_.Permission(name, action="lambda:InvokeFunction", function=self.function.name,
                                            principal="events.amazonaws.com", source_arn=rule.arn,
                                            source_account=account, opts=child)
        aws.cloudwatch.EventTarget(name, rule=rule.name, arn=self.function.arn,
                                   opts=pulumi.ResourceOptions(parent=parent, depends_on=[permission]))

    def errors_alarm(self, description: str, period: int,
                     alerts_topic_arn: pulumi.Input[str]) -> aws.cloudwatch.MetricAlarm:
        """Pages when two of the last three periods saw the function fail (no run is no failure)."""
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-errors", name=f"{self.function_name}-errors", alarm_description=description,
            namespace="AWS/Lambda", metric_name="Errors", dimensions={"FunctionName": self.function_name},
            statistic="Sum", period=period, evaluation_periods=3, datapoints_to_alarm=2, threshold=0,
            comparison_operator="GreaterThanThreshold", treat_missing_data="notBreaching",
            alarm_actions=[alerts_topic_arn], ok_actions=[alerts_topic_arn],
            opts=pulumi.ResourceOptions(parent=self._parent))


def log_statement(log_group_arn: str) -> dict:
    return {"Sid": "WriteItsLog", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*"}


def put_metrics_statement(namespace: str) -> dict:
    """PutMetricData has no resource-level permission: the namespace condition is the bound."""
    return {"Sid": "PublishItsMetrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": namespace}}}
