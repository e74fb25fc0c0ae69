"""The application's config (`mercur:apps`, `mercur:standby`): what runs on every regional cluster."""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from .schema import ConfigError, Section, bounded, show

# Offline (plan, tests) a `secure:` value cannot be decrypted without the CLI; it stands in as this text.
OFFLINE_SECRET = "offline-secret-placeholder"

APP_KEYS = ("name", "image", "port", "healthPath", "requests", "limits", "replicas", "targetCpuPercent", "env",
            "secretEnv", "volume")
_DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_CPU = re.compile(r"^(?P<number>\d+(\.\d+)?)(?P<milli>m)?$")
_MEMORY = re.compile(r"^(?P<number>\d+)(?P<unit>Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_UNITS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                 "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
UNPRIVILEGED_PORTS = (1024, 65535)  # containers run as non-root with every capability dropped


@dataclass(frozen=True)
class Resources:
    cpu: str  # Kubernetes quantities, as written
    memory: str


@dataclass(frozen=True)
class Volume:
    size_gb: int
    mount_path: str


@dataclass(frozen=True)
class AppConfig:
    name: str
    image: str
    port: int
    health_path: str
    requests: Resources
    limits: Resources
    min_replicas: int
    max_replicas: int
    target_cpu_percent: int
    env: Mapping[str, str]
    secret_env: Mapping[str, str]  # always handled as Pulumi secrets
    volume: Volume | None


@dataclass(frozen=True)
class StandbyConfig:
    """Replicas every app keeps in the passive regions: 1 is a pilot light, more is a warm standby."""

    replicas: int

    @property
    def kind(self) -> str:
        return "pilot light" if self.replicas == 1 else "warm standby"


def millicores(quantity: str) -> float:
    match = _CPU.match(quantity)
    if not match:
        raise ValueError(f"{quantity!r} is not a CPU quantity")
    return float(match["number"]) * (1 if match["milli"] else 1000)


def memory_bytes(quantity: str) -> int:
    match = _MEMORY.match(quantity)
    if not match:
        raise ValueError(f"{quantity!r} is not a memory quantity")
    return int(match["number"]) * _MEMORY_UNITS[match["unit"]]


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """`repo[:tag][@digest]` -> (repo, tag, digest); a `:` before the last `/` is a registry port."""
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return rest[:colon], rest[colon + 1:], digest or None
    return rest, None, digest or None


def _image(sec: Section) -> str:
    image = sec.get("image", str, hint="a registry/repository:tag or @sha256 digest")
    repository, tag, digest = split_image(image)
    if not _REPOSITORY.match(repository) or (tag is not None and not _TAG.match(tag)) or \
            (digest is not None and not _DIGEST.match(digest)):
        raise sec.error("image", f"{show(image)} is not an image reference",
                        "write registry/repository:tag or registry/repository@sha256:<64 hex>")
    if tag is None and digest is None:
        raise sec.error("image", f"{image} has no tag", "pin a version tag or a sha256 digest")
    if tag == "latest" and digest is None:
        raise sec.error("image", f"{image} floats on `latest`", "pin a version tag or a sha256 digest")
    return image


def _resources(sec: Section, name: str) -> Resources:
    part = sec.section(name, ("cpu", "memory"))
    values = Resources(cpu=str(part.get("cpu", (str, int, float))), memory=str(part.get("memory", (str, int))))
    for field, parse, example in (("cpu", millicores, "250m or 0.5"), ("memory", memory_bytes, "256Mi or 1Gi")):
        try:
            if parse(getattr(values, field)) <= 0:
                raise ValueError
        except ValueError:
            raise part.error(field, f"{show(getattr(values, field))} is not a positive quantity",
                             f"write it like {example}") from None
    return values


def _variables(sec: Section, name: str) -> dict[str, str]:
    variables = sec.section(name, None, {})
    for key, value in variables.data.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise variables.error(str(key), "is not an environment variable name",
                                  "use letters, digits and underscores, not starting with a digit")
        if not isinstance(value, str):
            raise variables.error(key, f"{show(value)} is not a string", f'quote it: {key}: "{value}"')
    return dict(variables.data)


def _app(sec: Section) -> AppConfig:
    name = sec.get("name", str)
    if not _DNS_LABEL.match(name):
        raise sec.error("name", f"{show(name)} is not a DNS label",
                        "use up to 40 lowercase letters, digits and dashes, starting with a letter")
    port = bounded(sec, "port", *UNPRIVILEGED_PORTS)
    health = sec.get("healthPath", str)
    if not health.startswith("/") or " " in health:
        raise sec.error("healthPath", f"{show(health)} is not an HTTP path", "write it like /healthz")
    requests, limits = _resources(sec, "requests"), _resources(sec, "limits")
    if millicores(limits.cpu) < millicores(requests.cpu):
        raise sec.error("limits.cpu", f"{limits.cpu} is below requests.cpu ({requests.cpu})",
                        "set the limit at or above the request")
    if memory_bytes(limits.memory) < memory_bytes(requests.memory):
        raise sec.error("limits.memory", f"{limits.memory} is below requests.memory ({requests.memory})",
                        "set the limit at or above the request")
    replicas = sec.section("replicas", ("min", "max"))
    low, high = replicas.get("min", int), replicas.get("max", int)
    if not 1 <= low <= high:
        raise replicas.error("min", f"replica bounds must satisfy 1 <= min <= max, got min {low}, max {high}",
                             "adjust replicas.min and replicas.max")
    env, secret_env = _variables(sec, "env"), _variables(sec, "secretEnv")
    both = sorted(set(env) & set(secret_env))
    if both:
        raise sec.error(f"secretEnv.{both[0]}", "is also set in env", "keep each variable in one of the two")
    volume = None
    if sec.get("volume", Mapping, None) is not None:
        part = sec.section("volume", ("sizeGb", "mountPath"))
        mount = part.get("mountPath", str)
        if not mount.startswith("/") or mount in ("/", "/tmp"):
            raise part.error("mountPath", f"{show(mount)} cannot hold the volume", "use an absolute path like /data")
        volume = Volume(size_gb=bounded(part, "sizeGb", 1, 16384), mount_path=mount)
    return AppConfig(
        name=name, image=_image(sec), port=port, health_path=health, requests=requests, limits=limits,
        min_replicas=low, max_replicas=high, target_cpu_percent=bounded(sec, "targetCpuPercent", 10, 95, 70),
        env=MappingProxyType(env), secret_env=MappingProxyType(secret_env), volume=volume)


def parse_apps(root: Section) -> tuple[AppConfig, ...]:
    apps: list[AppConfig] = []
    for sec in root.each("apps", APP_KEYS, []):
        app = _app(sec)
        if app.name in {a.name for a in apps}:
            raise sec.error("name", f"{app.name} is used twice", "give every app its own name")
        apps.append(app)
    return tuple(apps)


def parse_standby(root: Section, apps: tuple[AppConfig, ...]) -> StandbyConfig:
    sec = root.section("standby", ("replicas",), {})
    replicas = sec.get("replicas", int, 1)
    if replicas < 1:
        raise sec.error("replicas", f"{replicas} leaves the passive regions nothing to fail over to",
                        "keep at least 1 replica (pilot light)")
    for app in apps:
        if replicas > app.min_replicas:
            raise sec.error("replicas", f"{replicas} is above {app.name}'s replicas.min ({app.min_replicas})",
                            f"set it to at most {app.min_replicas}: a standby never outruns the active region")
    return StandbyConfig(replicas)


def check_secrets_placement(key: str, value: object, source: str, path: str = "") -> None:
    """`secure:` values belong only in `apps[].secretEnv`: anywhere else they would be logged and diffed."""
    here = f"{key}{path}"
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            if not re.fullmatch(r"mercur:apps\[\d+\]\.secretEnv\.\w+", here):
                raise ConfigError(source, here, "is a secret outside apps[].secretEnv",
                                  "keep secrets in an app's secretEnv and plain settings in the clear")
            return
        for name, item in value.items():
            check_secrets_placement(key, item, source, f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_secrets_placement(key, item, source, f"{path}[{index}]")


def without_ciphertext(value: object) -> object:
    """The stack file's values with each `secure:` ciphertext replaced by OFFLINE_SECRET."""
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return OFFLINE_SECRET
        return {k: without_ciphertext(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_ciphertext(v) for v in value]
    return value
