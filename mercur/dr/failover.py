"""The failover drill: the Region switch plan run to the passive region and back, every term measured.

Measured, not assumed: detection (the active endpoint's health check made to fail until Route53 and its alarm
say so), the decision (the approval step), each plan step (the execution's own events), DNS (the traffic step
starting until the zone's name servers answer with the passive region) and the first successful request
there. The execution runs on the passive region's data plane: the one a real failover would have.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from ..config.objectives import ALIAS_TTL_SECONDS
from .aws import (ROUTE53_REGION, aware, health_check_healthy, minutes_since, newest_recovery_point,
                  replication_lag_ms, writer_region)
from .check import detection_alarms
from .drill import Context, DrillFailed, Undo

SERVICE = "arc-region-switch"
RUNNING = {"inProgress", "pending", "pendingManualApproval", "pausedByOperator"}
# completedWithExceptions counts as done (botocore's PlanExecutionCompleted waiter agrees); the probes then
# confirm where the traffic went. pausedByFailedStep fails at once: waiting for it is waiting out the bound.
SUCCEEDED = {"completed", "completedMonitoringApplicationHealth", "completedWithExceptions"}
ACTIVE = RUNNING | {"pausedByFailedStep"}  # what pre-flight refuses and the undo cancels
MOVED = {"running", "completed", "failed"}  # a step in one of these changed something
# A step cancelled after it started has changed something too: RDS cannot cancel a switchover it has begun.
STARTED_THEN_STOPPED = {"canceled"}


def _comment(context: Context) -> str:
    return f"mercur dr drill {context.drill_id}"


def preflight(context: Context) -> list[str]:
    """What forbids a failover drill: no plan to run, or a switch already under way (a real one, maybe)."""
    outputs = context.outputs
    if not outputs.switch_plan_arn or len(outputs.passive) != 1:
        return [f"global region switch: {context.stack.stack} has no Region switch plan to drill (two regions "
                "have one); run --kind restore"]
    running = {}
    for region in outputs.failover_order:
        for item in _executions(context, region):
            if item["executionState"] in ACTIVE:
                running[item["executionId"]] = (region, item)
    return [f"global region switch: execution {eid} to {item['executionRegion']} is {item['executionState']} "
            f"(started {item['startTime']:%H:%M} UTC): finish or cancel it first" for eid, (_, item) in running.items()]


def _executions(context: Context, region: str, plan_arn: str | None = None) -> list[dict]:
    arc = context.clients(SERVICE, region)
    pages = arc.get_paginator("list_plan_executions").paginate(planArn=plan_arn or context.outputs.switch_plan_arn)
    return [item for page in pages for item in page.get("items", [])]


def run(context: Context, result: dict[str, Any]) -> None:
    stack, outputs, pace = context.stack, context.outputs, context.pace
    active, passive = outputs.active, outputs.passive[0]
    rpo = stack.dr.rpo
    result.update(activeRegion=active.name, passiveRegion=passive.name,
                  targets={"rtoSeconds": round(stack.dr.rto_minutes * 60), "rpoRegionLossSeconds": rpo.region_loss * 60,
                           "rpoRegionLossAndCorruptionMinutes": rpo.region_loss_and_corruption})
    result["measuredRpo"] = measured_rpo(context)
    detection = _detection(context, result)
    switch = Switch(context, passive.name, active.name, outputs.switch_plan_arn)
    change = context.ledger.record(
        f"{passive.name} made active by the Region switch plan (traffic, the writer, capacity)",
        {"kind": "switch-back", "planArn": switch.plan_arn, "region": passive.name, "target": active.name})
    timeline = switch.forward()
    rto = _rto(timeline, result, detection)
    pace.progress(f"switching back to {active.name}")
    context.ledger.settle(change)
    misses = _misses(result, rto)
    result["verdict"] = "fail" if misses else "pass"
    if misses:
        result["missed"] = misses
    result["summary"] = _summary(result)


def measured_rpo(context: Context) -> dict[str, Any]:
    """What losing the active region now would lose: the passive cluster's replication lag, and (with bad
    data too) everything since the newest recovery point copied to the passive region."""
    outputs, now = context.outputs, datetime.now(timezone.utc)
    active, passive = outputs.active, outputs.passive[0]
    measured: dict[str, Any] = {}
    if passive.database_cluster_id:
        lag = replication_lag_ms(context.clients("cloudwatch", passive.name), passive.database_cluster_id, now)
        measured["replicationLagSeconds"] = None if lag is None else round(lag / 1000, 3)
    if active.database_cluster_arn and passive.backup_vault_name:
        newest = newest_recovery_point(context.clients("backup", passive.name), passive.backup_vault_name,
                                       active.database_cluster_arn)
        measured["newestCopyMinutes"] = None if newest is None else round(minutes_since(newest["CreationDate"], now), 1)
    return measured


def _detection(context: Context, result: dict[str, Any]) -> float | None:
    """Fail the active endpoint's health check (inverted) until Route53 publishes it unhealthy and its alarm
    fires; then put it back. With Region switch the records answer by the plan's checks, so no traffic moves.
    Where the plan switches by itself after N minutes red, the check stays red a minute less than that."""
    active, pace = context.outputs.active, context.pace
    check_id = active.health_check_id
    automatic = context.stack.dr.region_switch.automatic_after_minutes if context.stack.dr.region_switch else None
    # Red no longer than the trigger allows, less Route53's own time to call it healthy again and a margin.
    dns = context.stack.dns
    recovery = dns.interval_seconds * dns.failure_threshold if dns else 0
    bound = pace.timeout_seconds if not automatic else min(pace.timeout_seconds, automatic * 60 - recovery - 120)
    if not check_id or bound < 60:
        result["detectionNote"] = "not measured: " + ("no endpoint health check" if not check_id else
                                                      f"the plan switches by itself after {automatic} min red")
        return None
    route53, cloudwatch = context.clients("route53", ROUTE53_REGION), context.clients("cloudwatch", ROUTE53_REGION)
    # The stack's detection alarm only: the plan's trigger alarm watches the same check and must never fire.
    alarms = [a["AlarmName"] for a in detection_alarms(cloudwatch, check_id) if a["AlarmName"].endswith("-unhealthy")]

    def alarm_is(state: str) -> bool:
        found = cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"] if alarms else []
        return bool(found) and all(a["StateValue"] == state for a in found)

    change = context.ledger.record(f"{active.name}'s endpoint health check {check_id} inverted (measuring "
                                   "detection)", {"kind": "health-check-inverted", "checkId": check_id})
    pace.progress(f"measuring detection: inverting {active.name}'s endpoint health check {check_id} (its alarm "
                  f"{', '.join(alarms) or '(none)'} will fire: this is the drill)")
    _set_inverted(route53, check_id, True)
    start = pace.clock()
    pace.wait(f"Route53 calls {active.name} unhealthy and the alarm fires", lambda: health_check_healthy(
        cloudwatch, check_id) is False and alarm_is("ALARM"), timeout=bound)
    seconds = pace.clock() - start
    context.ledger.settle(change)
    pace.wait(f"{active.name} healthy again", lambda: health_check_healthy(cloudwatch, check_id) is True
              and alarm_is("OK"))
    return round(seconds, 1)


def _set_inverted(route53: Any, check_id: str, inverted: bool) -> None:
    route53.update_health_check(HealthCheckId=check_id, Inverted=inverted)
    now = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]
    if bool(now.get("Inverted")) != inverted:
        raise DrillFailed(f"health check {check_id} still reads Inverted={now.get('Inverted')}")


def _uninvert(context: Context, undo: Mapping[str, str]) -> None:
    _set_inverted(context.clients("route53", ROUTE53_REGION), undo["checkId"], False)


def _uninvert_by_hand(undo: Mapping[str, str]) -> str:
    return f"aws route53 update-health-check --health-check-id {undo['checkId']} --no-inverted"


def _still_inverted(context: Context, undo: Mapping[str, str]) -> list[tuple[str, str]]:
    config = context.clients("route53", ROUTE53_REGION).get_health_check(
        HealthCheckId=undo["checkId"])["HealthCheck"]["HealthCheckConfig"]
    return [(f"health check {undo['checkId']} inverted", _uninvert_by_hand(undo))] if config.get("Inverted") else []


def _switch_back(context: Context, undo: Mapping[str, str]) -> None:
    _switch(context, undo).back()


def _switch(context: Context, undo: Mapping[str, str]) -> "Switch":
    adopted = frozenset([undo["executionId"]]) if undo.get("executionId") else frozenset()
    return Switch(context, undo["region"], undo["target"], undo["planArn"], adopted)


def _switch_back_by_hand(undo: Mapping[str, str]) -> str:
    return (f"aws arc-region-switch start-plan-execution --region {undo['target']} --plan-arn {undo['planArn']} "
            f"--target-region {undo['target']} --action activate --mode graceful")


def _still_switched(context: Context, undo: Mapping[str, str]) -> list[tuple[str, str]]:
    """What the world shows left after a switch back could not be made: where the traffic and the writer are,
    and every execution of this drill still waiting, paused or running (anyone with the approver role could
    still approve one), each with the command that undoes it."""
    return _switch(context, undo).left_over()


# How each change of this drill is undone, from the report's description of it (see drill.Undo).
UNDO = {
    "health-check-inverted": Undo(("checkId",), _uninvert, _uninvert_by_hand, _still_inverted),
    # region: the one the drill made active; target: the one to make active again
    "switch-back": Undo(("planArn", "region", "target"), _switch_back, _switch_back_by_hand, _still_switched),
    # the same, for a switch the plan's trigger started (the unplanned-loss drill): that execution is the drill's
    "trigger-switch-back": Undo(("planArn", "region", "target", "executionId"), _switch_back, _switch_back_by_hand,
                                _still_switched),
}


class Switch:
    """One graceful switch to `target` and, as its undo, back to `origin`; each execution idempotent by its
    client token, run on the data plane of the region it activates."""

    def __init__(self, context: Context, target: str, origin: str, plan_arn: str,
                 adopted: frozenset[str] = frozenset()) -> None:
        """`adopted`: executions the drill did not start but answers for (the plan's trigger started them)."""
        self.context, self.target, self.origin, self.plan_arn = context, target, origin, plan_arn
        self.adopted = adopted

    def forward(self) -> dict[str, Any]:
        """Run the switch; returns the timeline: the execution's events and when clients saw the change."""
        seen: dict[str, float] = {}
        probes = self.context.probes

        def observe(execution: dict, blocks: dict[str, str]) -> None:
            traffic = [s for s in execution.get("stepStates", []) if blocks.get(s.get("name")) == "Route53HealthCheck"
                       and s.get("status") in ("running", "completed")]
            if not traffic or probes is None:
                return
            if "answer" not in seen and probes.answering() == self.target:
                seen["answer"] = self.context.pace.clock()
                self.context.pace.progress(f"  the zone's name servers answer with {self.target}")
            if "answer" in seen and "request" not in seen and probes.serves(self.target):
                seen["request"] = self.context.pace.clock()
                self.context.pace.progress(f"  first successful request in {self.target}")

        execution_id, blocks = self._execute(self.target, f"{self.context.drill_id}-to-{self.target}", observe)
        if probes is not None:  # the answer may change after the execution says it is done
            seen.setdefault("answer", self.context.pace.wait(
                f"the zone's name servers answer with {self.target}",
                lambda: probes.answering() == self.target and self.context.pace.clock()))
            seen.setdefault("request", self.context.pace.wait(
                f"a successful request in {self.target}", lambda: probes.serves(self.target)
                and self.context.pace.clock()))
        return {"executionId": execution_id, "blocks": blocks, "seen": seen,
                "events": self._events(self.target, execution_id)}

    def back(self) -> None:
        """Undo: cancel any drill execution still going toward the target; if one moved anything, or the world
        shows the writer or the traffic away from the origin, switch back to the origin, then wait until the
        world says so. Safe to repeat, from the drill or from `dr undo` in another process: a switch back under
        way is followed, one done is enough, and a failed one is followed by a new execution (its own token)."""
        arc = self.context.clients(SERVICE, self.target)
        ours = self._ours(self.target)
        for execution in (e for e in ours if e["executionState"] in ACTIVE):
            self._cancel(arc, execution["executionId"])
        if not any(self._moved(arc, e["executionId"]) for e in ours) and not self._away():
            return  # never started, or never past its approval, and nothing shows otherwise: nothing moved
        back = self._ours(self.origin)
        for execution in (e for e in back if e["executionState"] in ACTIVE - RUNNING):  # stuck on a failed step
            self._cancel(self.context.clients(SERVICE, self.origin), execution["executionId"])
        under_way = [e for e in back if e["executionState"] in RUNNING]
        if under_way:
            self._follow(self.origin, under_way[0]["executionId"], None)
        elif not any(e["executionState"] in SUCCEEDED for e in back):
            # A token per attempt: ARC answers a token it has seen with that execution, a failed one too. The
            # count of switches back listed makes a retry after a lost response reuse its own token.
            self._execute(self.origin, f"{self.context.drill_id}-back-{len(back) + 1}", None)
        probes = self.context.probes
        if probes is not None:
            self.context.pace.wait(f"the zone's name servers answer with {self.origin} again",
                                   lambda: probes.answering() == self.origin)
        if self.context.outputs.global_cluster_id:  # a switchover begun before the cancel finishes first
            self.context.pace.wait(f"the writer back in {self.origin}", lambda: self._writer() == self.origin)

    def _writer(self) -> str | None:
        """The writer's region now (None without a global database), asked of the origin's RDS."""
        cluster = self.context.outputs.global_cluster_id
        return writer_region(self.context.clients("rds", self.origin), cluster) if cluster else None

    def _away(self) -> list[str]:
        """What the world shows away from the origin: the writer, the zone's answer."""
        away, writer = [], self._writer()
        if writer is not None and writer != self.origin:
            away.append(f"the writer is in {writer}")
        probes = self.context.probes
        answering = probes.answering() if probes is not None else None
        if answering is not None and answering != self.origin:
            away.append(f"the zone answers with {answering}")
        return away

    def left_over(self) -> list[tuple[str, str]]:
        """After an undo that failed: what is still changed, each with its command (empty: nothing is)."""
        left: list[tuple[str, str]] = []
        away = self._away()
        if away:
            left.append(("; ".join(away), _switch_back_by_hand({"planArn": self.plan_arn, "target": self.origin})))
        for region in (self.target, self.origin):
            for execution in (e for e in self._ours(region) if e["executionState"] in ACTIVE):
                eid = execution["executionId"]
                left.append((f"execution {eid} to {region} is {execution['executionState']}",
                             f"aws arc-region-switch cancel-plan-execution --region {region} --plan-arn "
                             f"{self.plan_arn} --execution-id {eid} --comment '{_comment(self.context)}'"))
        return left

    def _ours(self, region: str) -> list[dict]:
        """This drill's executions activating `region`, oldest first."""
        return sorted((e for e in _executions(self.context, region, self.plan_arn)
                       if (e.get("comment") == _comment(self.context) or e["executionId"] in self.adopted)
                       and e.get("executionRegion") == region), key=lambda e: aware(e["startTime"]))

    def _cancel(self, arc: Any, execution_id: str) -> None:
        arc.cancel_plan_execution(planArn=self.plan_arn, executionId=execution_id, comment=_comment(self.context))
        self.context.pace.wait(f"execution {execution_id} cancelled", lambda: arc.get_plan_execution(
            planArn=self.plan_arn, executionId=execution_id)["executionState"] not in ACTIVE)

    def _moved(self, arc: Any, execution_id: str) -> bool:
        """Whether an execution got past its approval: any other step started (cancelled ones too)."""
        execution = arc.get_plan_execution(planArn=self.plan_arn, executionId=execution_id)
        blocks = _blocks(execution, self.target)
        return any((s.get("status") in MOVED or s.get("status") in STARTED_THEN_STOPPED and s.get("startTime"))
                   and blocks.get(s["name"]) != "ManualApproval" for s in execution.get("stepStates", []))

    def _execute(self, region: str, token: str, observe: Callable[[dict, dict], None] | None) -> tuple[str, dict]:
        arc = self.context.clients(SERVICE, region)
        self.context.pace.progress(f"starting the Region switch to {region} (graceful)")
        execution_id = arc.start_plan_execution(planArn=self.plan_arn, targetRegion=region, action="activate",
                                                mode="graceful", comment=_comment(self.context),
                                                clientToken=token)["executionId"]
        return self._follow(region, execution_id, observe)

    def _follow(self, region: str, execution_id: str, observe: Callable[[dict, dict], None] | None) -> tuple[str, dict]:
        """Wait for an execution to end, approving its approval steps with --approve (else saying how)."""
        context, plan_arn = self.context, self.plan_arn
        arc = context.clients(SERVICE, region)
        told: set[str] = set()

        def poll() -> dict | None:
            execution = arc.get_plan_execution(planArn=plan_arn, executionId=execution_id)
            blocks = _blocks(execution, region)
            for step in execution.get("stepStates", []):
                if step.get("status") != "pendingApproval" or step["name"] in told:
                    continue
                told.add(step["name"])
                if context.approve:
                    arc.approve_plan_execution_step(planArn=plan_arn, executionId=execution_id, stepName=step["name"],
                                                    approval="approve", comment=_comment(context))
                else:
                    context.pace.progress(
                        f"  waiting for a person to approve step {step['name']}: aws arc-region-switch "
                        f"approve-plan-execution-step --region {region} --plan-arn {plan_arn} --execution-id "
                        f"{execution_id} --step-name {step['name']} --approval approve")
            if observe is not None:
                observe(execution, blocks)
            state = execution["executionState"]
            if state in RUNNING:
                return None
            if state not in SUCCEEDED:
                raise DrillFailed(f"the switch to {region} (execution {execution_id}) ended {state}")
            return execution

        execution = context.pace.wait(f"the Region switch to {region} (execution {execution_id})", poll)
        return execution_id, _blocks(execution, region)

    def _events(self, region: str, execution_id: str) -> list[dict]:
        arc = self.context.clients(SERVICE, region)
        pages = arc.get_paginator("list_plan_execution_events").paginate(planArn=self.plan_arn, executionId=execution_id)
        return [event for page in pages for event in page.get("items", [])]


def _blocks(execution: dict, region: str) -> dict[str, str]:
    """Each step's execution block type, from the plan the execution ran (nested parallel steps included)."""
    blocks: dict[str, str] = {}
    workflows = (execution.get("plan") or {}).get("workflows", [])
    for workflow in (w for w in workflows if w.get("workflowTargetRegion") in (region, None)):
        for step in workflow.get("steps", []):
            blocks[step["name"]] = step["executionBlockType"]
            for inner in ((step.get("executionBlockConfiguration") or {}).get("parallelConfig") or {}).get("steps", []):
                blocks[inner["name"]] = inner["executionBlockType"]
    return blocks


def _rto(timeline: dict[str, Any], result: dict[str, Any], detection: float | None) -> float | None:
    """From the execution's events: when each step started and ended; from the probes: the DNS answer and the
    first request. The RTO the target bounds runs from the end of the approval to that first request."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    began = None
    for event in timeline["events"]:
        moment, name, kind = aware(event["timestamp"]).timestamp(), event.get("stepName"), event.get("type")
        if kind == "executionStarted":
            began = moment if began is None else min(began, moment)
        elif name and kind in ("stepStarted", "stepPendingApproval"):
            starts.setdefault(name, moment)
        elif name and kind in ("stepSucceeded", "stepSkipped"):
            ends[name] = moment
    blocks, seen = timeline["blocks"], timeline["seen"]
    approvals = [n for n, b in blocks.items() if b == "ManualApproval" and n in starts and n in ends]
    decision = round(sum(ends[n] - starts[n] for n in approvals), 1) if approvals else 0.0
    switch_start = max((ends[n] for n in approvals), default=began if began is not None else min(starts.values()))
    traffic = next((starts[n] for n, b in blocks.items() if b == "Route53HealthCheck" and n in starts), None)
    steps = {n: round(ends[n] - starts[n], 1) for n in blocks if n in starts and n in ends and n not in approvals}
    measured: dict[str, Any] = {"detectionSeconds": detection, "decisionSeconds": decision, "stepsSeconds": steps}
    rto = None
    if "answer" in seen and traffic is not None:
        measured["dnsSeconds"] = round(seen["answer"] - traffic, 1)
    if "request" in seen and "answer" in seen:
        measured["firstRequestSeconds"] = round(seen["request"] - seen["answer"], 1)
        rto = round(seen["request"] - switch_start, 1)
    measured["rtoSeconds"] = rto  # approval's end to the first request in the passive region
    measured["resolverCacheSeconds"] = ALIAS_TTL_SECONDS  # stated: resolvers may hold the old answer this long
    result["measuredRto"] = measured
    result["executionId"] = timeline["executionId"]
    return rto


def _misses(result: dict[str, Any], rto: float | None) -> list[str]:
    targets, rpo, measured = result["targets"], result["measuredRpo"], result["measuredRto"]
    misses = []
    if rto is None:
        misses.append("no successful request in the passive region was seen: RTO not measured")
    elif rto + measured["resolverCacheSeconds"] > targets["rtoSeconds"]:
        misses.append(f"RTO {rto:g} s + {measured['resolverCacheSeconds']} s resolver cache > {targets['rtoSeconds']} s")
    lag = rpo.get("replicationLagSeconds", 0)
    if lag is None or lag > targets["rpoRegionLossSeconds"]:
        misses.append(f"replication lag {lag if lag is not None else '(no data)'} s > {targets['rpoRegionLossSeconds']} s")
    copy = rpo.get("newestCopyMinutes", 0)
    if copy is None or copy > targets["rpoRegionLossAndCorruptionMinutes"]:
        misses.append(f"newest copy {copy if copy is not None else '(none)'} min old > "
                      f"{targets['rpoRegionLossAndCorruptionMinutes']} min")
    return misses


def _summary(result: dict[str, Any]) -> str:
    measured, targets, rpo = result["measuredRto"], result["targets"], result["measuredRpo"]
    rto = measured.get("rtoSeconds")
    parts = [f"RTO {rto:g} s measured (+{measured['resolverCacheSeconds']} s resolver cache) vs {targets['rtoSeconds']}"
             f" s target" if rto is not None else "RTO not measured"]
    if "replicationLagSeconds" in rpo:
        parts.append(f"RPO {rpo['replicationLagSeconds']} s replication lag vs {targets['rpoRegionLossSeconds']} s")
    if "newestCopyMinutes" in rpo:
        parts.append(f"newest copy in {result['passiveRegion']} {rpo['newestCopyMinutes']} min old vs "
                     f"{targets['rpoRegionLossAndCorruptionMinutes']} min")
    extra = [f"detection {measured['detectionSeconds']:g} s" if measured.get("detectionSeconds") is not None else None,
             f"decision {measured['decisionSeconds']:g} s" if measured.get("decisionSeconds") else None]
    return "failover: " + ", ".join(parts + [e for e in extra if e])
