"""mercur.components.lookups and what it is for: a preview or an `up` runs while one region answers nothing,
and the runbook's command changes only the surviving region."""

from __future__ import annotations

import asyncio
import re

import pulumi
import pytest

from conftest import ROOT
from mercur.components import lookups
from mercur.offline import changes, synth


def _pulumi_glob(pattern: str) -> re.Pattern[str]:
    """How the engine matches `--target` patterns (pulumi/pulumi pkg/resource/deploy/step_executor.go,
    `UrnTargets.getMatcher`): `**` is anything, `*` anything but a colon."""
    parts = ["[^:]*".join(re.escape(piece) for piece in segment.split("*")) for segment in pattern.split("**")]
    return re.compile("^" + ".*".join(parts) + "$")


@pytest.mark.costly
def test_with_us_west_1_down_nothing_is_asked_of_it_and_only_its_provider_checks_the_account_elsewhere(plan_of) -> None:
    normal = plan_of("prod")
    outage = synth.synthesize("prod", ROOT, unreachable=frozenset({"us-west-1"}))
    assert normal.calls and not [call for call in normal.calls if call[1] != "us-east-1"]  # ARC's lookup only
    [declared] = outage.warnings
    assert declared.startswith("us-west-1 is declared down (MERCUR_UNREACHABLE): its providers check the account "
                               "through another region's STS")
    # The one change: the lost region's provider checks the account through the surviving region's STS (the
    # engine configures every provider, targeted or not); it still refuses any other account.
    [sts] = changes.changes(normal, outage)
    assert (sts.field, sts.before, sts.after) == ("stsRegion", None, "us-east-1")
    provider = outage.by_urn(sts.urn)
    assert provider.type == "pulumi:providers:aws" and provider.inputs["region"] == "us-west-1"
    assert provider.inputs["allowedAccountIds"] == normal.by_urn(sts.urn).inputs["allowedAccountIds"]


@pytest.mark.costly
def test_with_us_east_1_declared_down_the_up_goes_on_says_which_region_and_keeps_the_records(plan_of) -> None:
    normal = plan_of("prod")
    outage = synth.synthesize("prod", ROOT, unreachable=frozenset({"us-east-1"}))  # and declared so
    declared, warning = outage.warnings
    assert declared.startswith("us-east-1 is declared down")
    assert warning.startswith("could not ask us-east-1 for the health checks of the Region switch plan (")
    assert "the failover records keep the health checks they have" in warning
    # Only what needed the answer is unknown, and it is told to keep what it has: the `up` changes nothing.
    unknown = {r.name for r in outage.resources if r.inputs.get("healthCheckId") == synth.UNKNOWN}
    assert unknown == {"mercur-prod-dns-primary", "mercur-prod-dns-secondary"}
    records = [r for r in outage.resources if r.name in unknown]
    assert all(r.ignore_changes == ("healthCheckId",) and not normal.by_urn(r.urn).ignore_changes for r in records)
    # Nothing changes but where the providers in us-east-1 (its own and the global one) check the account.
    moved = changes.changes(normal, outage)
    assert {(outage.by_urn(c.urn).name, c.field, c.after) for c in moved} == {
        ("us-east-1", "stsRegion", "us-west-1"), ("global", "stsRegion", "us-west-1")}
    # The stack's outputs mark what is unknown and keep everything else (the summary still shows both regions).
    assert outage.outputs["regionSwitch"]["healthCheckIds"] == synth.UNKNOWN
    assert {**outage.outputs, "regionSwitch": None} == {**normal.outputs, "regionSwitch": None}


@pytest.mark.costly
def test_an_up_not_told_the_region_is_down_stops_instead_of_declaring_unknown_health_checks() -> None:
    with pytest.raises(lookups.Unanswered, match=r"^could not ask us-east-1 for the health checks .*: this `up` "
                                                 r"stops .*\(MERCUR_UNREACHABLE=us-east-1 pulumi up --target"):
        synth.synthesize("prod", ROOT, unreachable=frozenset({"us-east-1"}), declared=frozenset())


def test_a_preview_goes_on_with_the_value_unknown_and_warns(monkeypatch) -> None:
    """A preview never fails for want of an answer: it shows what depends on it as unknown."""
    monkeypatch.delenv(lookups.UNREACHABLE_VARIABLE, raising=False)
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: True)
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", warned.append)

    async def ask() -> None:
        raise OSError("connection refused")

    async def answer() -> tuple[object, bool]:
        output = lookups.tolerated(ask, region="us-east-1", what="x", meanwhile="y", depends_on=set())
        return await output.future(), await output.is_known()
    loop = asyncio.new_event_loop()  # not asyncio.run: that would leave the thread without the loop synth uses
    try:
        assert loop.run_until_complete(answer()) == (None, False)
    finally:
        loop.close()
    assert warned == ["could not ask us-east-1 for x (connection refused); y"]


def test_a_region_declared_down_that_answers_is_named_so_the_declaration_is_not_left_set(monkeypatch) -> None:
    monkeypatch.setenv(lookups.UNREACHABLE_VARIABLE, "us-east-1")
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", warned.append)

    async def ask() -> str:
        return "found"

    async def answer() -> object:
        return await lookups.tolerated(ask, region="us-east-1", what="x", meanwhile="y", depends_on=set()).future()
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(answer()) == "found"
    finally:
        loop.close()
    assert warned == ["us-east-1 answered for x though MERCUR_UNREACHABLE declares it down: run without "
                      "MERCUR_UNREACHABLE once it is back (docs/runbook.md)"]


@pytest.mark.parametrize("short,region", [("use1", "us-east-1"), ("usw1", "us-west-1")])
def test_the_runbooks_target_reaches_exactly_the_surviving_regions_resources(plan_of, short, region) -> None:
    plan = plan_of("prod")
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    pattern = "urn:pulumi:prod::mercur::**::" + short + "*"
    assert f"--target '{pattern.replace(short, 'use1')}'" in runbook and "(`usw1*` when us-east-1" in runbook
    # Every AWS provider too: the lost region's provider takes its new STS region only when targeted.
    providers = "urn:pulumi:prod::mercur::**$pulumi:providers:aws::*"
    assert f"--target '{providers}'" in runbook
    assert {r.urn for r in plan.resources if _pulumi_glob(providers).match(r.urn)} == {
        r.urn for r in plan.of_type("pulumi:providers:aws")}
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
