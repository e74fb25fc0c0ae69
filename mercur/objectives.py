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
    """A target the schedules cannot meet; `best` is the lowest achievable value, in minutes."""

    def __init__(self, target: int, best: int, explanation: str) -> None:
        self.target, self.best, self.explanation = target, best, explanation
        super().__init__(f"{target} minutes cannot be met: the best achievable is {best} ({explanation})")


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
