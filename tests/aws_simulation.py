"""What AWS computes over time and moto does not: Route53 judging health checks (and publishing
HealthCheckStatus), ARC Region switch executions moving through their steps, and restoring a copied Aurora
snapshot. Each answers through `aws_answers.Answers`, so every request and answer is validated against the
service model; the DR tools under test never see these classes, only boto3 clients.
"""

from __future__ import annotations

import copy
import itertools
from datetime import datetime, timezone
from typing import Any

ROUTE53_REGION = "us-east-1"
# How long the simulated steps take (seconds of the world's clock); tests read results, never these.
PARALLEL_STEP_SECONDS = 180
TRAFFIC_STEP_SECONDS = 30
FLIP_AFTER_SECONDS = 10  # into the traffic step, Route53 answers with the activated region
# Into the parallel step, the Aurora block starts the switchover; RDS finishes it whatever ARC does next (a
# switchover that has begun cannot be cancelled).
WRITER_BEGINS_AFTER_SECONDS = 20
WRITER_MOVE_SECONDS = 100
FAILOVER_SECONDS = 60  # an ungraceful failover: the secondary promoted, what had not replicated lost
REPLICATION_LAG_SECONDS = 15  # how far the secondary trails the writer's commits (a busy moment)
RESTORE_SECONDS = 300


def _at(clock: float) -> datetime:
    return datetime.fromtimestamp(clock, timezone.utc)


class Route53Health:
    """Route53's verdict on the endpoint health checks: an inverted check reads unhealthy after interval x
    threshold seconds (its detection time); each alarm on it fires once it has been unhealthy for the alarm's
    evaluation periods."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.status: dict[str, float] = {}  # health check id -> 1 or 0, once the drill touched it
        self.inverted_at: dict[str, float] = {}
        self.fired: set[str] = set()  # every alarm that ever went into ALARM

    def metric(self, Namespace: str, MetricName: str, Dimensions: list[dict], **_: Any) -> dict | None:
        check = next((d["Value"] for d in Dimensions if d["Name"] == "HealthCheckId"), None)
        if Namespace == "AWS/Route53" and check not in self.status and check in self._plans_checks():
            # The Region switch plan's own checks: healthy for the region it made active (at first, the
            # stack's active one), unhealthy for the other.
            world = self.world
            answering = world.executions.answering or world.outputs["failoverOrder"][0]
            value = 1.0 if self._plans_checks()[check] == answering else 0.0
            return {"Label": MetricName, "Datapoints": [{"Timestamp": _at(world.clock), "Minimum": value,
                                                         "Unit": "None"}]}
        if Namespace != "AWS/Route53" or check not in self.status:
            return None  # moto's data
        return {"Label": MetricName, "Datapoints": [{"Timestamp": _at(self.world.clock), "Minimum": self.status[check],
                                                     "Unit": "None"}]}

    def _plans_checks(self) -> dict[str, str]:
        """The Region switch plan's health checks (moto ids), to their regions."""
        checks = (self.world.outputs.get("regionSwitch") or {}).get("healthCheckIds") or {}
        return {check: region for region, check in checks.items()}

    def advance(self) -> None:
        """AWS's own judgement, so it works on moto's state directly rather than through the API (the DR
        tools' calls still go through botocore): about 2 s less over the drill tests."""
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.core import DEFAULT_ACCOUNT_ID as account
        from moto.route53.models import route53_backends
        world = self.world
        dns = world.stack.dns
        detection = dns.interval_seconds * dns.failure_threshold if dns else 90
        health_checks = route53_backends[account]["global"].health_checks
        alarms = cloudwatch_backends[account][ROUTE53_REGION].alarms
        for region, details in world.outputs["regions"].items():
            check = details.get("healthCheckId")
            if not check:
                continue
            inverted = health_checks[check].inverted
            if inverted:
                self.inverted_at.setdefault(check, world.clock)
            else:
                self.inverted_at.pop(check, None)
            down_for = world.clock - self.inverted_at[check] - detection if inverted else -1.0
            if check in self.status or inverted:
                self.status[check] = 0.0 if down_for >= 0 else 1.0
                for alarm in alarms.values():
                    if (alarm.namespace, alarm.metric_name) != ("AWS/Route53", "HealthCheckStatus") or not any(
                            (d.name, d.value) == ("HealthCheckId", check) for d in alarm.dimensions):
                        continue
                    breached = down_for >= (alarm.evaluation_periods - 1) * alarm.period
                    if breached:
                        self.fired.add(alarm.name)
                    state = "ALARM" if breached else "OK"
                    if alarm.state_value != state:
                        alarm.update_state("simulated Route53 verdict", None, state)

def _api_step(step: dict) -> dict:
    """A workflow step as ARC's API returns it, from the program's (Pulumi's) declaration of it."""
    kind = step["executionBlockType"]
    if kind == "ManualApproval":
        [config] = step["executionApprovalConfigs"]
        block = {"executionApprovalConfig": {"approvalRole": config["approvalRole"]}}
    elif kind == "Parallel":
        [config] = step["parallelConfigs"]
        block = {"parallelConfig": {"steps": [_api_step(inner) for inner in config["steps"]]}}
    elif kind == "EKSResourceScaling":
        [config] = step["eksResourceScalingConfigs"]
        [resource_type] = config["kubernetesResourceTypes"]
        block = {"eksResourceScalingConfig": {"kubernetesResourceType": {
            "apiVersion": resource_type["apiVersion"], "kind": resource_type["kind"]}}}
    elif kind == "AuroraGlobalDatabase":
        [config] = step["globalAuroraConfigs"]
        block = {"globalAuroraConfig": {"behavior": config["behavior"],
                                        "globalClusterIdentifier": config["globalClusterIdentifier"],
                                        "databaseClusterArns": list(config["databaseClusterArns"])}}
    else:
        [config] = step["route53HealthCheckConfigs"]
        block = {"route53HealthCheckConfig": {"hostedZoneId": config["hostedZoneId"],
                                              "recordName": config["recordName"]}}
    return {"name": step["name"], "executionBlockType": kind, "executionBlockConfiguration": block}


class Executions:
    """ARC Region switch executions: idempotent by client token; an approval step waits for its approval;
    then the parallel step, then the traffic step, whose Route53 change makes the name servers answer with the
    activated region."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.items: dict[str, dict] = {}  # execution id -> state
        self.tokens: dict[str, str] = {}
        self.answering: str | None = None  # the region the zone's name servers answer the record with
        self._ids = (f"{n:06d}" for n in itertools.count(1))
        self.fail_step: str | None = None  # a step that fails and fails the execution (tests set it)
        self.pause_step: str | None = None  # a step that fails and pauses the execution, as ARC does
        self.cancel_fault: str | None = None  # "denied": CancelPlanExecution refused; "ignored": no effect
        self.writer: str | None = None  # the region of the global database's writer (seeded with one)
        self.writer_move: tuple[str, float, float] | None = None  # under way: to where, since when, how long
        self.markers: list[tuple[int, float]] = []  # what the writer committed: (seq, when), in order
        self.lost_from: float | None = None  # a failover lost what the writer committed after this moment
        self.triggered: set[str] = set()  # regions the plan's trigger started a switch to

    def handlers(self, region: str) -> dict[str, Any]:
        def start(planArn: str, targetRegion: str, action: str, mode: str = "graceful", comment: str = "",
                  clientToken: str = "", **_: Any) -> dict:
            if clientToken in self.tokens:
                execution = self.items[self.tokens[clientToken]]
            else:
                execution = self._start(planArn, targetRegion, action, mode, comment, region)
                self.tokens[clientToken] = execution["executionId"]
            return {"executionId": execution["executionId"], "plan": planArn, "activateRegion": targetRegion}

        def get(planArn: str, executionId: str, **_: Any) -> dict:
            execution = self.items[executionId]
            return {**self._abbreviated(execution), "stepStates": copy.deepcopy(execution["steps"]),
                    "plan": copy.deepcopy(execution["plan"])}

        def listed(planArn: str, **_: Any) -> dict:
            return {"items": [self._abbreviated(e) for e in self.items.values()]}

        def events(planArn: str, executionId: str, **_: Any) -> dict:
            return {"items": copy.deepcopy(self.items[executionId]["events"])}

        def approve(planArn: str, executionId: str, stepName: str, approval: str, **_: Any) -> dict:
            execution = self.items[executionId]
            step = self._step(execution, stepName)
            assert step["status"] == "pendingApproval" and approval == "approve"
            self._finish(execution, step)
            return {}

        def cancel(planArn: str, executionId: str, **_: Any) -> Any:
            if self.cancel_fault == "denied":
                from botocore.exceptions import ClientError
                return ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized to "
                                              "cancel"}}, "CancelPlanExecution")
            execution = self.items[executionId]
            if self.cancel_fault == "ignored":
                return {}
            for step in execution["steps"]:
                if step["status"] in ("running", "pendingApproval"):
                    step["status"], step["endTime"] = "canceled", _at(self.world.clock)
                    self._event(execution, "stepCanceled", step)
            execution["state"] = "canceled"
            self._event(execution, "executionCanceled")
            return {}

        def update(planArn: str, executionId: str, action: str, **_: Any) -> dict:
            execution = self.items[executionId]
            if action == "switchToUngraceful":
                execution["mode"] = "ungraceful"
                self._event(execution, "executionBehaviorChangedToUngraceful")
            return {}

        return {"StartPlanExecution": start, "GetPlanExecution": get, "ListPlanExecutions": listed,
                "ListPlanExecutionEvents": events, "ApprovePlanExecutionStep": approve,
                "CancelPlanExecution": cancel, "UpdatePlanExecution": update}

    def _start(self, plan_arn: str, target: str, action: str, mode: str, comment: str, region: str) -> dict:
        plan = self.world.plan.of_type("aws:arcregionswitch/plan:Plan")[0].inputs
        [workflow] = [w for w in plan["workflows"] if w["workflowTargetRegion"] == target]
        steps = [_api_step(s) for s in workflow["steps"]]
        api_plan = {**copy.deepcopy(self.world.switch["plan"]), "workflows": [{
            "workflowTargetAction": "activate", "workflowTargetRegion": target, "steps": steps}]}
        execution_id = next(self._ids)
        execution = {"executionId": execution_id, "planArn": plan_arn, "target": target, "mode": mode,
                     "comment": comment, "action": action, "state": "inProgress", "started": self.world.clock,
                     "plan": api_plan, "events": [], "order": [s["name"] for s in steps],
                     "blocks": {s["name"]: s["executionBlockType"] for s in steps},
                     "steps": [{"name": s["name"], "status": "notStarted"} for s in steps], "since": None}
        self.items[execution_id] = execution
        self._event(execution, "executionStarted")
        self._next(execution)
        return execution

    def _abbreviated(self, execution: dict) -> dict:
        return {"planArn": execution["planArn"], "executionId": execution["executionId"],
                "startTime": _at(execution["started"]), "mode": execution["mode"], "comment": execution["comment"],
                "executionState": execution["state"], "executionAction": execution["action"],
                "executionRegion": execution["target"]}

    def _event(self, execution: dict, kind: str, step: dict | None = None) -> None:
        event = {"timestamp": _at(self.world.clock), "type": kind, "eventId": f"{len(execution['events']) + 1}"}
        if step is not None:
            event.update(stepName=step["name"], executionBlockType=execution["blocks"][step["name"]])
        execution["events"].append(event)

    def _step(self, execution: dict, name: str) -> dict:
        return next(s for s in execution["steps"] if s["name"] == name)

    def _next(self, execution: dict) -> None:
        pending = [s for s in execution["steps"] if s["status"] == "notStarted"]
        if not pending:
            execution["state"] = "completed"
            self._event(execution, "executionSucceeded")
            return
        step = pending[0]
        step["startTime"] = _at(self.world.clock)
        execution["since"] = self.world.clock
        if execution["blocks"][step["name"]] == "ManualApproval":
            step["status"], execution["state"] = "pendingApproval", "pendingManualApproval"
            self._event(execution, "stepPendingApproval", step)
        else:
            step["status"], execution["state"] = "running", "inProgress"
            self._event(execution, "stepStarted", step)

    def _finish(self, execution: dict, step: dict) -> None:
        step["status"], step["endTime"] = "completed", _at(self.world.clock)
        self._event(execution, "stepSucceeded", step)
        self._next(execution)

    def describe_global_clusters(self, region: str) -> Any:
        """RDS's answer, with the writer where the switchovers left it."""
        def describe(**params: Any) -> dict:
            answer = self.world._aws("rds", region).describe_global_clusters(**params)
            for cluster in answer["GlobalClusters"]:
                for member in cluster.get("GlobalClusterMembers", []):
                    member["IsWriter"] = member["DBClusterArn"].split(":")[3] == self.writer
            answer.pop("ResponseMetadata", None)
            return answer
        return describe

    def data_api(self, region: str) -> dict[str, Any]:
        """The Data API of the global database's clusters, for the drill's marker stream: writes commit on the
        writer only; a cluster reads what reached it (the writer everything, a secondary what replicated)."""
        from aws_answers import error

        def execute(resourceArn: str, secretArn: str, sql: str, parameters: list | None = None, **_: Any) -> Any:
            self.world._aws("secretsmanager", region).describe_secret(SecretId=secretArn)
            cluster_region = resourceArn.split(":")[3]
            if resourceArn not in self.world.restores.http_enabled:
                return error(None, "BadRequestException", "HttpEndpoint is not enabled", "ExecuteStatement")
            statement = sql.split()[0].upper()
            if statement in ("CREATE", "DROP"):
                return {"numberOfRecordsUpdated": 0} if cluster_region == self.writer else error(
                    None, "DatabaseErrorException", "cannot execute in a read-only transaction", "ExecuteStatement")
            if statement == "INSERT":
                if cluster_region != self.writer or self.writer_move:
                    return error(None, "DatabaseErrorException", "cannot execute INSERT in a read-only transaction",
                                 "ExecuteStatement")
                seq = next(p["value"]["longValue"] for p in parameters or [] if p["name"] == "seq")
                self.markers.append((seq, self.world.clock))
                return {"numberOfRecordsUpdated": 1}
            seen = [seq for seq, when in self.markers if (self.lost_from is None or when <= self.lost_from)
                    and (cluster_region == self.writer or when <= self.world.clock - REPLICATION_LAG_SECONDS)]
            return {"records": [[{"longValue": max(seen)} if seen else {"isNull": True}]],
                    "numberOfRecordsUpdated": 0}
        return {"ExecuteStatement": execute}

    def _trigger(self) -> None:
        """The plan's trigger (staging): the active region's endpoint check red for the configured minutes
        starts the workflow activating the other region, as a person's start would, graceful."""
        world = self.world
        switch = world.stack.dr.region_switch
        if not switch or not switch.automatic_after_minutes:
            return
        for region, details in world.outputs["regions"].items():
            down_since = world.route53_health.inverted_at.get(details.get("healthCheckId"))
            others = [r for r in world.outputs["regions"] if r != region]
            dns = world.stack.dns
            red_after = dns.interval_seconds * dns.failure_threshold if dns else 90
            if down_since is None or len(others) != 1 or others[0] in self.triggered:
                continue
            if world.clock - down_since - red_after >= switch.automatic_after_minutes * 60:
                self.triggered.add(others[0])
                self._start(world.switch["plan"]["arn"], others[0], "activate", "graceful", "triggered",
                            others[0])

    def advance(self) -> None:
        self._trigger()
        if self.writer_move and self.world.clock - self.writer_move[1] >= self.writer_move[2]:
            self.writer, self.writer_move = self.writer_move[0], None
        for execution in self.items.values():
            if execution["state"] != "inProgress":
                continue
            step = next(s for s in execution["steps"] if s["status"] == "running")
            block, elapsed = execution["blocks"][step["name"]], self.world.clock - execution["since"]
            if step["name"] == self.fail_step:
                step["status"], execution["state"] = "failed", "failed"
                self._event(execution, "stepFailed", step)
                self._event(execution, "executionFailed")
                continue
            if step["name"] == self.pause_step:
                step["status"], execution["state"] = "failed", "pausedByFailedStep"
                self._event(execution, "stepFailed", step)
                self._event(execution, "executionPaused")
                continue
            if block == "Parallel" and self.writer is not None and elapsed >= WRITER_BEGINS_AFTER_SECONDS and \
                    self.writer != execution["target"] and not self.writer_move:
                if execution["mode"] == "ungraceful":  # a failover: the secondary as it is, without the lag
                    self.lost_from = self.world.clock - REPLICATION_LAG_SECONDS
                    self.writer_move = (execution["target"], self.world.clock, FAILOVER_SECONDS)
                else:
                    self.writer_move = (execution["target"], self.world.clock, WRITER_MOVE_SECONDS)
            if block == "Route53HealthCheck" and elapsed >= FLIP_AFTER_SECONDS:
                self.answering = execution["target"]
            if elapsed >= (TRAFFIC_STEP_SECONDS if block == "Route53HealthCheck" else PARALLEL_STEP_SECONDS):
                self._finish(execution, step)


class WorldProbes:
    """What clients see, from the world: the zone's name servers answer as the last Region switch left the
    record (the active region before any), and a region's load balancer serves while its cluster runs."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.requests: list[str] = []

    def answering(self) -> str | None:
        return self.world.executions.answering or self.world.outputs["failoverOrder"][0]

    def serves(self, region: str) -> bool:
        self.requests.append(region)
        return True


class Restores:
    """RDS in the passive region restoring a copied Aurora snapshot (moto cannot): the temporary cluster and
    its instance become available after a while; everything else goes to moto."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.clusters: dict[str, dict] = {}
        self.instances: dict[str, dict] = {}
        self.calls: list[str] = []
        self.fail_delete = 0  # deletes that fail before one succeeds (tests set it)
        self.http_enabled: set[str] = set()
        self.answers_one = True  # a restored database answers SELECT 1 with 1 (tests may break it)

    def data_api(self, region: str) -> dict[str, Any]:
        """The Data API of a restored cluster: PostgreSQL answers SELECT 1 once the cluster is available and
        its HTTP endpoint enabled, to a secret that exists in the region."""
        from aws_answers import error

        def execute(resourceArn: str, secretArn: str, sql: str, **_: Any) -> Any:
            self.world._aws("secretsmanager", region).describe_secret(SecretId=secretArn)
            cluster = next((c for c in self.clusters.values() if c["DBClusterArn"] == resourceArn), None)
            if cluster is None or resourceArn not in self.http_enabled:
                return error(None, "HttpEndpointNotEnabledException", "not enabled", "ExecuteStatement")
            assert cluster["Status"] == "available" and sql == "SELECT 1"
            return {"records": [[{"longValue": 1}]] if self.answers_one else [], "numberOfRecordsUpdated": 0}
        return {"ExecuteStatement": execute}

    def handlers(self, region: str) -> dict[str, Any]:
        from aws_answers import error

        def restore(DBClusterIdentifier: str, SnapshotIdentifier: str, Tags: list, **params: Any) -> Any:
            self.calls.append("restore")
            if DBClusterIdentifier in self.clusters:
                return error(None, "DBClusterAlreadyExistsFault", "exists", "RestoreDBClusterFromSnapshot")
            self.clusters[DBClusterIdentifier] = {
                "DBClusterIdentifier": DBClusterIdentifier, "Status": "creating", "TagList": Tags,
                "DBClusterArn": f"arn:aws:rds:{region}:123456789012:cluster:{DBClusterIdentifier}",
                "since": self.world.clock, "source": SnapshotIdentifier, **params}
            return {"DBCluster": self._cluster(DBClusterIdentifier)}

        def create_instance(DBInstanceIdentifier: str, DBClusterIdentifier: str, Tags: list, **_: Any) -> Any:
            if DBInstanceIdentifier in self.instances:
                return error(None, "DBInstanceAlreadyExists", "exists", "CreateDBInstance")
            self.instances[DBInstanceIdentifier] = {"DBInstanceIdentifier": DBInstanceIdentifier, "TagList": Tags,
                                                    "DBClusterIdentifier": DBClusterIdentifier,
                                                    "DBInstanceStatus": "creating"}
            return {"DBInstance": dict(self.instances[DBInstanceIdentifier])}

        def describe_clusters(DBClusterIdentifier: str | None = None, **_: Any) -> dict | None:
            if DBClusterIdentifier is not None and DBClusterIdentifier not in self.clusters:
                return None
            self._settle()
            names = [DBClusterIdentifier] if DBClusterIdentifier else list(self.clusters)
            return {"DBClusters": [self._cluster(n) for n in names]}

        def describe_instances(DBInstanceIdentifier: str | None = None, **_: Any) -> dict:
            self._settle()
            names = [DBInstanceIdentifier] if DBInstanceIdentifier else list(self.instances)
            return {"DBInstances": [dict(self.instances[n]) for n in names]}

        def delete_instance(DBInstanceIdentifier: str, **_: Any) -> dict:
            self.instances[DBInstanceIdentifier]["DBInstanceStatus"] = "deleting"
            return {"DBInstance": dict(self.instances[DBInstanceIdentifier])}

        def delete_cluster(DBClusterIdentifier: str, SkipFinalSnapshot: bool = False, **_: Any) -> Any:
            assert SkipFinalSnapshot
            if self.fail_delete:
                self.fail_delete -= 1
                return error(None, "InvalidDBClusterStateFault", "simulated failure", "DeleteDBCluster")
            self.clusters[DBClusterIdentifier]["Status"] = "deleting"
            return {"DBCluster": self._cluster(DBClusterIdentifier)}

        def enable_http(ResourceArn: str) -> dict:
            self.http_enabled.add(ResourceArn)
            return {"ResourceArn": ResourceArn, "HttpEndpointEnabled": True}

        def disable_http(ResourceArn: str) -> dict:
            self.http_enabled.discard(ResourceArn)
            return {"ResourceArn": ResourceArn, "HttpEndpointEnabled": False}

        endpoints = {"EnableHttpEndpoint": enable_http, "DisableHttpEndpoint": disable_http}
        if region == self.world.outputs["failoverOrder"][0]:
            return endpoints
        return {"RestoreDBClusterFromSnapshot": restore, "CreateDBInstance": create_instance,
                "DescribeDBClusters": describe_clusters, "DescribeDBInstances": describe_instances,
                "DeleteDBInstance": delete_instance, "DeleteDBCluster": delete_cluster, **endpoints}

    def _settle(self) -> None:
        for cluster in self.clusters.values():
            if cluster["Status"] == "creating" and self.world.clock - cluster["since"] >= RESTORE_SECONDS:
                cluster["Status"] = "available"
                for instance in self.instances.values():
                    if instance["DBClusterIdentifier"] == cluster["DBClusterIdentifier"]:
                        instance["DBInstanceStatus"] = "available"

    def _cluster(self, name: str) -> dict:
        cluster = self.clusters[name]
        return {k: v for k, v in cluster.items() if k in ("DBClusterIdentifier", "Status", "TagList", "DBClusterArn")}

    def left(self) -> list[str]:
        return [n for n, c in self.clusters.items() if c["Status"] != "deleting"]
