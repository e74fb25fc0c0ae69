"""The RPO keeper's Lambda handler: it keeps Aurora PostgreSQL's `rds.global_db_rpo` on the writer's cluster
parameter group while, and only while, another region's cluster replicates from it.

The parameter makes the writer block commits while every secondary trails it by more than the bound ("no
transactions can commit until the RPO is met"; Aurora User Guide, "Managing RPOs for Aurora PostgreSQL-based
global databases"). It is read from the writer's cluster parameter group, and AWS advises leaving it unset in
a secondary's group: after a failover that lost the old writer's region, a bound on the new writer would
block its commits for want of a secondary. The writer moves at run time (the Region switch), so a keeper in
each region decides for its own cluster, every minute:

- this cluster is the writer, and a peer cluster reports `AuroraGlobalDBRPOLag` (a replicating secondary
  publishes it, in its own region) within the last three minutes: the bound is set;
- otherwise (a secondary, or a writer whose peers' regions do not answer or report nothing): it is unset.

The parameter is dynamic: Aurora applies a change "after a short delay", without a reboot. Only boto3 and
the standard library: the Lambda runtime provides both. No Pulumi import: this file is the function's code.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

PARAMETER = "rds.global_db_rpo"
METRIC = "AuroraGlobalDBRPOLag"  # milliseconds, published for secondary clusters in their regions
FRESH = timedelta(minutes=3)


def peer_replicates(cloudwatch: Any, cluster: str, now: datetime) -> bool:
    """Whether `cluster` reported its RPO lag lately (a cluster that replicates reports it every minute)."""
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "lag", "MetricStat": {
            "Metric": {"Namespace": "AWS/RDS", "MetricName": METRIC,
                       "Dimensions": [{"Name": "DBClusterIdentifier", "Value": cluster}]},
            "Period": 60, "Stat": "Maximum"}}],
        StartTime=now - FRESH, EndTime=now)
    return any(result.get("Values") for result in answer["MetricDataResults"])


def should_bound(rds: Any, cloudwatch_in: Callable[[str], Any], *, cluster_arn: str, global_cluster: str,
                 peers: list[dict[str, str]], now: datetime) -> bool:
    """The bound belongs on this cluster: it is the writer and some peer replicates from it now."""
    [found] = rds.describe_global_clusters(GlobalClusterIdentifier=global_cluster)["GlobalClusters"]
    if not any(m["DBClusterArn"] == cluster_arn and m["IsWriter"] for m in found["GlobalClusterMembers"]):
        return False
    for peer in peers:
        try:
            if peer_replicates(cloudwatch_in(peer["region"]), peer["cluster"], now):
                return True
        except Exception:  # noqa: BLE001 - a region that does not answer, however it fails: no evidence
            continue
    return False


def current_bound(rds: Any, group: str) -> str | None:
    """The parameter's value in the group, if this account set one (Source "user")."""
    pages = rds.get_paginator("describe_db_cluster_parameters").paginate(
        DBClusterParameterGroupName=group, Source="user")
    for page in pages:
        for parameter in page["Parameters"]:
            if parameter["ParameterName"] == PARAMETER:
                return parameter.get("ParameterValue")
    return None


def keep(rds: Any, cloudwatch_in: Callable[[str], Any], env: dict[str, str], now: datetime) -> dict[str, Any]:
    """One decision and at most one change; what it saw and did, for the log."""
    bounded = should_bound(rds, cloudwatch_in, cluster_arn=env["CLUSTER_ARN"], global_cluster=env["GLOBAL_CLUSTER"],
                           peers=json.loads(env["PEERS"]), now=now)
    group, wanted = env["PARAMETER_GROUP"], env["RPO_SECONDS"] if bounded else None
    found = current_bound(rds, group)
    change = None
    if wanted is not None and found != wanted:
        rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName=group, Parameters=[
            {"ParameterName": PARAMETER, "ParameterValue": wanted, "ApplyMethod": "immediate"}])
        change = f"set {PARAMETER}={wanted}"
    elif wanted is None and found is not None:
        rds.reset_db_cluster_parameter_group(DBClusterParameterGroupName=group, ResetAllParameters=False,
                                             Parameters=[{"ParameterName": PARAMETER, "ApplyMethod": "immediate"}])
        change = f"unset {PARAMETER} (was {found})"
    return {"cluster": env["CLUSTER_ARN"], "bounded": bounded, "was": found, "change": change}


def handler(event: dict, context: Any) -> dict[str, Any]:
    import boto3  # in the Lambda runtime; imported here so the module loads without it
    from botocore.config import Config

    # A lost region must not hold the decision: short timeouts, one retry.
    quick = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})
    result = keep(boto3.client("rds", config=quick), lambda region: boto3.client("cloudwatch", region_name=region,
                                                                                 config=quick),
                  dict(os.environ), datetime.now(timezone.utc))
    print(json.dumps(result))
    return result
