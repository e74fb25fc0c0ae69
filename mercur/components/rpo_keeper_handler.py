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
- a secondary: it is unset;
- a writer whose peers are all being rebuilt after a failover (`pending-resync`) or gone from the global
  cluster: it is unset at once (no secondary can meet a bound until the copy is done, which can take hours);
- while a switchover or failover is under way (`FailoverState`): nothing changes, unless the peers have been
  silent for SILENT_MINUTES runs (then it is unset, as on a writer);
- a writer whose peers report nothing, or whose regions do not answer: it stays as it is until that has
  lasted SILENT_MINUTES runs in a row (the keeper's own metric, `Mercur/RpoKeeper` `PeerSilent`, in its own
  region), then it is unset. A passing network fault leaves the bound in place; a passive region that is gone
  costs the writer's commits at most those minutes of waiting, not the region.

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
SILENT_MINUTES = 3
OWN_NAMESPACE, SILENT_METRIC = "Mercur/RpoKeeper", "PeerSilent"
# The run Pulumi invokes once at creation (rpo_keeper.py): it may wait out IAM's propagation of its role
# (4 pauses of 10 s, inside the function's 60 s timeout).
FIRST_RUN, FIRST_RUN_ATTEMPTS, FIRST_RUN_PAUSE_SECONDS = "firstRun", 5, 10.0


def peer_replicates(cloudwatch: Any, cluster: str, now: datetime) -> bool:
    """Whether `cluster` reported its RPO lag lately (a cluster that replicates reports it every minute)."""
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "lag", "MetricStat": {
            "Metric": {"Namespace": "AWS/RDS", "MetricName": METRIC,
                       "Dimensions": [{"Name": "DBClusterIdentifier", "Value": cluster}]},
            "Period": 60, "Stat": "Maximum"}}],
        StartTime=now - FRESH, EndTime=now)
    return any(result.get("Values") for result in answer["MetricDataResults"])


def global_cluster(rds: Any, identifier: str) -> dict[str, Any]:
    [found] = rds.describe_global_clusters(GlobalClusterIdentifier=identifier)["GlobalClusters"]
    return found


def in_sync(found: dict[str, Any], cluster_arn: str, peers: list[dict[str, str]]) -> list[dict[str, str]]:
    """The peers still members of the global cluster and not being rebuilt: a member Aurora resyncs after a
    failover (SynchronizationStatus `pending-resync`, for as long as its copy takes) cannot come within any
    bound, so a bound would hold every commit until it is done."""
    prefix = cluster_arn.rsplit(":", 4)[0]  # arn:<partition>:rds
    account = cluster_arn.split(":")[4]
    members = {m["DBClusterArn"]: m for m in found["GlobalClusterMembers"]}
    return [peer for peer in peers
            if (member := members.get(f"{prefix}:{peer['region']}:{account}:cluster:{peer['cluster']}"))
            and member.get("SynchronizationStatus", "connected") == "connected"]


def any_peer_replicates(cloudwatch_in: Callable[[str], Any], peers: list[dict[str, str]], now: datetime) -> bool:
    for peer in peers:
        try:
            if peer_replicates(cloudwatch_in(peer["region"]), peer["cluster"], now):
                return True
        except Exception:  # noqa: BLE001 - a region that does not answer, however it fails: no evidence
            continue
    return False


def silent_long_enough(own: Any, cluster: str, silent: bool, now: datetime) -> bool:
    """Note this run's verdict in the keeper's own metric, then whether the last SILENT_MINUTES runs were all
    silent. An error here propagates: the bound stays as it is and the keeper's error alarm pages."""
    dimensions = [{"Name": "DBClusterIdentifier", "Value": cluster}]
    own.put_metric_data(Namespace=OWN_NAMESPACE, MetricData=[{
        "MetricName": SILENT_METRIC, "Dimensions": dimensions, "Timestamp": now, "Value": 1.0 if silent else 0.0,
        "Unit": "Count"}])
    answer = own.get_metric_data(MetricDataQueries=[{"Id": "silent", "MetricStat": {
        "Metric": {"Namespace": OWN_NAMESPACE, "MetricName": SILENT_METRIC, "Dimensions": dimensions},
        "Period": 60, "Stat": "Minimum"}}], StartTime=now - timedelta(minutes=SILENT_MINUTES + 1), EndTime=now,
        ScanBy="TimestampDescending")
    values = [v for result in answer["MetricDataResults"] for v in result.get("Values", [])]
    return len(values) >= SILENT_MINUTES and all(v >= 1 for v in values[:SILENT_MINUTES])


def current_bound(rds: Any, group: str) -> str | None:
    """The parameter's value in the group, if this account set one (Source "user")."""
    pages = rds.get_paginator("describe_db_cluster_parameters").paginate(
        DBClusterParameterGroupName=group, Source="user")
    for page in pages:
        for parameter in page["Parameters"]:
            if parameter["ParameterName"] == PARAMETER:
                return parameter.get("ParameterValue")
    return None


def decide(rds: Any, cloudwatch_in: Callable[[str], Any], own: Any, env: dict[str, str],
           now: datetime) -> tuple[bool | None, str]:
    """True: the bound belongs here; False: it does not; None: leave it as it is (see the module's text)."""
    found = global_cluster(rds, env["GLOBAL_CLUSTER"])
    # While the writer moves, the writer flag is in flux: the bound stays as it is, unless the peers stay
    # silent as long as they may anywhere (a switchover stuck with its peer's region lost must not hold commits).
    moving = (found.get("FailoverState") or {}).get("Status")
    if not moving and not any(m["DBClusterArn"] == env["CLUSTER_ARN"] and m["IsWriter"]
                              for m in found["GlobalClusterMembers"]):
        return False, "a secondary"
    peers = in_sync(found, env["CLUSTER_ARN"], json.loads(env["PEERS"]))
    if not peers and not moving:  # RDS's own word, from this region: no silence to wait out
        return False, "the writer, no peer in sync (resyncing or detached)"
    cluster = env["CLUSTER_ARN"].rsplit(":", 1)[1]
    replicating = bool(peers) and any_peer_replicates(cloudwatch_in, peers, now)
    if silent_long_enough(own, cluster, not replicating, now):
        return False, f"{'a switchover or failover in progress' if moving else 'the writer'}, no peer replicating " \
                      f"for {SILENT_MINUTES} runs"
    if moving:  # the next run after it lands decides
        return None, f"a switchover or failover in progress ({moving}): left as it is"
    if replicating:
        return True, "the writer, a peer replicating"
    return None, "the writer, no peer replicating this run: left as it is"


def keep(rds: Any, cloudwatch_in: Callable[[str], Any], own: Any, env: dict[str, str],
         now: datetime) -> dict[str, Any]:
    """One decision and at most one change; what it saw and did, for the log."""
    bounded, why = decide(rds, cloudwatch_in, own, env, now)
    group = env["PARAMETER_GROUP"]
    wanted = env["RPO_SECONDS"] if bounded else None
    found = current_bound(rds, group)
    change = None
    if bounded is None:
        pass
    elif wanted is not None and found != wanted:
        rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName=group, Parameters=[
            {"ParameterName": PARAMETER, "ParameterValue": wanted, "ApplyMethod": "immediate"}])
        change = f"set {PARAMETER}={wanted}"
    elif wanted is None and found is not None:
        rds.reset_db_cluster_parameter_group(DBClusterParameterGroupName=group, ResetAllParameters=False,
                                             Parameters=[{"ParameterName": PARAMETER, "ApplyMethod": "immediate"}])
        change = f"unset {PARAMETER} (was {found})"
    return {"cluster": env["CLUSTER_ARN"], "bounded": bounded, "why": why, "was": found, "change": change}


def patiently(run: Callable[[], dict[str, Any]], attempts: int, pause: Callable[[float], None]) -> dict[str, Any]:
    """The first run comes seconds after its role: IAM may not have spread the role's policy yet (AccessDenied
    for a while). It tries again, a few times; any other error, or the last, propagates."""
    for attempt in range(attempts):
        try:
            return run()
        except Exception as error:  # noqa: BLE001 - only AWS's access errors are retried
            code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
            if attempt == attempts - 1 or not code.startswith(("AccessDenied", "UnauthorizedOperation")):
                raise
            pause(FIRST_RUN_PAUSE_SECONDS)
    raise AssertionError("unreachable")


def handler(event: dict, context: Any) -> dict[str, Any]:
    import time

    import boto3  # in the Lambda runtime; imported here so the module loads without it
    from botocore.config import Config

    # A lost region must not hold the decision: short timeouts, one retry.
    quick = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})
    result = patiently(lambda: keep(boto3.client("rds", config=quick),
                                    lambda region: boto3.client("cloudwatch", region_name=region, config=quick),
                                    boto3.client("cloudwatch", config=quick), dict(os.environ),
                                    datetime.now(timezone.utc)),
                       FIRST_RUN_ATTEMPTS if (event or {}).get(FIRST_RUN) else 1, time.sleep)
    print(json.dumps(result))
    return result
