"""The unplanned-loss drill (`dr drill staging --kind ungraceful`): the active region made to fail as its users
would see it, the plan run as configured (its trigger, or a person's start) and switched to ungraceful, and
both objectives measured from the moment of failure — then everything put back.

- The data: a marker stream, one row a poll, written to the writer through the RDS Data API as the master
  user (the replicated secret), from before the failure until the ungraceful failover takes the writer away
  (its writes are then refused). The new writer's newest marker says what arrived. RPO = the time between the
  last marker committed and the newest one that arrived (0 when none is missing). The drill cannot make
  Aurora's storage fail with the region: the writer keeps taking writes until the failover, so what is
  measured is what the failover itself loses — the replication lag at that moment, what a real loss costs.
- The failure: the active region's endpoint health check inverted, so Route53, its alarm and the plan's
  trigger see the region down. RTO = from that moment to the first successful request in the other region.
- The switch: the trigger's execution (where the stack file sets `automaticAfterMinutes`), else one the drill
  starts; either is switched to ungraceful at once, as the runbook says for a real loss.

Every change is in the ledger before its call (Data API switched on, the marker table, the inverted check,
the switch), so an interrupted drill is restored, or loudly not, as the planned one is.
"""

from __future__ import annotations

from typing import Any, Mapping

from .aws import ROUTE53_REGION, aware, writer_region
from .drill import Context, DrillFailed, Undo
from .failover import SERVICE, Switch, _comment, _executions, _set_inverted, preflight as switch_preflight

TABLE = "mercur_drill_markers"
STREAM_SECONDS = 60  # markers written before the failure


def preflight(context: Context) -> list[str]:
    outputs, stack = context.outputs, context.stack
    problems = switch_preflight(context)
    if stack.is_production:
        problems.append("global unplanned-loss drill: not in prod (it fails over ungracefully and may lose data)")
    if not outputs.global_cluster_id or not outputs.master_secret_name:
        problems.append(f"global unplanned-loss drill: {stack.stack} has no global database to measure its RPO on")
    return problems


class Markers:
    """The marker stream, through the Data API of a region's cluster, as the master user."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.written: list[tuple[int, float]] = []  # (seq, when) of each committed write
        self.stopped = False

    def _data(self, region: str) -> tuple[Any, str, str]:
        outputs = self.context.outputs
        cluster = outputs.regions[region]
        secret = self.context.clients("secretsmanager", region).describe_secret(
            SecretId=outputs.master_secret_name)["ARN"]
        return self.context.clients("rds-data", region), str(cluster.database_cluster_arn), secret

    def execute(self, region: str, sql: str, **parameters: int) -> dict:
        data, cluster_arn, secret = self._data(region)
        return data.execute_statement(resourceArn=cluster_arn, secretArn=secret, database="postgres", sql=sql,
                                      parameters=[{"name": name, "value": {"longValue": value}}
                                                  for name, value in parameters.items()])

    def enable(self, region: str) -> None:
        """The Data API on the region's cluster, switched off again by the undo unless it was on already."""
        outputs, context = self.context.outputs, self.context
        cluster = outputs.regions[region]
        rds = context.clients("rds", region)
        [found] = rds.describe_db_clusters(DBClusterIdentifier=cluster.database_cluster_id)["DBClusters"]
        if found.get("HttpEndpointEnabled"):
            return
        context.ledger.record(f"the Data API switched on for {cluster.database_cluster_id} in {region}",
                              {"kind": "data-api-on", "region": region, "clusterArn": str(cluster.database_cluster_arn)})
        rds.enable_http_endpoint(ResourceArn=str(cluster.database_cluster_arn))

    def stream(self, region: str, seconds: float) -> None:
        pace = self.context.pace
        end = pace.clock() + seconds
        while pace.clock() < end:
            self.write(region)
            pace.sleep(pace.poll_seconds)

    def write(self, region: str) -> None:
        seq = len(self.written) + 1
        self.execute(region, f"INSERT INTO {TABLE} (seq) VALUES (:seq)", seq=seq)
        self.written.append((seq, self.context.pace.clock()))

    def keep_writing(self, region: str) -> None:
        """One more marker, until the writer is taken away (the failover): a refused write ends the stream."""
        from botocore.exceptions import BotoCoreError, ClientError
        if self.stopped:
            return
        try:
            self.write(region)
        except (ClientError, BotoCoreError):
            self.stopped = True

    def newest(self, region: str) -> int | None:
        record = self.execute(region, f"SELECT max(seq) FROM {TABLE}")["records"][0][0]
        return None if record.get("isNull") else int(record["longValue"])


def _data_api_off(context: Context, undo: Mapping[str, str]) -> None:
    context.clients("rds", undo["region"]).disable_http_endpoint(ResourceArn=undo["clusterArn"])


def _data_api_still_on(context: Context, undo: Mapping[str, str]) -> list[tuple[str, str]]:
    cluster_id = undo["clusterArn"].rsplit(":", 1)[1]
    [found] = context.clients("rds", undo["region"]).describe_db_clusters(
        DBClusterIdentifier=cluster_id)["DBClusters"]
    return [(f"the Data API on {cluster_id}", _data_api_by_hand(undo))] if found.get("HttpEndpointEnabled") else []


def _data_api_by_hand(undo: Mapping[str, str]) -> str:
    return f"aws rds disable-http-endpoint --region {undo['region']} --resource-arn {undo['clusterArn']}"


def _drop_markers(context: Context, undo: Mapping[str, str]) -> None:
    """On whichever cluster writes now (a dropped table replicates)."""
    writer = writer_region(context.clients("rds", undo["region"]), context.outputs.global_cluster_id or "")
    if writer is None:
        raise DrillFailed("no writer to drop the marker table on (a switchover under way?)")
    Markers(context).execute(writer, f"DROP TABLE IF EXISTS {TABLE}")


def _trigger_quiet(context: Context, undo: Mapping[str, str]) -> None:
    """Once the check is back: wait until no trigger alarm is in ALARM (none can fire any more), then switch
    back from whatever execution towards `region` started since the failure, the trigger's included."""
    from .check import detection_alarms
    cloudwatch = context.clients("cloudwatch", ROUTE53_REGION)
    alarms = [a["AlarmName"] for a in detection_alarms(cloudwatch, undo["checkId"])
              if not a["AlarmName"].endswith("-unhealthy")]  # the plan's trigger alarms, not the page
    if alarms:
        context.pace.wait("the plan's trigger alarm back to OK", lambda: all(
            a["StateValue"] != "ALARM" for a in cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"]))
    for switch in _since(context, undo):
        switch.back()


def _started_since(context: Context, plan_arn: str, region: str, since: float) -> list[str]:
    """Every execution activating `region` started since `since` (epoch seconds), whoever started it."""
    return [e["executionId"] for e in _executions(context, region, plan_arn)
            if e.get("executionRegion") == region and aware(e["startTime"]).timestamp() >= since]


def _since(context: Context, undo: Mapping[str, str]) -> list[Switch]:
    started = _started_since(context, undo["planArn"], undo["region"], float(undo["since"]))
    return [Switch(context, undo["region"], undo["target"], undo["planArn"], frozenset([eid])) for eid in started]


def _trigger_left(context: Context, undo: Mapping[str, str]) -> list[tuple[str, str]]:
    return [item for switch in _since(context, undo) for item in switch.left_over()]


UNDO = {
    "trigger-may-fire": Undo(("planArn", "region", "target", "checkId", "since"), _trigger_quiet, lambda undo: (
        f"aws arc-region-switch list-plan-executions --region {undo['region']} --plan-arn {undo['planArn']} "
        f"(cancel, or switch back from, any started since the drill)"), _trigger_left),
    "data-api-on": Undo(("region", "clusterArn"), _data_api_off, _data_api_by_hand, _data_api_still_on),
    "marker-table": Undo(("region",), _drop_markers, lambda undo: (
        f"DROP TABLE IF EXISTS {TABLE} (psql on the writer, as the master user)"), lambda context, undo: [
        (f"the table {TABLE} on the writer", f"DROP TABLE IF EXISTS {TABLE} (psql on the writer)")]),
}


def run(context: Context, result: dict[str, Any]) -> None:
    stack, outputs, pace = context.stack, context.outputs, context.pace
    active, passive = outputs.active, outputs.passive[0]
    result.update(activeRegion=active.name, passiveRegion=passive.name, kind="ungraceful",
                  targets={"rtoSeconds": round(stack.dr.rto_minutes * 60),
                           "rpoRegionLossSeconds": stack.dr.rpo.region_loss * 60})
    markers = Markers(context)
    for region in (active.name, passive.name):
        markers.enable(region)
    context.ledger.record(f"the table {TABLE} on the writer", {"kind": "marker-table", "region": passive.name})
    markers.execute(active.name, f"CREATE TABLE IF NOT EXISTS {TABLE} (seq bigint PRIMARY KEY, "
                                 "written timestamptz NOT NULL DEFAULT now())")
    pace.progress(f"writing markers to {active.name}'s writer for {STREAM_SECONDS} s")
    markers.stream(active.name, STREAM_SECONDS)

    # The failure, as users see it: the endpoint fails its health check. Markers go on until the failover.
    check_id = str(active.health_check_id)
    if stack.dr.region_switch and stack.dr.region_switch.automatic_after_minutes:
        # Before the check fails: from then on the trigger may start a switch at any moment, even after the
        # drill stops, so its undo waits for the trigger alarm to clear and switches back from what it started.
        context.ledger.record(f"the plan's trigger may switch to {passive.name} (the drill fails {active.name})",
                              {"kind": "trigger-may-fire", "planArn": str(outputs.switch_plan_arn),
                               "region": passive.name, "target": active.name, "checkId": check_id,
                               "since": str(pace.clock())})
    inverted = context.ledger.record(f"{active.name}'s endpoint health check {check_id} inverted (the region made "
                                     "to fail)", {"kind": "health-check-inverted", "checkId": check_id})
    failed_at = pace.clock()
    pace.progress(f"{active.name} fails now: its health check inverted (the detection alarm pages: the drill)")
    _set_inverted(context.clients("route53", ROUTE53_REGION), check_id, True)

    switch, execution_id = _switch(context, active.name, passive.name, failed_at,
                                   lambda: markers.keep_writing(active.name))
    seen: dict[str, float] = {}
    probes = context.probes

    def observe(_execution: dict, _blocks: dict) -> None:
        markers.keep_writing(active.name)
        if probes is None:
            return
        if "answer" not in seen and probes.answering() == passive.name:
            seen["answer"] = pace.clock()
        if "answer" in seen and "request" not in seen and probes.serves(passive.name):
            seen["request"] = pace.clock()
    switch._follow(passive.name, execution_id, observe)
    if probes is not None:
        seen.setdefault("request", pace.wait(f"a successful request in {passive.name}", lambda: (
            probes.answering() == passive.name and probes.serves(passive.name) and pace.clock())))
    rto = round(seen["request"] - failed_at, 1) if "request" in seen else None

    pace.wait(f"the writer in {passive.name}", lambda: writer_region(
        context.clients("rds", passive.name), outputs.global_cluster_id or "") == passive.name)
    newest = markers.newest(passive.name) or 0
    last_seq, last_at = markers.written[-1]  # the last marker the old writer committed
    arrived_at = next((when for seq, when in markers.written if seq == newest), None)
    rpo = 0.0 if newest >= last_seq else round(last_at - (arrived_at if arrived_at is not None else failed_at), 1)
    result["measuredRto"] = {"rtoSeconds": rto, "fromFailureToAnswerSeconds":
                             round(seen["answer"] - failed_at, 1) if "answer" in seen else None,
                             "executionId": execution_id}
    result["measuredRpo"] = {"rpoSeconds": rpo, "markersWritten": last_seq, "markersArrived": newest}
    pace.progress(f"{passive.name} serves {rto} s after the failure; {last_seq - newest} of {last_seq} markers lost "
                  f"({rpo:g} s)")

    context.ledger.settle(inverted)  # the region comes back
    pace.progress(f"switching back to {active.name} (graceful)")
    for change in reversed(context.ledger.changes):
        if not change.restored:
            context.ledger.settle(change)
    misses = [*([f"RTO {rto} s > {result['targets']['rtoSeconds']} s"] if rto is None or
                rto > result["targets"]["rtoSeconds"] else []),
              *([f"RPO {rpo} s > {result['targets']['rpoRegionLossSeconds']} s"]
                if rpo > result["targets"]["rpoRegionLossSeconds"] else [])]
    result["verdict"] = "fail" if misses else "pass"
    if misses:
        result["missed"] = misses
    shown = "not measured" if rto is None else f"{rto:g} s"
    result["summary"] = (f"unplanned loss: RTO {shown} from the failure vs {result['targets']['rtoSeconds']} s, RPO "
                         f"{rpo:g} s ({last_seq - newest} of {last_seq} markers lost) vs "
                         f"{result['targets']['rpoRegionLossSeconds']} s")


def _switch(context: Context, active: str, passive: str, failed_at: float,
            meanwhile: Any) -> tuple[Switch, str]:
    """The switch to `passive`, ungraceful: the one the plan's trigger starts, or one the drill starts as a
    person would. Recorded before it is started (or, for the trigger's, as soon as it is seen)."""
    stack, outputs, pace = context.stack, context.outputs, context.pace
    plan_arn = str(outputs.switch_plan_arn)
    arc = context.clients(SERVICE, passive)
    automatic = stack.dr.region_switch.automatic_after_minutes if stack.dr.region_switch else None
    if automatic:
        dns = stack.dns
        detection = dns.interval_seconds * dns.failure_threshold if dns else 90
        pace.progress(f"waiting for the plan's trigger ({automatic} min red after detection)")

        def started() -> str | None:
            meanwhile()
            fresh = _started_since(context, plan_arn, passive, failed_at)
            return fresh[0] if fresh else None
        # Its own bound (the trigger's minutes are not a step's): detection, the minutes red, ARC's evaluation.
        execution_id = pace.wait("the trigger starts the switch", started,
                                 own_bound=detection + automatic * 60 + 300)
        context.ledger.record(f"{passive} made active by the plan's trigger (execution {execution_id})",
                              {"kind": "trigger-switch-back", "planArn": plan_arn, "region": passive,
                               "target": active, "executionId": execution_id})
        switch = Switch(context, passive, active, plan_arn, frozenset([execution_id]))
    else:
        context.ledger.record(f"{passive} made active by the Region switch plan, ungraceful",
                              {"kind": "switch-back", "planArn": plan_arn, "region": passive, "target": active})
        switch = Switch(context, passive, active, plan_arn)
        execution_id = arc.start_plan_execution(planArn=plan_arn, targetRegion=passive, action="activate",
                                                mode="ungraceful", comment=_comment(context),
                                                clientToken=f"{context.drill_id}-unplanned")["executionId"]
    arc.update_plan_execution(planArn=plan_arn, executionId=execution_id, action="switchToUngraceful",
                              comment=_comment(context))
    pace.progress(f"execution {execution_id} to {passive} switched to ungraceful, as for a real loss")
    return switch, execution_id
