"""Recovery objectives as arithmetic: what the schedules AWS allows can achieve, and for which targets.

Pure functions, no SDK: `config` uses them to reject unachievable targets, components to size schedules,
`plan` to print target vs achievable. Every figure below is a stated assumption, kept in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

# Intervals both AWS Backup (cron) and Data Lifecycle Manager accept for EBS snapshots, in hours.
SNAPSHOT_INTERVALS_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)
# AWS Backup starts a job within its start window (60 minutes at least); DLM "within one hour".
START_DELAY_MINUTES = 60
# An incremental EBS snapshot of a few hours' changes completes in about this long.
SNAPSHOT_MINUTES = 15
# A cross-region copy of an incremental snapshot starts after the backup completes and transfers in this long.
COPY_MINUTES = 45
# Continuous backup (RDS, Aurora, S3) keeps an in-region point-in-time log; AWS Backup caps its retention.
CONTINUOUS_MAX_RETENTION_DAYS = 35


class Unachievable(ValueError):
    """A target no allowed setting can meet; `best` is the lowest achievable value, in `unit`."""

    def __init__(self, target: int, best: int, explanation: str, unit: str = "minutes") -> None:
        self.target, self.best, self.explanation, self.unit = target, best, explanation, unit
        super().__init__(f"{target} {unit} cannot be met: the best achievable is {best} {unit} ({explanation})")


@dataclass(frozen=True)
class BackupSchedule:
    interval_hours: int
    achievable_rpo_minutes: int
    cross_region: bool

    @property
    def cron(self) -> str:
        """AWS Backup / EventBridge cron, in UTC, starting at midnight."""
        hours = "0" if self.interval_hours == 24 else f"0/{self.interval_hours}"
        return f"cron(0 {hours} * * ? *)"

    @property
    def start_window_minutes(self) -> int:
        return START_DELAY_MINUTES

    @property
    def completion_window_minutes(self) -> int:
        """Long enough for a first, full snapshot; never longer than the next interval."""
        return max(START_DELAY_MINUTES + 60, self.interval_hours * 60)


def _overhead(cross_region: bool) -> int:
    return START_DELAY_MINUTES + SNAPSHOT_MINUTES + (COPY_MINUTES if cross_region else 0)


def _explain(cross_region: bool) -> str:
    parts = [f"hourly snapshots + up to {START_DELAY_MINUTES} min start delay + {SNAPSHOT_MINUTES} min to complete"]
    if cross_region:
        parts.append(f"{COPY_MINUTES} min cross-region copy")
    return " + ".join(parts)


def achievable_rpo(interval_hours: int, cross_region: bool) -> int:
    """Worst-case data loss, in minutes: a failure just before the next copy lands loses the whole interval
    plus the time the previous backup took to start, finish and (across regions) arrive."""
    return interval_hours * 60 + _overhead(cross_region)


def best_rpo(cross_region: bool) -> int:
    return achievable_rpo(SNAPSHOT_INTERVALS_HOURS[0], cross_region)


def schedule_for(rpo_minutes: int, cross_region: bool) -> BackupSchedule:
    """The least frequent schedule that still meets the RPO (fewer snapshots, same guarantee)."""
    fitting = [h for h in SNAPSHOT_INTERVALS_HOURS if achievable_rpo(h, cross_region) <= rpo_minutes]
    if not fitting:
        raise Unachievable(rpo_minutes, best_rpo(cross_region), _explain(cross_region))
    interval = fitting[-1]
    return BackupSchedule(interval, achievable_rpo(interval, cross_region), cross_region)


def copy_targets(regions: Sequence[str]) -> Mapping[str, str | None]:
    """Each region copies to the next in failover order; the last wraps to the first; one region copies nowhere."""
    if len(regions) < 2:
        return {region: None for region in regions}
    return {region: regions[(index + 1) % len(regions)] for index, region in enumerate(regions)}


# --------------------------------------------------------------------------------------------------
# Recovery time: how long until the passive region serves the traffic after the active one fails.

HEALTH_CHECK_INTERVALS_SECONDS = (30, 10)  # Route53 offers exactly these; 30 s is the standard (cheaper) one
FAILURE_THRESHOLDS = range(1, 11)
PREFERRED_FAILURE_THRESHOLD = 3  # Route53's default: one lost probe round is noise, three is an outage
# Alias records answer with the load balancer's own TTL, which is 60 s for ELB.
ALIAS_TTL_SECONDS = 60
# The standby already serves; the HPA reacts within its 15 s sync and a new pod is ready in about 45 s.
SCALE_UP_SECONDS = 60


@dataclass(frozen=True)
class FailoverTiming:
    interval_seconds: int
    failure_threshold: int
    achievable_rto_seconds: int

    @property
    def detection_seconds(self) -> int:
        return self.interval_seconds * self.failure_threshold


def achievable_rto(interval_seconds: int, failure_threshold: int) -> int:
    """Detection (interval x threshold) + resolvers holding the old answer (TTL) + the standby scaling up."""
    return interval_seconds * failure_threshold + ALIAS_TTL_SECONDS + SCALE_UP_SECONDS


def best_rto() -> int:
    return achievable_rto(min(HEALTH_CHECK_INTERVALS_SECONDS), min(FAILURE_THRESHOLDS))


def _rto_explanation(interval: int, threshold: int) -> str:
    return (f"{interval} s health checks x {threshold} failures + {ALIAS_TTL_SECONDS} s DNS TTL + "
            f"{SCALE_UP_SECONDS} s standby scale-up")


def failover_timing(rto_seconds: float, interval_seconds: int | None = None,
                    failure_threshold: int | None = None) -> FailoverTiming:
    """Health-check settings for the RTO: the given ones (checked), or the calmest that still meet it —
    30 s probes before 10 s ones, and up to three failures before declaring an outage."""
    intervals = [interval_seconds] if interval_seconds else list(HEALTH_CHECK_INTERVALS_SECONDS)
    for interval in intervals:
        thresholds = [failure_threshold] if failure_threshold else \
            range(PREFERRED_FAILURE_THRESHOLD, min(FAILURE_THRESHOLDS) - 1, -1)
        for threshold in thresholds:
            rto = achievable_rto(interval, threshold)
            if rto <= rto_seconds:
                return FailoverTiming(interval, threshold, rto)
    interval = interval_seconds or min(HEALTH_CHECK_INTERVALS_SECONDS)
    threshold = failure_threshold or min(FAILURE_THRESHOLDS)
    best = achievable_rto(interval, threshold)
    raise Unachievable(round(rto_seconds), best, _rto_explanation(interval, threshold), unit="seconds")
