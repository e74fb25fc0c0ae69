"""The stack outputs the DR tools read, validated: a bad file is one line naming the file and the key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..config.errors import ConfigError


@dataclass(frozen=True)
class RegionOutputs:
    name: str
    cluster_name: str
    availability_zones: tuple[str, ...]
    endpoints: Mapping[str, str]
    backup_vault_arn: str
    backup_copies_to: str | None
    health_check_id: str | None
    database_cluster_id: str | None = None  # the region's Aurora cluster, with mercur:database
    database_subnet_group: str | None = None  # where a restore drill puts its temporary cluster
    database_security_group: str | None = None
    database_engine_version: str | None = None
    routing_check_id: str | None = None  # what its failover record answers by: the Region switch plan's check

    @property
    def record_check_id(self) -> str | None:
        return self.routing_check_id or self.health_check_id

    @property
    def backup_vault_name(self) -> str:
        return self.backup_vault_arn.rsplit(":", 1)[1]


@dataclass(frozen=True)
class StackOutputs:
    environment: str
    failover_order: tuple[str, ...]
    regions: Mapping[str, RegionOutputs]
    hosted_zone_id: str | None
    record_name: str | None
    global_cluster_id: str | None = None  # the Aurora global database, in a multi-region stack with one

    @property
    def active(self) -> RegionOutputs:
        return self.regions[self.failover_order[0]]

    @property
    def passive(self) -> tuple[RegionOutputs, ...]:
        return tuple(self.regions[r] for r in self.failover_order[1:])


def _need(source: str, data: Mapping[str, Any], key: str, kind: type, path: str = "") -> Any:
    where = f"{path}{key}"
    if key not in data:
        raise ConfigError(source, where, "is missing",
                          "pass the output of `pulumi stack output --json` for this stack")
    if not isinstance(data[key], kind):
        raise ConfigError(source, where, f"expected {kind.__name__}, got {type(data[key]).__name__}",
                          "pass the output of `pulumi stack output --json` for this stack")
    return data[key]


def parse(data: Any, source: str) -> StackOutputs:
    if not isinstance(data, Mapping):
        raise ConfigError(source, "(document)", "is not a JSON object", "pass `pulumi stack output --json`")
    order = _need(source, data, "failoverOrder", list)
    raw_regions = _need(source, data, "regions", dict)
    regions = {}
    for name in order:
        raw = _need(source, raw_regions, name, dict, "regions.")
        path = f"regions.{name}."
        regions[name] = RegionOutputs(
            name=name,
            cluster_name=_need(source, raw, "clusterName", str, path),
            availability_zones=tuple(_need(source, raw, "availabilityZones", list, path)),
            endpoints=dict(_need(source, raw, "endpoints", dict, path)),
            backup_vault_arn=_need(source, raw, "backupVaultArn", str, path),
            backup_copies_to=raw.get("backupCopiesTo"),
            health_check_id=raw.get("healthCheckId"),
            routing_check_id=_routing_check(source, data, name),
            **_regional_database(source, raw, path))
    multi = len(order) > 1
    return StackOutputs(
        environment=_need(source, data, "environment", str), failover_order=tuple(order), regions=regions,
        hosted_zone_id=_need(source, data, "hostedZoneId", str) if multi else data.get("hostedZoneId"),
        record_name=_need(source, data, "recordName", str) if multi else data.get("recordName"),
        global_cluster_id=_database(source, data) if multi else None)


def _routing_check(source: str, data: Mapping[str, Any], region: str) -> str | None:
    """With a Region switch plan, the health check it controls for the region (the record answers by it)."""
    if "regionSwitch" not in data:
        return None
    switch = _need(source, data, "regionSwitch", dict)
    checks = _need(source, switch, "healthCheckIds", dict, "regionSwitch.")
    return _need(source, checks, region, str, "regionSwitch.healthCheckIds.")


def _regional_database(source: str, raw: Mapping[str, Any], path: str) -> dict[str, str]:
    if "database" not in raw:
        return {}
    database, where = _need(source, raw, "database", dict, path), f"{path}database."
    return {"database_cluster_id": _need(source, database, "clusterId", str, where),
            "database_subnet_group": _need(source, database, "subnetGroupName", str, where),
            "database_security_group": _need(source, database, "securityGroupId", str, where),
            "database_engine_version": _need(source, database, "engineVersion", str, where)}


def _database(source: str, data: Mapping[str, Any]) -> str | None:
    if "database" not in data:
        return None
    database = _need(source, data, "database", dict)
    return _need(source, database, "globalClusterId", str, "database.")


def load(path: Path) -> StackOutputs:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(path.name, "(file)", "does not exist",
                          "write it with `pulumi stack output --json > FILE`") from None
    except json.JSONDecodeError as error:
        raise ConfigError(path.name, f"line {error.lineno}", "is not valid JSON",
                          "write it with `pulumi stack output --json > FILE`") from None
    return parse(data, path.name)
