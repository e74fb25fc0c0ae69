"""Typed, validated stack configuration.

Everything the program needs from `Pulumi.<stack>.yaml` is parsed here, once, into frozen dataclasses.
Bad input stops here as a `ConfigError` whose text is ONE line naming the file, the key and the fix;
nothing downstream re-checks or re-reads configuration.

This module knows nothing of Pulumi resources. It accepts either the stack file itself (offline plan,
tests) or the engine's config map (a real `pulumi up`), both in the same raw shape.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import yaml

from .dnsconfig import DnsConfig, parse_dns
from .objectives import BackupSchedule, Unachievable, schedule_for
from .apps import AppConfig, StandbyConfig, check_secrets_placement, parse_apps, parse_standby, without_ciphertext
from .schema import ConfigError, Section, bounded, choice, show

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it: 10x faster
PROJECT = "mercur"
NAMESPACE = f"{PROJECT}:"
ENVIRONMENTS = ("dev", "staging", "prod")

# Usable AZs a typical account gets per region (us-west-1 offers most accounts only two). The program
# confirms the real list per provider with get_availability_zones; this table lets bad config fail
# before anything is declared.
REGION_USABLE_AZS: Mapping[str, int] = MappingProxyType({
    "us-east-1": 6,
    "us-east-2": 3,
    "us-west-1": 2,
    "us-west-2": 4,
    "ca-central-1": 3,
    "eu-west-1": 3,
    "eu-central-1": 3,
})

# EKS versions in AWS standard support on 2026-11 (CKV_AWS_339): older ones bill extended support.
SUPPORTED_EKS_VERSIONS = ("1.33", "1.34", "1.35", "1.36")

# Subnet layout: private subnets are /(n+3), public /(n+6) of a /n VPC; each AZ owns a fixed slot so that
# adding an AZ never renumbers existing subnets. Four slots; EKS needs at least two AZs.
MAX_AZS = 4
MIN_AZS = 2
PRIVATE_SUBNET_BITS = 3
PUBLIC_SUBNET_BITS = 6
LARGEST_VPC_PREFIX = 16  # AWS allows no VPC larger than a /16
SMALLEST_VPC_PREFIX = 21  # keeps private subnets at /24 (EKS pods take VPC IPs) and public at /27

LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)
CAPACITY_TYPES = ("ON_DEMAND", "SPOT")
_ARN_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_TAG_KEY = re.compile(r"^[\w .:/=+\-@]{1,128}$")


class NatGateways(str, Enum):
    """How private subnets reach the internet."""

    NONE = "none"  # no NAT: nodes reach AWS APIs through interface endpoints only
    SINGLE = "single"  # one NAT in the first AZ: cheap, but an AZ outage cuts egress for all
    PER_AZ = "per-az"  # one NAT per AZ: egress survives the loss of an AZ


@dataclass(frozen=True)
class RegionConfig:
    name: str
    cidr: ipaddress.IPv4Network
    az_count: int  # resolved: explicit per-region value, or min(maxAzs, what the region offers)

    @property
    def short(self) -> str:
        """`us-west-1` -> `usw1`: keeps AWS names (clusters, roles) short and readable."""
        area, direction, number = self.name.split("-")
        return f"{area}{direction[0]}{number}"


@dataclass(frozen=True)
class NetworkConfig:
    nat_gateways: NatGateways
    max_azs: int
    flow_log_retention_days: int


@dataclass(frozen=True)
class NodeGroupConfig:
    name: str
    instance_types: tuple[str, ...]
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gb: int
    capacity_type: str


@dataclass(frozen=True)
class ClusterConfig:
    version: str
    endpoint_public_access: bool
    public_access_cidrs: tuple[str, ...]
    admin_role_arn: str
    log_retention_days: int
    node_groups: tuple[NodeGroupConfig, ...]


@dataclass(frozen=True)
class DrConfig:
    """Recovery objectives and retention; `schedule` is derived from the RPO and proven to meet it."""

    rpo_minutes: int
    rto_minutes: float
    retention_days: int
    copy_retention_days: int
    cross_region_copy: bool
    schedule: BackupSchedule


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    environment: str
    source: str  # the stack file's name, for messages
    regions: tuple[RegionConfig, ...]  # failover priority: first is active, the rest passive
    network: NetworkConfig
    cluster: ClusterConfig
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    apps: tuple[AppConfig, ...] = ()
    standby: StandbyConfig = StandbyConfig(1)  # replicas per app in each passive region
    dr: DrConfig | None = None
    dns: DnsConfig | None = None

    @property
    def is_production(self) -> bool:
        return self.environment == "prod"

    @property
    def active_region(self) -> RegionConfig:
        return self.regions[0]


# --------------------------------------------------------------------------------------------------
# Sections

_ROOT_KEYS = ("environment", "regions", "network", "cluster", "nodeGroups", "tags", "apps", "standby", "dr", "dns")
_DR_KEYS = ("rpoMinutes", "rtoMinutes", "retentionDays", "copyRetentionDays", "crossRegionCopy")
_NODE_GROUP_KEYS = ("name", "instanceTypes", "minSize", "desiredSize", "maxSize", "diskSizeGb", "capacityType")


def _retention(sec: Section, name: str, default: int) -> int:
    value = sec.get(name, int, default)
    if value not in LOG_RETENTION_DAYS:
        nearest = min(LOG_RETENTION_DAYS, key=lambda d: abs(d - value))
        raise sec.error(name, f"{value} days is not a CloudWatch Logs retention period",
                        f"use {nearest} (allowed: {', '.join(map(str, LOG_RETENTION_DAYS))})")
    return value


def _regions(root: Section, network: NetworkConfig) -> tuple[RegionConfig, ...]:
    sections = root.each("regions", ("name", "cidr", "azCount"), hint="a list of `{name, cidr}`, active region first")
    if not sections:
        raise root.error("regions", "is empty", "list at least one region, the active one first")
    regions: list[RegionConfig] = []
    seen: dict[str, int] = {}
    for index, sec in enumerate(sections):
        name = sec.get("name", str)
        if name not in REGION_USABLE_AZS:
            close = difflib.get_close_matches(name, REGION_USABLE_AZS, n=1)
            raise sec.error("name", f"unknown region {show(name)}",
                            f"did you mean `{close[0]}`?" if close
                            else f"use one of: {', '.join(REGION_USABLE_AZS)}")
        if name in seen:
            raise sec.error("name", f"{name} is listed twice (also regions[{seen[name]}])",
                            "list each region once, in failover order")
        seen[name] = index
        cidr = _vpc_cidr(sec)
        offered = REGION_USABLE_AZS[name]
        explicit = sec.get("azCount", int, None)
        if explicit is not None and explicit > offered:
            raise sec.error("azCount", f"{explicit} AZs asked but {name} offers {offered}",
                            f"set azCount to at most {offered} or remove it to use min(maxAzs, {offered})")
        if explicit is not None and not MIN_AZS <= explicit <= MAX_AZS:
            raise sec.error("azCount", f"{explicit} is out of range",
                            f"use {MIN_AZS} to {min(MAX_AZS, offered)} (EKS needs subnets in >= {MIN_AZS} AZs)")
        regions.append(RegionConfig(name, cidr, explicit or min(network.max_azs, offered)))
    _no_overlap(root.source, root.key("regions"), regions)
    return tuple(regions)


def _vpc_cidr(sec: Section) -> ipaddress.IPv4Network:
    text = sec.get("cidr", str)
    try:
        cidr = ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise sec.error("cidr", f"{show(text)} is not a valid IPv4 network ({exc})",
                        "write a network address with prefix, like 10.20.0.0/16") from None
    if not cidr.is_private:
        raise sec.error("cidr", f"{cidr} is not a private (RFC 1918) range", "use a range inside 10.0.0.0/8")
    if cidr.prefixlen < LARGEST_VPC_PREFIX:
        raise sec.error("cidr", f"{cidr} is larger than AWS allows for a VPC", "use a /16 to /21")
    if cidr.prefixlen > SMALLEST_VPC_PREFIX:
        private = cidr.prefixlen + PRIVATE_SUBNET_BITS
        public = cidr.prefixlen + PUBLIC_SUBNET_BITS
        raise sec.error("cidr", f"{cidr} is too small to hold {MAX_AZS} private /{private} and "
                                f"{MAX_AZS} public /{public} subnets", "use a /16 to /21")
    return cidr


def _no_overlap(source: str, key: str, regions: Sequence[RegionConfig]) -> None:
    for i, first in enumerate(regions):
        for j in range(i + 1, len(regions)):
            if first.cidr.overlaps(regions[j].cidr):
                raise ConfigError(source, f"{key}[{j}].cidr",
                                  f"{regions[j].cidr} overlaps {key}[{i}].cidr ({first.cidr})",
                                  "give every region its own range")


def _network(root: Section) -> NetworkConfig:
    sec = root.section("network", ("natGateways", "maxAzs", "flowLogRetentionDays"))
    nat = choice(sec, "natGateways", [n.value for n in NatGateways])
    config = NetworkConfig(
        nat_gateways=NatGateways(nat),
        max_azs=bounded(sec, "maxAzs", MIN_AZS, MAX_AZS, MAX_AZS - 1),
        flow_log_retention_days=_retention(sec, "flowLogRetentionDays", 365),
    )
    return config


def _node_groups(root: Section, environment: str) -> tuple[NodeGroupConfig, ...]:
    sections = root.each("nodeGroups", _NODE_GROUP_KEYS, hint="a list of managed node groups")
    if not sections:
        raise root.error("nodeGroups", "is empty", "declare at least one managed node group")
    groups: list[NodeGroupConfig] = []
    for sec in sections:
        name = sec.get("name", str)
        if not _NAME.match(name):
            raise sec.error("name", f"{show(name)} is not a valid name",
                            "use lowercase letters, digits and dashes, starting with a letter")
        if name in {g.name for g in groups}:
            raise sec.error("name", f"{name} is used twice", "give every node group its own name")
        types = sec.items("instanceTypes")
        if not types or not all(isinstance(t, str) and "." in t for t in types):
            raise sec.error("instanceTypes", f"{show(types)} is not a list of EC2 instance types",
                            "write a list like [m6i.large]")
        low, desired, high = (sec.get(k, int) for k in ("minSize", "desiredSize", "maxSize"))
        if not 0 <= low <= desired <= high or high < 1:
            raise sec.error("desiredSize", f"sizes must satisfy 0 <= minSize <= desiredSize <= maxSize and "
                                           f"maxSize >= 1, got min {low}, desired {desired}, max {high}",
                            "adjust minSize, desiredSize and maxSize")
        if environment == "prod" and low < MIN_AZS:
            raise sec.error("minSize", f"{low} nodes cannot survive an AZ loss in prod",
                            f"set minSize to at least {MIN_AZS}")
        groups.append(NodeGroupConfig(
            name=name, instance_types=tuple(types), min_size=low, desired_size=desired, max_size=high,
            disk_size_gb=bounded(sec, "diskSizeGb", 20, 1000, 50),
            capacity_type=choice(sec, "capacityType", CAPACITY_TYPES, "ON_DEMAND"),
        ))
    return tuple(groups)


def _cluster(root: Section, environment: str) -> ClusterConfig:
    sec = root.section("cluster", ("version", "endpointPublicAccess", "publicAccessCidrs", "adminRoleArn",
                                   "logRetentionDays"))
    version = sec.data.get("version")
    if isinstance(version, float):
        raise sec.error("version", f"{version} was read as a number", f'quote it: version: "{version}"')
    version = choice(sec, "version", SUPPORTED_EKS_VERSIONS)
    public = sec.get("endpointPublicAccess", bool, False)
    cidrs = tuple(sec.items("publicAccessCidrs", []))
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except (TypeError, ValueError):
            raise sec.error("publicAccessCidrs", f"{show(cidr)} is not a valid network",
                            "write networks like 203.0.113.0/24") from None
        if network.prefixlen == 0:
            raise sec.error("publicAccessCidrs", f"{cidr} opens the Kubernetes API to the whole internet",
                            "list only the office/VPN egress ranges that need the API")
    if public and not cidrs:
        raise sec.error("publicAccessCidrs", "endpointPublicAccess is true but no CIDRs are listed",
                        "list the egress ranges allowed to reach the API, or set endpointPublicAccess: false")
    if cidrs and not public:
        raise sec.error("publicAccessCidrs", "is set but endpointPublicAccess is false",
                        "remove it, or set endpointPublicAccess: true")
    admin = sec.get("adminRoleArn", str, hint="the IAM role granted cluster-admin through an access entry")
    if not _ARN_PRINCIPAL.match(admin):
        raise sec.error("adminRoleArn", f"{show(admin)} is not an IAM role or user ARN",
                        "write arn:aws:iam::<12-digit account>:role/<name>")
    config = ClusterConfig(
        version=version,
        endpoint_public_access=public,
        public_access_cidrs=cidrs,
        admin_role_arn=admin,
        log_retention_days=_retention(sec, "logRetentionDays", 365),
        node_groups=_node_groups(root, environment),
    )
    return config


def _dr(root: Section, environment: str, regions: Sequence[RegionConfig]) -> DrConfig:
    sec = root.section("dr", _DR_KEYS, hint="recovery objectives: rpoMinutes, rtoMinutes, retention")
    cross_region = sec.get("crossRegionCopy", bool, True)
    if not cross_region and environment != "dev":
        raise sec.error("crossRegionCopy", f"{environment} must copy backups to its peer region",
                        "set crossRegionCopy: true (only dev may opt out)")
    if cross_region and len(regions) < 2:
        raise sec.error("crossRegionCopy", "there is no second region to copy to",
                        "add a passive region to mercur:regions, or set crossRegionCopy: false (dev only)")
    rpo = bounded(sec, "rpoMinutes", 1, 7 * 24 * 60)
    try:
        schedule = schedule_for(rpo, cross_region)
    except Unachievable as error:
        raise sec.error("rpoMinutes", f"{rpo} cannot be met: the best achievable is {error.best} minutes "
                                      f"({error.explanation})", f"set rpoMinutes to at least {error.best}") from None
    retention = bounded(sec, "retentionDays", 1, 3650)
    copy_retention = bounded(sec, "copyRetentionDays", 1, 3650, retention)
    rto = sec.get("rtoMinutes", (int, float))
    if isinstance(rto, bool) or not 0 < rto <= 24 * 60:
        raise sec.error("rtoMinutes", f"{show(rto)} is out of range", "use minutes above 0, up to 1440")
    return DrConfig(rpo_minutes=rpo, rto_minutes=rto, retention_days=retention,
                    copy_retention_days=copy_retention, cross_region_copy=cross_region, schedule=schedule)


def _dns(root: Section, regions: Sequence[RegionConfig], apps: Sequence[AppConfig], dr: DrConfig) -> DnsConfig | None:
    """Required wherever there is something to fail over to; optional for a single region."""
    if len(regions) == 1 and "dns" not in root.data:
        return None
    return parse_dns(root, regions=[r.name for r in regions], apps=apps, rto_minutes=dr.rto_minutes)


def _tags(root: Section) -> Mapping[str, str]:
    sec = root.section("tags", None, {})
    for key, value in sec.data.items():
        if not isinstance(key, str) or not _TAG_KEY.match(key) or key.lower().startswith("aws:"):
            raise sec.error(str(key), "is not a valid AWS tag key", "use up to 128 letters, digits, spaces "
                                                                  "and _.:/=+-@, not starting with aws:")
        if not isinstance(value, str) or len(value) > 256:
            raise sec.error(key, f"{show(value)} is not a tag value", "write a string of up to 256 characters")
    return MappingProxyType(dict(sec.data))


# --------------------------------------------------------------------------------------------------
# Entry points


def parse(raw: Mapping[str, Any], *, stack: str, source: str,
          sibling_cidrs: Callable[[], Mapping[str, Sequence[str]]] = lambda: {}) -> StackConfig:
    """Validate the `mercur:` keys of one stack (namespace already stripped) into a StackConfig.

    `sibling_cidrs` yields the region CIDRs of the other stack files, so environments never overlap.
    """
    root = Section(source, NAMESPACE, raw, _ROOT_KEYS)
    environment = choice(root, "environment", ENVIRONMENTS, stack if stack in ENVIRONMENTS else ...)
    network = _network(root)
    regions = _regions(root, network)
    apps = parse_apps(root)
    dr = _dr(root, environment, regions)
    config = StackConfig(
        project=PROJECT, stack=stack, environment=environment, source=source,
        regions=regions, network=network, cluster=_cluster(root, environment), tags=_tags(root),
        apps=apps, standby=parse_standby(root, apps), dr=dr,
        dns=_dns(root, regions, apps, dr),
    )
    _no_overlap_with_siblings(config, sibling_cidrs())
    return config


def _no_overlap_with_siblings(config: StackConfig, siblings: Mapping[str, Sequence[str]]) -> None:
    for index, region in enumerate(config.regions):
        for other_file, cidrs in siblings.items():
            for other in cidrs:
                try:
                    clash = region.cidr.overlaps(ipaddress.IPv4Network(other))
                except ValueError:
                    continue  # that file's own load reports it
                if clash:
                    raise ConfigError(config.source, f"{NAMESPACE}regions[{index}].cidr",
                                      f"{region.cidr} overlaps {other} in {other_file}",
                                      "every environment needs its own range so they can be peered later")


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def _read_stack_file(path: Path) -> Mapping[str, Any]:
    try:
        document = yaml.load(path.read_text(), Loader=_YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "document"
        raise ConfigError(path.name, where, "is not valid YAML", "fix the indentation or quoting there") from None
    config = document.get("config", {}) if isinstance(document, Mapping) else None
    if not isinstance(config, Mapping):
        raise ConfigError(path.name, "config", "expected a mapping of settings", "put the settings under `config:`")
    return config


def _mercur_keys(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(key, str) and key.startswith(NAMESPACE):
            check_secrets_placement(key, value, source)
            values[key[len(NAMESPACE):]] = without_ciphertext(value)
        elif isinstance(key, str) and ":" not in key:
            raise ConfigError(source, key, "has no namespace", f"write it as {NAMESPACE}{key}")
    return values


def _siblings(project_dir: Path, stack: str) -> Callable[[], Mapping[str, Sequence[str]]]:
    def read() -> Mapping[str, Sequence[str]]:
        found: dict[str, list[str]] = {}
        for path in sorted(project_dir.glob("Pulumi.*.yaml")):
            if path.name == stack_file(project_dir, stack).name:
                continue
            status = path.stat()
            found[path.name] = _region_cidrs(path, status.st_mtime_ns, status.st_size)
        return found
    return read


@functools.lru_cache(maxsize=64)
def _region_cidrs(path: Path, _mtime_ns: int, _size: int) -> list[str]:
    """A sibling stack file's region CIDRs, read once per version of the file (a plan validates twice:
    before the program runs and inside it)."""
    try:
        regions = _read_stack_file(path).get(f"{NAMESPACE}regions") or []
        return [r["cidr"] for r in regions if isinstance(r, Mapping) and "cidr" in r]
    except (ConfigError, TypeError, AttributeError):
        return []  # a broken sibling is reported when that stack is loaded


def _stack_file_keys(project_dir: Path, stack: str) -> dict[str, Any]:
    """The `mercur:` keys of `Pulumi.<stack>.yaml` (namespace stripped, ciphertext replaced)."""
    path = stack_file(project_dir, stack)
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        raise ConfigError(path.name, "stack", f"no such stack file in {project_dir}",
                          f"use one of: {', '.join(known) or 'none found'}")
    return _mercur_keys(_read_stack_file(path), path.name)


def load_file(project_dir: Path, stack: str) -> StackConfig:
    """Load `Pulumi.<stack>.yaml` from the project directory (offline plan, tests)."""
    return parse(_stack_file_keys(project_dir, stack), stack=stack, source=stack_file(project_dir, stack).name,
                 sibling_cidrs=_siblings(project_dir, stack))


def engine_values(raw: Mapping[str, Any]) -> dict[str, str]:
    """The stack file's `mercur:` values as the Pulumi engine hands them to a program: JSON strings."""
    return {f"{NAMESPACE}{key}": value if isinstance(value, str) else json.dumps(value)
            for key, value in raw.items()}


def stack_file_values(project_dir: Path, stack: str) -> dict[str, str]:
    return engine_values(_stack_file_keys(project_dir, stack))


def load_engine(config_map: Mapping[str, str], *, stack: str, project_dir: Path) -> StackConfig:
    """Load from the engine's config map (`{"mercur:key": "json or text"}`), as `pulumi up` provides."""
    raw: dict[str, Any] = {}
    for key, text in config_map.items():
        if not key.startswith(NAMESPACE):
            continue
        try:
            raw[key[len(NAMESPACE):]] = json.loads(text)
        except (TypeError, ValueError):
            raw[key[len(NAMESPACE):]] = text  # plain strings arrive unquoted
    return parse(raw, stack=stack, source=stack_file(project_dir, stack).name,
                 sibling_cidrs=_siblings(project_dir, stack))


def load_from_engine(*, stack: str, project_dir: Path) -> StackConfig:
    """The running Pulumi program's config: what `pulumi up` (or the offline plan's mocks) provides."""
    from pulumi.runtime import config as engine  # only the program path needs the SDK

    return load_engine({**engine.get_config_env(), **engine.CONFIG.get()}, stack=stack, project_dir=project_dir)
