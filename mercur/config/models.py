"""The stack file's settings, declared once: type, bounds, default and meaning of every `mercur:` key.

The same models give validation (strict: no coercion, unknown keys refused, frozen results), the JSON
Schema editors check stack files with (`docs/stack.schema.json`) and the configuration reference
(`docs/configuration.md`). Rules that span keys (CIDR overlap, achievable RPO/RTO, standby within bounds,
environment-specific rules) are model validators. Every failure carries its problem and its fix, which
`mercur.config.load` turns into the project's one-line error.

Patterns are ASCII and match whole strings (`fullmatch`, explicit classes: `\\d` and `\\w` would admit
non-ASCII digits and letters, `$` a trailing newline).
"""


import ipaddress
import math
import re
from datetime import date
from enum import Enum
from typing import Annotated, Any, Callable, Literal, Mapping, Optional

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, PrivateAttr,
                      ValidationInfo, WithJsonSchema, model_validator)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from .errors import show
from .objectives import (ASSUMED, AURORA_STEP_TIMEOUT_SECONDS, COPY_MINUTES, FAILURE_THRESHOLDS, MEASURABLE_TERMS, MEASURED, SNAPSHOT_MINUTES,
                         START_DELAY_MINUTES, HEALTH_ALARM_PERIOD_SECONDS, HEALTH_ALARM_PERIODS,
                         HEALTH_CHECK_INTERVALS_SECONDS, HEALTH_METRIC_DELAY_SECONDS, MECHANISM, PITR_MINUTES,
                         STACK_FILE, BackupSchedule,
                         FailoverTiming, RecoveryPoint, RecoveryTime, Term, Unachievable, achievable_rpo,
                         detection_terms, dns_terms, failover_timing, schedule_meeting, switch_step_terms)
from .reader import PROJECT
from .regions import PARTITION, REGIONS

ENVIRONMENTS = ("dev", "staging", "prod")  # weakest first
# End of EKS standard support per Kubernetes version (EKS User Guide, "Kubernetes version lifecycle"; 14
# months after release). After it a cluster bills extended support (CKV_AWS_339): the plan warns this many
# days ahead and refuses a version past its date.
EKS_STANDARD_SUPPORT_ENDS = {"1.33": date(2026, 7, 29), "1.34": date(2026, 12, 2), "1.35": date(2027, 3, 27)}
SUPPORTED_EKS_VERSIONS = tuple(EKS_STANDARD_SUPPORT_ENDS)
EKS_SUPPORT_WARNING_DAYS = 90
# Subnet layout: private subnets are /(n+3), public /(n+6) of a /n VPC; each AZ owns a fixed slot so that
# adding an AZ never renumbers existing subnets. Four slots; EKS needs at least two AZs.
MAX_AZS = 4
MIN_AZS = 2
PRIVATE_SUBNET_BITS = 3
PUBLIC_SUBNET_BITS = 6
LARGEST_VPC_PREFIX = 16  # AWS allows no VPC larger than a /16
SMALLEST_VPC_PREFIX = 21  # keeps private subnets at /24 (EKS pods take VPC IPs) and public at /27
RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)
CAPACITY_TYPES = ("on-demand", "spot")  # Karpenter's karpenter.sh/capacity-type values
INSTANCE_CATEGORIES = ("c", "m", "r", "t")  # general-purpose families EKS Auto Mode offers (no GPUs here)
# Share of a node's capacity pods can request. Karpenter's NodePool limits count node *capacity*; pods get
# what is left after kube-reserved, system-reserved and the eviction threshold (EKS AMI formulas: about 2%
# of CPU and 6-11% of memory on 4-16 vCPU nodes) and after bin-packing leaves gaps. System DaemonSets cost
# nothing here: Auto Mode runs the node agents (CNI, kube-proxy, EBS CSI, Pod Identity) as host processes
# inside those reservations, and the apps bring none. Stated, not measured: a drill at full load would.
ALLOCATABLE_CPU_SHARE = 0.85
ALLOCATABLE_MEMORY_SHARE = 0.80
UNPRIVILEGED_PORTS = (1024, 65535)  # containers run as non-root with every capability dropped
# AWS allows 50 tags per resource; the program adds up to 10 of its own (Project, Environment, Region,
# ManagedBy, Name, subnet roles, cluster ownership).
MAX_STACK_TAGS = 40
RESERVED_TAGS = ("Project", "Environment", "Region", "ManagedBy", "Name")
MAX_APPS = 100  # each app is ten resources per region
MAX_ENV = 100
MAX_HEALTH_PATH = 255  # Route53 health checks' ResourcePath limit

_ROLE_ARN = re.compile(r"arn:(?P<partition>aws[a-z-]*):iam::[0-9]{12}:(?P<kind>role|user)/"
                       r"(?P<path>(?:[A-Za-z0-9+=,.@_-]+/)*)(?P<name>[A-Za-z0-9+=,.@_-]+)", re.ASCII)
_DNS_LABEL = re.compile(r"[a-z]([a-z0-9-]{0,38}[a-z0-9])?", re.ASCII)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_TAG_KEY = re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,128}", re.ASCII)
_TAG_VALUE = re.compile(r"[A-Za-z0-9 _.:/=+@-]{0,256}", re.ASCII)
_REPOSITORY = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+", re.ASCII)
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}", re.ASCII)
_CPU = re.compile(r"(?P<number>[0-9]+(\.[0-9]+)?)(?P<milli>m)?", re.ASCII)
_MEMORY = re.compile(r"(?P<number>[0-9]+)(?P<unit>Ki|Mi|Gi|Ti|k|M|G|T)?", re.ASCII)
_MEMORY_UNITS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                 "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_HTTP_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*", re.ASCII)
_MOUNT_PATH = re.compile(r"(/[A-Za-z0-9._-]+)+", re.ASCII)
_DOMAIN = re.compile(r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.ASCII)
_ACCOUNT = re.compile(r"[0-9]{12}", re.ASCII)
_TRANSIT_GATEWAY = re.compile(r"tgw-[0-9a-f]{8}([0-9a-f]{9})?", re.ASCII)
_HOSTED_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,31}", re.ASCII)  # Route53 hosted zone ids: Z and up to 31 more
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}", re.ASCII)
_HTTPS_URL = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?", re.ASCII)
_CERTIFICATE = re.compile(r"arn:(?P<partition>aws[a-z-]*):acm:(?P<region>[a-z0-9-]+):[0-9]{12}:"
                          r"certificate/[0-9a-f-]{36}", re.ASCII)


def today() -> date:
    """The date objectives and support windows are judged against (tests replace it)."""
    return date.today()


def fail(problem: str, fix: str, *at: str | int) -> PydanticCustomError:
    """A validation failure in the project's words; `at` names the key below the one being validated."""
    return PydanticCustomError("mercur", "{problem}", {"problem": problem, "fix": fix, "at": at})


# --------------------------------------------------------------------------------------------------
# Reusable constraints (each a validator plus what the JSON Schema should say)


def _range(low: int, high: int) -> Any:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise fail(f"{value} is out of range", f"use a value from {low} to {high}")
        return value
    return AfterValidator(check)


def _one_of(allowed: tuple[str, ...]) -> Any:
    def check(value: str) -> str:
        if value not in allowed:
            raise fail(f"{show(value)} is not supported", f"use one of: {', '.join(allowed)}")
        return value
    return AfterValidator(check)


def _retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        nearest = min(LOG_RETENTION_DAYS, key=lambda d: abs(d - value))
        raise fail(f"{value} days is not a CloudWatch Logs retention period",
                   f"use {nearest} (allowed: {', '.join(map(str, LOG_RETENTION_DAYS))})")
    return value


def Bounded(low: int, high: int, description: str, default: Any = ...) -> Any:  # noqa: N802 - reads as a type
    return Annotated[int, _range(low, high), Field(default, description=description,
                                                   json_schema_extra={"minimum": low, "maximum": high})]


Retention = Annotated[int, AfterValidator(_retention), WithJsonSchema({"enum": list(LOG_RETENTION_DAYS)})]
# The intervals RDS's enhanced monitoring takes (RDS API Reference, CreateDBInstance `MonitoringInterval`; 0, off,
# is left out: CKV_AWS_118).
MONITORING_INTERVALS_SECONDS = (1, 5, 10, 15, 30, 60)


def _monitoring_interval(value: int) -> int:
    if value not in MONITORING_INTERVALS_SECONDS:
        raise fail(f"{value} is not an enhanced-monitoring interval",
                   f"use one of {', '.join(map(str, MONITORING_INTERVALS_SECONDS))} seconds")
    return value


class Model(BaseModel):
    """Stack-file keys are camelCase; attributes snake_case. Strict, closed, frozen."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True, strict=True,
                              allow_inf_nan=False, hide_input_in_errors=True, regex_engine="python-re")


# --------------------------------------------------------------------------------------------------
# Regions and network


def _vpc_cidr(text: Any) -> ipaddress.IPv4Network:
    if not isinstance(text, str):
        raise fail(f"expected a string, got {show(text)}", "write a network like 10.20.0.0/16")
    try:
        if not text.isascii() or text != text.strip():
            raise ValueError("stray characters")
        cidr = ipaddress.IPv4Network(text, strict=True)
    except ValueError as error:
        raise fail(f"{show(text)} is not a valid IPv4 network ({show(str(error))[1:-1]})",
                   "write a network address with prefix, like 10.20.0.0/16") from None
    if not any(cidr.subnet_of(block) for block in RFC1918):
        raise fail(f"{cidr} is not a private (RFC 1918) range", "use a range inside 10.0.0.0/8")
    if cidr.prefixlen < LARGEST_VPC_PREFIX:
        raise fail(f"{cidr} is larger than AWS allows for a VPC", "use a /16 to /21")
    if cidr.prefixlen > SMALLEST_VPC_PREFIX:
        raise fail(f"{cidr} is too small to hold {MAX_AZS} private /{cidr.prefixlen + PRIVATE_SUBNET_BITS} and "
                   f"{MAX_AZS} public /{cidr.prefixlen + PUBLIC_SUBNET_BITS} subnets", "use a /16 to /21")
    return cidr


def _region_name(name: str) -> str:
    if name not in REGIONS:
        import difflib
        close = difflib.get_close_matches(name[:40], REGIONS, n=1)
        raise fail(f"unknown region {show(name)}", f"did you mean `{close[0]}`?" if close
                   else "use a commercial region where EKS runs, like us-west-2")
    return name


VpcCidr = Annotated[ipaddress.IPv4Network, PlainValidator(_vpc_cidr),
                    WithJsonSchema({"type": "string", "pattern": r"^[0-9.]+/[0-9]+$",
                                    "description": "A private IPv4 network, /16 to /21"})]


class RegionConfig(Model):
    """One region of the stack; the order of `mercur:regions` is the failover priority."""

    name: Annotated[str, AfterValidator(_region_name), Field(description="AWS region, like us-west-1",
                                                             json_schema_extra={"enum": sorted(REGIONS)})]
    cidr: VpcCidr = Field(description="The region's VPC range: private (RFC 1918), /16 to /21, distinct "
                                      "across regions and stacks")
    az_count_setting: Optional[int] = Field(
        None, alias="azCount", description=f"AZs to use here (default: min(network.maxAzs, what the region "
                                           f"offers)); {MIN_AZS} to {MAX_AZS}", json_schema_extra={
            "minimum": MIN_AZS, "maximum": MAX_AZS})
    retiring: bool = Field(False, description="Decommissioning: lifts protect and deletion protection on this "
                                              "region's resources so that removing it next deletes them "
                                              "(docs/runbook.md)")
    _az_count: int = PrivateAttr(0)

    @model_validator(mode="after")
    def _offered(self) -> "RegionConfig":
        offered = REGIONS[self.name].usable_az_count
        if self.az_count_setting is not None and not MIN_AZS <= self.az_count_setting <= MAX_AZS:
            raise fail(f"{self.az_count_setting} is out of range", f"use {MIN_AZS} to {min(MAX_AZS, offered)} "
                       f"(EKS needs subnets in >= {MIN_AZS} AZs)", "azCount")
        if self.az_count_setting is not None and self.az_count_setting > offered:
            raise fail(f"{self.az_count_setting} AZs asked but {self.name} offers {offered}",
                       f"set azCount to at most {offered} or remove it to use min(maxAzs, {offered})", "azCount")
        return self

    @property
    def az_count(self) -> int:
        """Resolved: the explicit `azCount`, or min(maxAzs, what the region offers)."""
        return self._az_count

    @property
    def short(self) -> str:
        return REGIONS[self.name].short


class NatGateways(str, Enum):
    """How private subnets reach the internet."""

    NONE = "none"  # no NAT: nodes reach AWS APIs through interface endpoints only
    SINGLE = "single"  # one NAT in the first AZ: cheap, but an AZ outage cuts egress for all
    PER_AZ = "per-az"  # one NAT per AZ: egress survives the loss of an AZ


def _nat(value: Any) -> NatGateways:
    allowed = tuple(n.value for n in NatGateways)
    if not isinstance(value, str) or value not in allowed:
        raise fail(f"{show(value)} is not supported", f"use one of: {', '.join(allowed)}")
    return NatGateways(value)


class NetworkConfig(Model):
    """The VPC of every region."""

    nat_gateways: Annotated[NatGateways, PlainValidator(_nat), WithJsonSchema(
        {"enum": [n.value for n in NatGateways]})] = Field(
        description="How private subnets reach the internet: none (endpoints only), single, per-az")
    max_azs: Bounded(MIN_AZS, MAX_AZS, "AZs per region, at most (each region uses what it offers, up to this)",
                     MAX_AZS - 1)
    flow_log_retention_days: Retention = Field(365, description="Days VPC flow logs are kept (CloudWatch Logs "
                                                                "retention periods only)")


# --------------------------------------------------------------------------------------------------
# Cluster and its NodePool


def _version(value: Any) -> Any:
    if isinstance(value, float):
        raise fail(f"{value} was read as a number", f'quote it: version: "{value}"')
    return value


def _supported_version(version: str) -> str:
    ends = EKS_STANDARD_SUPPORT_ENDS.get(version)
    if ends is None:
        raise fail(f"{show(version)} is not supported", f"use one of: {', '.join(SUPPORTED_EKS_VERSIONS)}")
    if ends <= today():
        newer = [v for v, end in EKS_STANDARD_SUPPORT_ENDS.items() if end > today()]
        raise fail(f"{version} left EKS standard support on {ends.isoformat()} (extended support bills extra)",
                   f"upgrade to {newer[0] if newer else 'a supported version'}")
    return version


def _principal_arn(arn: str) -> str:
    match = _ROLE_ARN.fullmatch(arn)
    if not match:
        raise fail(f"{show(arn)} is not an IAM role or user ARN", "write arn:aws:iam::<12-digit account>:role/<name>")
    if match["partition"] != PARTITION:
        raise fail(f"{show(arn)} is in partition {match['partition']}, not {PARTITION}",
                   "use a role in the commercial partition (arn:aws:...), where the stack's regions are")
    if len(match["name"]) > 64:
        raise fail(f"the {match['kind']} name is {len(match['name'])} characters", "IAM names have at most 64")
    return arn


def _api_cidr(text: str) -> str:
    try:
        if not text.isascii():
            raise ValueError
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise fail(f"{show(text)} is not a valid network", "write networks like 203.0.113.0/24") from None
    if network.prefixlen == 0:
        raise fail(f"{text} opens the Kubernetes API to the whole internet",
                   "list only the office/VPN egress ranges that need the API")
    return text


class ClusterConfig(Model):
    """The EKS cluster of every region."""

    version: Annotated[str, BeforeValidator(_version), AfterValidator(_supported_version)] = Field(
        description="Kubernetes version, quoted (\"1.35\"); only versions in EKS standard support",
        json_schema_extra={"enum": list(SUPPORTED_EKS_VERSIONS)})
    endpoint_public_access: bool = Field(False, description="Whether the API also has a public endpoint "
                                                            "(dev only; needs publicAccessCidrs)")
    public_access_cidrs: tuple[Annotated[str, AfterValidator(_api_cidr)], ...] = Field(
        (), description="Egress ranges allowed to reach a public API endpoint; never 0.0.0.0/0")
    admin_role_arn: Annotated[str, AfterValidator(_principal_arn)] = Field(
        description="The IAM role granted cluster-admin through an access entry")
    log_retention_days: Retention = Field(365, description="Days control-plane logs are kept")

    @model_validator(mode="after")
    def _public_endpoint(self) -> "ClusterConfig":
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise fail("endpointPublicAccess is true but no CIDRs are listed", "list the egress ranges allowed to "
                       "reach the API, or set endpointPublicAccess: false", "publicAccessCidrs")
        if self.public_access_cidrs and not self.endpoint_public_access:
            raise fail("is set but endpointPublicAccess is false", "remove it, or set endpointPublicAccess: true",
                       "publicAccessCidrs")
        return self


def _memory_limit(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]+Gi", value, re.ASCII) or int(value[:-2]) < 1:
        raise fail(f"{show(value)} is not a memory size in Gi", 'write it like "256Gi"')
    return value


class NodePoolLimits(Model):
    cpu: Bounded(1, 100_000, "vCPUs the pool may run at most, summed over its nodes' capacity")
    memory: Annotated[str, BeforeValidator(_memory_limit)] = Field(description="Memory the pool may run at most "
                                                                              "(capacity), like \"256Gi\"")

    @property
    def memory_gib(self) -> int:
        return int(self.memory[:-2])


def _categories(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if value not in INSTANCE_CATEGORIES:
            raise fail(f"{show(value)} is not an instance category", f"use some of: {', '.join(INSTANCE_CATEGORIES)}")
    return values


def _capacity_types(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if value not in CAPACITY_TYPES:
            raise fail(f"{show(value)} is not a capacity type", f"use some of: {', '.join(CAPACITY_TYPES)}")
    return values


class NodePoolConfig(Model):
    """The EKS Auto Mode NodePool the apps run on, in every region: EKS launches and retires its nodes (a
    failover needs no one to add capacity). Its limits must hold a region's peak after a failover."""

    categories: Annotated[tuple[str, ...], AfterValidator(_categories)] = Field(
        ("c", "m", "r"), min_length=1, description="EC2 instance categories (c, m, r, t)")
    min_generation: Bounded(4, 8, "Oldest instance generation allowed (6: m6i, c6a and newer)", 6)
    capacity_types: Annotated[tuple[str, ...], AfterValidator(_capacity_types)] = Field(
        ("on-demand",), min_length=1, description="on-demand and/or spot (staging and prod keep on-demand)")
    limits: NodePoolLimits = Field(description="The most the pool may run: at least a region's peak after a "
                                               "failover (checked)")
    ephemeral_storage_gb: Bounded(20, 1000, "Each node's root volume, GiB (encrypted with the region's key)", 80)


# --------------------------------------------------------------------------------------------------
# Apps


def millicores(quantity: str) -> float:
    match = _CPU.fullmatch(quantity)
    if not match:
        raise ValueError(f"{quantity!r} is not a CPU quantity")
    return float(match["number"]) * (1 if match["milli"] else 1000)


def memory_bytes(quantity: str) -> int:
    match = _MEMORY.fullmatch(quantity)
    if not match:
        raise ValueError(f"{quantity!r} is not a memory quantity")
    return int(match["number"]) * _MEMORY_UNITS[match["unit"]]


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """`repo[:tag][@digest]` -> (repo, tag, digest); a `:` before the last `/` is a registry port."""
    rest, _, digest = image.partition("@")
    slash, colon = rest.rfind("/"), rest.rfind(":")
    if colon > slash:
        return rest[:colon], rest[colon + 1:], digest or None
    return rest, None, digest or None


def _quantity(parse: Callable[[str], float], example: str) -> Any:
    def check(value: Any) -> str:
        text = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        try:
            if not isinstance(text, str) or parse(text) <= 0:
                raise ValueError
        except ValueError:
            raise fail(f"{show(value)} is not a positive quantity", f"write it like {example}") from None
        return text
    return PlainValidator(check)


class Resources(Model):
    cpu: Annotated[str, _quantity(millicores, "250m or 0.5"), WithJsonSchema({"type": ["string", "number"]})] = \
        Field(description="CPU, as a Kubernetes quantity: 250m, 0.5, \"1\"")
    memory: Annotated[str, _quantity(memory_bytes, "256Mi or 1Gi"), WithJsonSchema({"type": ["string", "integer"]})] \
        = Field(description="Memory, as a Kubernetes quantity: 256Mi, 1Gi")


class Replicas(Model):
    min: int = Field(description="Replicas at least, in the active region")
    max: int = Field(description="Replicas at most (the HPA's bound, in every region)")

    @model_validator(mode="after")
    def _order(self) -> "Replicas":
        if not 1 <= self.min <= self.max:
            raise fail(f"replica bounds must satisfy 1 <= min <= max, got min {self.min}, max {self.max}",
                       "adjust replicas.min and replicas.max", "min")
        return self


def _mount_path(value: str) -> str:
    if not _MOUNT_PATH.fullmatch(value) or value == "/tmp" or "/../" in f"{value}/" or "/./" in f"{value}/":
        raise fail(f"{show(value)} cannot hold the volume", "use an absolute path like /data")
    return value


class Volume(Model):
    size_gb: Bounded(1, 16384, "Size of each replica's EBS volume, GiB")
    mount_path: Annotated[str, AfterValidator(_mount_path)] = Field(description="Where the volume is mounted, "
                                                                                "like /data")


def _app_name(value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise fail(f"{show(value)} is not a DNS label", "use up to 40 lowercase letters, digits and dashes, starting "
                                                        "with a letter")
    return value


def _image(image: str) -> str:
    repository, tag, digest = split_image(image)
    if not _REPOSITORY.fullmatch(repository) or (tag is not None and not _IMAGE_TAG.fullmatch(tag)) or \
            (digest is not None and not _DIGEST.fullmatch(digest)):
        raise fail(f"{show(image)} is not an image reference",
                   "write registry/repository:tag or registry/repository@sha256:<64 hex>")
    if tag is None and digest is None:
        raise fail(f"{show(image)} has no tag", "pin a version tag or a sha256 digest")
    if tag == "latest" and digest is None:
        raise fail(f"{show(image)} floats on `latest`", "pin a version tag or a sha256 digest")
    return image


def _health_path(value: str) -> str:
    if not _HTTP_PATH.fullmatch(value):
        raise fail(f"{show(value)} is not an HTTP path", "write it like /healthz")
    if len(value) > MAX_HEALTH_PATH:
        raise fail(f"is {len(value)} characters", f"Route53 health checks take at most {MAX_HEALTH_PATH}")
    return value


def _variables(values: dict[str, str]) -> dict[str, str]:
    for key in values:
        if not _ENV_NAME.fullmatch(key):
            raise fail("is not an environment variable name", "use letters, digits and underscores, not starting "
                                                              "with a digit", key)
    return values


def _quote_hint(values: Any) -> Any:
    """A number or boolean where text belongs is a YAML quoting mistake: say so for the variable itself."""
    if isinstance(values, Mapping):
        for key, value in values.items():
            if not isinstance(value, str):
                raise fail(f"{show(value)} is not a string", f'quote it: {key}: "{value}"', key)
    return values


Variables = Annotated[dict[str, str], BeforeValidator(_quote_hint), AfterValidator(_variables),
                      Field(max_length=MAX_ENV)]


class AppConfig(Model):
    """An app, run on every regional cluster."""

    name: Annotated[str, AfterValidator(_app_name)] = Field(description="DNS label: Namespace, Deployment and "
                                                                        "Service names")
    image: Annotated[str, AfterValidator(_image)] = Field(
        description="registry/repository:tag@sha256:<digest> (staging and prod: the digest is required)")
    port: Bounded(*UNPRIVILEGED_PORTS, "The container's HTTP port (non-root: 1024 to 65535)")
    health_path: Annotated[str, AfterValidator(_health_path)] = Field(description="HTTP readiness path, like "
                                                                                  "/healthz")
    requests: Resources = Field(description="What each replica reserves")
    limits: Resources = Field(description="What each replica may use at most (at or above requests)")
    replicas: Replicas = Field(description="HPA bounds")
    target_cpu_percent: Bounded(10, 95, "The HPA's CPU target, percent of requests", 70)
    env: Variables = Field(default_factory=dict, description="Plain environment variables (text values)")
    secret_env: Annotated[Variables, WithJsonSchema({"type": "object", "additionalProperties": {
        "type": "object", "properties": {"secure": {"type": "string"}}, "required": ["secure"],
        "additionalProperties": False}})] = Field(
        default_factory=dict, description="Secret environment variables: `pulumi config set --secret --path`")
    volume: Optional[Volume] = Field(None, description="A persistent volume per replica (runs as a StatefulSet)")
    database: bool = Field(False, description="Gets a database and user of its own on mercur:database, reached "
                                              "with IAM authentication (DB_HOST, DB_PORT, DB_NAME, DB_USER)")

    @property
    def database_identifier(self) -> str:
        """Its PostgreSQL user and database name: the app's name with underscores."""
        return self.name.replace("-", "_")

    @model_validator(mode="after")
    def _consistent(self) -> "AppConfig":
        if millicores(self.limits.cpu) < millicores(self.requests.cpu):
            raise fail(f"{self.limits.cpu} is below requests.cpu ({self.requests.cpu})",
                       "set the limit at or above the request", "limits", "cpu")
        if memory_bytes(self.limits.memory) < memory_bytes(self.requests.memory):
            raise fail(f"{self.limits.memory} is below requests.memory ({self.requests.memory})",
                       "set the limit at or above the request", "limits", "memory")
        both = sorted(set(self.env) & set(self.secret_env))
        if both:
            raise fail("is also set in env", "keep each variable in one of the two", "secretEnv", both[0])
        return self

    @property
    def min_replicas(self) -> int:
        return self.replicas.min

    @property
    def max_replicas(self) -> int:
        return self.replicas.max


class StandbyConfig(Model):
    """Replicas every app keeps in the passive regions: 1 is a pilot light, more is a warm standby."""

    replicas: int = Field(1, description="Replicas per app in each passive region (>= 1, <= every app's "
                                         "replicas.min)", json_schema_extra={"minimum": 1})

    @model_validator(mode="after")
    def _some(self) -> "StandbyConfig":
        if self.replicas < 1:
            raise fail(f"{self.replicas} leaves the passive regions nothing to fail over to",
                       "keep at least 1 replica (pilot light)", "replicas")
        return self

    @property
    def kind(self) -> str:
        return "pilot light" if self.replicas == 1 else "warm standby"


# --------------------------------------------------------------------------------------------------
# Recovery objectives and DNS


def _rto(value: float) -> float:
    if not 0 < value <= 24 * 60:
        raise fail(f"{show(value)} is out of range", "use minutes above 0, up to 1440")
    return value


class RpoTargets(Model):
    """Data each kind of loss may cost, in minutes. Each is checked against what achieves it: the database's
    replication (a region lost), point-in-time restore (bad data written), the cross-region snapshot copies
    (both at once); without a database, snapshots carry all three and the backup schedule meets them all."""

    region_loss: Bounded(1, 7 * 24 * 60, "A region lost: Aurora holds the writer's commits past it "
                                          "(rds.global_db_rpo, while a secondary replicates; without a "
                                          "database: the cross-region snapshot copies)")
    corruption: Bounded(1, 7 * 24 * 60, "Bad data written (a bug, a bad migration): point-in-time restore "
                                         "(without a database: the region's own snapshots)")
    region_loss_and_corruption: Bounded(1, 7 * 24 * 60, "Both at once: only the snapshots copied to another "
                                                         "region remain; the backup schedule derives from it")


def _source(value: str) -> str:
    if not value.strip() or len(value) > 200:
        raise fail(f"{show(value)} is not a source", "name the drill or check that measured it, like \"dr drill "
                                                      "drill-1a2b3c4d, 2026-12-01\"")
    return value


def _measured_seconds(value: Any) -> Any:
    if not isinstance(value, dict):
        return value  # the model reports the type
    for name, seconds in value.items():
        if name not in MEASURABLE_TERMS:
            raise fail(f"{show(name)} is not a term a drill or a check measures",
                       f"use {', '.join(MEASURABLE_TERMS)}", name)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 86_400:
            raise fail(f"{show(seconds)} is not a duration", "use seconds above 0, up to 86400", name)
    return value


class MeasuredTerms(Model):
    """What the last drills and checks measured (`python -m mercur dr record` prints the block): each figure
    replaces the plan's assumed one, term by term, and the plan prints it as measured, with its source."""

    source: Annotated[str, AfterValidator(_source)] = Field(
        description="What measured them, like \"dr drill drill-1a2b3c4d, 2026-12-01\"")
    seconds: Annotated[dict[str, float], BeforeValidator(_measured_seconds)] = Field(
        description=f"Seconds per term: {', '.join(MEASURABLE_TERMS)}")


class RegionSwitchConfig(Model):
    """The ARC Region switch plan that moves capacity, the database writer and traffic together."""

    approval_role_arn: Optional[Annotated[str, AfterValidator(_principal_arn)]] = Field(
        None, description="The IAM role whose holders approve a switch, the workflow's first step (required in prod, "
                          "and in staging unless automaticAfterMinutes is set; never with it)")
    approval_timeout_minutes: Bounded(1, 1440, "How long a switch waits for its approval", 60)
    automatic_after_minutes: Optional[Annotated[int, _range(1, 60)]] = Field(
        None, description="Switch by itself once the active region's endpoint health check has failed this many "
                          "minutes: the plan's trigger runs the same workflow a person would, so it has no approval "
                          "step (never with approvalRoleArn; not in prod); unset: only a person starts a switch",
        json_schema_extra={"minimum": 1, "maximum": 60})


class DrConfig(Model):
    """Recovery objectives and retention; the backup schedule is derived from the RPOs and proven to meet them."""

    rpo_minutes: RpoTargets = Field(description="Recovery point objectives per kind of loss")
    rto_minutes: Annotated[float, AfterValidator(_rto)] = Field(
        description="Recovery time objective: minutes from a region's failure until the other region serves the "
                    "first request (detection, the decision, the switch's steps, DNS), above 0, up to 1440",
        json_schema_extra={"exclusiveMinimum": 0, "maximum": 24 * 60})
    decision_minutes: Optional[Annotated[float, AfterValidator(_rto)]] = Field(
        None, description="With a Region switch plan (required then): the minutes a person takes from the page "
                          "to the plan started and approved, or, where automaticAfterMinutes lets the trigger start "
                          "it (a trigger names no mode: its graceful writer step cannot finish with the region "
                          "lost), to the paused execution switched to ungraceful",
        json_schema_extra={"exclusiveMinimum": 0, "maximum": 24 * 60})
    retention_days: Bounded(1, 3650, "Days backups are kept in their own region")
    copy_retention_setting: Optional[Annotated[int, _range(1, 3650)]] = Field(
        None, alias="copyRetentionDays", description="Days cross-region copies are kept (default: retentionDays)",
        json_schema_extra={"minimum": 1, "maximum": 3650})
    cross_region_copy: bool = Field(True, description="Copy backups to the next region (only dev may opt out)")
    region_switch: Optional[RegionSwitchConfig] = Field(None, description="The ARC Region switch plan (stacks with "
                                                                          "two regions)")
    measured: Optional[MeasuredTerms] = Field(None, description="Figures the drills and checks measured: they "
                                                                "replace the plan's assumptions")
    _schedule: BackupSchedule = PrivateAttr()  # set by StackConfig, which knows whether a database replicates

    @property
    def rpo(self) -> RpoTargets:
        return self.rpo_minutes

    @property
    def schedule(self) -> BackupSchedule:
        return self._schedule

    @property
    def copy_retention_days(self) -> int:
        return self.copy_retention_setting or self.retention_days


# --------------------------------------------------------------------------------------------------
# The database


# Aurora PostgreSQL majors in standard support, each with the first minor that global databases take (Aurora
# User Guide, "Supported Regions and DB engines for Aurora global databases").
AURORA_POSTGRESQL_MAJORS = {"14": 3, "15": 2, "16": 1, "17": 4}
SERVERLESS_CLASS = "db.serverless"
# Memory-optimized Graviton and Intel classes; global databases refuse the burstable db.t* classes.
_DB_CLASS = re.compile(r"db\.(r5|r6g|r6i|r7g|r7i|r8g|x2g)\.(large|[0-9]*xlarge)|db\.(t3|t4g)\.(medium|large)",
                       re.ASCII)
_ENGINE_VERSION = re.compile(r"(?P<major>[0-9]+)\.(?P<minor>[0-9]+)", re.ASCII)


def _engine_version(value: Any) -> Any:
    if isinstance(value, float):
        raise fail(f"{value} was read as a number", f'quote it: engineVersion: "{value}"')
    match = _ENGINE_VERSION.fullmatch(value) if isinstance(value, str) else None
    if not match or match["major"] not in AURORA_POSTGRESQL_MAJORS:
        raise fail(f"{show(value)} is not an Aurora PostgreSQL version in standard support",
                   f"use major.minor with a major of {', '.join(AURORA_POSTGRESQL_MAJORS)}, like \"16.9\"")
    first = AURORA_POSTGRESQL_MAJORS[match["major"]]
    if int(match["minor"]) < first:
        raise fail(f"{value} cannot join an Aurora global database",
                   f"use {match['major']}.{first} or later (aws rds describe-db-engine-versions lists a region's)")
    return value


def _db_class(value: str) -> str:
    if value != SERVERLESS_CLASS and not _DB_CLASS.fullmatch(value):
        raise fail(f"{show(value)} is not an Aurora PostgreSQL instance class",
                   f"use {SERVERLESS_CLASS} or a memory-optimized class like db.r7g.large")
    return value


def _capacity(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value * 2 == int(value * 2):
        return float(value)
    raise fail(f"{show(value)} is not a capacity in ACUs", "use a multiple of 0.5, like 0.5, 1 or 16")


Capacity = Annotated[float, BeforeValidator(_capacity), WithJsonSchema({"type": "number", "multipleOf": 0.5})]


class ServerlessCapacity(Model):
    min_capacity: Capacity = Field(description="Aurora capacity units each instance keeps (0.5 to 256)")
    max_capacity: Capacity = Field(description="Aurora capacity units each instance may grow to (1 to 256)")

    @model_validator(mode="after")
    def _bounds(self) -> "ServerlessCapacity":
        if not 0.5 <= self.min_capacity <= 256:
            raise fail(f"{self.min_capacity:g} is out of range", "use 0.5 to 256", "minCapacity")
        if not max(1, self.min_capacity) <= self.max_capacity <= 256:
            raise fail(f"{self.max_capacity:g} is out of range", f"use {max(1, self.min_capacity):g} to 256",
                       "maxCapacity")
        return self


class BootstrapImages(Model):
    aws_cli: Annotated[str, AfterValidator(_image)] = Field(description="The AWS CLI v2 (reads the master secret)")
    postgres: Annotated[str, AfterValidator(_image)] = Field(description="A PostgreSQL client image (runs psql)")


class DatabaseConfig(Model):
    """Aurora PostgreSQL: a global database across the stack's regions (one regional cluster in a one-region
    stack). The writer is in the active region; apps that declare `database: true` reach it through the global
    writer endpoint with IAM authentication. The master password is generated, never written anywhere."""

    engine_version: Annotated[str, BeforeValidator(_engine_version)] = Field(
        description="Aurora PostgreSQL major.minor, quoted, like \"16.9\"")
    instance_class: Annotated[str, AfterValidator(_db_class)] = Field(
        description=f"{SERVERLESS_CLASS} (Serverless v2, with `serverless`) or a memory-optimized class like "
                    f"db.r7g.large")
    serverless: Optional[ServerlessCapacity] = Field(None, description=f"Capacity bounds, with {SERVERLESS_CLASS}")
    instances: Bounded(1, 16, "Instances in every region: wherever the writer is, it has readers to fail over "
                              "to in its AZs (prod: at least 2); the same everywhere, so a region swap changes none",
                       2)
    home_region: Optional[str] = Field(None, description="The region whose cluster created the global database and "
                                                         "keeps the master credentials and secret: set once, never "
                                                         "changed, whatever the regions' order (default: the only "
                                                         "region of a one-region stack)")
    backup_retention_days: Bounded(7, 35, "Days of automated backups and point-in-time restore", 14)
    replication_lag_bound_seconds: Bounded(1, 3600, "Replication and RPO lag that pages: below "
                                                    "mercur:dr.rpoMinutes.regionLoss, where the writer holds "
                                                    "commits", 30)
    password_version: Bounded(1, 1_000_000, "Raise it to generate and set a new master password", 1)
    monitoring_interval_seconds: Annotated[int, AfterValidator(_monitoring_interval),
                                           WithJsonSchema({"enum": list(MONITORING_INTERVALS_SECONDS)})] = Field(
        60, description="How often every instance reports its OS metrics (enhanced monitoring, to CloudWatch Logs' "
                        "RDSOSMetrics; shorter costs more)")
    bootstrap_images: BootstrapImages = Field(description="Images of the Job that creates each app's user and "
                                                            "database (staging and prod: pinned by digest)")

    @model_validator(mode="after")
    def _shape(self) -> "DatabaseConfig":
        if (self.instance_class == SERVERLESS_CLASS) != (self.serverless is not None):
            if self.serverless is None:
                raise fail(f"is required with {SERVERLESS_CLASS}", "add it: {minCapacity: 0.5, maxCapacity: 8}",
                           "serverless")
            raise fail(f"only applies to {SERVERLESS_CLASS}", "remove it, or set instanceClass: db.serverless",
                       "serverless")
        return self

    @property
    def major_version(self) -> str:
        return self.engine_version.split(".")[0]

    @property
    def burstable(self) -> bool:
        return self.instance_class.startswith(("db.t3.", "db.t4g."))


def _domain(value: str) -> str:
    name = value.rstrip(".").lower()
    if not _DOMAIN.fullmatch(name):
        raise fail(f"{show(name)} is not a domain name", "write it like shop.example.com")
    return name


Domain = Annotated[str, AfterValidator(_domain)]


class HealthCheckConfig(Model):
    interval_seconds: Optional[int] = Field(None, description="10 or 30 (default: derived from rtoMinutes)",
                                            json_schema_extra={"enum": list(HEALTH_CHECK_INTERVALS_SECONDS)})
    failure_threshold: Optional[int] = Field(None, description="1 to 10 (default: derived from rtoMinutes)",
                                             json_schema_extra={"minimum": 1, "maximum": 10})

    @model_validator(mode="after")
    def _offered(self) -> "HealthCheckConfig":
        if self.interval_seconds is not None and self.interval_seconds not in HEALTH_CHECK_INTERVALS_SECONDS:
            raise fail(f"{self.interval_seconds} is not a Route53 interval", "use 10 or 30 (fixed once the health "
                                                                             "check exists)", "intervalSeconds")
        if self.failure_threshold is not None and self.failure_threshold not in FAILURE_THRESHOLDS:
            raise fail(f"{self.failure_threshold} is out of range", "use 1 to 10", "failureThreshold")
        return self


class DnsConfig(Model):
    """The hosted zone and record the application answers on; failover between regions when there are two."""

    zone: Domain = Field(description="The hosted zone, like mercur.example")
    create_zone: bool = Field(False, description="Create the zone (delegate it from its parent by hand once)")
    zone_id: Optional[str] = Field(None, description="The existing zone's id, like Z0123456789ABCDEFGHIJ (`aws "
                                   "route53 list-hosted-zones-by-name`); required unless createZone. The program "
                                   "looks nothing up, so it runs while a region is down")
    dns_only_failover: bool = Field(False, description="Route53 also answers the standby by itself when the "
                                    "active region's load balancer has no healthy target, without the Region switch "
                                    "(the writer stays where it is). Off: DNS moves only with the switch")
    record: Domain = Field(description="The application's name, inside the zone")
    app: str = Field(description="The app whose load balancers the record fronts (one of mercur:apps)")
    certificates: dict[str, str] = Field(default_factory=dict, description="ACM certificate ARN per region (TLS "
                                                                           "on the load balancers); none: HTTP")
    health_check: HealthCheckConfig = Field(default_factory=HealthCheckConfig, description="Route53 health-check "
                                                                                           "timing")
    _timing: Optional[FailoverTiming] = PrivateAttr(None)

    @model_validator(mode="after")
    def _inside_zone(self) -> "DnsConfig":
        if not self.record.endswith(f".{self.zone}"):
            raise fail(f"{self.record} is not inside the zone {self.zone}", f"use a name ending in .{self.zone}",
                       "record")
        if self.create_zone and self.zone_id:
            raise fail("a zone the stack creates has no id to give", "remove zoneId (or createZone)", "zoneId")
        if not self.create_zone and not self.zone_id:
            raise fail(f"the id of the existing zone {self.zone} is missing",
                       f"set zoneId (aws route53 list-hosted-zones-by-name --dns-name {self.zone})", "zoneId")
        if self.zone_id and not _HOSTED_ZONE_ID.fullmatch(self.zone_id):
            raise fail(f"{show(self.zone_id)} is not a hosted zone id", "write it like Z0123456789ABCDEFGHIJ",
                       "zoneId")
        return self

    @property
    def timing(self) -> FailoverTiming | None:
        """None with a single region: nothing to fail over to."""
        return self._timing

    @property
    def interval_seconds(self) -> int:
        timing = self._timing
        return timing.interval_seconds if timing else self.health_check.interval_seconds or \
            HEALTH_CHECK_INTERVALS_SECONDS[0]

    @property
    def failure_threshold(self) -> int:
        timing = self._timing
        return timing.failure_threshold if timing else self.health_check.failure_threshold or 3

    @property
    def tls(self) -> bool:
        return bool(self.certificates)


# --------------------------------------------------------------------------------------------------
# Who deploys, from where, and who is told


def _private_cidr(text: str) -> str:
    try:
        if not text.isascii():
            raise ValueError
        network = ipaddress.IPv4Network(text, strict=True)
    except ValueError:
        raise fail(f"{show(text)} is not a valid IPv4 network", "write a network like 10.100.0.0/22") from None
    if not any(network.subnet_of(block) for block in RFC1918):
        raise fail(f"{network} is not a private (RFC 1918) range", "list the runners' private subnets")
    return text


def _transit_gateway(value: str) -> str:
    if not _TRANSIT_GATEWAY.fullmatch(value):
        raise fail(f"{show(value)} is not a transit gateway id", "write it like tgw-0123456789abcdef0")
    return value


class DeployNetwork(Model):
    """The deployer's network, which another team owns: CI runners in shared-services VPCs, reached through a
    Transit Gateway per region (shared with this account through AWS RAM, peered between regions)."""

    cidrs: tuple[Annotated[str, AfterValidator(_private_cidr)], ...] = Field(
        min_length=1, description="The runners' private ranges: routed to the Transit Gateway and admitted to "
                                  "the cluster APIs on 443, nothing else")
    transit_gateways: dict[str, Annotated[str, AfterValidator(_transit_gateway)]] = Field(
        description="Transit Gateway id per region of the stack")


class DeployConfig(Model):
    """The principals that run Pulumi, and the network private cluster APIs are reached from."""

    role_arn: Annotated[str, AfterValidator(_principal_arn)] = Field(
        description="The role `pulumi up` runs as: it creates the clusters, so EKS makes it their admin")
    preview_role_arn: Annotated[str, AfterValidator(_principal_arn)] = Field(
        description="The role `pulumi preview` runs as: read-only in AWS, AmazonEKSViewPolicy in the clusters")
    network: Optional[DeployNetwork] = Field(None, description="Required where the cluster API is private")


def _goal(value: float) -> float:
    if not 90 <= value <= 99.99:
        raise fail(f"{value} is out of range", "use a percentage from 90 to 99.99, like 99.9")
    return value


class AppAlarms(Model):
    """What users feel, per app that serves traffic, in each region: at its load balancer (5xx, response time,
    connection errors, healthy targets) and in the cluster (Container Insights: ready pods, restarts)."""

    restarts: Bounded(1, 100, "Container restarts of one app within 5 minutes that page", 3)
    not_ready_minutes: Bounded(1, 60, "Minutes an app may run fewer ready pods (or healthy targets) than its "
                                      "floor (its HPA minimum in the region) before it pages", 5)
    server_error_percent: Bounded(1, 50, "Share of requests answered with a 5xx (by the app or by its load "
                                         "balancer) within 5 minutes that pages", 5)
    latency_p99_ms: Bounded(10, 60000, "The pods' 99th-percentile response time (the load balancer's "
                                       "TargetResponseTime) that pages when it lasts 5 minutes", 1000)
    target_connection_errors: Bounded(1, 10000, "Connections the load balancer failed to open to the app's pods "
                                                "within 5 minutes that page", 10)
    availability_goal_percent: Annotated[float, AfterValidator(_goal)] = Field(
        99.9, description="The availability SLO: the share of requests not answered with a 5xx, over the SLO's "
                          "rolling window", json_schema_extra={"minimum": 90, "maximum": 99.99})
    slo_window_days: Bounded(1, 90, "The SLO's rolling window, in days: the error budget is what the goal leaves "
                                    "of the requests in it", 28)


class DatabaseAlarms(Model):
    """Each Aurora instance, wherever the writer is."""

    cpu_percent: Bounded(50, 100, "CPU utilization that pages, sustained 10 minutes", 80)
    freeable_memory_percent: Bounded(1, 50, "Freeable memory, as a share of the instance's memory, below which "
                                            "it pages", 10)
    connections_percent: Bounded(10, 100, "Connections, as a share of the instance's default max_connections, "
                                          "that page", 80)


class MonitoringConfig(Model):
    """What each region observes and alarms on; every alarm goes to the region's platform alert topic (which
    the stack's alerts subscribe)."""

    container_log_retention_days: Retention = Field(365, description="Days the clusters' container, host and "
                                                                     "data-plane logs are kept")
    apps: AppAlarms = Field(default_factory=AppAlarms, description="Per serving app: 5xx, response time, "
                                                                   "connection errors, healthy targets, ready pods, "
                                                                   "restarts, the availability SLO")
    database: DatabaseAlarms = Field(default_factory=DatabaseAlarms, description="Per Aurora instance: CPU, "
                                                                                 "memory, connections, deadlocks")


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value) or len(value) > 254:
        raise fail(f"{show(value)} is not an email address", "write it like oncall@example.com")
    return value


def _https(value: str) -> str:
    if not _HTTPS_URL.fullmatch(value) or len(value) > 2048:
        raise fail(f"{show(value)} is not an HTTPS URL", "write it like https://events.pagerduty.com/...")
    return value


class AlertsConfig(Model):
    """Where alarms and failed backup jobs are sent: every SNS topic of the stack subscribes these."""

    email: Optional[Annotated[str, AfterValidator(_email)]] = Field(None, description="On-call email address "
                                                                                      "(confirms once)")
    https_endpoint: Optional[Annotated[str, AfterValidator(_https)]] = Field(
        None, description="On-call HTTPS endpoint (PagerDuty, Opsgenie)")

    @model_validator(mode="after")
    def _someone(self) -> "AlertsConfig":
        if not self.email and not self.https_endpoint:
            raise fail("names no one", "set email or httpsEndpoint (or remove alerts)")
        return self


# --------------------------------------------------------------------------------------------------
# The stack


def _account(value: str) -> str:
    if not _ACCOUNT.fullmatch(value):
        raise fail(f"{show(value)} is not an AWS account id", 'write the 12 digits, quoted: "123456789012"')
    return value


def _tags(values: dict[str, str]) -> dict[str, str]:
    if len(values) > MAX_STACK_TAGS:
        raise fail(f"has {len(values)} tags", f"AWS allows 50 per resource and the program adds up to 10: keep "
                                              f"at most {MAX_STACK_TAGS}")
    for key, value in values.items():
        if not _TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
            raise fail("is not a valid AWS tag key", "use up to 128 letters, digits, spaces and _.:/=+-@, not "
                                                     "starting with aws:", key)
        if key in RESERVED_TAGS:
            raise fail("is a tag the program sets itself", f"choose another key ({', '.join(RESERVED_TAGS)} are "
                                                           f"reserved)", key)
        if not _TAG_VALUE.fullmatch(value):
            raise fail(f"{show(value)} is not a tag value", "write up to 256 letters, digits, spaces and _.:/=+-@", key)
    return values


def _tag_values(values: Any) -> Any:
    if isinstance(values, Mapping):
        for key, value in values.items():
            if not isinstance(value, str):
                raise fail(f"{show(value)} is not a tag value", "write a string of up to 256 characters", key)
    return values


class StackConfig(Model):
    """Everything under `mercur:` in `Pulumi.<stack>.yaml`."""

    account_id: Annotated[str, AfterValidator(_account)] = Field(
        description="The AWS account the stack deploys to: every provider refuses credentials for another")
    environment: Literal["dev", "staging", "prod"] = Field(
        description="dev, staging or prod (default: the stack's name); prod and staging stacks cannot declare "
                    "a weaker one", json_schema_extra={"default": "the stack's name"})
    regions: tuple[RegionConfig, ...] = Field(min_length=1, description="Regions in failover order: the first "
                                                                         "is active, the others passive")
    network: NetworkConfig
    cluster: ClusterConfig
    node_pool: NodePoolConfig = Field(description="Where the apps run: an EKS Auto Mode NodePool per region")
    tags: Annotated[dict[str, str], BeforeValidator(_tag_values), AfterValidator(_tags)] = Field(
        default_factory=dict, description=f"Tags on every AWS resource (at most {MAX_STACK_TAGS})")
    apps: tuple[AppConfig, ...] = Field((), max_length=MAX_APPS, description="The application: what runs on "
                                                                              "every regional cluster")
    standby: StandbyConfig = Field(default_factory=StandbyConfig, description="Passive regions' capacity")
    dr: DrConfig = Field(description="Recovery objectives: rpoMinutes, rtoMinutes and retention")
    dns: Optional[DnsConfig] = Field(None, description="DNS and failover (required with two or more regions)")
    database: Optional[DatabaseConfig] = Field(None, description="Aurora PostgreSQL, global across the regions")
    deploy: DeployConfig = Field(description="Who runs Pulumi, and from which network")
    alerts: Optional[AlertsConfig] = Field(None, description="Who is told (required by policy in staging and "
                                                             "prod)")
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig,
                                         description="Telemetry, thresholds and log retention of every region")
    _stack: str = PrivateAttr("")
    _source: str = PrivateAttr("")

    @model_validator(mode="after")
    def _across_keys(self, info: ValidationInfo) -> "StackConfig":
        context = info.context or {}
        self._stack, self._source = context.get("stack", ""), context.get("source", "")
        self._check_environment()
        self._check_regions(context.get("siblings", lambda: {})())
        self._check_node_pool()
        self._check_apps()
        self._check_database()
        self._check_dr()
        self._check_dns()
        self._check_region_switch()
        self._check_recovery_time()
        self._check_deploy()
        return self

    def _check_environment(self) -> None:
        if self._stack in ENVIRONMENTS and ENVIRONMENTS.index(self.environment) < ENVIRONMENTS.index(self._stack):
            raise fail(f"{self.environment} is weaker than the stack's name ({self._stack})",
                       f"remove it or set environment: {self._stack}; a {self._stack} stack keeps {self._stack}'s "
                       f"protection and mandatory policies", "environment")

    def _check_regions(self, siblings: Mapping[str, list[str]]) -> None:
        seen: dict[str, int] = {}
        for index, region in enumerate(self.regions):
            if region.name in seen:
                raise fail(f"{region.name} is listed twice (also regions[{seen[region.name]}])",
                           "list each region once, in failover order", "regions", index, "name")
            seen[region.name] = index
            offered = REGIONS[region.name].usable_az_count
            region._az_count = region.az_count_setting or min(self.network.max_azs, offered)
            for earlier in range(index):
                if self.regions[earlier].cidr.overlaps(region.cidr):
                    raise fail(f"{region.cidr} overlaps mercur:regions[{earlier}].cidr ({self.regions[earlier].cidr})",
                               "give every region its own range", "regions", index, "cidr")
            for other_file, cidrs in siblings.items():
                for other in cidrs:
                    try:
                        clash = region.cidr.overlaps(ipaddress.IPv4Network(other))
                    except (TypeError, ValueError):
                        continue  # that file's own load reports it
                    if clash:
                        raise fail(f"{region.cidr} overlaps {other} in {other_file}",
                                   "every environment needs its own range so they can be peered later",
                                   "regions", index, "cidr")

    def _check_node_pool(self) -> None:
        pool = self.node_pool
        if self.environment != "dev" and "on-demand" not in pool.capacity_types:
            raise fail(f"{self.environment} runs on spot capacity only", "keep on-demand in capacityTypes (spot may be "
                       "added)", "nodePool", "capacityTypes")
        needed_cpu, needed_gib = self.required_node_pool()
        if pool.limits.cpu < needed_cpu:
            raise fail(f"{pool.limits.cpu} vCPU cannot hold a region's peak after a failover: every app at "
                       f"replicas.max x requests is {self.peak_cpu:g} vCPU, {ALLOCATABLE_CPU_SHARE:.0%} of capacity "
                       f"is requestable", f"set it to at least {needed_cpu}", "nodePool", "limits", "cpu")
        if pool.limits.memory_gib < needed_gib:
            raise fail(f"{pool.limits.memory} cannot hold a region's peak after a failover: every app at "
                       f"replicas.max x requests is {self.peak_memory_gib:g}Gi, {ALLOCATABLE_MEMORY_SHARE:.0%} of "
                       f"capacity is requestable", f'set it to at least "{needed_gib}Gi"', "nodePool", "limits",
                       "memory")

    @property
    def peak_cpu(self) -> float:
        """vCPUs every app requests at its HPA maximum: what a region carries after a failover."""
        return round(sum(a.max_replicas * millicores(a.requests.cpu) for a in self.apps) / 1000, 3)

    @property
    def peak_memory_gib(self) -> float:
        return round(sum(a.max_replicas * memory_bytes(a.requests.memory) for a in self.apps) / 2**30, 3)

    def required_node_pool(self) -> tuple[int, int]:
        """The smallest NodePool limits (vCPU, GiB) whose requestable share holds the peak."""
        return (math.ceil(self.peak_cpu / ALLOCATABLE_CPU_SHARE - 1e-9),
                math.ceil(self.peak_memory_gib / ALLOCATABLE_MEMORY_SHARE - 1e-9))

    def _check_apps(self) -> None:
        names: set[str] = set()
        pinned = self.environment != "dev"
        for index, app in enumerate(self.apps):
            if app.name in names:
                raise fail(f"{app.name} is used twice", "give every app its own name", "apps", index, "name")
            names.add(app.name)
            if pinned and split_image(app.image)[2] is None:
                raise fail(f"{show(app.image)} is not pinned by digest", f"in {self.environment} every image is "
                           f"name:tag@sha256:<64 hex>: a registry can move a tag", "apps", index, "image")
        for app in self.apps:
            if self.standby.replicas > app.min_replicas:
                raise fail(f"{self.standby.replicas} is above {app.name}'s replicas.min ({app.min_replicas})",
                           f"set it to at most {app.min_replicas}: a standby never outruns the active region",
                           "standby", "replicas")

    def _check_database(self) -> None:
        db = self.database
        users = [index for index, app in enumerate(self.apps) if app.database]
        if db is None:
            if users:
                raise fail("there is no mercur:database", "add mercur:database, or remove database: true",
                           "apps", users[0], "database")
            return
        if self.environment != "dev":
            for key, image in (("awsCli", db.bootstrap_images.aws_cli), ("postgres", db.bootstrap_images.postgres)):
                if split_image(image)[2] is None:
                    raise fail(f"{show(image)} is not pinned by digest", f"in {self.environment} every image is "
                               f"name:tag@sha256:<64 hex>", "database", "bootstrapImages", key)
        if self.replicated and db.burstable:
            raise fail(f"{db.instance_class} cannot join an Aurora global database (burstable classes are refused)",
                       "use a memory-optimized class like db.r7g.large, or db.serverless", "database",
                       "instanceClass")
        if self.is_production and db.instances < MIN_AZS:
            raise fail(f"{db.instances} instance cannot survive an AZ loss in prod",
                       f"set it to at least {MIN_AZS} (a writer and a reader in another AZ)", "database", "instances")
        names = [r.name for r in self.regions]
        if db.home_region is None and len(names) > 1:
            raise fail("is required with two or more regions", f"set it to the region whose cluster creates the "
                       f"database (today's active one: {names[0]}) and never change it", "database", "homeRegion")
        if db.home_region is not None and db.home_region not in names:
            raise fail(f"{show(db.home_region)} is not one of mercur:regions", "name the region that created the "
                       "global database (removing it needs the database moved first)", "database", "homeRegion")

    @property
    def database_home(self) -> str | None:
        """The region whose cluster holds the master credentials and the secret all regions replicate."""
        if self.database is None:
            return None
        return self.database.home_region or self.regions[0].name

    @property
    def replicated(self) -> bool:
        """The database replicates to other regions: an Aurora global database."""
        return self.database is not None and len(self.regions) > 1

    @property
    def rpo_bound_seconds(self) -> int | None:
        """The region-loss RPO Aurora enforces on the writer of a global database (`rds.global_db_rpo`)."""
        return self.dr.rpo.region_loss * 60 if self.replicated else None

    def _check_dr(self) -> None:
        decision = self.dr.decision_minutes
        if decision is not None and self.dr.region_switch is None:
            raise fail("applies only with a Region switch plan", "remove it, or add mercur:dr.regionSwitch", "dr",
                       "decisionMinutes")
        if decision is not None and decision >= self.dr.rto_minutes:
            raise fail(f"{decision:g} min leaves nothing of mercur:dr.rtoMinutes ({self.dr.rto_minutes:g} min) for "
                       f"detection and the switch", f"lower it below {self.dr.rto_minutes:g}, or raise rtoMinutes",
                       "dr", "decisionMinutes")
        dr, db = self.dr, self.database
        if not dr.cross_region_copy and self.environment != "dev":
            raise fail(f"{self.environment} must copy backups to its peer region",
                       "set crossRegionCopy: true (only dev may opt out)", "dr", "crossRegionCopy")
        if dr.cross_region_copy and len(self.regions) < 2:
            raise fail("there is no second region to copy to", "add a passive region to mercur:regions, or set "
                                                                "crossRegionCopy: false (dev only)",
                       "dr", "crossRegionCopy")
        # What the snapshots must meet: both losses at once always; a region's loss unless the database
        # replicates; bad data unless the database restores to a point in time.
        rpo, copy = dr.rpo, dr.cross_region_copy
        targets = [("regionLossAndCorruption", rpo.region_loss_and_corruption, copy)]
        if not self.replicated:
            targets.append(("regionLoss", rpo.region_loss, copy))
        if db is None:
            targets.append(("corruption", rpo.corruption, False))
        try:
            dr._schedule = schedule_meeting(targets, copy)
        except Unachievable as error:
            raise fail(f"{error.target} cannot be met: the best achievable is {error.best} minutes "
                       f"({error.explanation})", f"set it to at least {error.best}", "dr", "rpoMinutes",
                       error.target_name) from None  # type: ignore[attr-defined]
        if self.replicated and db.replication_lag_bound_seconds >= rpo.region_loss * 60:
            raise fail(f"{db.replication_lag_bound_seconds} s reaches mercur:dr.rpoMinutes.regionLoss "
                       f"({rpo.region_loss} min), where the writer holds commits: the page would come too late",
                       f"lower it below {rpo.region_loss * 60}, or raise the "
                       f"target", "database", "replicationLagBoundSeconds")
        if db is not None and rpo.corruption < PITR_MINUTES:
            raise fail(f"{rpo.corruption} cannot be met: the best achievable is {PITR_MINUTES} minutes (point-in-time "
                       f"restore trails the present by up to {PITR_MINUTES} min)", f"set it to at least {PITR_MINUTES}",
                       "dr", "rpoMinutes", "corruption")

    @property
    def recovery_points(self) -> tuple[RecoveryPoint, ...]:
        """Target and achievable loss per kind of loss, and what achieves it."""
        rpo, schedule, db = self.dr.rpo, self.dr.schedule, self.database
        copies = f"{'cross-region ' if schedule.cross_region else ''}snapshots every {schedule.interval_hours}h"
        if self.replicated:
            region_loss = RecoveryPoint(
                "regionLoss", rpo.region_loss, rpo.region_loss,
                f"enforced by Aurora: rds.global_db_rpo {rpo.region_loss * 60} s on the writer while a secondary "
                f"replicates (commits wait past it), paged above {db.replication_lag_bound_seconds} s")
        else:
            region_loss = RecoveryPoint("regionLoss", rpo.region_loss, schedule.achievable_rpo_minutes, copies)
        if db is not None:
            corruption = RecoveryPoint("corruption", rpo.corruption, PITR_MINUTES, "point-in-time restore")
        else:
            corruption = RecoveryPoint("corruption", rpo.corruption,
                                       achievable_rpo(schedule.interval_hours, cross_region=False),
                                       f"snapshots every {schedule.interval_hours}h")
        both = self._both_at_once(copies)
        return region_loss, corruption, both

    def _both_at_once(self, copies: str) -> RecoveryPoint:
        """Only the copies in another region remain. An Aurora snapshot's cross-Region copy has no bound AWS
        states ("can take hours", and queues; Aurora User Guide, "Copying a DB cluster snapshot"): with a
        database the point is proven only by a measured copy time (`crossRegionCopy`), else not proven."""
        rpo, schedule = self.dr.rpo, self.dr.schedule
        measured = self.dr.measured.seconds.get("crossRegionCopy") if self.dr.measured else None
        if self.database is None or not schedule.cross_region:
            return RecoveryPoint("regionLossAndCorruption", rpo.region_loss_and_corruption,
                                 schedule.achievable_rpo_minutes, copies)
        if measured is None:
            return RecoveryPoint(
                "regionLossAndCorruption", rpo.region_loss_and_corruption, schedule.achievable_rpo_minutes,
                f"{copies}; NOT PROVEN: an Aurora snapshot's cross-Region copy \"can take hours\" (Aurora User Guide) "
                f"and {COPY_MINUTES} min is only assumed: record the copies `dr check` measures (dr record)",
                proven=False)
        achievable = schedule.interval_hours * 60 + START_DELAY_MINUTES + SNAPSHOT_MINUTES + measured / 60
        return RecoveryPoint("regionLossAndCorruption", rpo.region_loss_and_corruption, round(achievable, 1),
                             f"{copies}; the copy {measured / 60:g} min measured by {self.dr.measured.source}"
                             if self.dr.measured else copies)

    def _check_dns(self) -> None:
        dns = self.dns
        if dns is None:
            if len(self.regions) > 1:
                raise fail("is required but missing", "add it (the hosted zone and record the application answers "
                                                      "on)", "dns")
            return
        apps = [a.name for a in self.apps]
        if dns.app not in apps:
            raise fail(f"{show(dns.app)} is not one of mercur:apps",
                       f"use one of: {', '.join(apps) or '(no apps configured)'}", "dns", "app")
        regions = [r.name for r in self.regions]
        for region, arn in dns.certificates.items():
            match = _CERTIFICATE.fullmatch(arn)
            if region not in regions:
                raise fail("is not one of mercur:regions", f"list certificates for {', '.join(regions)}",
                           "dns", "certificates", region)
            if not match or match["region"] != region or match["partition"] != PARTITION:
                raise fail(f"{show(arn)} is not an ACM certificate ARN in {region}",
                           f"write arn:aws:acm:{region}:<account>:certificate/<id>; ACM certificates are regional",
                           "dns", "certificates", region)
        missing = [r for r in regions if dns.certificates and r not in dns.certificates]
        if missing:
            raise fail("has no certificate while other regions do", "give every region a certificate, or none for "
                                                                   "plain HTTP", "dns", "certificates", missing[0])
        if len(regions) > 1:
            checks = dns.health_check
            # Detection and the TTL get what the rest of the chain (the decision, the switch) leaves of the target.
            besides = [t.seconds for t in self._chain(FailoverTiming(0, 0, 0)).terms
                       if t.name not in ("detection", "dnsTtl", "standbyServes")]
            try:
                dns._timing = failover_timing(self.dr.rto_minutes * 60 - sum(besides), checks.interval_seconds,
                                              checks.failure_threshold)
            except Unachievable as error:
                explicit = checks.interval_seconds or checks.failure_threshold
                best = error.best + sum(besides)
                rest = f" + {sum(besides):g} s for the alarm, the decision and the switch" if besides else ""
                raise fail(f"{self.dr.rto_minutes:g} min ({round(self.dr.rto_minutes * 60)} s) cannot be met"
                           f"{' with the healthCheck settings given' if explicit else ''}: the best achievable is "
                           f"{best:g} s ({error.explanation}{rest})",
                           f"set rtoMinutes to at least {math.ceil(best / 6) / 10:g}"
                           + (" or relax mercur:dns.healthCheck" if explicit else ""), "dr", "rtoMinutes") from None

    @property
    def serving_regions(self) -> tuple[RegionConfig, ...]:
        return tuple(r for r in self.regions if not r.retiring)

    def _check_region_switch(self) -> None:
        switch, serving = self.dr.region_switch, self.serving_regions
        if len(serving) < 2:
            if switch is not None and len(self.regions) < 2:
                raise fail("needs two serving regions to switch between", "remove it, or add a passive region",
                           "dr", "regionSwitch")
            return  # while the other region retires, there is nothing to switch to: no plan
        if len(serving) > 2:
            if switch is not None:
                raise fail(f"covers an active and a passive region, not {len(serving)}", "remove it (DNS fails "
                           "over down the chain of regions), or retire all but two", "dr", "regionSwitch")
            return
        if switch is None:
            raise fail("is required with two regions", "add it: the plan that moves capacity, the writer and the "
                                                        "traffic together", "dr", "regionSwitch")
        for index, region in enumerate(self.regions):
            if not REGIONS[region.name].region_switch:
                raise fail(f"{region.name} does not offer ARC Region switch", "choose a region that does",
                           "regions", index, "name")
        # ARC runs one workflow per target region, for a trigger as for a person, and its approval step has no
        # ungraceful behaviour: an approval step would hold every automatic switch. So the file says which.
        automatic = switch.automatic_after_minutes
        if automatic is not None and self.is_production:
            raise fail(f"{automatic} would let a prod switch start without a person", "remove it: in prod a person "
                       "decides and approves every switch", "dr", "regionSwitch", "automaticAfterMinutes")
        if automatic is not None and switch.approval_role_arn is not None:
            raise fail("an automatic switch would wait for approvalRoleArn's approval (a trigger runs the workflow a "
                       "person starts)", "remove approvalRoleArn (the plan switches by itself, unapproved) or "
                       "automaticAfterMinutes (a person starts and approves every switch)", "dr", "regionSwitch",
                       "automaticAfterMinutes")
        if self.environment != "dev" and switch.approval_role_arn is None and automatic is None:
            raise fail(f"is required in {self.environment}: a person approves every switch", "add the approvers' "
                       "IAM role ARN (or, outside prod, automaticAfterMinutes)", "dr", "regionSwitch",
                       "approvalRoleArn")
        decision = self.dr.decision_minutes
        if decision is None:
            raise fail("is required with a Region switch plan: the minutes a person takes from the page to the plan "
                       "started and approved, or, where the trigger starts it, to its paused writer step switched "
                       "to ungraceful", "add it, like decisionMinutes: 15", "dr", "decisionMinutes")

    def _check_recovery_time(self) -> None:
        """The whole chain fits rtoMinutes, or the target is refused with the chain that does not fit."""
        chain = self.recovery_time
        if chain is None or chain.unproven or chain.seconds <= self.dr.rto_minutes * 60:
            return
        terms = " + ".join(f"{term.name} {term.seconds:g}" for term in chain.terms)
        raise fail(f"{self.dr.rto_minutes:g} min cannot be met: from the failure to the first request takes "
                   f"{chain.seconds:g} s ({terms})", f"set it to at least {math.ceil(chain.seconds / 6) / 10:g}, or "
                   f"shorten what the stack file sets (decisionMinutes, automaticAfterMinutes)", "dr", "rtoMinutes")

    @property
    def switching(self) -> bool:
        """A Region switch plan moves capacity, the writer and the traffic (two serving regions)."""
        return self.dr.region_switch is not None and len(self.serving_regions) == 2

    @property
    def recovery_time(self) -> RecoveryTime | None:
        """From a region's failure to the first request the other serves, term by term (objectives.py); None
        with one serving region. Where a database's writer would not follow the traffic, there is no chain."""
        timing = self.dns.timing if self.dns else None
        return self._chain(timing) if timing is not None and len(self.serving_regions) >= 2 else None

    def _chain(self, timing: FailoverTiming) -> RecoveryTime:
        if self.database is not None and not self.switching:
            return RecoveryTime((), unproven=f"the writer does not move with DNS: no Region switch plan over "
                                             f"{len(self.serving_regions)} serving regions")
        terms = detection_terms(timing)
        switch = self.dr.region_switch
        if self.switching and switch is not None:
            if switch.automatic_after_minutes is not None:
                minutes = switch.automatic_after_minutes
                terms.append(Term("trigger", minutes * 60 + HEALTH_METRIC_DELAY_SECONDS, ASSUMED,
                                  f"the plan's trigger: the health check red {minutes} minutes in a row (switch.py), "
                                  f"and {HEALTH_METRIC_DELAY_SECONDS} s for CloudWatch to have the datapoints"))
                if self.database is not None:
                    # A trigger names no mode (ARC API, Trigger): it starts the graceful workflow, whose
                    # switchover cannot finish with the writer's region lost. Its step times out, the execution
                    # pauses, and a person switches it to ungraceful.
                    terms.append(Term("writerTimeout", AURORA_STEP_TIMEOUT_SECONDS, MECHANISM,
                                      "the graceful writer step's timeout (switch.py): a switchover cannot finish "
                                      "with the writer's region lost"))
                    terms.append(Term("decision", (self.dr.decision_minutes or 0) * 60, STACK_FILE,
                                      "mercur:dr.decisionMinutes: paged, the paused execution switched to "
                                      "ungraceful"))
            else:
                terms.append(Term("alarm", HEALTH_ALARM_PERIOD_SECONDS * HEALTH_ALARM_PERIODS
                                  + HEALTH_METRIC_DELAY_SECONDS, ASSUMED,
                                  f"the health alarm pages on the first red minute (failover.py), and "
                                  f"{HEALTH_METRIC_DELAY_SECONDS} s for the page to arrive (Route53: \"several minutes "
                                  f"might elapse\")"))
                terms.append(Term("decision", (self.dr.decision_minutes or 0) * 60, STACK_FILE,
                                  "mercur:dr.decisionMinutes: paged, decided, the plan started and approved"))
            terms += switch_step_terms(self.database is not None, ungraceful=True)
        return RecoveryTime(tuple(self._measured(term) for term in terms + dns_terms()))

    def _measured(self, term: Term) -> Term:
        """The drills' figure for a term where they measured one (mercur:dr.measured), else the term."""
        measured = self.dr.measured
        if measured is None or term.name not in measured.seconds:
            return term
        return Term(term.name, measured.seconds[term.name], MEASURED, f"measured by {measured.source}")

    def _check_deploy(self) -> None:
        if self.regions[0].retiring:
            raise fail("the active region cannot be retiring", "move it down mercur:regions first (a permanent "
                       "failover), then retire it", "regions", 0, "retiring")
        network = self.deploy.network
        if network is None:
            return
        for index, region in enumerate(self.regions):
            if region.name not in network.transit_gateways:
                raise fail(f"has no Transit Gateway for {region.name}", "add one per region of the stack",
                           "deploy", "network", "transitGateways")
        for name in network.transit_gateways:
            if name not in {r.name for r in self.regions}:
                raise fail("is not one of mercur:regions", "list Transit Gateways for the stack's regions only",
                           "deploy", "network", "transitGateways", name)
        for index, cidr in enumerate(network.cidrs):
            for region in self.regions:
                if ipaddress.IPv4Network(cidr).overlaps(region.cidr):
                    raise fail(f"{cidr} overlaps {region.name}'s VPC ({region.cidr})",
                               "the deployer network must be routable from the VPC", "deploy", "network",
                               "cidrs", index)

    @property
    def warnings(self) -> list[str]:
        """What is allowed today but needs doing soon: printed by the plan."""
        ends = EKS_STANDARD_SUPPORT_ENDS[self.cluster.version]
        days = (ends - today()).days
        if days <= EKS_SUPPORT_WARNING_DAYS:
            return [f"{self._source}: mercur:cluster.version: {self.cluster.version} leaves EKS standard support "
                    f"on {ends.isoformat()} ({days} days); upgrade before then"]
        return []

    # Context the file does not hold: which stack this is, and where it was read from.
    @property
    def project(self) -> str:
        return PROJECT

    @property
    def stack(self) -> str:
        return self._stack

    @property
    def source(self) -> str:
        return self._source

    @property
    def is_production(self) -> bool:
        return self.environment == "prod"

    @property
    def active_region(self) -> RegionConfig:
        return self.regions[0]

