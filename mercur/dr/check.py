"""`dr check`: could this environment fail over right now? Every item is checked, none stops the others."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from ..config import StackConfig
from ..config.objectives import SNAPSHOT_MINUTES, START_DELAY_MINUTES
from ..components.tags import BACKUP_SELECTION, SOURCE_REGION_TAG
from . import aws
from .aws import (ROUTE53_REGION, ClientFactory, cached, credential_failure, health_check_healthy, minutes_since,
                  newest_recovery_point, replication_lag_ms, writer_region)
from .outputs import RegionOutputs, StackOutputs


COPY_WINDOW_DAYS = 7  # the copy jobs a check measures


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
    measured: dict[str, float] = field(default_factory=dict)  # what `dr record` takes: seconds per term
    checked: str = ""  # when, in UTC

    @property
    def ready(self) -> bool:
        return all(item.ok for item in self.items)

    def document(self) -> dict[str, Any]:
        return {"stack": self.stack, "ready": self.ready, "checked": self.checked,
                "items": [asdict(i) for i in self.items], "measured": self.measured}

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
    def __init__(self, stack: StackConfig, outputs: StackOutputs, clients: ClientFactory | None = None,
                 now: datetime | None = None) -> None:
        self.stack, self.outputs, self.clients = stack, outputs, cached(clients or aws.default_clients)
        self.now = now or datetime.now(timezone.utc)
        self.report = Report(stack.stack, checked=self.now.isoformat(timespec="seconds"))

    def _record(self, region: str, check: str, ok: bool, detail: str) -> None:
        self.report.items.append(Item(region, check, ok, detail))

    def _guarded(self, region: str, check: str, run: Callable[[], None]) -> None:
        """An AWS error fails that item (with the error), never the whole check; unusable credentials are the
        caller's problem, not the stack's, and stop the check (NoCredentials)."""
        try:
            run()
        except (ClientError, BotoCoreError) as error:
            if (problem := credential_failure(error)) is not None:
                raise problem from None
            self._record(region, check, False, f"AWS error: {error}")

    def run(self) -> Report:
        self._outputs()
        stack, outputs = self.stack, self.outputs
        for region in (outputs.regions[r] for r in outputs.failover_order if r in outputs.regions):
            if region.cluster_name:
                self._guarded(region.name, "cluster", lambda r=region: self._cluster(r))
            if stack.database and region.database_cluster_arn and region.backup_vault_name:
                self._guarded(region.name, "recovery points", lambda r=region: self._recovery_points(r))
                if region.backup_copies_to:
                    self._guarded(region.name, "copy time", lambda r=region: self._copy_time(r))
            if any(app.volume for app in stack.apps):
                self._guarded(region.name, "snapshots", lambda r=region: self._snapshots(r))
            if stack.is_production and region.backup_vault_name:
                self._guarded(region.name, "vault lock", lambda r=region: self._vault_lock(r))
            if region.health_check_id:
                self._guarded(region.name, "health check", lambda r=region: self._health(r))
            self._guarded(region.name, "alarms", lambda r=region: self._alarms(r))
        self._node_pool()
        if outputs.global_cluster_id:
            self._guarded("global", "global database", self._global_database)
        if outputs.switch_plan_arn:
            self._guarded("global", "region switch", self._region_switch)
            if outputs.global_cluster_id:
                self._guarded("global", "traffic and writer", self._traffic_and_writer)
        if outputs.record_name and outputs.hosted_zone_id and len(outputs.regions) == len(outputs.failover_order):
            self._guarded("global", "dns records", self._records)
        return self.report

    # --- each item ---------------------------------------------------------------------------------

    def _outputs(self) -> None:
        """The outputs hold everything the stack file calls for; what they lack cannot be checked: a FAIL each."""
        for gap in self.outputs.gaps:
            self._record("global", "outputs", False, gap)
        if not self.outputs.gaps:
            self._record("global", "outputs", True, f"every region and id Pulumi.{self.stack.stack}.yaml calls for "
                                                    f"({', '.join(self.outputs.failover_order)})")

    def _node_pool(self) -> None:
        """The NodePool limits deployed in every region hold the stack's peak (every app at its maximum): after a
        failover one region carries it all. A stack file raised since the last deploy shows here."""
        limits = self.outputs.node_pool_limits
        if limits is None:
            self._record("global", "node pool", False, "objectives.capacity.limits missing from the outputs")
            return
        cpu, gib = self.stack.required_node_pool()
        ok = limits.cpu >= cpu and limits.memory_gib >= gib
        self._record("global", "node pool", ok, f"deployed limits {limits.cpu:g} vCPU, {limits.memory_gib:g} GiB; "
                                                f"the peak ({self.stack.peak_cpu:g} vCPU, {self.stack.peak_memory_gib:g}"
                                                f" GiB requested) needs {cpu} vCPU, {gib} GiB"
                     + ("" if ok else ": run `pulumi up` with the raised limits"))

    def _cluster(self, region: RegionOutputs) -> None:
        cluster = self.clients("eks", region.name).describe_cluster(name=region.cluster_name)["cluster"]
        wanted = self.stack.cluster.version
        ok = cluster["status"] == "ACTIVE" and cluster["version"] == wanted
        self._record(region.name, "cluster", ok, f"{region.cluster_name} {cluster['status']}, version "
                                                 f"{cluster['version']} (configured {wanted})")

    @property
    def _snapshot_rpo(self) -> int:
        """What snapshots answer for: losing a region and the data's integrity at once."""
        return self.stack.dr.rpo.region_loss_and_corruption

    def _global_database(self) -> None:
        """Every region's cluster is a member and one is the writer. Asked in the passive region: that is where
        it must be answerable when the active one is gone. (Where the traffic goes is the next item's: after a
        switch the writer is in the stack file's passive region, and that is as it should be.)"""
        outputs = self.outputs
        asked = outputs.failover_order[-1]
        [found] = self.clients("rds", asked).describe_global_clusters(
            GlobalClusterIdentifier=outputs.global_cluster_id)["GlobalClusters"]
        members = {m["DBClusterArn"].split(":")[3]: m for m in found.get("GlobalClusterMembers", [])}
        missing = [r for r in outputs.failover_order if r not in members]
        writer = next((r for r, m in members.items() if m.get("IsWriter")), None)
        ok = not missing and writer is not None
        detail = f"{outputs.global_cluster_id}: writer in {writer or 'no region (a switchover under way?)'}"
        if missing:
            detail += f"; {', '.join(missing)} not a member"
        self._record("global", "global database", ok, detail)
        bound = self.stack.database.replication_lag_bound_seconds
        for name in (r for r in outputs.failover_order if r in members and r != writer and r in outputs.regions):
            region = outputs.regions[name]
            if not region.database_cluster_id:
                continue
            lag = replication_lag_ms(self.clients("cloudwatch", name), region.database_cluster_id, self.now)
            self._record(name, "replication lag", lag is not None and lag <= bound * 1000,
                         f"{region.database_cluster_id} trails the writer by "
                         + (f"{lag / 1000:g} s" if lag is not None else "(no AuroraGlobalDBReplicationLag data)")
                         + f" (bound {bound} s: the region-loss RPO)")

    def _traffic_and_writer(self) -> None:
        """The records answer with the region that holds the writer: the first region of `recordOrder` whose
        record's health check (the one the Region switch plan flips) Route53 calls healthy. Anything else is a
        switch half done, or a writer moved without the traffic."""
        outputs = self.outputs
        cloudwatch = self.clients("cloudwatch", ROUTE53_REGION)
        answering = next((r for r in outputs.record_order if r in outputs.regions and health_check_healthy(
            cloudwatch, outputs.regions[r].record_check_id or "", self.now) is True), None)
        writer = writer_region(self.clients("rds", outputs.failover_order[-1]), outputs.global_cluster_id or "")
        ok = answering is not None and answering == writer
        detail = f"traffic goes to {answering or 'no region'}, the writer is in {writer or 'no region'}"
        if not ok:
            detail += (": a switch half done; finish it or reverse it (docs/runbook.md)" if answering and writer
                       else ": nothing answers, or no writer")
        self._record("global", "traffic and writer", ok, detail)

    def _recovery_points(self, region: RegionOutputs) -> None:
        """The newest AWS Backup recovery point of the region's Aurora cluster in its own vault, and the newest
        copy of one in the peer's vault, against the RPO of losing a region and the data at once."""
        arn = region.database_cluster_arn
        places = [(region.name, region.backup_vault_name, "own")]
        if region.backup_copies_to:
            peer = self.outputs.regions.get(region.backup_copies_to)
            if peer is None or not peer.backup_vault_name:
                self._record(region.name, "recovery points", False, f"copies go to {region.backup_copies_to}, "
                                                                    "whose vault the outputs do not list")
                return
            places.append((peer.name, peer.backup_vault_name, f"copy in {peer.name}"))
        for place, vault, what in places:
            newest = newest_recovery_point(self.clients("backup", place), vault, arn)
            self._fresh(region, "recovery points", newest and newest["CreationDate"],
                        f"{what}: newest of {region.database_cluster_id}", f"{what}: none in {vault}")

    def _copy_time(self, region: RegionOutputs) -> None:
        """How long the cluster's cross-Region copies took this past week (AWS Backup's copy jobs, listed where
        they start: CreationDate to CompletionDate, queueing included). AWS states no bound for it ("can take
        hours"): this is the measured figure the both-at-once RPO rests on (`dr record` takes it)."""
        pages = self.clients("backup", region.name).get_paginator("list_copy_jobs").paginate(
            ByResourceArn=region.database_cluster_arn, ByState="COMPLETED",
            ByCompleteAfter=self.now - timedelta(days=COPY_WINDOW_DAYS))
        jobs = [job for page in pages for job in page.get("CopyJobs", []) if job.get("CompletionDate")]
        if not jobs:
            self._record(region.name, "copy time", False, f"no completed copy to {region.backup_copies_to} in "
                                                          f"{COPY_WINDOW_DAYS} days: nothing measures the copy")
            return
        longest = max((job["CompletionDate"] - job["CreationDate"]).total_seconds() for job in jobs)
        self.report.measured["crossRegionCopy"] = max(longest, self.report.measured.get("crossRegionCopy", 0.0))
        schedule = self.stack.dr.schedule
        worst = schedule.interval_hours * 60 + START_DELAY_MINUTES + SNAPSHOT_MINUTES + longest / 60
        target = self.stack.dr.rpo.region_loss_and_corruption
        self._record(region.name, "copy time", worst <= target,
                     f"longest of {len(jobs)} copies to {region.backup_copies_to} in {COPY_WINDOW_DAYS} days: "
                     f"{longest / 60:.0f} min; with a backup every {schedule.interval_hours}h the both-at-once loss "
                     f"is up to {worst:.0f} min (RPO {target})")

    def _region_switch(self) -> None:
        """The plan as each region's data plane has it (a switch is started from the region that is up), a
        workflow activating each region, and no warnings in its latest evaluation."""
        arn, order = self.outputs.switch_plan_arn, self.outputs.failover_order
        problems, name, missing = [], None, {}
        for region in order:
            plan = self.clients("arc-region-switch", region).get_plan_in_region(arn=arn)["plan"]
            name = plan.get("name")
            covered = {w.get("workflowTargetRegion") for w in plan.get("workflows", [])
                       if w.get("workflowTargetAction") == "activate"}
            missing[region] = tuple(r for r in order if r not in covered)
        for gap in dict.fromkeys(m for m in missing.values() if m):
            seen_by = [r for r, m in missing.items() if m == gap]
            problems.append(f"no workflow activates {', '.join(gap)}"
                            + ("" if len(seen_by) == len(order) else f" (in {', '.join(seen_by)}'s copy)"))
        status = self.clients("arc-region-switch", order[-1]).get_plan_evaluation_status(planArn=arn)
        warnings = status.get("warnings") or []
        state = status.get("evaluationState")
        if warnings:
            problems.append(f"{len(warnings)} evaluation warning(s), first: "
                            f"{warnings[0].get('warningMessage', warnings[0])}")
        elif state != "passed":
            problems.append(f"evaluation {state or 'not run yet'}")
        self._record("global", "region switch", not problems, f"{name}: "
                     + ("; ".join(problems) if problems else f"evaluation {state}, a workflow per region"))

    def _snapshots(self, region: RegionOutputs) -> None:
        places = [(region.name, "own snapshots")]
        if region.backup_copies_to:
            places.append((region.backup_copies_to, f"copies in {region.backup_copies_to}"))
        for place, what in places:
            newest = newest_snapshot(self.clients("ec2", place), region.name)
            self._fresh(region, "snapshots", newest and newest["StartTime"],
                        f"{what}: newest {newest and newest['SnapshotId']}", f"{what}: none found")

    def _fresh(self, region: RegionOutputs, check: str, taken: datetime | None, what: str, none: str) -> None:
        """One item: a backup taken at `taken` is no older than the snapshot RPO (or there is none)."""
        if taken is None:
            self._record(region.name, check, False, none)
            return
        minutes = minutes_since(taken, self.now)
        self._record(region.name, check, minutes <= self._snapshot_rpo,
                     f"{what} is {int(minutes)} min old (RPO {self._snapshot_rpo})")

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
        healthy = health_check_healthy(self.clients("cloudwatch", ROUTE53_REGION), region.health_check_id, self.now)
        alarms = detection_alarms(self.clients("cloudwatch", ROUTE53_REGION), region.health_check_id)
        alarming = [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]
        # The one that pages is the stack's detection alarm (failover.py names it); the plan's trigger alarm on
        # the same check only starts a switch after minutes, and pages no one.
        detection = f"{self.stack.project}-{self.stack.environment}-{region.name}-unhealthy"
        present = any(a["AlarmName"] == detection for a in alarms)
        ok = healthy is True and not alarming and present
        detail = {True: "healthy", False: "UNHEALTHY per Route53", None: "NO HealthCheckStatus data"}[healthy]
        detail += f"; detection alarm {detection} " + ("MISSING" if not present else "ok" if not alarming else "")
        if alarming:
            detail += f"; IN ALARM: {', '.join(alarming)}"
        self._record(region.name, "health check", ok, f"{region.health_check_id} {detail}")

    def _alarms(self, region: RegionOutputs) -> None:
        """Every alarm of the stack in the region that is in ALARM: the apps, the database, the NAT gateways,
        the keeper. The health checks' alarms (in us-east-1) are their own item."""
        cloudwatch = self.clients("cloudwatch", region.name)
        prefix = f"{self.stack.project}-{self.stack.environment}-"
        pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"])
        alarms = [a for page in pages for a in page["MetricAlarms"] if a.get("Namespace") != "AWS/Route53"]
        red = sorted(a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM")
        if not alarms:  # every region has its apps' alarms at least: none is a deleted or undeployed set
            self._record(region.name, "alarms", False, f"NO alarm named {prefix}* here: `pulumi up` restores them")
            return
        self._record(region.name, "alarms", not red, f"IN ALARM: {', '.join(red)}" if red else
                     f"none of {len(alarms)} in ALARM")

    def _records(self) -> None:
        """The record and its failover chain as declared: PRIMARY to the first region of `recordOrder`;
        SECONDARY to the next, or (three or more) to a nested set `standby-N.<record>` that continues the chain.
        Which of them answers is the health checks' business, not the records'."""
        outputs = self.outputs
        route53 = self.clients("route53", ROUTE53_REGION)
        order = [outputs.regions[r] for r in outputs.record_order if r in outputs.regions]
        if len(order) == 1:
            self._expect(self._record_sets(route53, outputs.record_name).get(None), order[0], "record")
            return
        name = outputs.record_name
        for depth, region in enumerate(order[:-1]):
            found = self._record_sets(route53, name)
            self._expect(found.get("PRIMARY"), region, "PRIMARY" if depth == 0 else f"PRIMARY of {name}")
            secondary = found.get("SECONDARY")
            if depth == len(order) - 2:
                self._expect(secondary, order[-1], "SECONDARY" if depth == 0 else f"SECONDARY of {name}")
                return
            nested = f"standby-{depth + 1}.{outputs.record_name}"
            target = _normalize((secondary or {}).get("AliasTarget", {}).get("DNSName", ""))
            self._record("global", "dns records", target == nested,
                         f"SECONDARY of {name} -> {target or '(missing)'}" + ("" if target == nested else
                                                                             f", expected {nested}"))
            name = nested

    def _record_sets(self, route53: Any, name: str) -> dict[str | None, dict]:
        found = route53.list_resource_record_sets(HostedZoneId=self.outputs.hosted_zone_id, StartRecordName=f"{name}.",
                                                  StartRecordType="A")["ResourceRecordSets"]
        return {r.get("Failover"): r for r in found if _normalize(r["Name"]) == name.lower() and r["Type"] == "A"}

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


def detection_alarms(cloudwatch: Any, health_check_id: str) -> list[dict]:
    """The alarms on a health check's HealthCheckStatus (the stack's detection alarm among them)."""
    dimension = {"Name": "HealthCheckId", "Value": health_check_id}
    return [a for a in cloudwatch.describe_alarms_for_metric(
        MetricName="HealthCheckStatus", Namespace="AWS/Route53", Dimensions=[dimension])["MetricAlarms"]
        if dimension in a.get("Dimensions", [])]


def newest_snapshot(ec2: Any, source_region: str) -> dict | None:
    """The newest completed backup snapshot taken in `source_region`, among those `ec2`'s region holds."""
    key, value = BACKUP_SELECTION
    pages = ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], Filters=[{"Name": f"tag:{key}", "Values": [value]},
                                    {"Name": f"tag:{SOURCE_REGION_TAG}", "Values": [source_region]},
                                    {"Name": "status", "Values": ["completed"]}])
    snapshots = [s for page in pages for s in page["Snapshots"]]
    return max(snapshots, key=lambda s: s["StartTime"], default=None)


def check(stack: StackConfig, outputs: StackOutputs, clients: ClientFactory | None = None,
          now: datetime | None = None) -> Report:
    return Checker(stack, outputs, clients, now).run()


def dumps(report: Report) -> str:
    return json.dumps(report.document(), indent=2, default=str)

