"""How the DR tools reach AWS: one client per service and region, Route53's published health, and the one
failure that is the caller's input rather than the stack's state — no usable credentials."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import boto3
from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError, PartialCredentialsError

ClientFactory = Callable[[str, str], Any]  # (service, region) -> boto3 client
ROUTE53_REGION = "us-east-1"  # Route53 is global; its API and its health metrics live in us-east-1
# What AWS answers when the credentials, not the stack, are the problem.
CREDENTIAL_ERRORS = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                     "InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure"}


class NoCredentials(RuntimeError):
    """The caller has no usable AWS credentials: bad input (exit 2), not an outage verdict."""


def default_clients(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)


def require_credentials() -> None:
    """Fail before any call (and before a drill changes anything) when boto3 finds no credentials."""
    if boto3.session.Session().get_credentials() is None:
        raise NoCredentials("no AWS credentials found; set AWS_PROFILE, or run where a role is assumed "
                            "(`aws sts get-caller-identity` must work)")


def credential_failure(error: BaseException) -> NoCredentials | None:
    """`error` as NoCredentials when it is about the credentials, else None."""
    if isinstance(error, (NoCredentialsError, PartialCredentialsError, NoRegionError)):
        return NoCredentials(f"AWS credentials unusable: {error}")
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in CREDENTIAL_ERRORS:
        return NoCredentials(f"AWS rejected the credentials: {error.response['Error'].get('Message', error)}; "
                             "refresh them (`aws sso login`, or assume the role again)")
    return None


def cached(factory: ClientFactory) -> ClientFactory:
    """One client per service and region: creating a boto3 client costs tens of milliseconds."""
    clients: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in clients:
            clients[service, region] = factory(service, region)
        return clients[service, region]
    return client


def health_check_healthy(cloudwatch: Any, health_check_id: str, now: datetime | None = None) -> bool | None:
    """Route53's own verdict, as it publishes it: the HealthCheckStatus metric (1 healthy, 0 not) in us-east-1.
    Route53 decides by its checkers (healthy while more than 18% of them report success); GetHealthCheckStatus
    shows the checkers' last observations, which the Developer Guide calls a troubleshooting aid. None: no data."""
    value = latest(cloudwatch, "AWS/Route53", "HealthCheckStatus", {"HealthCheckId": health_check_id}, "Minimum",
                   now or datetime.now(timezone.utc))
    return None if value is None else value >= 1


def latest(cloudwatch: Any, namespace: str, metric: str, dimensions: dict[str, str], statistic: str,
           now: datetime) -> float | None:
    """The newest one-minute `statistic` of the last five minutes, or None without data."""
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName=metric, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(minutes=5), EndTime=now, Period=60, Statistics=[statistic])["Datapoints"]
    return max(points, key=lambda p: p["Timestamp"])[statistic] if points else None


def replication_lag_ms(cloudwatch: Any, cluster_id: str, now: datetime) -> float | None:
    """How far a secondary Aurora cluster trails the writer (AuroraGlobalDBReplicationLag, in ms)."""
    return latest(cloudwatch, "AWS/RDS", "AuroraGlobalDBReplicationLag", {"DBClusterIdentifier": cluster_id},
                  "Maximum", now)


def newest_recovery_point(backup: Any, vault: str, resource_arn: str) -> dict | None:
    """The newest COMPLETED AWS Backup recovery point of `resource_arn` in `vault` (every page read)."""
    points = [p for page in backup.get_paginator("list_recovery_points_by_backup_vault").paginate(
        BackupVaultName=vault, ByResourceArn=resource_arn) for p in page["RecoveryPoints"]
        if p.get("Status") == "COMPLETED" and p.get("CreationDate")]
    return max(points, key=lambda p: aware(p["CreationDate"]), default=None)


def writer_region(rds: Any, global_cluster_id: str) -> str | None:
    """Where the global database's writer is now, as RDS says (a region's RDS answers for the global cluster);
    None: no writer (a switchover between its two halves)."""
    [found] = rds.describe_global_clusters(GlobalClusterIdentifier=global_cluster_id)["GlobalClusters"]
    return next((m["DBClusterArn"].split(":")[3] for m in found.get("GlobalClusterMembers", []) if m.get("IsWriter")),
                None)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def minutes_since(moment: datetime, now: datetime | None = None) -> float:
    """How old a recovery point or snapshot is: what losing everything after it costs."""
    return ((now or datetime.now(timezone.utc)) - aware(moment)).total_seconds() / 60
