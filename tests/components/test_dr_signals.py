"""mercur.components.dr_signals: in each region of a multi-region stack, a function that publishes its vault's
recovery point ages and the switch plan's evaluation, reading only what is its own."""

from __future__ import annotations

import hashlib
import json

from mercur.components import dr_signals, dr_signals_handler
from mercur.offline import synth


def _functions(plan) -> dict:
    return {f.region: f for f in plan.of_type("aws:lambda/function:Function") if f.inputs["name"].endswith("-dr-signals")}


def test_each_region_of_a_multi_region_stack_publishes_its_own_vaults_and_the_plans_signals(plan_of) -> None:
    plan = plan_of("prod")
    functions = _functions(plan)
    assert set(functions) == set(plan.outputs["failoverOrder"])
    [switch] = plan.of_type("aws:arcregionswitch/plan:Plan")
    plan_arn = synth._computed(switch.type, switch.name, switch.id, None, switch.inputs, plan.account)["arn"]
    for region, function in functions.items():
        environment = function.inputs["environment"]["variables"]
        vault = plan.outputs["regions"][region]["backupVaultArn"]
        assert vault.endswith(f":backup-vault:{environment['VAULT']}") and f":{region}:" in vault
        assert (environment["PLAN_ARN"], environment["PLAN_NAME"]) == (plan_arn, switch.inputs["name"])
        # The code uploaded is the handler the tests run.
        assert function.inputs["code"] == {"archive": {"dr_signals_handler.py": {
            "file": "dr_signals_handler.py", "sha256": hashlib.sha256(dr_signals.HANDLER.read_bytes()).hexdigest()}}}
        assert function.inputs["handler"] == "dr_signals_handler.handler"
        [rule] = [r for r in plan.of_type("aws:cloudwatch/eventRule:EventRule")
                  if r.region == region and r.inputs["name"] == function.inputs["name"]]
        assert rule.inputs["scheduleExpression"] == dr_signals.SCHEDULE
        [errors] = [a for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                    if a.inputs["name"] == f"{function.inputs['name']}-errors"]
        assert errors.region == region
        assert errors.inputs["alarmActions"] == [plan.outputs["regions"][region]["alertTopicArn"]]
        [policy] = [p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")
                    if p.region == region and p.inputs.get("name") == "publish-dr-signals"]
        granted = {st["Sid"]: st["Resource"] for st in json.loads(policy.inputs["policy"])["Statement"]}
        assert (granted["ReadTheVaultsRecoveryPoints"], granted["ReadThePlansEvaluation"]) == (vault, plan_arn)


def test_a_single_region_stack_has_no_signals(plan_of) -> None:
    assert not _functions(plan_of("dev"))


def test_the_role_reads_its_own_vault_and_plan_only_and_publishes_its_namespace_only() -> None:
    vault = "arn:aws:backup:us-west-1:333333333333:backup-vault:mercur-prod-usw1"
    plan = "arn:aws:arc-region-switch::333333333333:plan/mercur-prod-switch:abc123"
    by_sid = {s["Sid"]: s for s in json.loads(dr_signals.signals_policy(vault, plan, "arn:log"))["Statement"]}
    assert by_sid["ReadTheVaultsRecoveryPoints"] == {"Sid": "ReadTheVaultsRecoveryPoints", "Effect": "Allow",
                                                     "Action": "backup:ListRecoveryPointsByBackupVault",
                                                     "Resource": vault}
    assert by_sid["ReadThePlansEvaluation"]["Resource"] == plan
    assert by_sid["PublishItsMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": dr_signals_handler.NAMESPACE}}
    without_plan = json.loads(dr_signals.signals_policy(vault, None, "arn:log"))["Statement"]
    assert "ReadThePlansEvaluation" not in {s["Sid"] for s in without_plan}
