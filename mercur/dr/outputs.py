"""The stack outputs the DR tools read, held against the stack file.

Two kinds of bad file, told apart because they mean different things:
- malformed (unreadable, not JSON, a key of the wrong type, an empty list): ConfigError, one line, exit 2;
- well-formed but incomplete for the stack file (a region or an id missing, another region order): every gap
  is kept in `gaps`, and `dr check` reports each one as a FAIL — never silently checks less.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..config.errors import ConfigError, show

if TYPE_CHECKING:
    from ..config import StackConfig

FIX = "pass the output of `pulumi stack output --json` for this stack"


@dataclass(frozen=True)
class RegionOutputs:
    name: str
    cluster_name: str | None
    availability_zones: tuple[str, ...]
    endpoints: Mapping[str, str]
    backup_vault_arn: str | None
    backup_copies_to: str | None
    health_check_id: str | None
    database_cluster_id: str | None = None  # the region's Aurora cluster, with mercur:database
    database_cluster_arn: str | None = None
    database_subnet_group: str | None = None  # where a restore drill puts its temporary cluster
    database_security_group: str | None = None
    database_engine_version: str | None = None
    routing_check_id: str | None = None  # what its failover record answers by: the Region switch plan's check

    @property
    def record_check_id(self) -> str | None:
        return self.routing_check_id or self.health_check_id

    @property
    def backup_vault_name(self) -> str | None:
        return self.backup_vault_arn.rsplit(":", 1)[1] if self.backup_vault_arn else None


@dataclass(frozen=True)
class Capacity:
    """What each region's NodePool was deployed with (vCPU, GiB)."""
    cpu: float
    memory_gib: float


@dataclass(frozen=True)
class StackOutputs:
    environment: str
    failover_order: tuple[str, ...]
    regions: Mapping[str, RegionOutputs]  # the regions the outputs hold, of failover_order
    hosted_zone_id: str | None
    record_name: str | None
    global_cluster_id: str | None = None  # the Aurora global database, in a multi-region stack with one
    master_secret_name: str | None = None  # its master credentials, replicated to every region
    switch_plan_arn: str | None = None  # the ARC Region switch plan, in a two-region stack
    node_pool_limits: Capacity | None = None
    # The regions in the order the failover records name them (PRIMARY first). With a Region switch plan that is
    # the database's home region first, whatever the stack file's order; without one, the failover order.
    record_order: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()  # what the stack file says should be here and is not: each a FAIL of `dr check`

    @property
    def active(self) -> RegionOutputs:
        return self.regions[self.failover_order[0]]

    def region(self, name: str) -> RegionOutputs | None:
        return self.regions.get(name)

    @property
    def passive(self) -> tuple[RegionOutputs, ...]:
        return tuple(self.regions[r] for r in self.failover_order[1:] if r in self.regions)


class _Reader:
    """Reads keys of one document: a wrong type is fatal (ConfigError), a missing key a gap (or fatal)."""

    def __init__(self, source: str) -> None:
        self.source, self.gaps = source, []

    def get(self, data: Mapping[str, Any], key: str, kind: Any, path: str = "", *, required: bool = False,
            wanted: bool = True) -> Any:
        """`required`: the file is useless without it (fatal); `wanted`: the stack file calls for it (a gap)."""
        where = f"{path}{key}"
        if key not in data or data[key] is None:
            if required:
                raise ConfigError(self.source, where, "is missing", FIX)
            if wanted:
                self.gaps.append(f"{where} is missing")
            return None
        value = data[key]
        if not isinstance(value, kind) or (kind is str and not value.strip()) or isinstance(value, bool) \
                and kind is not bool:
            raise ConfigError(self.source, where, f"expected {_kind(kind)}, got {show(value)}", FIX)
        if kind is list and not value:
            raise ConfigError(self.source, where, "is an empty list", FIX)
        if kind is list and not all(isinstance(item, str) and item for item in value):
            raise ConfigError(self.source, where, f"expected a list of names, got {show(value)}", FIX)
        if kind is dict and not all(isinstance(v, str) and v for v in value.values()) and key in _STRING_MAPS:
            raise ConfigError(self.source, where, f"expected names by key, got {show(value)}", FIX)
        return value


# Mappings whose values are all names.
_STRING_MAPS = {"endpoints", "healthCheckIds", "workflows"}


def _kind(kind: type | tuple[type, ...]) -> str:
    return {str: "a non-empty string", list: "a list", dict: "an object"}.get(kind, "a number")  # type: ignore[call-overload]


def parse(data: Any, source: str, stack: "StackConfig | None" = None) -> StackOutputs:
    """The outputs; with `stack`, held against it: what its stack file calls for and the file lacks are gaps."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, "(document)", "is not a JSON object", FIX)
    read = _Reader(source)
    environment = read.get(data, "environment", str, required=True)
    order = read.get(data, "failoverOrder", list, required=True)
    raw_regions = read.get(data, "regions", dict, required=True)
    expected = [r.name for r in stack.regions] if stack else list(order)
    if stack and list(order) != expected:
        read.gaps.append(f"failoverOrder is {', '.join(order)}; Pulumi.{stack.stack}.yaml has {', '.join(expected)}"
                         " (outputs of an older deploy? run `pulumi up`, or pass this stack's outputs)")
    multi = len(expected) > 1
    dns = stack.dns is not None if stack else "hostedZoneId" in data
    database = stack.database is not None if stack else "database" in data
    switch_data = read.get(data, "regionSwitch", dict, wanted=_switch_expected(stack) if stack else False)
    checks = read.get(switch_data, "healthCheckIds", dict, "regionSwitch.") if switch_data else None
    regions = {}
    for name in dict.fromkeys([*order, *expected]):
        raw = read.get(raw_regions, name, dict, "regions.")
        if raw is None:
            continue
        path = f"regions.{name}."
        zones = read.get(raw, "availabilityZones", list, path) or []
        regions[name] = RegionOutputs(
            name=name, cluster_name=read.get(raw, "clusterName", str, path), availability_zones=tuple(zones),
            endpoints=dict(read.get(raw, "endpoints", dict, path) or {}),
            backup_vault_arn=read.get(raw, "backupVaultArn", str, path),
            backup_copies_to=read.get(raw, "backupCopiesTo", str, path, wanted=multi),
            health_check_id=read.get(raw, "healthCheckId", str, path, wanted=multi and dns),
            routing_check_id=read.get(checks, name, str, "regionSwitch.healthCheckIds.") if checks else None,
            **_regional_database(read, raw, path, database))
    globals_ = read.get(data, "database", dict, wanted=database) if database else None
    return StackOutputs(
        environment=environment, failover_order=tuple(order), regions=regions,
        record_order=tuple(read.get(data, "recordOrder", list, wanted=False) or order),
        hosted_zone_id=read.get(data, "hostedZoneId", str, wanted=dns and multi),
        record_name=read.get(data, "recordName", str, wanted=dns and multi),
        global_cluster_id=read.get(globals_, "globalClusterId", str, "database.", wanted=multi)
        if globals_ is not None and multi else None,
        master_secret_name=read.get(globals_, "masterSecretName", str, "database.") if globals_ is not None else None,
        switch_plan_arn=read.get(switch_data, "planArn", str, "regionSwitch.") if switch_data else None,
        node_pool_limits=_node_pool(read, data), gaps=tuple(dict.fromkeys(read.gaps)))


def _switch_expected(stack: "StackConfig") -> bool:
    """The program builds a plan for exactly two serving regions with mercur:dr.regionSwitch."""
    return stack.dr.region_switch is not None and len(stack.serving_regions) == 2


def _regional_database(read: _Reader, raw: Mapping[str, Any], path: str, expected: bool) -> dict[str, str]:
    database = read.get(raw, "database", dict, path, wanted=expected)
    if database is None:
        return {}
    where = f"{path}database."
    return {"database_cluster_id": read.get(database, "clusterId", str, where),
            "database_cluster_arn": read.get(database, "clusterArn", str, where),
            "database_subnet_group": read.get(database, "subnetGroupName", str, where),
            "database_security_group": read.get(database, "securityGroupId", str, where),
            "database_engine_version": read.get(database, "engineVersion", str, where)}


def _node_pool(read: _Reader, data: Mapping[str, Any]) -> Capacity | None:
    objectives = read.get(data, "objectives", dict)
    capacity = read.get(objectives, "capacity", dict, "objectives.") if objectives else None
    limits = read.get(capacity, "limits", dict, "objectives.capacity.") if capacity else None
    if not limits:
        return None
    path = "objectives.capacity.limits."
    cpu, memory = (read.get(limits, key, (int, float), path) for key in ("cpu", "memoryGib"))  # type: ignore[arg-type]
    return Capacity(cpu, memory) if cpu is not None and memory is not None else None


def load(path: Path, stack: "StackConfig | None" = None) -> StackOutputs:
    """The file parsed and held against `stack`; whatever makes it unreadable is one ConfigError line."""
    name = str(path)
    if path.exists() and not path.is_dir() and not path.is_file():  # a FIFO would block the read forever
        raise ConfigError(name, "(file)", "is not a regular file", "pass the JSON file `pulumi stack output "
                                                                    "--json` wrote")
    try:
        text = path.read_bytes().decode("utf-8")
        data = json.loads(text)
    except FileNotFoundError:
        raise ConfigError(name, "(file)", "does not exist", "write it with `pulumi stack output --json > FILE`") from None
    except IsADirectoryError:
        raise ConfigError(name, "(file)", "is a directory", "pass the JSON file `pulumi stack output --json` "
                                                            "wrote") from None
    except PermissionError:
        raise ConfigError(name, "(file)", "cannot be read (permission denied)", "make it readable") from None
    except UnicodeDecodeError as error:
        raise ConfigError(name, f"byte {error.start}", "is not UTF-8 text", "write it with `pulumi stack output "
                                                                           "--json > FILE`") from None
    except json.JSONDecodeError as error:
        raise ConfigError(name, f"line {error.lineno}", "is not valid JSON",
                          "write it with `pulumi stack output --json > FILE`") from None
    except (OSError, RecursionError) as error:  # a FIFO, a device, a document nested beyond Python's limits
        raise ConfigError(name, "(file)", f"cannot be read ({type(error).__name__})", FIX) from None
    return parse(data, name, stack)
