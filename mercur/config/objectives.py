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


def schedule_meeting(targets: Sequence[tuple[str, int, bool]], cross_region: bool) -> BackupSchedule:
    """The least frequent schedule meeting every (name, minutes, across regions) target snapshots must meet;
    Unachievable carries the name of the first target no interval can meet (in `explanation`'s place)."""
    intervals = []
    for name, minutes, across in targets:
        try:
            intervals.append(schedule_for(minutes, across).interval_hours)
        except Unachievable as error:
            error.target_name = name  # type: ignore[attr-defined]
            raise
    interval = min(intervals, default=SNAPSHOT_INTERVALS_HOURS[-1])
    return BackupSchedule(interval, achievable_rpo(interval, cross_region), cross_region)


# --------------------------------------------------------------------------------------------------
# Recovery points per kind of loss, with a database.

# Aurora replicates a global database's storage to the secondary regions "typically in under a second" (Aurora
# User Guide, "Using Amazon Aurora Global Database"); nothing bounds it. The stack states a bound and an alarm
# on AuroraGlobalDBReplicationLag pages above it: losing a region costs at most that, or someone is told.
TYPICAL_GLOBAL_LAG_SECONDS = 1
# Point-in-time restore (Aurora's and AWS Backup's continuous backups): restorable to any second, but the
# latest restorable time trails the present by up to 5 minutes (Aurora User Guide, "Restoring a DB cluster to
# a specified time"): bad data found at once still costs the writes of those minutes.
PITR_MINUTES = 5
LOSS_KINDS = ("regionLoss", "corruption", "regionLossAndCorruption")


@dataclass(frozen=True)
class RecoveryPoint:
    kind: str  # one of LOSS_KINDS
    target_minutes: int
    achievable_minutes: float
    basis: str  # what keeps the loss that small
    proven: bool = True  # False: a term of it is neither sourced nor measured (the basis says which)

    @property
    def met(self) -> bool:
        return self.proven and self.achievable_minutes <= self.target_minutes


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
# Alias records answer with the load balancer's own TTL, which is 60 s for ELB: resolvers may hold the old
# answer that long after Route53 changes it.
ALIAS_TTL_SECONDS = 60
# Route53 calls an endpoint healthy while more than 18% of its checkers say so (Route53 Developer Guide, "How
# Amazon Route 53 determines whether a health check is healthy"): each checker must see `threshold` failures
# in a row, so detection is interval x threshold, however many checkers there are.

# The passive region's standby replicas are Ready behind their load balancer before any failover (static
# stability): the first request after the switch needs nothing to start.
STANDBY_SERVES_SECONDS = 0

# Time to full capacity after the switch (the standby already serves the first requests; these add up until
# the passive region runs every app at its HPA maximum). Sources, and what the drill measures instead:
HPA_REACTION_SECONDS = 30  # metrics-server's 15 s resolution + the HPA's 15 s sync period (Kubernetes defaults)
NODE_LAUNCH_SECONDS = 60  # EKS Auto Mode (Karpenter) launch to Ready: EC2 boot + node registration, AWS guidance
IMAGE_PULL_SECONDS = 30  # assumption for a few-hundred-MB image from ECR/GHCR in region; measured by the drill
# Every app's startup probe (workloads.py): a pod has this long to start before it is restarted; the worst case.
STARTUP_PROBE_PERIOD_SECONDS = 5
STARTUP_PROBE_FAILURES = 30
STARTUP_BUDGET_SECONDS = STARTUP_PROBE_PERIOD_SECONDS * STARTUP_PROBE_FAILURES
# A new pod's target in its load balancer (entry.py): the ALB sends to it after this many health checks pass,
# this far apart (its initial health checks: ALB User Guide, "Health checks for your target groups"). An
# estimate: it leaves out the controller registering the pod (seconds); the drill measures scaling whole.
TARGET_HEALTH_INTERVAL_SECONDS = 10
TARGET_HEALTHY_THRESHOLD = 2
TARGET_WARMUP_SECONDS = TARGET_HEALTH_INTERVAL_SECONDS * TARGET_HEALTHY_THRESHOLD


@dataclass(frozen=True)
class FailoverTiming:
    interval_seconds: int
    failure_threshold: int
    achievable_rto_seconds: int  # to the first request served in the passive region: what rtoMinutes bounds

    @property
    def detection_seconds(self) -> int:
        return self.interval_seconds * self.failure_threshold

    def full_capacity_terms(self) -> dict[str, int]:
        """Until the passive region runs every app at its maximum: detection, the HPA reacting, a node
        launching, the image pulled, the app starting (its startup probe's whole budget, the worst case), its
        load balancer's first health checks passing."""
        return {"detection": self.detection_seconds, "hpaReaction": HPA_REACTION_SECONDS,
                "nodeLaunch": NODE_LAUNCH_SECONDS, "imagePull": IMAGE_PULL_SECONDS,
                "startupBudget": STARTUP_BUDGET_SECONDS, "targetWarmup": TARGET_WARMUP_SECONDS}

    @property
    def full_capacity_seconds(self) -> int:
        return sum(self.full_capacity_terms().values())


# --------------------------------------------------------------------------------------------------
# The orchestrated switch (ARC Region switch): capacity and the writer move together, then the traffic.

# Aurora's switchover leaves the database "unavailable for a short time" (RDS API Reference,
# SwitchoverGlobalCluster); stated, not measured: the drill measures it.
AURORA_SWITCH_SECONDS = 120
# The plan's Aurora step waits this long for its switchover before the step fails (switch.py's timeout).
AURORA_STEP_TIMEOUT_SECONDS = max(1, -(-AURORA_SWITCH_SECONDS // 60)) * 3 * 60
AURORA_SWITCH_SOURCE = "a global database switchover (RDS API Reference, SwitchoverGlobalCluster: \"unavailable " \
    "for a short time\"); measured by the switch drill"
# A region lost: the ungraceful workflow fails the global database over to the surviving region, accepting the
# replication lag as loss. "Typically, the chosen secondary cluster assumes the primary role within a few
# minutes" (Aurora User Guide, "Using switchover or failover in Amazon Aurora Global Database"): three assumed.
AURORA_FAILOVER_SECONDS = 180
AURORA_FAILOVER_SOURCE = "a global database failover with data loss; Aurora: \"typically ... within a few " \
    "minutes\" (Aurora User Guide, global database failover)"
# Scaling the passive region's workloads to the active's capacity: an Auto Mode node, the image, the app's start,
# its target's first health checks.
EKS_SCALING_SECONDS = NODE_LAUNCH_SECONDS + IMAGE_PULL_SECONDS + STARTUP_BUDGET_SECONDS + TARGET_WARMUP_SECONDS
# Region switch flips the health checks it controls (seconds), then resolvers drop the old answer (the TTL).
ROUTE53_STEP_SECONDS = 10 + ALIAS_TTL_SECONDS


# --------------------------------------------------------------------------------------------------
# Recovery time from the failure: every term from the moment a region fails to the first request the other
# region serves, each with where its figure comes from. `rtoMinutes` bounds the sum.

DOC, MECHANISM, STACK_FILE, ASSUMED, MEASURED = "doc", "mechanism", "stack file", "assumed", "measured"
# What a drill or a check measures, by the chain's term names; `crossRegionCopy` is an RPO term (seconds).
MEASURABLE_TERMS = ("detection", "alarm", "trigger", "capacityAndWriter", "capacity", "checksFlip",
                    "crossRegionCopy")
# The health alarm (failover.py) and the plan's trigger alarm (switch.py) read Route53's HealthCheckStatus,
# which CloudWatch receives as one datapoint a minute: the paging alarm fires on the first red minute. Route53
# warns that "several minutes might elapse between the time that a health check fails and the time that you
# receive the associated SNS notification" (Route 53 Developer Guide, "Monitoring health checks using
# CloudWatch"): a minute of delivery is assumed on top, for the page and the trigger alike.
HEALTH_ALARM_PERIOD_SECONDS = 60
HEALTH_ALARM_PERIODS = 1
HEALTH_METRIC_DELAY_SECONDS = 60
# ARC's Route 53 health check block sets the health checks it controls; Route53 then answers by them.
CHECKS_FLIP_SECONDS = 10


@dataclass(frozen=True)
class Term:
    """One link of the chain: its length and where that figure comes from."""

    name: str
    seconds: float
    basis: str  # DOC, MECHANISM, STACK_FILE, ASSUMED or MEASURED
    source: str  # the document, the mechanism that enforces it, the stack-file key or the assumption

    def line(self) -> str:
        return f"{self.name} {self.seconds:g} s ({self.basis}: {self.source})"


@dataclass(frozen=True)
class RecoveryTime:
    """The chain from a region's failure to the first request served elsewhere; `unproven` says why there is
    no chain to add up (the database's writer would not follow the traffic)."""

    terms: tuple[Term, ...]
    unproven: str | None = None

    @property
    def seconds(self) -> float:
        return sum(term.seconds for term in self.terms)

    def assumed(self) -> list[Term]:
        return [term for term in self.terms if term.basis in (ASSUMED, STACK_FILE)]


def detection_terms(timing: FailoverTiming) -> list[Term]:
    return [Term("detection", timing.detection_seconds, DOC,
                 f"Route53 health checks every {timing.interval_seconds} s x {timing.failure_threshold} failures "
                 f"(Route 53 Developer Guide, \"How Route 53 determines whether a health check is healthy\")")]


def dns_terms() -> list[Term]:
    return [Term("dnsTtl", ALIAS_TTL_SECONDS, DOC, "resolvers hold the alias's answer for the load balancer's "
                 "60 s TTL (Route 53 Developer Guide, \"Choosing between alias and non-alias records\")"),
            Term("standbyServes", STANDBY_SERVES_SECONDS, MECHANISM, "the standby replicas already run Ready "
                 "behind their load balancer (static stability)")]


def switch_step_terms(with_database: bool, ungraceful: bool) -> list[Term]:
    """The plan's steps after it starts: capacity and the writer in parallel, then the traffic."""
    scaling = Term("scaling", EKS_SCALING_SECONDS, ASSUMED,
                   f"an Auto Mode node {NODE_LAUNCH_SECONDS} s, an image pull {IMAGE_PULL_SECONDS} s, the startup "
                   f"probe's {STARTUP_BUDGET_SECONDS} s budget (workloads.py), the target's first health checks "
                   f"{TARGET_WARMUP_SECONDS} s (entry.py)")
    branches = [scaling]
    if with_database:
        branches.append(Term("writer", AURORA_FAILOVER_SECONDS if ungraceful else AURORA_SWITCH_SECONDS, ASSUMED,
                             AURORA_FAILOVER_SOURCE if ungraceful else AURORA_SWITCH_SOURCE))
    longest = max(branches, key=lambda term: term.seconds)
    parallel = Term("capacityAndWriter" if with_database else "capacity", longest.seconds, longest.basis,
                    " | ".join(branch.line() for branch in branches) if len(branches) > 1 else longest.source)
    return [parallel, Term("checksFlip", CHECKS_FLIP_SECONDS, ASSUMED, "ARC's Route 53 health check block sets "
                           "the checks the failover records answer by")]


def achievable_rto(interval_seconds: int, failure_threshold: int) -> int:
    """To the first request served in the passive region: detection (interval x threshold) + resolvers
    holding the old answer (the alias's TTL). The standby replicas already run and serve it."""
    return interval_seconds * failure_threshold + ALIAS_TTL_SECONDS + STANDBY_SERVES_SECONDS


def best_rto() -> int:
    return achievable_rto(min(HEALTH_CHECK_INTERVALS_SECONDS), min(FAILURE_THRESHOLDS))


def _rto_explanation(interval: int, threshold: int) -> str:
    return f"{interval} s health checks x {threshold} failures + {ALIAS_TTL_SECONDS} s DNS TTL"


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
