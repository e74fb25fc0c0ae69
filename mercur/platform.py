"""The whole stack: one Region per configured region, in failover order."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .config import ConfigError, StackConfig
from .network import available_zones
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

        self.exports = {
            "environment": stack.environment,
            "activeRegion": stack.active_region.name,
            "failoverOrder": [region.name for region in stack.regions],
            "regions": {region.name: region.outputs for region in self.regions},
        }
        self.register_outputs(self.exports)
