"""DrSignals: one region's scheduled Lambda that publishes what the DR dashboard shows but AWS has no metric of:
the newest recovery point's age in the region's vault, and the Region switch plan's latest evaluation
(`dr_signals_handler.py`). Each region reads only its own vault and its own ARC endpoint, so a lost region
stops only its own signals. Every child inherits the region's AWS provider."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi

from . import dr_signals_handler
from .scheduled import Schedule, ScheduledFunction, log_statement, put_metrics_statement

HANDLER = Path(dr_signals_handler.__file__)
# AWS Backup's and ARC's figures change on the scale of hours and evaluations: five minutes is fresh enough.
SCHEDULE = "rate(5 minutes)"


def signals_policy(vault_arn: str, plan_arn: str | None, log_group_arn: str) -> str:
    statements = [{"Sid": "ReadTheVaultsRecoveryPoints", "Effect": "Allow",
                   "Action": "backup:ListRecoveryPointsByBackupVault", "Resource": vault_arn}]
    if plan_arn:
        statements.append({"Sid": "ReadThePlansEvaluation", "Effect": "Allow",
                           "Action": "arc-region-switch:GetPlanEvaluationStatus", "Resource": plan_arn})
    statements += [put_metrics_statement(dr_signals_handler.NAMESPACE), log_statement(log_group_arn)]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class DrSignals(pulumi.ComponentResource):
    def __init__(self, name: str, *, label: str, account: str, vault_name: str, vault_arn: pulumi.Input[str],
                 plan_arn: pulumi.Input[str] | None, plan_name: str | None, log_key_arn: pulumi.Input[str],
                 alerts_topic_arn: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:monitoring:DrSignals", name, None, opts)
        function_name = f"{label}-dr-signals"
        sources = pulumi.Output.all(vault_arn, plan_arn)
        scheduled = ScheduledFunction(f"{name}-dr-signals", Schedule(
            function_name=function_name, handler=HANDLER, expression=SCHEDULE,
            description=f"{label}: recovery point ages and the switch plan's evaluation as metrics "
                        f"(dr_signals_handler.py)",
            policy_name="publish-dr-signals",
            policy=lambda log_arn: sources.apply(lambda found: signals_policy(found[0], found[1], log_arn)),
            environment={"VAULT": vault_name, "PLAN_ARN": plan_arn or "", "PLAN_NAME": plan_name or ""}),
            account=account, log_key_arn=log_key_arn, parent=self)
        self.function = scheduled.function
        # Signals that stop leave gaps on the dashboard; signals that fail page.
        scheduled.errors_alarm(f"{label}: the DR signals fail (the DR dashboard's recovery point ages or plan "
                               f"evaluation go stale); its log says which source", 300, alerts_topic_arn)
        self.register_outputs({"functionName": function_name})
