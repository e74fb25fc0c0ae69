"""mercur.config (dns): DNS failover settings, and the RTO they must meet."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from mercur import config
from conftest import ROOT, assert_rejected


def _dns(**changes: Any) -> Callable[[dict], None]:
    return lambda values: values["mercur:dns"].update(changes)


BAD_DNS = {
    "record outside its zone": ("prod", _dns(record="shop.other.example"), "mercur:dns.record", "ending in .mercur"),
    "record that is no domain": ("prod", _dns(record="shop mercur"), "mercur:dns.record", "shop.example.com"),
    "unknown app": ("staging", _dns(app="checkout"), "mercur:dns.app", "storefront"),
    "interval Route53 does not offer": ("prod", _dns(healthCheck={"intervalSeconds": 20}),
                                        "mercur:dns.healthCheck.intervalSeconds", "10 or 30"),
    "threshold out of range": ("prod", _dns(healthCheck={"failureThreshold": 11}),
                               "mercur:dns.healthCheck.failureThreshold", "1 to 10"),
    "certificate from another region": ("prod", lambda v: v["mercur:dns"]["certificates"].update({
        "us-east-1": v["mercur:dns"]["certificates"]["us-west-1"]}), "mercur:dns.certificates.us-east-1",
        "ACM certificates are regional"),
    "certificate for one region only": ("prod", lambda v: v["mercur:dns"]["certificates"].pop("us-east-1"),
                                        "mercur:dns.certificates.us-east-1", "every region a certificate"),
    # 70 s of the fastest checks and the TTL, 396 s of the page (120), a 6-second decision and the switch (270)
    "ten-second RTO": ("prod", lambda v: v["mercur:dr"].update(rtoMinutes=10 / 60, decisionMinutes=0.1),
                       "mercur:dr.rtoMinutes", "best achievable is 466 s (10 s health checks x 1 failures + 60 s "
                                               "DNS TTL + 396 s for the alarm, the decision and the switch)"),
    "explicit checks too slow for the RTO": ("prod", lambda v: (
        _dns(healthCheck={"intervalSeconds": 30, "failureThreshold": 10})(v),
        v["mercur:dr"].update(rtoMinutes=20, decisionMinutes=10)),
        "mercur:dr.rtoMinutes", "relax mercur:dns.healthCheck"),
    "failover stack without DNS": ("staging", lambda v: v.pop("mercur:dns"), "mercur:dns", "add it"),
}


@pytest.mark.parametrize("case", BAD_DNS.values(), ids=BAD_DNS.keys())
def test_bad_dns_config_is_one_line_naming_file_key_and_fix(project, case) -> None:
    assert_rejected(project, *case)


def test_timing_is_derived_from_what_the_rest_of_the_chain_leaves_of_the_rto(project) -> None:
    prod = config.load_file(ROOT, "prod")
    assert prod.recovery_time.seconds <= prod.dr.rto_minutes * 60
    assert (prod.dns.interval_seconds, prod.dns.failure_threshold) == (30, 3)  # the calm default fits
    # 80 s left for detection and the TTL after the page, the decision and the switch: 10 s probes, twice.
    project.edit("prod", lambda v: v["mercur:dr"].update(rtoMinutes=22.5, decisionMinutes=14 + 2 / 3))
    tight = config.load_file(project.path, "prod")
    assert (tight.dns.interval_seconds, tight.dns.failure_threshold) == (10, 2)
    assert tight.recovery_time.seconds == 20 + 120 + 880 + 260 + 10 + 60 == 22.5 * 60


def test_a_tight_rto_gets_faster_checks(project) -> None:
    def three_regions_and_a_tight_rto(values: dict) -> None:  # DNS alone fails over: no switch plan's steps
        values["mercur:dr"].pop("regionSwitch")
        values["mercur:dr"].pop("decisionMinutes")
        values["mercur:regions"].append({"name": "us-east-2", "cidr": "10.32.0.0/16"})
        values["mercur:dns"]["certificates"]["us-east-2"] = \
            "arn:aws:acm:us-east-2:333333333333:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        values["mercur:deploy"]["network"]["transitGateways"]["us-east-2"] = "tgw-0123456789abcdef0"
        values["mercur:dr"].update(rtoMinutes=1.4)  # 84 s: 30 s probes cannot make it
    project.edit("prod", three_regions_and_a_tight_rto)
    dns = config.load_file(project.path, "prod").dns
    assert dns.timing.achievable_rto_seconds <= 84 and dns.interval_seconds == 10


def test_explicit_settings_are_kept_when_they_meet_the_rto(project) -> None:
    project.edit("prod", _dns(healthCheck={"intervalSeconds": 10, "failureThreshold": 5}))
    dns = config.load_file(project.path, "prod").dns
    assert (dns.interval_seconds, dns.failure_threshold, dns.timing.achievable_rto_seconds) == (10, 5, 110)


def test_single_region_needs_no_dns(project) -> None:
    project.edit("dev", lambda v: v.pop("mercur:dns"))
    assert config.load_file(project.path, "dev").dns is None
    plan = project.synthesize("dev")
    assert not plan.of_type("aws:route53/record:Record") and "applicationUrl" not in plan.outputs
