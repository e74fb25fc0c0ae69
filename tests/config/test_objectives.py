"""mercur.config.objectives: recovery-objective arithmetic."""

from __future__ import annotations

import pytest

from mercur.config import objectives
from mercur.config.objectives import Unachievable, achievable_rpo, copy_targets, schedule_for

OVERHEAD_CROSS = objectives.START_DELAY_MINUTES + objectives.SNAPSHOT_MINUTES + objectives.COPY_MINUTES
OVERHEAD_LOCAL = objectives.START_DELAY_MINUTES + objectives.SNAPSHOT_MINUTES


@pytest.mark.parametrize("rpo, cross_region, interval, achievable", [
    (180, True, 1, 60 + OVERHEAD_CROSS),          # the tightest target that can be met across regions
    (240, True, 2, 120 + OVERHEAD_CROSS),          # prod
    (299, True, 2, 120 + OVERHEAD_CROSS),          # 3h would need 300: stay at 2h
    (300, True, 3, 180 + OVERHEAD_CROSS),
    (720, True, 8, 480 + OVERHEAD_CROSS),          # staging: 12h would overshoot with the copy lag
    (1440, False, 12, 720 + OVERHEAD_LOCAL),       # dev, no copies: 24h would need 1515
    (1515, False, 24, 1440 + OVERHEAD_LOCAL),
    (10_000, True, 24, 1440 + OVERHEAD_CROSS),     # never less often than daily
])
def test_schedule_is_the_least_frequent_that_meets_the_rpo(rpo, cross_region, interval, achievable) -> None:
    schedule = schedule_for(rpo, cross_region)
    assert (schedule.interval_hours, schedule.achievable_rpo_minutes) == (interval, achievable)
    assert schedule.achievable_rpo_minutes <= rpo


@pytest.mark.parametrize("rpo, cross_region", [(179, True), (60, True), (1, False), (134, False)])
def test_unachievable_targets_name_the_best_achievable(rpo, cross_region) -> None:
    with pytest.raises(Unachievable) as caught:
        schedule_for(rpo, cross_region)
    assert caught.value.best == achievable_rpo(1, cross_region) > rpo


def test_copies_cost_their_lag() -> None:
    assert achievable_rpo(4, True) - achievable_rpo(4, False) == objectives.COPY_MINUTES


@pytest.mark.parametrize("interval, cron", [(1, "cron(0 0/1 * * ? *)"), (8, "cron(0 0/8 * * ? *)"),
                                            (24, "cron(0 0 * * ? *)")])
def test_cron_runs_every_interval_from_midnight(interval, cron) -> None:
    assert objectives.BackupSchedule(interval, 0, True).cron == cron


def test_windows_are_valid_for_aws_backup() -> None:
    for hours in objectives.SNAPSHOT_INTERVALS_HOURS:
        schedule = objectives.BackupSchedule(hours, 0, True)
        assert schedule.start_window_minutes >= 60
        assert schedule.completion_window_minutes >= schedule.start_window_minutes + 60


@pytest.mark.parametrize("rto_seconds, interval, threshold, achievable", [
    (300, 30, 3, 150),   # prod's 5 minutes: the calm default
    (120, 30, 2, 120),
    (90, 30, 1, 90),
    (89, 10, 2, 80),     # below what 30 s probes can detect: the fast interval
    (70, 10, 1, 70),     # the best there is
])
def test_failover_timing_is_the_calmest_that_meets_the_rto(rto_seconds, interval, threshold, achievable) -> None:
    timing = objectives.failover_timing(rto_seconds)
    assert (timing.interval_seconds, timing.failure_threshold, timing.achievable_rto_seconds) == \
        (interval, threshold, achievable)


def test_rto_to_the_first_request_adds_detection_and_the_ttl() -> None:
    timing = objectives.failover_timing(300)
    assert objectives.achievable_rto(30, 3) == 90 + objectives.ALIAS_TTL_SECONDS == timing.achievable_rto_seconds
    terms = objectives.detection_terms(timing) + objectives.dns_terms()
    assert [(t.name, t.seconds, t.basis) for t in terms] == [("detection", 90, "doc"), ("dnsTtl", 60, "doc"),
                                                             ("standbyServes", 0, "mechanism")]


def test_full_capacity_adds_the_hpa_a_node_the_image_the_startup_budget_and_the_targets_checks() -> None:
    timing = objectives.failover_timing(300)
    assert timing.full_capacity_seconds == 90 + objectives.HPA_REACTION_SECONDS + \
        objectives.NODE_LAUNCH_SECONDS + objectives.IMAGE_PULL_SECONDS + 5 * 30 + 10 * 2
    assert list(timing.full_capacity_terms()) == ["detection", "hpaReaction", "nodeLaunch", "imagePull",
                                                  "startupBudget", "targetWarmup"]


def test_rto_below_the_best_names_it() -> None:
    with pytest.raises(Unachievable) as caught:
        objectives.failover_timing(10)
    assert caught.value.best == objectives.best_rto() == 70 and caught.value.unit == "seconds"


def test_explicit_timing_that_misses_the_rto_is_refused() -> None:
    with pytest.raises(Unachievable):
        objectives.failover_timing(170, interval_seconds=30, failure_threshold=4)  # 120 s + 60 s TTL


@pytest.mark.parametrize("regions, expected", [
    (["us-west-1"], {"us-west-1": None}),
    (["us-west-1", "us-east-1"], {"us-west-1": "us-east-1", "us-east-1": "us-west-1"}),
    (["us-west-1", "us-east-1", "us-east-2"], {"us-west-1": "us-east-1", "us-east-1": "us-east-2",
                                               "us-east-2": "us-west-1"}),
])
def test_copies_go_to_the_next_region_and_wrap(regions, expected) -> None:
    assert copy_targets(regions) == expected


def test_the_switch_steps_take_the_longest_parallel_branch_and_name_each() -> None:
    lost = objectives.switch_step_terms(with_database=True, ungraceful=True)
    assert [t.name for t in lost] == ["capacityAndWriter", "checksFlip"]
    assert lost[0].seconds == max(objectives.EKS_SCALING_SECONDS, objectives.AURORA_FAILOVER_SECONDS)
    assert "scaling 260 s" in lost[0].source and "writer 180 s" in lost[0].source
    planned = objectives.switch_step_terms(with_database=True, ungraceful=False)
    assert f"writer {objectives.AURORA_SWITCH_SECONDS} s" in planned[0].source
    [capacity, _] = objectives.switch_step_terms(with_database=False, ungraceful=True)
    assert capacity.name == "capacity" and "writer" not in capacity.source


def test_a_chain_adds_its_terms_and_lists_what_is_assumed() -> None:
    chain = objectives.RecoveryTime((objectives.Term("a", 10, objectives.DOC, "x"),
                                     objectives.Term("b", 5, objectives.ASSUMED, "y"),
                                     objectives.Term("c", 1, objectives.STACK_FILE, "z")))
    assert chain.seconds == 16 and [t.name for t in chain.assumed()] == ["b", "c"]
