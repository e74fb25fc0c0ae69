"""The whole stack: one Region per configured region in failover order, the backup ring, the DNS failover."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from .backup import BackupRoles, BackupSchedule, Peer
from ..config import StackConfig
from .failover import METRICS_REGION, Endpoint, Failover
from .dashboards import DrDashboard, DrRegion
from .dr_signals import DrSignals
from .database import GlobalDatabase, Home, MasterSecret
from .identity import WorkloadRoles
from .switch import RegionSwitch, SwitchRegion, SwitchRole
from .network import Zone, zones_of
from ..config.regions import PARTITION
from ..config.objectives import copy_targets
from .lookups import UNREACHABLE_VARIABLE, declared_unreachable
from .region import Region


# Global services (IAM, Route53, and Route53's metrics, which CloudWatch keeps in us-east-1 only) go through
# one provider that stays put when the order of the regions changes: a permanent failover moves nothing global.
GLOBAL_REGION = METRICS_REGION


def provider(name: str, stack: StackConfig, region: str, tag_region: str, parent: pulumi.Resource) -> aws.Provider:
    """An AWS provider that refuses credentials for any account but the stack's, tagging what it creates.

    It checks the account through STS when the engine configures it, which it does in every run, targeted or
    not. For a region declared down (`lookups.declared_unreachable`, the runbook's outage command) that check
    goes to the first serving region still up, so the lost region's provider configures without its STS."""
    down = declared_unreachable()
    sts = next((r.name for r in stack.serving_regions if r.name not in down), None) if region in down else None
    return aws.Provider(name, region=region, allowed_account_ids=[stack.account_id], sts_region=sts,
                        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(stack, tag_region)),
                        opts=pulumi.ResourceOptions(parent=parent))


def default_tags(stack: StackConfig, region: str) -> dict[str, str]:
    """Tags every AWS resource in the region carries; the stack's own tags cannot override these."""
    return {**stack.tags, "Project": stack.project, "Environment": stack.environment, "Region": region,
            "ManagedBy": "pulumi"}


class Platform(pulumi.ComponentResource):
    """Builds every region; `exports` is the stack-output contract the DR tooling reads (docs/contracts.md)."""

    def __init__(self, name: str, stack: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:platform:Platform", name, None, opts)
        self._stack = stack
        for down in sorted(declared_unreachable()):  # shown in every preview: a declaration left set holds things
            pulumi.log.warn(f"{down} is declared down ({UNREACHABLE_VARIABLE}): its providers check the account "
                            f"through another region's STS and what depends on its answers keeps what it has; "
                            f"change only the surviving region (docs/runbook.md)")
        self.global_provider = provider("global", stack, GLOBAL_REGION, "global", self)
        placements = self._place_regions()
        partition = PARTITION  # every region the table knows is in it: no call to ask
        label = f"{stack.project}-{stack.environment}"
        global_ = pulumi.ResourceOptions(parent=self, providers={"aws": self.global_provider})
        backup_roles = BackupRoles(f"{name}-backup", label=label, partition=partition, opts=global_)
        app_roles = WorkloadRoles(f"{name}-apps", apps=stack.apps, label=label, partition=partition,
                                  account=stack.account_id, opts=global_)
        self.database = GlobalDatabase(
            f"{name}-database", database=stack.database, label=label, multi_region=stack.replicated,
            protect=stack.is_production, provider=self.global_provider,
            opts=pulumi.ResourceOptions(parent=self)) if stack.database else None
        # The Region switch plan's role first: every cluster's access entries name it.
        switching = stack.dr.region_switch is not None and len(stack.serving_regions) == 2
        self.switch_role = SwitchRole(f"{name}-switch", label=label, account=stack.account_id,
                                      opts=global_) if switching else None
        # The regions' database Jobs wait for the master secret's write, declared after them (it needs their keys).
        try:
            self.regions = self._build_regions(placements, backup_roles, app_roles)
            self.master_secret = self._master_secret(label, {p[0].name: p[1] for p in placements}) \
                if self.database else None
        finally:
            if self.database:
                self.database.settle_secret_write()
        copies_to = self._schedule_backups()
        self.failover = self._fail_over(name) if stack.dns else None
        self.switch = self._region_switch(name, label, partition) if self.switch_role and self.failover else None
        if len(self.regions) > 1:
            self._dr_signals()
        self.dr_dashboard = self._dr_dashboard(name, label) if len(self.regions) > 1 else None
        self.exports = self._exports(copies_to)
        self.register_outputs(self.exports)

    def _build_regions(self, placements: list[tuple[Any, aws.Provider, list[Zone]]], backup_roles: BackupRoles,
                       app_roles: WorkloadRoles) -> list[Region]:
        """The database's home region first (the other clusters join its running one); listed in failover order."""
        stack = self._stack
        built: dict[str, Region] = {}
        home: Home | None = None
        for region, regional, zones in sorted(placements, key=lambda p: p[0].name != stack.database_home):
            built[region.name] = Region(
                region.short, stack=stack, region=region, zones=zones, provider=regional, backup_roles=backup_roles,
                app_roles=app_roles, global_db=self.database, home_db=home,
                region_switch_role=self.switch_role.arn if self.switch_role else None,
                opts=pulumi.ResourceOptions(parent=self))
            database = built[region.name].database
            if database and home is None:
                home = Home(database.cluster, database.instances)
        return [built[r.name] for r in stack.regions]

    def _place_regions(self) -> list[tuple[Any, aws.Provider, list[Zone]]]:
        """Every region's provider and its zones, from the region table (no call into the region)."""
        return [(region, provider(region.name, self._stack, region.name, region.name, self),
                 zones_of(region.name, region.az_count)) for region in self._stack.regions]

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
        assert dns is not None, "only with a DNS section"
        health_path = next(app.health_path for app in stack.apps if app.name == dns.app)
        retiring = {r.name for r in stack.regions if r.retiring}  # takes no traffic while it is taken down
        return Failover(f"{name}-dns", dns=dns, label=f"{stack.project}-{stack.environment}", account=stack.account_id,
                        provider=self.global_provider, alerts=stack.alerts, protect=stack.is_production,
                        multi_region=len(stack.regions) > 1, switched=self.switch_role is not None,
                        endpoints=[Endpoint(r.name, r.workloads.entries[dns.app].hostname,
                                            r.workloads.entries[dns.app].zone_id, health_path)
                                   for r in self._anchored(self.regions) if r.name not in retiring],
                        opts=pulumi.ResourceOptions(parent=self))

    def _anchored(self, regions: list[Region]) -> list[Region]:
        """The order the Region switch plan and its failover records are declared in. With a plan, which region
        serves is the plan's run-time state (runtime_state.SERVING_REGION), and ARC cannot change a plan's
        regions or primary region in place (UpdatePlan takes neither): the database's home region, which never
        moves, comes first (without a database, the first by name: any choice the order cannot change), so
        swapping the stack file's regions (a permanent move) changes neither. Without a plan, DNS is the
        failover and follows the stack file's order."""
        if self.switch_role is None:
            return list(regions)
        database = self._stack.database
        anchor = (database.home_region if database else None) or min(region.name for region in regions)
        return sorted(regions, key=lambda region: region.name != anchor)

    def _master_secret(self, label: str, providers: dict[str, aws.Provider]) -> MasterSecret:
        """In the home region, replicated to every other region on that region's database key."""
        stack, home = self._stack, self._stack.database_home
        assert stack.database and self.database and home, "only with a database"
        keys = {r.name: r.database.key.arn for r in self.regions if r.database}
        return MasterSecret(f"{label}-db", label=label, database=stack.database, global_db=self.database,
                            key_arn=keys[home], replicas={r: k for r, k in keys.items() if r != home},
                            protect=stack.is_production, provider=providers[home],
                            opts=pulumi.ResourceOptions(parent=self))

    def _region_switch(self, name: str, label: str, partition: str) -> RegionSwitch:
        """The plan over the serving regions, then the records that answer by the health checks it controls."""
        stack, failover = self._stack, self.failover
        assert failover and stack.dns and stack.dr.region_switch and self.switch_role, "only with DNS and a plan"
        serving = [r for r in self._anchored(self.regions) if r.name in failover.health_checks]
        switch = RegionSwitch(
            f"{name}-switch", switch=stack.dr.region_switch, label=label, partition=partition,
            account=stack.account_id, role=self.switch_role, apps=stack.apps, zone_id=failover.zone_id,
            record=stack.dns.record, rto_minutes=stack.dr.rto_minutes,
            global_cluster=self.database.identifier if self.database and self.database.cluster else None,
            health_check_interval_seconds=stack.dns.interval_seconds, provider=self.global_provider,
            provider_region=GLOBAL_REGION,
            regions=[SwitchRegion(
                name=r.name, eks_cluster_arn=pulumi.Output.from_input(r.eks_cluster_arn),
                database_arn=r.database.cluster.arn if r.database else None,
                health_alarm_arn=failover.alarms[r.name].arn, health_check_id=failover.health_checks[r.name].id,
                lag_alarm_arn=r.database.lag_alarm.arn if r.database and r.database.lag_alarm else None)
                for r in serving],
            opts=pulumi.ResourceOptions(parent=self))
        failover.route(switch.health_checks, keep_checks=switch.unanswered)
        return switch

    def _capacity(self) -> dict[str, Any]:
        """What every region's NodePool must hold after a failover, against what it may hold."""
        stack = self._stack
        needed_cpu, needed_gib = stack.required_node_pool()
        return {"peak": {"cpu": stack.peak_cpu, "memoryGib": stack.peak_memory_gib},
                "required": {"cpu": needed_cpu, "memoryGib": needed_gib},
                "limits": {"cpu": stack.node_pool.limits.cpu, "memoryGib": stack.node_pool.limits.memory_gib}}

    def _dr_signals(self) -> None:
        """In each region, what its vault and its ARC endpoint know, as metrics for the DR dashboard."""
        for region in self.regions:
            DrSignals(region.logical_name, label=region.label, account=self._stack.account_id,
                      vault_name=region.label, vault_arn=region.backup.vault.arn,
                      plan_arn=self.switch.arn if self.switch else None,
                      plan_name=self.switch.plan_name if self.switch else None, log_key_arn=region.key.arn,
                      alerts_topic_arn=region.monitoring.topic.arn, opts=pulumi.ResourceOptions(parent=region))

    def _dr_dashboard(self, name: str, label: str) -> DrDashboard:
        """Every region side by side, with the alarms a switch is decided on: health, lag, the triggers."""
        stack, failover = self._stack, self.failover
        # The alarms in the dashboard's own region: the health checks' and the switch's triggers.
        alarms = [a.arn for a in (failover.alarms.values() if failover else [])]
        alarms += [a.arn for a in (self.switch.trigger_alarms.values() if self.switch else [])]
        regions = [DrRegion(name=r.name, cluster_name=r.cluster.cluster_name,
                            database_cluster=r.database.cluster_identifier if r.database else None,
                            health_check_id=failover.health_checks[r.name].id
                            if failover and r.name in failover.health_checks else None,
                            app=stack.dns.app if stack.dns else None,
                            load_balancer=r.workloads.entries[stack.dns.app].dimensions["LoadBalancer"]
                            if stack.dns else None, node_pool_cpu=stack.node_pool.limits.cpu,
                            dashboard=r.monitoring.dashboard_name, vault=r.label) for r in self.regions]
        return DrDashboard(f"{name}-dr", dashboard_name=f"{label}-dr", regions=regions, alarm_arns=alarms,
                           lag_bound_seconds=stack.database.replication_lag_bound_seconds if stack.database else None,
                           rpo_bound_seconds=stack.rpo_bound_seconds,
                           copy_rpo_minutes=stack.dr.rpo.region_loss_and_corruption,
                           switch_plan=self.switch.plan_name if self.switch else None,
                           opts=pulumi.ResourceOptions(parent=self, provider=self.global_provider))

    def _exports(self, copies_to: dict[str, str | None]) -> dict[str, Any]:
        stack, dns, failover = self._stack, self._stack.dns, self.failover
        regions = {}
        for region in self.regions:
            regions[region.name] = {**region.outputs, "backupCopiesTo": copies_to[region.name],
                                    "achievableRpoMinutes": stack.dr.schedule.achievable_rpo_minutes}
            if failover and region.name in failover.health_checks:
                regions[region.name]["healthCheckId"] = failover.health_checks[region.name].id
        timing = dns.timing if dns else None
        chain = stack.recovery_time
        objectives: dict[str, Any] = {
            "rpoMinutes": {point.kind: {"target": point.target_minutes, "achievable": point.achievable_minutes,
                                        "basis": point.basis, "proven": point.proven}
                           for point in stack.recovery_points},
            "backupIntervalHours": stack.dr.schedule.interval_hours,
            # From a region's failure to the first request the other serves: each term and its source.
            "rtoMinutes": {"target": stack.dr.rto_minutes,
                           "achievable": chain.seconds / 60 if chain and not chain.unproven else None,
                           "unproven": chain.unproven if chain else None,
                           "terms": [{"name": t.name, "seconds": t.seconds, "basis": t.basis, "source": t.source}
                                     for t in chain.terms] if chain else []},
            "capacity": self._capacity(),
        }
        if timing and not self.switch:
            # Without a plan the standby grows by itself: detection, the HPA, a node, the image, the start.
            objectives["rtoMinutes"]["fullCapacity"] = timing.full_capacity_seconds / 60
        if self.switch and stack.dr.region_switch:
            config = stack.dr.region_switch
            objectives["regionSwitch"] = {
                "approvalTimeoutMinutes": config.approval_timeout_minutes if config.approval_role_arn else None,
                "automaticAfterMinutes": config.automatic_after_minutes}
        exports: dict[str, Any] = {
            "environment": stack.environment,
            "activeRegion": stack.active_region.name,
            "failoverOrder": [region.name for region in stack.regions],
            "regions": regions,
            "objectives": objectives,
        }
        if self.dr_dashboard:
            exports["drDashboard"] = self.dr_dashboard.name
        if self.database and stack.database and self.master_secret:
            exports["database"] = {"globalClusterId": self.database.identifier if self.database.cluster else None,
                                   "globalWriterEndpoint": self.database.writer_endpoint,
                                   "engineVersion": stack.database.engine_version,
                                   "masterSecretName": self.master_secret.name,
                                   "replicationLagBoundSeconds": stack.database.replication_lag_bound_seconds}
        if self.switch and failover:
            exports["regionSwitch"] = {"planArn": self.switch.arn, "planName": self.switch.plan.name,
                                       "workflows": {r: "activate" for r in failover.health_checks},
                                       "healthCheckIds": self.switch.health_checks}
        if failover and dns:
            objectives["healthCheck"] = {"intervalSeconds": dns.interval_seconds,
                                         "failureThreshold": dns.failure_threshold}
            exports.update(applicationUrl=failover.url, hostedZoneId=failover.zone_id, recordName=dns.record,
                           recordOrder=failover.order)
        return exports
