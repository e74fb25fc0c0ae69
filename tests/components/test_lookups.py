"""mercur.components.lookups and what it is for: a preview or an `up` runs while one region answers nothing,
and the runbook's command changes only the surviving region."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT
from mercur.offline import changes, synth


def _pulumi_glob(pattern: str) -> re.Pattern[str]:
    """How the engine matches `--target` patterns (pulumi/pulumi pkg/resource/deploy/step_executor.go,
    `UrnTargets.getMatcher`): `**` is anything, `*` anything but a colon."""
    parts = ["[^:]*".join(re.escape(piece) for piece in segment.split("*")) for segment in pattern.split("**")]
    return re.compile("^" + ".*".join(parts) + "$")


@pytest.mark.costly
def test_with_us_west_1_down_nothing_is_asked_of_it_and_the_plan_is_the_same(plan_of) -> None:
    normal = plan_of("prod")
    outage = synth.synthesize("prod", ROOT, unreachable=frozenset({"us-west-1"}))
    assert normal.calls and not [call for call in normal.calls if call[1] != "us-east-1"]  # ARC's lookup only
    assert not outage.warnings and changes.changes(normal, outage) == []


@pytest.mark.costly
def test_with_us_east_1_down_the_run_goes_on_and_says_which_region_it_could_not_ask(plan_of) -> None:
    normal = plan_of("prod")
    outage = synth.synthesize("prod", ROOT, unreachable=frozenset({"us-east-1"}))
    [warning] = outage.warnings
    assert warning.startswith("could not ask us-east-1 for the health checks of the Region switch plan (")
    assert "the failover records keep the health checks they have" in warning
    # Only what needed the answer is unknown; nothing else the program declares depends on that region's APIs.
    assert {(c.urn.rsplit("::", 1)[1], c.field, c.after) for c in changes.changes(normal, outage)} == {
        ("mercur-prod-dns-primary", "healthCheckId", synth.UNKNOWN),
        ("mercur-prod-dns-secondary", "healthCheckId", synth.UNKNOWN)}


@pytest.mark.parametrize("short,region", [("use1", "us-east-1"), ("usw1", "us-west-1")])
def test_the_runbooks_target_reaches_exactly_the_surviving_regions_resources(plan_of, short, region) -> None:
    plan = plan_of("prod")
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    pattern = "urn:pulumi:prod::mercur::**::" + short + "*"
    assert f"--target '{pattern.replace(short, 'use1')}'" in runbook and "`usw1*`" in runbook
    [component] = [r for r in plan.of_type("mercur:region:Region") if r.name == short]
    own = {component.urn}
    while True:  # every descendant of the region's component
        more = {r.urn for r in plan.resources if r.parent in own} - own
        if not more:
            break
        own |= more
    matched = {r.urn for r in plan.resources if _pulumi_glob(pattern).match(r.urn)}
    assert matched == own, (sorted(matched - own)[:3], sorted(own - matched)[:3])
    assert all(plan.by_urn(urn).region in (region, None) for urn in matched)
