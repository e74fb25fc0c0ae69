"""`dr drill`: fail over for real and measure it, then put everything back — whatever happens.

- failover: invert the primary's Route53 health check, wait until Route53 calls the primary unhealthy and the
  secondary healthy, and record the detection time against the RTO.
- restore: restore the newest snapshot copied to the passive region as a volume, wait until it is usable,
  and record how long that took.

Every change a drill makes is undone in a `finally`: an AWS error, a timeout, Ctrl-C or SIGTERM all still
restore the health check and delete the restored volume, and the report says whether that succeeded.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from ..config import StackConfig
from ..config.objectives import ALIAS_TTL_SECONDS
from .check import ROUTE53_REGION, ClientFactory, cached, default_clients, health_check_healthy, newest_snapshot
from .outputs import StackOutputs

DRILL_TAG = "mercur:drill"
HealthReader = Callable[[Any, str], bool]


class DrillTimeout(RuntimeError):
    pass


@dataclass
class Pace:
    """How a drill waits: injectable so tests run in milliseconds."""

    timeout_seconds: float = 900
    poll_seconds: float = 10
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)

    def wait(self, what: str, done: Callable[[], bool]) -> float:
        """Poll `done` until true; returns the seconds it took. Raises DrillTimeout."""
        start = self.clock()
        while True:
            finished = done()
            elapsed = self.clock() - start
            self.progress(f"  {what}: {'done' if finished else 'waiting'} after {elapsed:.0f} s")
            if finished:
                return elapsed
            if elapsed >= self.timeout_seconds:
                raise DrillTimeout(f"{what}: not done after {self.timeout_seconds:.0f} s")
            self.sleep(self.poll_seconds)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def failover_drill(stack: StackConfig, outputs: StackOutputs, clients: ClientFactory = default_clients,
                   pace: Pace | None = None, healthy: HealthReader = health_check_healthy,
                   result: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fills and returns `result` (pass your own to keep it when the drill raises)."""
    pace, clients = pace or Pace(), cached(clients)
    result = {} if result is None else result
    if len(outputs.failover_order) < 2:
        raise ValueError(f"{stack.stack} has one region: there is nothing to fail over to")
    route53 = clients("route53", ROUTE53_REGION)
    primary, secondary = outputs.active, outputs.passive[0]
    check_id = primary.health_check_id
    original = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]
    was_inverted = bool(original.get("Inverted"))
    result.update({"kind": "failover", "started": _now(), "primary": primary.name, "secondary": secondary.name,
                   "healthCheckId": check_id, "rtoTargetSeconds": stack.dr.rto_minutes * 60, "restored": False})
    try:
        pace.progress(f"inverting {primary.name}'s health check {check_id}")
        route53.update_health_check(HealthCheckId=check_id, Inverted=not was_inverted)
        detection = pace.wait("Route53 sees the primary down and the secondary up", lambda: (
            not healthy(route53, check_id) and healthy(route53, secondary.health_check_id)))
        achievable = detection + ALIAS_TTL_SECONDS
        result.update(detectionSeconds=round(detection, 1), achievableRtoSeconds=round(achievable, 1),
                      verdict="pass" if achievable <= result["rtoTargetSeconds"] else "fail")
    except BaseException as error:  # Ctrl-C and SIGTERM included: the finally below still restores
        result.update(verdict="aborted", error=f"{type(error).__name__}: {error}")
        raise
    finally:
        result["restored"] = _restore_health_check(route53, check_id, was_inverted, pace)
        result["finished"] = _now()
    return result


def _restore_health_check(route53: Any, check_id: str, inverted: bool, pace: Pace, attempts: int = 3) -> bool:
    for attempt in range(1, attempts + 1):
        try:
            route53.update_health_check(HealthCheckId=check_id, Inverted=inverted)
            now = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]
            if bool(now.get("Inverted")) == inverted:
                pace.progress(f"restored health check {check_id} (inverted={inverted})")
                return True
        except Exception as error:  # keep trying: leaving a health check inverted breaks failover
            pace.progress(f"restoring {check_id} failed (attempt {attempt}): {error}")
    pace.progress(f"HEALTH CHECK {check_id} WAS NOT RESTORED: set Inverted={inverted} by hand")
    return False


def restore_drill(stack: StackConfig, outputs: StackOutputs, clients: ClientFactory = default_clients,
                  pace: Pace | None = None, result: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fills and returns `result` (pass your own to keep it when the drill raises)."""
    pace, clients = pace or Pace(), cached(clients)
    result = {} if result is None else result
    source = outputs.active
    target = source.backup_copies_to
    if not target:
        raise ValueError(f"{stack.stack} copies no backups to another region: nothing to restore there")
    if source.database_cluster_id:
        return _restore_database(stack, source, outputs.regions[target], clients, pace, result)
    ec2 = clients("ec2", target)
    snapshot = newest_snapshot(ec2, source.name)
    if snapshot is None:
        raise ValueError(f"no snapshot copied from {source.name} exists in {target}")
    drill_id = f"drill-{uuid.uuid4().hex[:8]}"
    result.update({"kind": "restore", "started": _now(), "region": target, "source": source.name,
                   "snapshotId": snapshot["SnapshotId"], "rtoTargetSeconds": stack.dr.rto_minutes * 60,
                   "cleanedUp": False})
    volume_id = None
    try:
        zone = outputs.regions[target].availability_zones[0]
        pace.progress(f"restoring {snapshot['SnapshotId']} in {zone}")
        volume_id = ec2.create_volume(SnapshotId=snapshot["SnapshotId"], AvailabilityZone=zone, VolumeType="gp3",
                                      TagSpecifications=[{"ResourceType": "volume", "Tags": [
                                          {"Key": DRILL_TAG, "Value": drill_id}]}])["VolumeId"]
        result["volumeId"] = volume_id
        seconds = pace.wait(f"volume {volume_id} available", lambda: ec2.describe_volumes(
            VolumeIds=[volume_id])["Volumes"][0]["State"] == "available")
        result.update(restoreSeconds=round(seconds, 1),
                      verdict="pass" if seconds <= result["rtoTargetSeconds"] else "fail")
    except BaseException as error:
        result.update(verdict="aborted", error=f"{type(error).__name__}: {error}")
        raise
    finally:
        result["cleanedUp"] = volume_id is None or _delete_volume(ec2, volume_id, pace)
        result["finished"] = _now()
    return result


def _restore_database(stack: StackConfig, source: Any, target: Any, clients: ClientFactory, pace: Pace,
                      result: dict[str, Any]) -> dict[str, Any]:
    """The newest copy of the active region's Aurora snapshots, restored in the passive region into a
    temporary cluster beside the real one (its subnets and security group), then deleted."""
    rds = clients("rds", target.name)
    copies = [s for s in rds.describe_db_cluster_snapshots(DBClusterIdentifier=source.database_cluster_id)[
        "DBClusterSnapshots"] if s.get("SnapshotCreateTime")]
    if not copies:
        raise ValueError(f"no snapshot of {source.database_cluster_id} was copied to {target.name}")
    snapshot = max(copies, key=lambda s: s["SnapshotCreateTime"])
    drill_id = f"drill-{uuid.uuid4().hex[:8]}"
    result.update({"kind": "restore", "started": _now(), "region": target.name, "source": source.name,
                   "snapshotId": snapshot["DBClusterSnapshotArn"], "rtoTargetSeconds": stack.dr.rto_minutes * 60,
                   "cleanedUp": False})
    cluster_id = None
    try:
        pace.progress(f"restoring {snapshot['DBClusterSnapshotIdentifier']} into {drill_id}")
        cluster_id = rds.restore_db_cluster_from_snapshot(
            DBClusterIdentifier=drill_id, SnapshotIdentifier=snapshot["DBClusterSnapshotIdentifier"],
            Engine="aurora-postgresql", EngineVersion=target.database_engine_version,
            DBSubnetGroupName=target.database_subnet_group, VpcSecurityGroupIds=[target.database_security_group],
            Tags=[{"Key": DRILL_TAG, "Value": drill_id}])["DBCluster"]["DBClusterIdentifier"]
        result["clusterId"] = cluster_id
        seconds = pace.wait(f"cluster {cluster_id} available", lambda: rds.describe_db_clusters(
            DBClusterIdentifier=cluster_id)["DBClusters"][0]["Status"] == "available")
        result.update(restoreSeconds=round(seconds, 1),
                      verdict="pass" if seconds <= result["rtoTargetSeconds"] else "fail")
    except BaseException as error:
        result.update(verdict="aborted", error=f"{type(error).__name__}: {error}")
        raise
    finally:
        result["cleanedUp"] = cluster_id is None or _delete_cluster(rds, cluster_id, pace)
        result["finished"] = _now()
    return result


def _delete_cluster(rds: Any, cluster_id: str, pace: Pace) -> bool:
    try:
        rds.delete_db_cluster(DBClusterIdentifier=cluster_id, SkipFinalSnapshot=True)
        pace.progress(f"deleted drill cluster {cluster_id}")
        return True
    except Exception as error:
        pace.progress(f"DRILL CLUSTER {cluster_id} WAS NOT DELETED ({error}): delete it by hand")
        return False


def _delete_volume(ec2: Any, volume_id: str, pace: Pace) -> bool:
    try:
        ec2.delete_volume(VolumeId=volume_id)
        pace.progress(f"deleted drill volume {volume_id}")
        return True
    except Exception as error:
        pace.progress(f"DRILL VOLUME {volume_id} WAS NOT DELETED ({error}): delete it by hand")
        return False
