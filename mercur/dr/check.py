"""`dr check`: could this environment fail over right now? Every item is checked, none stops the others."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..config import StackConfig
from ..components.tags import BACKUP_SELECTION, SOURCE_REGION_TAG
from .outputs import RegionOutputs, StackOutputs

ClientFactory = Callable[[str, str], Any]  # (service, region) -> boto3 client
ROUTE53_REGION = "us-east-1"  # Route53 is global; its API and health metrics live in us-east-1


def default_clients(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)


def cached(factory: ClientFactory) -> ClientFactory:
    """One client per service and region: creating a boto3 client costs tens of milliseconds."""
    clients: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in clients:
            clients[service, region] = factory(service, region)
        return clients[service, region]
    return client


@dataclass(frozen=True)
class Item:
    region: str  # or "global"
    check: str
    ok: bool
    detail: str


@dataclass
class Report:
    stack: str
    items: list[Item] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(item.ok for item in self.items)

    def document(self) -> dict[str, Any]:
        return {"stack": self.stack, "ready": self.ready, "items": [asdict(i) for i in self.items]}

    def table(self) -> str:
        width = max((len(i.check) for i in self.items), default=5)
        lines = [f"{'':4} {'region':<10} {'check':<{width}}  detail"]
        lines += [f"{'ok' if i.ok else 'FAIL':<4} {i.region:<10} {i.check:<{width}}  {i.detail}" for i in self.items]
        lines.append(f"{self.stack}: {'READY to fail over' if self.ready else 'NOT READY'} "
                     f"({sum(not i.ok for i in self.items)} of {len(self.items)} checks failing)")
        return "\n".join(lines)


def _normalize(hostname: str) -> str:
    """Route53 stores alias targets lower-case with a trailing dot and may prefix `dualstack.`."""
    name = hostname.lower().rstrip(".")
    return name.removeprefix("dualstack.")


class Checker:
    def __init__(self, stack: StackConfig, outputs: StackOutputs, clients: ClientFactory = default_clients,
                 now: datetime | None = None) -> None:
        self.stack, self.outputs, self.clients = stack, outputs, cached(clients)
        self.now = now or datetime.now(timezone.utc)
        self.report = Report(stack.stack)

    def _record(self, region: str, check: str, ok: bool, detail: str) -> None:
        self.report.items.append(Item(region, check, ok, detail))

    def _guarded(self, region: str, check: str, run: Callable[[], None]) -> None:
        """An AWS error fails that item (with the error), never the whole check."""
        try:
            run()
        except (ClientError, BotoCoreError) as error:
            self._record(region, check, False, f"AWS error: {error}")

    def run(self) -> Report:
        for region in self.outputs.regions.values():
            self._guarded(region.name, "cluster", lambda r=region: self._cluster(r))
            if self.stack.database and region.database_cluster_id:
                self._guarded(region.name, "database snapshots", lambda r=region: self._database_snapshots(r))
            if any(app.volume for app in self.stack.apps):
                self._guarded(region.name, "snapshots", lambda r=region: self._snapshots(r))
            if self.stack.is_production:
                self._guarded(region.name, "vault lock", lambda r=region: self._vault_lock(r))
            if region.health_check_id:
                self._guarded(region.name, "health check", lambda r=region: self._health(r))
        if self.outputs.global_cluster_id:
            self._guarded("global", "global database", self._global_database)
        if self.outputs.record_name:
            self._guarded("global", "dns records", self._records)
        return self.report

    # --- each item ---------------------------------------------------------------------------------

    def _cluster(self, region: RegionOutputs) -> None:
        cluster = self.clients("eks", region.name).describe_cluster(name=region.cluster_name)["cluster"]
        wanted = self.stack.cluster.version
        ok = cluster["status"] == "ACTIVE" and cluster["version"] == wanted
        self._record(region.name, "cluster", ok, f"{region.cluster_name} {cluster['status']}, version "
                                                 f"{cluster['version']} (configured {wanted})")

    def _age(self, snapshot: dict) -> timedelta:
        start = snapshot["StartTime"]
        return self.now - (start if start.tzinfo else start.replace(tzinfo=timezone.utc))

    @property
    def _snapshot_rpo(self) -> int:
        """What snapshots answer for: losing a region and the data's integrity at once."""
        return self.stack.dr.rpo.region_loss_and_corruption

    def _global_database(self) -> None:
        """Every region's cluster is a member, and the writer is where the traffic goes (the active region)."""
        outputs = self.outputs
        [found] = self.clients("rds", outputs.active.name).describe_global_clusters(
            GlobalClusterIdentifier=outputs.global_cluster_id)["GlobalClusters"]
        members = {m["DBClusterArn"].split(":")[3]: m for m in found.get("GlobalClusterMembers", [])}
        missing = [r for r in outputs.failover_order if r not in members]
        writer = next((r for r, m in members.items() if m.get("IsWriter")), None)
        ok = not missing and writer == outputs.active.name
        detail = f"{outputs.global_cluster_id}: writer in {writer or 'no region'}"
        if missing:
            detail += f"; {', '.join(missing)} not a member"
        elif writer != outputs.active.name:
            detail += f", traffic goes to {outputs.active.name}: switch the writer or the regions' order"
        self._record("global", "global database", ok, detail)

    def _database_snapshots(self, region: RegionOutputs) -> None:
        """The region's newest Aurora snapshot, and its newest copy in the peer region, against the RPO."""
        rpo = timedelta(minutes=self._snapshot_rpo)
        places = [(region.name, "own snapshots")]
        if region.backup_copies_to:
            places.append((region.backup_copies_to, f"copies in {region.backup_copies_to}"))
        for place, what in places:
            snapshots = self.clients("rds", place).describe_db_cluster_snapshots(
                DBClusterIdentifier=region.database_cluster_id)["DBClusterSnapshots"]
            times = [s["SnapshotCreateTime"] for s in snapshots if s.get("SnapshotCreateTime")]
            if not times:
                self._record(region.name, "database snapshots", False, f"{what}: none found")
                continue
            newest = max(t if t.tzinfo else t.replace(tzinfo=timezone.utc) for t in times)
            minutes = int((self.now - newest).total_seconds() // 60)
            self._record(region.name, "database snapshots", self.now - newest <= rpo,
                         f"{what} of {region.database_cluster_id}: newest is {minutes} min old "
                         f"(RPO {self._snapshot_rpo})")

    def _snapshots(self, region: RegionOutputs) -> None:
        rpo = timedelta(minutes=self._snapshot_rpo)
        places = [(region.name, "own snapshots")]
        if region.backup_copies_to:
            places.append((region.backup_copies_to, f"copies in {region.backup_copies_to}"))
        for place, what in places:
            newest = newest_snapshot(self.clients("ec2", place), region.name)
            if newest is None:
                self._record(region.name, "snapshots", False, f"{what}: none found")
                continue
            age = self._age(newest)
            minutes = int(age.total_seconds() // 60)
            self._record(region.name, "snapshots", age <= rpo,
                         f"{what}: newest {newest['SnapshotId']} is {minutes} min old (RPO {self._snapshot_rpo})")

    def _vault_lock(self, region: RegionOutputs) -> None:
        vault = self.clients("backup", region.name).describe_backup_vault(BackupVaultName=region.backup_vault_name)
        locked = bool(vault.get("Locked"))
        self._record(region.name, "vault lock", locked,
                     f"{region.backup_vault_name} {'locked' if locked else 'NOT locked'}"
                     + (f", min {vault.get('MinRetentionDays')} days" if locked else ""))

    def _health(self, region: RegionOutputs) -> None:
        route53 = self.clients("route53", ROUTE53_REGION)
        config = route53.get_health_check(HealthCheckId=region.health_check_id)["HealthCheck"]["HealthCheckConfig"]
        if config.get("Inverted") or config.get("Disabled"):
            state = "inverted" if config.get("Inverted") else "disabled"
            self._record(region.name, "health check", False, f"{region.health_check_id} is {state} "
                                                             f"(left by a drill?); failover cannot be trusted")
            return
        healthy = health_check_healthy(route53, region.health_check_id)
        dimension = {"Name": "HealthCheckId", "Value": region.health_check_id}
        alarms = [a for a in self.clients("cloudwatch", ROUTE53_REGION).describe_alarms_for_metric(
            MetricName="HealthCheckStatus", Namespace="AWS/Route53", Dimensions=[dimension])["MetricAlarms"]
            if dimension in a.get("Dimensions", [])]
        alarming = [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]
        ok = healthy and not alarming and bool(alarms)
        detail = "healthy" if healthy else "UNHEALTHY per Route53"
        detail += f"; alarm {'IN ALARM: ' + ', '.join(alarming) if alarming else 'ok' if alarms else 'MISSING'}"
        self._record(region.name, "health check", ok, f"{region.health_check_id} {detail}")

    def _records(self) -> None:
        outputs = self.outputs
        name = f"{outputs.record_name}."
        route53 = self.clients("route53", ROUTE53_REGION)
        found = route53.list_resource_record_sets(HostedZoneId=outputs.hosted_zone_id, StartRecordName=name,
                                                  StartRecordType="A")["ResourceRecordSets"]
        records = [r for r in found if r["Name"].lower() == name.lower() and r["Type"] == "A"]
        if len(outputs.failover_order) == 1:
            self._expect(records[0] if records else None, outputs.active, "record")
            return
        by_role = {r.get("Failover"): r for r in records}
        for role, region in (("PRIMARY", outputs.active), ("SECONDARY", outputs.passive[0])):
            self._expect(by_role.get(role), region, role)

    def _expect(self, record: dict | None, region: RegionOutputs, role: str) -> None:
        if record is None:
            self._record("global", "dns records", False, f"{role} for {self.outputs.record_name} is missing")
            return
        target = _normalize((record.get("AliasTarget") or {}).get("DNSName", ""))
        endpoints = {_normalize(e) for e in region.endpoints.values()}
        checked = record.get("HealthCheckId") == region.record_check_id or role == "record"
        ok = target in endpoints and checked
        self._record("global", "dns records", ok, f"{role} -> {target or '(no alias)'}"
                     + ("" if target in endpoints else f", expected {region.name}'s load balancer")
                     + ("" if checked else f", health check {record.get('HealthCheckId')} is not {region.name}'s"))


def newest_snapshot(ec2: Any, source_region: str) -> dict | None:
    """The newest completed backup snapshot taken in `source_region`, among those `ec2`'s region holds."""
    key, value = BACKUP_SELECTION
    pages = ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], Filters=[{"Name": f"tag:{key}", "Values": [value]},
                                    {"Name": f"tag:{SOURCE_REGION_TAG}", "Values": [source_region]},
                                    {"Name": "status", "Values": ["completed"]}])
    snapshots = [s for page in pages for s in page["Snapshots"]]
    return max(snapshots, key=lambda s: s["StartTime"], default=None)


def health_check_healthy(route53: Any, health_check_id: str) -> bool:
    """Route53's own verdict: healthy when more than half of its checkers report success."""
    observations = route53.get_health_check_status(HealthCheckId=health_check_id)["HealthCheckObservations"]
    successes = sum(o["StatusReport"]["Status"].startswith("Success") for o in observations)
    return bool(observations) and successes * 2 > len(observations)


def check(stack: StackConfig, outputs: StackOutputs, clients: ClientFactory = default_clients,
          now: datetime | None = None) -> Report:
    return Checker(stack, outputs, clients, now).run()


def dumps(report: Report) -> str:
    return json.dumps(report.document(), indent=2, default=str)

