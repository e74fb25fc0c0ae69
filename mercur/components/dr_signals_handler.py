"""The DR signals' Lambda handler: what AWS keeps but publishes no metric of, as metrics the DR dashboard can
draw, in the function's own region (`Mercur/DR`):

- `RecoveryPointAgeMinutes` {BackupVaultName, Origin}: the age of the newest COMPLETED recovery point in the
  region's vault, its own (`Origin=own`) and the copies its peer region sends (`Origin=copy`, a recovery point
  with a source vault). Nothing newer than LOOKBACK: nothing is published, and the graph shows the gap.
- With a Region switch plan, `PlanEvaluationPassed` {Plan} (1: the latest evaluation passed with no warning,
  0: anything else) and `MinutesSinceEvaluation` {Plan}, as this region's ARC endpoint reports them.

Each source is read on its own: one that fails (throttled, a role change) costs its own metrics, not the
others', and the run fails afterwards so its errors alarm pages. No Pulumi import: this file is the function's
code.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

NAMESPACE = "Mercur/DR"
LOOKBACK = timedelta(days=7)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _minutes(moment: datetime, now: datetime) -> float:
    return round((now - _aware(moment)).total_seconds() / 60, 1)


def recovery_point_ages(backup: Any, vault: str, now: datetime) -> dict[str, float]:
    """Origin ("own", "copy") -> the age in minutes of its newest completed recovery point in `vault`."""
    newest: dict[str, datetime] = {}
    for page in backup.get_paginator("list_recovery_points_by_backup_vault").paginate(
            BackupVaultName=vault, ByCreatedAfter=now - LOOKBACK):
        for point in page["RecoveryPoints"]:
            if point.get("Status") != "COMPLETED" or not point.get("CreationDate"):
                continue
            origin = "copy" if point.get("SourceBackupVaultArn") else "own"
            created = _aware(point["CreationDate"])
            newest[origin] = max(newest.get(origin, created), created)
    return {origin: _minutes(created, now) for origin, created in sorted(newest.items())}


def plan_evaluation(arc: Any, plan_arn: str, now: datetime) -> tuple[float, float | None]:
    """(1 if the latest evaluation passed without warnings else 0, minutes since it ran or None)."""
    status = arc.get_plan_evaluation_status(planArn=plan_arn)
    passed = status.get("evaluationState") == "passed" and not status.get("warnings")
    last = status.get("lastEvaluationTime")
    return (1.0 if passed else 0.0), (_minutes(last, now) if last else None)


def metric(name: str, dimensions: dict[str, str], value: float, unit: str, now: datetime) -> dict:
    return {"MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "Value": value, "Unit": unit, "Timestamp": now}


def collect(clients: Callable[[str], Any], vault: str, plan_arn: str, plan_name: str,
            now: datetime) -> tuple[list[dict], list[str]]:
    """The metrics to publish, and what could not be read."""
    data, failures = [], []
    try:
        for origin, age in recovery_point_ages(clients("backup"), vault, now).items():
            data.append(metric("RecoveryPointAgeMinutes", {"BackupVaultName": vault, "Origin": origin}, age,
                               "None", now))
    except Exception as error:  # noqa: BLE001 - any failure of this source is reported, the others still run
        failures.append(f"recovery points of {vault}: {error}")
    if plan_arn:
        try:
            passed, since = plan_evaluation(clients("arc-region-switch"), plan_arn, now)
            data.append(metric("PlanEvaluationPassed", {"Plan": plan_name}, passed, "None", now))
            if since is not None:
                data.append(metric("MinutesSinceEvaluation", {"Plan": plan_name}, since, "None", now))
        except Exception as error:  # noqa: BLE001 - as above
            failures.append(f"evaluation of {plan_name}: {error}")
    return data, failures


def handler(event: Any, context: Any, clients: Callable[[str], Any] | None = None,
            now: datetime | None = None) -> dict:
    if clients is None:
        import boto3
        clients = boto3.client
    now = now or datetime.now(timezone.utc)
    data, failures = collect(clients, os.environ["VAULT"], os.environ.get("PLAN_ARN", ""),
                             os.environ.get("PLAN_NAME", ""), now)
    if data:
        clients("cloudwatch").put_metric_data(Namespace=NAMESPACE, MetricData=data)
    print({"published": [d["MetricName"] for d in data], "failures": failures})
    if failures:
        raise RuntimeError("; ".join(failures))
    return {"published": len(data)}
