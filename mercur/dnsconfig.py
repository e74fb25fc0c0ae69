"""DNS failover config (`mercur:dns`): the zone, the record, TLS per region, and health-check timing.

Health-check timing is derived from the RTO (`mercur:dr.rtoMinutes`) unless set explicitly; either way it
is checked against the RTO here, before any resource exists.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

from .apps import AppConfig
from .objectives import FAILURE_THRESHOLDS, HEALTH_CHECK_INTERVALS_SECONDS, FailoverTiming, Unachievable, \
    failover_timing
from .schema import ConfigError, Section, show

DNS_KEYS = ("zone", "createZone", "record", "app", "certificates", "healthCheck")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CERTIFICATE = re.compile(r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")


@dataclass(frozen=True)
class DnsConfig:
    zone: str
    create_zone: bool
    record: str  # fully qualified, inside `zone`
    app: str  # the app whose load balancers the record fronts
    certificates: Mapping[str, str]  # region -> ACM certificate ARN; empty means plain HTTP
    timing: FailoverTiming | None  # None with a single region: nothing to fail over to
    interval_seconds: int  # health checks run in every stack, failover or not
    failure_threshold: int

    @property
    def tls(self) -> bool:
        return bool(self.certificates)


def _domain(sec: Section, name: str) -> str:
    value = sec.get(name, str).rstrip(".").lower()
    if not _DOMAIN.match(value):
        raise sec.error(name, f"{show(value)} is not a domain name", "write it like shop.example.com")
    return value


def _certificates(sec: Section, regions: Sequence[str]) -> dict[str, str]:
    certificates = sec.section("certificates", None, {})
    for region, arn in certificates.data.items():
        match = _CERTIFICATE.match(arn) if isinstance(arn, str) else None
        if region not in regions:
            raise certificates.error(str(region), "is not one of mercur:regions",
                                     f"list certificates for {', '.join(regions)}")
        if not match or match["region"] != region:
            raise certificates.error(region, f"{show(arn)} is not an ACM certificate ARN in {region}",
                                     f"write arn:aws:acm:{region}:<account>:certificate/<id>; ACM certificates are "
                                     f"regional")
    missing = [r for r in regions if certificates.data and r not in certificates.data]
    if missing:
        raise certificates.error(missing[0], "has no certificate while other regions do",
                                 "give every region a certificate, or none for plain HTTP")
    return dict(certificates.data)


def parse_dns(root: Section, *, regions: Sequence[str], apps: Sequence[AppConfig], rto_minutes: float) -> DnsConfig:
    sec = root.section("dns", DNS_KEYS, hint="the hosted zone and record the application answers on")
    zone, record = _domain(sec, "zone"), _domain(sec, "record")
    if not record.endswith(f".{zone}"):
        raise sec.error("record", f"{record} is not inside the zone {zone}", f"use a name ending in .{zone}")
    app = sec.get("app", str)
    if app not in [a.name for a in apps]:
        raise sec.error("app", f"{show(app)} is not one of mercur:apps",
                        f"use one of: {', '.join(a.name for a in apps) or '(no apps configured)'}")

    checks = sec.section("healthCheck", ("intervalSeconds", "failureThreshold"), {})
    interval = checks.get("intervalSeconds", int, None)
    if interval is not None and interval not in HEALTH_CHECK_INTERVALS_SECONDS:
        raise checks.error("intervalSeconds", f"{interval} is not a Route53 interval",
                           "use 10 or 30 (fixed once the health check exists)")
    threshold = checks.get("failureThreshold", int, None)
    if threshold is not None and threshold not in FAILURE_THRESHOLDS:
        raise checks.error("failureThreshold", f"{threshold} is out of range", "use 1 to 10")

    timing = None
    if len(regions) > 1:
        try:
            timing = failover_timing(rto_minutes * 60, interval, threshold)
        except Unachievable as error:
            explicit = " with the healthCheck settings given" if interval or threshold else ""
            raise ConfigError(sec.source, "mercur:dr.rtoMinutes",
                              f"{rto_minutes:g} min ({error.target} s) cannot be met{explicit}: the best achievable "
                              f"is {error.best} s ({error.explanation})",
                              f"set rtoMinutes to at least {math.ceil(error.best / 6) / 10:g}" +
                              (" or relax mercur:dns.healthCheck" if explicit else "")) from None
    return DnsConfig(
        zone=zone, create_zone=sec.get("createZone", bool, False), record=record, app=app,
        certificates=MappingProxyType(_certificates(sec, regions)), timing=timing,
        interval_seconds=timing.interval_seconds if timing else interval or HEALTH_CHECK_INTERVALS_SECONDS[0],
        failure_threshold=timing.failure_threshold if timing else threshold or 3)
