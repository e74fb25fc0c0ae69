"""The whole stack: one Region per configured region, in failover order."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .config import ConfigError, StackConfig
from .backup import BackupSchedule, Peer
from .network import available_zones
from .objectives import copy_targets
from .region import Region


def default_tags(stack: StackConfig, region: str) -> dict[str, str]:
    """Tags every AWS resource in the region carries; the stack's own tags cannot override these."""
    return {**stack.tags, "Project": stack.project, "Environment": stack.environment, "Region": region,
            "ManagedBy": "pulumi"}


class Platform(pulumi.ComponentResource):
    """Builds every region; `exports` is the stack-output contract the DR tooling reads."""

    def __init__(self, name: str, stack: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:platform:Platform", name, None, opts)
        # Providers and AZ lookups for every region come first: a region that cannot hold its AZs stops
        # the run before any cloud resource is declared.
        placements = []
        for index, region in enumerate(stack.regions):
            provider = aws.Provider(f"{region.name}", region=region.name,
                                    default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(stack, region.name)),
                                    opts=pulumi.ResourceOptions(parent=self))
            try:
                zones = available_zones(provider, region.az_count)
            except ValueError as error:
                raise ConfigError(stack.source, f"mercur:regions[{index}]", f"{region.name}: {error}",
                                  "set azCount (or network.maxAzs) to what the account sees") from None
            placements.append((region, provider, zones))

        self.regions = [Region(region.short, stack=stack, region=region, zones=zones, provider=provider,
                               opts=pulumi.ResourceOptions(parent=self))
                        for region, provider, zones in placements]

        # Backups copy around the ring of regions; the schedules need every region's vault first.
        by_name = {region.name: region for region in self.regions}
        targets = copy_targets([r.name for r in stack.regions]) if stack.dr.cross_region_copy else {}
        copies_to: dict[str, str | None] = {}
        for region in self.regions:
            target = by_name.get(targets.get(region.name) or "")
            peer = Peer(target.name, target.backup.vault.arn, target.backup.key.arn) if target else None
            BackupSchedule(region.logical_name, dr=stack.dr, vault=region.backup, peer=peer,
                           restore_testing=stack.environment != "dev", opts=pulumi.ResourceOptions(parent=region))
            copies_to[region.name] = peer.region if peer else None

        schedule = stack.dr.schedule
        self.exports = {
            "environment": stack.environment,
            "activeRegion": stack.active_region.name,
            "failoverOrder": [region.name for region in stack.regions],
            "regions": {region.name: {**region.outputs, "backupCopiesTo": copies_to[region.name]}
                        for region in self.regions},
            "objectives": {
                "rpoMinutes": {"target": stack.dr.rpo_minutes, "achievable": schedule.achievable_rpo_minutes},
                "backupIntervalHours": schedule.interval_hours,
            },
        }
        self.register_outputs(self.exports)
