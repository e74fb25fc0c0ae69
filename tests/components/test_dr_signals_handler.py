"""mercur.components.dr_signals_handler: the vault's newest recovery points and the switch plan's evaluation,
published as metrics. Every call goes through botocore's Stubber, which checks each request against AWS
Backup's, ARC Region switch's and CloudWatch's service models."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber

from mercur.components import dr_signals_handler as signals

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)
VAULT = "mercur-prod-usw1"
PLAN = "arn:aws:arc-region-switch::333333333333:plan/mercur-prod-switch:abc123"
ENV = {"VAULT": VAULT, "PLAN_ARN": PLAN, "PLAN_NAME": "mercur-prod-switch"}


def _point(minutes_ago: float, copy: bool = False, status: str = "COMPLETED") -> dict:
    point = {"RecoveryPointArn": f"arn:aws:backup:us-west-1:333333333333:recovery-point:{minutes_ago}",
             "BackupVaultName": VAULT, "Status": status, "CreationDate": NOW - timedelta(minutes=minutes_ago)}
    if copy:
        point["SourceBackupVaultArn"] = "arn:aws:backup:us-east-1:333333333333:backup-vault:mercur-prod-use1"
    return point


class World:
    def __init__(self, pages: list[list[dict]], evaluation: dict | None = None, backup_error: str | None = None) -> None:
        self.backup, self.arc, self.cloudwatch = (
            boto3.client(service, region_name="us-west-1", aws_access_key_id="x", aws_secret_access_key="x")
            for service in ("backup", "arc-region-switch", "cloudwatch"))
        self.stubs = {name: Stubber(client) for name, client in (
            ("backup", self.backup), ("arc-region-switch", self.arc), ("cloudwatch", self.cloudwatch))}
        asked = {"BackupVaultName": VAULT, "ByCreatedAfter": NOW - signals.LOOKBACK}
        if backup_error:
            self.stubs["backup"].add_client_error("list_recovery_points_by_backup_vault", backup_error,
                                                  expected_params=asked)
        for index, page in enumerate(pages):
            more = {"NextToken": f"t{index + 1}"} if index + 1 < len(pages) else {}
            params = {**asked, **({"NextToken": f"t{index}"} if index else {})}
            self.stubs["backup"].add_response("list_recovery_points_by_backup_vault",
                                              {"RecoveryPoints": page, **more}, params)
        if evaluation is not None:
            self.stubs["arc-region-switch"].add_response("get_plan_evaluation_status",
                                                         {"planArn": PLAN, **evaluation}, {"planArn": PLAN})
        self.published: list[dict] = []

    def expect_publish(self, count: int) -> None:
        """One PutMetricData of `count` data (the Stubber checks their shape; `values` reads them back)."""
        self.stubs["cloudwatch"].add_response("put_metric_data", {}, {
            "Namespace": signals.NAMESPACE, "MetricData": _Capture(self, count)})

    def client(self, service: str):
        return {"backup": self.backup, "arc-region-switch": self.arc, "cloudwatch": self.cloudwatch}[service]

    def run(self, monkeypatch) -> dict:
        for key, value in ENV.items():
            monkeypatch.setenv(key, value)
        for stub in self.stubs.values():
            stub.activate()
        try:
            return signals.handler({}, None, clients=self.client, now=NOW)
        finally:
            for stub in self.stubs.values():
                stub.assert_no_pending_responses()
                stub.deactivate()

    def values(self) -> dict:
        return {(m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"])): m["Value"]
                for m in self.published}


class _Capture:
    """An expected parameter that keeps what was sent (the Stubber compares with ==)."""

    def __init__(self, world: World, count: int) -> None:
        self.world, self.count = world, count

    def __eq__(self, sent) -> bool:
        self.world.published = sent
        return len(sent) == self.count


def test_the_newest_own_recovery_point_and_the_newest_copy_are_aged_across_pages(monkeypatch) -> None:
    world = World([[_point(300), _point(45, copy=True)], [_point(125), _point(20, status="RUNNING"),
                                                           _point(500, copy=True)]],
                  evaluation={"evaluationState": "passed", "lastEvaluationTime": NOW - timedelta(minutes=30)})
    world.expect_publish(4)
    assert world.run(monkeypatch) == {"published": 4}
    assert world.values() == {
        ("RecoveryPointAgeMinutes", (("BackupVaultName", VAULT), ("Origin", "copy"))): 45.0,
        ("RecoveryPointAgeMinutes", (("BackupVaultName", VAULT), ("Origin", "own"))): 125.0,  # not the running one
        ("PlanEvaluationPassed", (("Plan", "mercur-prod-switch"),)): 1.0,
        ("MinutesSinceEvaluation", (("Plan", "mercur-prod-switch"),)): 30.0}


@pytest.mark.parametrize("evaluation", [
    {"evaluationState": "actionRequired", "lastEvaluationTime": NOW},
    {"evaluationState": "passed", "lastEvaluationTime": NOW,
     "warnings": [{"workflow": {"action": "activate"}, "version": "1", "warningStatus": "active",
                   "warningUpdatedTime": NOW, "warningMessage": "the health check is gone"}]}])
def test_an_evaluation_with_warnings_or_not_passed_reads_0(monkeypatch, evaluation) -> None:
    world = World([[_point(10)]], evaluation=evaluation)
    world.expect_publish(3)
    world.run(monkeypatch)
    assert world.values()[("PlanEvaluationPassed", (("Plan", "mercur-prod-switch"),))] == 0.0


def test_nothing_in_the_vault_publishes_no_age_and_a_plan_never_evaluated_no_time(monkeypatch) -> None:
    world = World([[]], evaluation={"evaluationState": "pendingEvaluation"})
    world.expect_publish(1)
    world.run(monkeypatch)
    assert world.values() == {("PlanEvaluationPassed", (("Plan", "mercur-prod-switch"),)): 0.0}


def test_a_failing_source_costs_its_own_metrics_and_fails_the_run(monkeypatch) -> None:
    world = World([], evaluation={"evaluationState": "passed", "lastEvaluationTime": NOW},
                  backup_error="AccessDeniedException")
    world.expect_publish(2)
    with pytest.raises(RuntimeError, match=f"recovery points of {VAULT}: .*AccessDenied"):
        world.run(monkeypatch)
    assert {name for name, _ in world.values()} == {"PlanEvaluationPassed", "MinutesSinceEvaluation"}


def test_without_a_plan_only_the_vault_is_read(monkeypatch) -> None:
    world = World([[_point(60, copy=True)]])
    world.expect_publish(1)
    monkeypatch.setitem(ENV, "PLAN_ARN", "")
    world.run(monkeypatch)
    assert list(world.values()) == [("RecoveryPointAgeMinutes", (("BackupVaultName", VAULT), ("Origin", "copy")))]
