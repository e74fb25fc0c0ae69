"""The whole stack: one Region per configured region in failover order, the backup ring, the DNS failover."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from .backup import BackupRoles, BackupSchedule, Peer
from ..config import ConfigError, StackConfig
from .failover import METRICS_REGION, Endpoint, Failover
from .database import GlobalDatabase, Primary
from .identity import WorkloadRoles
from .network import available_zones
from ..config.objectives import copy_targets
from .region import Region


# Global services (IAM, Route53, and Route53's metrics, which CloudWatch keeps in us-east-1 only) go through
# one provider that stays put when the order of the regions changes: a permanent failover moves nothing global.
GLOBAL_REGION = METRICS_REGION


def provider(name: str, stack: StackConfig, region: str, tag_region: str, parent: pulumi.Resource) -> aws.Provider:
    """An AWS provider that refuses credentials for any account but the stack's, tagging what it creates."""
    return aws.Provider(name, region=region, allowed_account_ids=[stack.account_id],
                        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(stack, tag_region)),
                        opts=pulumi.ResourceOptions(parent=parent))


def default_tags(stack: StackConfig, region: str) -> dict[str, str]:
    """Tags every AWS resource in the region carries; the stack's own tags cannot override these."""
    return {**stack.tags, "Project": stack.project, "Environment": stack.environment, "Region": region,
            "ManagedBy": "pulumi"}


class Platform(pulumi.ComponentResource):
    """Builds every region; `exports` is the stack-output contract the DR tooling reads (see README)."""

    def __init__(self, name: str, stack: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:platform:Platform", name, None, opts)
        self._stack = stack
        self.global_provider = provider("global", stack, GLOBAL_REGION, "global", self)
        placements = self._place_regions()
        partition = aws.get_partition(opts=pulumi.InvokeOptions(provider=self.global_provider)).partition
        label = f"{stack.project}-{stack.environment}"
        global_ = pulumi.ResourceOptions(parent=self, providers={"aws": self.global_provider})
        backup_roles = BackupRoles(f"{name}-backup", label=label, partition=partition, opts=global_)
        app_roles = WorkloadRoles(f"{name}-apps", apps=stack.apps, label=label, partition=partition,
                                  account=stack.account_id, opts=global_)
        self.database = GlobalDatabase(
            f"{name}-database", database=stack.database, label=label, multi_region=stack.replicated,
            protect=stack.is_production, provider=self.global_provider,
            opts=pulumi.ResourceOptions(parent=self)) if stack.database else None
        # In failover order: the active region's database is the primary the others join.
        self.regions: list[Region] = []
        primary: Primary | None = None
        for region, regional, zones in placements:
            built = Region(region.short, stack=stack, region=region, zones=zones, provider=regional,
                           backup_roles=backup_roles, app_roles=app_roles, global_db=self.database,
                           primary_db=primary, opts=pulumi.ResourceOptions(parent=self))
            if built.database and primary is None:
                primary = Primary(built.database.cluster, built.database.instances)
            self.regions.append(built)
        copies_to = self._schedule_backups()
        self.failover = self._fail_over(name) if stack.dns else None
        self.exports = self._exports(copies_to)
        self.register_outputs(self.exports)

    def _place_regions(self) -> list[tuple[Any, aws.Provider, list[str]]]:
        """Providers and AZ lookups for every region first: a region that cannot hold its AZs stops the run
        before any cloud resource is declared."""
        stack, placements = self._stack, []
        for index, region in enumerate(stack.regions):
            regional = provider(region.name, stack, region.name, region.name, self)
            try:
                zones = available_zones(regional, region.name, region.az_count)
            except ValueError as error:
                raise ConfigError(stack.source, f"mercur:regions[{index}]", f"{region.name}: {error}",
                                  "set azCount (or network.maxAzs) to what the account sees") from None
            placements.append((region, regional, zones))
        return placements

    def _schedule_backups(self) -> dict[str, str | None]:
        """Backups copy around the ring of regions, so schedules need every region's vault to exist."""
        stack = self._stack
        by_name = {region.name: region for region in self.regions}
        serving = [r.name for r in stack.regions if not r.retiring]  # a retiring region receives no copies
        targets = copy_targets(serving) if stack.dr.cross_region_copy else {}
        copies_to: dict[str, str | None] = {}
        for region in self.regions:
            target = by_name.get(targets.get(region.name) or "")
            peer = Peer(target.name, target.backup.vault.arn, target.backup.key.arn) if target else None
            BackupSchedule(region.logical_name, dr=stack.dr, region=region.name, vault=region.backup, peer=peer,
                           restore_testing=stack.environment != "dev",
                           database_arn=region.database.cluster.arn if region.database else None,
                           volumes=any(app.volume for app in stack.apps),
                           opts=pulumi.ResourceOptions(parent=region))
            copies_to[region.name] = peer.region if peer else None
        return copies_to

    def _fail_over(self, name: str) -> Failover:
        stack, dns = self._stack, self._stack.dns
        health_path = next(app.health_path for app in stack.apps if app.name == dns.app)
        retiring = {r.name for r in stack.regions if r.retiring}  # takes no traffic while it is taken down
        return Failover(f"{name}-dns", dns=dns, label=f"{stack.project}-{stack.environment}",
                        provider=self.global_provider, alerts=stack.alerts, protect=stack.is_production,
                        multi_region=len(stack.regions) > 1,
                        endpoints=[Endpoint(r.name, r.workloads.apps[dns.app].endpoint, health_path)
                                   for r in self.regions if r.name not in retiring],
                        opts=pulumi.ResourceOptions(parent=self))

    def _capacity(self) -> dict[str, Any]:
        """What every region's NodePool must hold after a failover, against what it may hold."""
        stack = self._stack
        needed_cpu, needed_gib = stack.required_node_pool()
        return {"peak": {"cpu": stack.peak_cpu, "memoryGib": stack.peak_memory_gib},
                "required": {"cpu": needed_cpu, "memoryGib": needed_gib},
                "limits": {"cpu": stack.node_pool.limits.cpu, "memoryGib": stack.node_pool.limits.memory_gib}}

    def _exports(self, copies_to: dict[str, str | None]) -> dict[str, Any]:
        stack, dns, failover = self._stack, self._stack.dns, self.failover
        regions = {}
        for region in self.regions:
            regions[region.name] = {**region.outputs, "backupCopiesTo": copies_to[region.name],
                                    "achievableRpoMinutes": stack.dr.schedule.achievable_rpo_minutes}
            if failover and region.name in failover.health_checks:
                regions[region.name]["healthCheckId"] = failover.health_checks[region.name].id
        timing = dns.timing if dns else None
        objectives: dict[str, Any] = {
            "rpoMinutes": {point.kind: {"target": point.target_minutes, "achievable": point.achievable_minutes,
                                        "basis": point.basis} for point in stack.recovery_points},
            "backupIntervalHours": stack.dr.schedule.interval_hours,
            "rtoMinutes": {"target": stack.dr.rto_minutes,
                           "achievable": timing.achievable_rto_seconds / 60 if timing else None,
                           "fullCapacity": timing.full_capacity_seconds / 60 if timing else None},
            "capacity": self._capacity(),
        }
        if timing:
            objectives["rtoTermsSeconds"] = {"firstRequest": timing.first_request_terms(),
                                             "fullCapacity": timing.full_capacity_terms()}
        exports: dict[str, Any] = {
            "environment": stack.environment,
            "activeRegion": stack.active_region.name,
            "failoverOrder": [region.name for region in stack.regions],
            "regions": regions,
            "objectives": objectives,
        }
        if self.database:
            exports["database"] = {"globalClusterId": self.database.identifier if self.database.cluster else None,
                                   "globalWriterEndpoint": self.database.writer_endpoint,
                                   "engineVersion": stack.database.engine_version,
                                   "replicationLagBoundSeconds": stack.database.replication_lag_bound_seconds}
        if failover:
            objectives["healthCheck"] = {"intervalSeconds": dns.interval_seconds,
                                         "failureThreshold": dns.failure_threshold}
            exports.update(applicationUrl=failover.url, hostedZoneId=failover.zone_id, recordName=dns.record)
        return exports
