"""A live-looking AWS in moto, seeded from the offline plan: names, tags, regions and output keys come from
what the program declares, and the stack outputs are the plan's with the ids moto assigned."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from mercur.config import StackConfig
from mercur.offline.synth import Plan, Resource

ROUTE53_REGION = "us-east-1"


class World:
    def __init__(self, plan: Plan, stack: StackConfig, clients: Callable[[str, str], Any]) -> None:
        self.plan, self.stack, self._aws = plan, stack, clients
        # What moto does not cover, answered from this world's state through model-validated clients.
        self.recovery_points: dict[str, list[dict]] = {}  # vault name -> its recovery points
        self.copy_jobs: dict[str, list[dict]] = {}  # source region -> AWS Backup's copy jobs started there
        self.switch: dict[str, Any] = {}  # the Region switch plan, its evaluation and executions
        self._answered: dict[tuple[str, str], Any] = {}
        self.health_check_ids: dict[str, str] = {}  # plan id -> moto id
        from aws_simulation import Executions, Restores, Route53Health
        self.clock = 1_800_000_000.0  # simulated wall-clock seconds: the drill's pace reads and advances it
        self.route53_health = Route53Health(self)
        self.executions = Executions(self)
        self.restores: Restores | None = None
        self.zone_id = ""
        self.outputs: dict[str, Any] = {}

    def client(self, service: str, region: str) -> Any:
        """The client the DR tools get: moto's, or for what moto does not cover (AWS Backup's recovery points,
        ARC Region switch, Route53's published health, restoring a copied Aurora snapshot) one answered from
        this world's state (botocore validates every request and answer against the service model)."""
        handlers = self._handlers(service, region)
        if handlers is None:
            return self._aws(service, region)
        if (service, region) not in self._answered:
            from aws_answers import Answers
            self._answered[service, region] = Answers(service, region, handlers,
                                                      fall_through=service != "arc-region-switch")
        return self._answered[service, region].client

    def _handlers(self, service: str, region: str) -> dict[str, Any] | None:
        if service == "backup":
            return {"ListRecoveryPointsByBackupVault": self._list_recovery_points,
                    "ListCopyJobs": lambda **params: self._list_copy_jobs(region, **params)}
        if service == "arc-region-switch":
            return {"GetPlanInRegion": self._get_plan, "GetPlanEvaluationStatus": self._plan_evaluation,
                    **self.executions.handlers(region)}
        if service == "cloudwatch" and region == ROUTE53_REGION:
            return {"GetMetricStatistics": self.route53_health.metric}
        if service == "rds" and (self.restores is not None or self.executions.writer is not None):
            handlers = {**(self.restores.handlers(region) if self.restores else {}),
                        **({"DescribeGlobalClusters": self.executions.describe_global_clusters(region)}
                           if self.executions.writer is not None else {})}
            if self.restores is not None:
                handlers["DescribeDBClusters"] = self._describe_clusters(region, handlers.get("DescribeDBClusters"))
            return handlers
        if service == "rds-data" and self.restores is not None:
            restored, markers = self.restores.data_api(region)["ExecuteStatement"], \
                self.executions.data_api(region)["ExecuteStatement"]
            return {"ExecuteStatement": lambda resourceArn, **params: (
                restored if any(c["DBClusterArn"] == resourceArn for c in self.restores.clusters.values())
                else markers)(resourceArn=resourceArn, **params)}
        return None

    def _describe_clusters(self, region: str, restored: Any) -> Any:
        """The restored clusters' answer where it has one, else moto's, with the Data API as switched."""
        def describe(**params: Any) -> dict:
            found = restored(**params) if restored else None
            if found is not None:
                return found
            answer = self._aws("rds", region).describe_db_clusters(**params)
            answer.pop("ResponseMetadata", None)
            for cluster in answer["DBClusters"]:
                cluster["HttpEndpointEnabled"] = cluster["DBClusterArn"] in self.restores.http_enabled
            return answer
        return describe

    def _list_copy_jobs(self, region: str, ByResourceArn: str | None = None, ByState: str | None = None,
                        ByCompleteAfter: datetime | None = None, **_: Any) -> dict:
        """AWS Backup's copy jobs that started in `region` (moto has none)."""
        jobs = [j for j in self.copy_jobs.get(region, []) if (ByResourceArn is None or j["ResourceArn"] == ByResourceArn)
                and (ByState is None or j["State"] == ByState)
                and (ByCompleteAfter is None or j.get("CompletionDate", ByCompleteAfter) >= ByCompleteAfter)]
        return {"CopyJobs": copy.deepcopy(jobs)}

    def _list_recovery_points(self, BackupVaultName: str, ByResourceArn: str | None = None, **_: Any) -> dict:
        points = [p for p in self.recovery_points.get(BackupVaultName, [])
                  if ByResourceArn is None or p["ResourceArn"] == ByResourceArn]
        return {"RecoveryPoints": copy.deepcopy(points)}

    def _get_plan(self, arn: str) -> dict:
        assert arn == self.switch["plan"]["arn"], arn
        return {"plan": copy.deepcopy(self.switch["plan"])}

    def _plan_evaluation(self, planArn: str, **_: Any) -> dict:
        return {"planArn": planArn, **copy.deepcopy(self.switch["evaluation"])}

    def seed(self) -> "World":
        for cluster in self.plan.of_type("eks:index:Cluster"):
            self._cluster(cluster)
        for vault in self.plan.of_type("aws:backup/vault:Vault"):
            self.client("backup", vault.region).create_backup_vault(BackupVaultName=vault.inputs["name"])
        for lock in self.plan.of_type("aws:backup/vaultLockConfiguration:VaultLockConfiguration"):
            vault = self.plan.by_id(lock.inputs["backupVaultName"])
            self.client("backup", lock.region).put_backup_vault_lock_configuration(
                BackupVaultName=vault.inputs["name"], MinRetentionDays=lock.inputs["minRetentionDays"],
                MaxRetentionDays=lock.inputs["maxRetentionDays"], ChangeableForDays=lock.inputs["changeableForDays"])
        for policy in self.plan.of_type("aws:dlm/lifecyclePolicy:LifecyclePolicy"):
            self._snapshots(policy)
        self._database()
        self._dns()
        self._platform_alarms()
        self.outputs = self._outputs()
        self._metrics()
        self._backups()
        self._region_switch()
        self._secrets()
        return self

    def advance(self, seconds: float) -> None:
        """Time passes for AWS: Route53 judges the health checks, the Region switch executions move on."""
        self.clock += max(seconds, 1.0)
        self.route53_health.advance()
        self.executions.advance()

    def _secrets(self) -> None:
        """The master secret as Secrets Manager holds it in every region (the home region's, replicated)."""
        name = (self.outputs.get("database") or {}).get("masterSecretName")
        if not name:
            return
        from aws_simulation import Restores
        self.restores = Restores(self)
        for region in self.outputs["regions"]:
            self.client("secretsmanager", region).create_secret(Name=name, SecretString='{"username": "mercur_admin"}')

    def _metrics(self) -> None:
        """What CloudWatch holds: every endpoint healthy (HealthCheckStatus 1), secondaries 200 ms behind."""
        now = datetime.now(timezone.utc)
        for region, details in self.outputs["regions"].items():
            if details.get("healthCheckId"):
                self.client("cloudwatch", ROUTE53_REGION).put_metric_data(Namespace="AWS/Route53", MetricData=[{
                    "MetricName": "HealthCheckStatus", "Value": 1, "Timestamp": now - timedelta(minutes=1),
                    "Dimensions": [{"Name": "HealthCheckId", "Value": details["healthCheckId"]}]}])
            if details.get("database") and region != self.outputs["failoverOrder"][0]:
                self.client("cloudwatch", region).put_metric_data(Namespace="AWS/RDS", MetricData=[{
                    "MetricName": "AuroraGlobalDBReplicationLag", "Value": 200, "Unit": "Milliseconds",
                    "Timestamp": now - timedelta(minutes=1),
                    "Dimensions": [{"Name": "DBClusterIdentifier", "Value": details["database"]["clusterId"]}]}])

    def _backups(self) -> None:
        """What the backup plans did an hour ago: a recovery point of each Aurora cluster in its vault, and its
        copy in the peer's vault."""
        taken = datetime.now(timezone.utc) - timedelta(hours=1)
        vaults = {r: d["backupVaultArn"].rsplit(":", 1)[1] for r, d in self.outputs["regions"].items()}
        for region, details in self.outputs["regions"].items():
            if not details.get("database"):
                continue
            arn = details["database"]["clusterArn"]
            if details.get("backupCopiesTo"):  # the copy of that recovery point: 40 minutes, queueing included
                self.copy_jobs.setdefault(region, []).append({
                    "CopyJobId": f"copy-{region}", "ResourceArn": arn, "ResourceType": "Aurora", "State": "COMPLETED",
                    "CreationDate": taken, "CompletionDate": taken + timedelta(minutes=40),
                    "DestinationBackupVaultArn": self.outputs["regions"][details["backupCopiesTo"]]["backupVaultArn"]})
            for place in filter(None, (region, details.get("backupCopiesTo"))):
                self.recovery_points.setdefault(vaults[place], []).append({
                    "RecoveryPointArn": f"arn:aws:rds:{place}:123456789012:cluster-snapshot:awsbackup-{region}",
                    "ResourceArn": arn, "ResourceType": "Aurora", "Status": "COMPLETED", "CreationDate": taken,
                    "BackupVaultName": vaults[place]})

    def _region_switch(self) -> None:
        """The plan as ARC returns it, evaluated without warnings."""
        plans = self.plan.of_type("aws:arcregionswitch/plan:Plan")
        if not plans:
            return
        inputs = plans[0].inputs
        self.switch = {
            "plan": {"arn": self.outputs["regionSwitch"]["planArn"], "name": inputs["name"],
                     "executionRole": inputs["executionRole"], "recoveryApproach": inputs["recoveryApproach"],
                     "regions": inputs["regions"], "owner": "123456789012", "version": "1",
                     "workflows": [{"workflowTargetAction": w["workflowTargetAction"],
                                    "workflowTargetRegion": w["workflowTargetRegion"]} for w in inputs["workflows"]]},
            "evaluation": {"evaluationState": "passed", "warnings": [], "region": ROUTE53_REGION},
            "executions": [],
        }

    def _cluster(self, cluster: Resource) -> None:
        self.client("eks", cluster.region).create_cluster(
            name=cluster.inputs["name"], version=cluster.inputs["version"],
            roleArn="arn:aws:iam::123456789012:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": cluster.inputs["privateSubnetIds"]})

    def _database(self) -> None:
        """The global cluster, each region's cluster in it (the first region's creating it), and what AWS
        Backup does for each: a cluster snapshot in its region, copied to the peer's under the peer's key."""
        clusters = {c.region: c for c in self.plan.of_type("aws:rds/cluster:Cluster")}
        if not clusters:
            return
        order = self.plan.outputs["failoverOrder"]
        [global_cluster] = self.plan.of_type("aws:rds/globalCluster:GlobalCluster") or [None]
        if global_cluster:
            self.client("rds", order[0]).create_global_cluster(
                GlobalClusterIdentifier=global_cluster.inputs["globalClusterIdentifier"],
                Engine=global_cluster.inputs["engine"], EngineVersion=global_cluster.inputs["engineVersion"],
                StorageEncrypted=True)
        keys = {region: self.client("kms", region).create_key()["KeyMetadata"]["Arn"] for region in clusters}
        snapshots = {}
        for region in order:
            inputs = clusters[region].inputs
            # moto restores a snapshot by copying its source cluster's settings, password included: every seeded
            # cluster gets one (AWS would refuse it on a secondary; the plan declares it on the primary only).
            credentials = {"MasterUsername": inputs.get("masterUsername", "mercur_admin"),
                           "MasterUserPassword": "seeded-" * 3}
            extra = {"GlobalClusterIdentifier": inputs["globalClusterIdentifier"]} \
                if inputs.get("globalClusterIdentifier") else {}
            rds = self.client("rds", region)
            rds.create_db_cluster(DBClusterIdentifier=inputs["clusterIdentifier"], Engine=inputs["engine"],
                                  EngineVersion=inputs["engineVersion"], StorageEncrypted=True, KmsKeyId=keys[region],
                                  **credentials, **extra)
            snapshots[region] = rds.create_db_cluster_snapshot(
                DBClusterSnapshotIdentifier=f"awsbackup-{inputs['clusterIdentifier']}",
                DBClusterIdentifier=inputs["clusterIdentifier"])["DBClusterSnapshot"]["DBClusterSnapshotArn"]
        for region, details in self.plan.outputs["regions"].items():
            peer = details.get("backupCopiesTo")
            if peer and region in snapshots:
                self.client("rds", peer).copy_db_cluster_snapshot(
                    SourceDBClusterSnapshotIdentifier=snapshots[region], SourceRegion=region, KmsKeyId=keys[peer],
                    TargetDBClusterSnapshotIdentifier=f"awsbackup-copy-{clusters[region].inputs['clusterIdentifier']}")
        if global_cluster:  # last: the RDS clients seeding made are moto's own, not the simulation's
            self.executions.writer = order[0]  # the cluster that creates it writes until a switch moves it

    def _snapshots(self, policy: Resource) -> None:
        """What DLM does: snapshot the tagged volumes, tag them, copy them (with tags) to the peer region."""
        details = policy.inputs["policyDetails"]
        [schedule] = details["schedules"]
        ec2 = self.client("ec2", policy.region)
        zone = self.plan.outputs["regions"][policy.region]["availabilityZones"][0]
        volume = ec2.create_volume(AvailabilityZone=zone, Size=20, VolumeType="gp3", Encrypted=True,
                                   TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(details["targetTags"])}])
        tags = {**details["targetTags"], **schedule.get("tagsToAdd", {})}
        snapshot = ec2.create_snapshot(VolumeId=volume["VolumeId"], TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": _tags(tags)}])
        for rule in schedule.get("crossRegionCopyRules") or []:
            peer = self.client("ec2", rule["target"])
            copied = peer.copy_snapshot(SourceSnapshotId=snapshot["SnapshotId"], SourceRegion=policy.region,
                                        Encrypted=rule["encrypted"], KmsKeyId=rule["cmkArn"])
            peer.create_tags(Resources=[copied["SnapshotId"]], Tags=_tags(tags))

    def _dns(self) -> None:
        route53 = self.client("route53", ROUTE53_REGION)
        if not self.stack.dns:
            return
        self.zone_id = route53.create_hosted_zone(Name=self.stack.dns.zone, CallerReference="seed")[
            "HostedZone"]["Id"].rsplit("/", 1)[-1]
        for check in self.plan.of_type("aws:route53/healthCheck:HealthCheck"):
            created = route53.create_health_check(CallerReference=check.name, HealthCheckConfig={
                "Type": check.inputs["type"], "FullyQualifiedDomainName": check.inputs["fqdn"],
                "Port": check.inputs["port"], "ResourcePath": check.inputs["resourcePath"],
                "RequestInterval": check.inputs["requestInterval"],
                "FailureThreshold": check.inputs["failureThreshold"]})
            self.health_check_ids[check.id] = created["HealthCheck"]["Id"]
        changes = [{"Action": "CREATE", "ResourceRecordSet": self._record(r)}
                   for r in self.plan.of_type("aws:route53/record:Record")]
        route53.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={"Changes": changes})
        cloudwatch = self.client("cloudwatch", ROUTE53_REGION)
        for alarm in self.plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
            inputs = alarm.inputs
            # Every alarm on an endpoint health check: the detection alarm, and where the plan switches by
            # itself, its trigger alarm (the same check, red for longer).
            if inputs.get("namespace") != "AWS/Route53" or inputs["dimensions"]["HealthCheckId"] not in self.health_check_ids:
                continue
            cloudwatch.put_metric_alarm(
                AlarmName=inputs["name"], Namespace=inputs["namespace"], MetricName=inputs["metricName"],
                Dimensions=[{"Name": "HealthCheckId",
                             "Value": self.health_check_ids[inputs["dimensions"]["HealthCheckId"]]}],
                Statistic=inputs["statistic"], Period=inputs["period"], EvaluationPeriods=inputs["evaluationPeriods"],
                Threshold=inputs["threshold"], ComparisonOperator=inputs["comparisonOperator"],
                TreatMissingData=inputs["treatMissingData"], AlarmActions=inputs.get("alarmActions") or [])

    def _platform_alarms(self) -> None:
        """The regions' own alarms (apps, database, NAT, keeper), in their regions, as the plan declares them:
        straight into moto's CloudWatch (what PutMetricAlarm stores; its HTTP round trip cost a second of the
        suite for some seventy alarms a world)."""
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.core import DEFAULT_ACCOUNT_ID
        for alarm in self.plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
            inputs = alarm.inputs
            if inputs.get("namespace") == "AWS/Route53":
                continue
            # A metric math alarm (its queries are not what `dr check` reads) is stored with its name and state.
            cloudwatch_backends[DEFAULT_ACCOUNT_ID][alarm.region].put_metric_alarm(
                name=inputs["name"], namespace=inputs.get("namespace", ""), metric_name=inputs.get("metricName", ""),
                comparison_operator=inputs["comparisonOperator"], evaluation_periods=inputs["evaluationPeriods"],
                period=inputs.get("period", 60), threshold=inputs["threshold"], statistic=inputs.get("statistic"),
                extended_statistic=inputs.get("extendedStatistic"),
                description=inputs.get("alarmDescription", ""),
                dimensions=[{"Name": k, "Value": str(v)} for k, v in (inputs.get("dimensions") or {}).items()],
                alarm_actions=inputs.get("alarmActions") or [], treat_missing_data=inputs["treatMissingData"])

    def _record(self, record: Resource) -> dict[str, Any]:
        inputs = record.inputs
        [alias] = inputs["aliases"]
        nested = alias["zoneId"] == self.plan.outputs["hostedZoneId"]
        body: dict[str, Any] = {"Name": inputs["name"], "Type": inputs["type"], "AliasTarget": {
            "HostedZoneId": self.zone_id if nested else alias["zoneId"], "DNSName": alias["name"],
            "EvaluateTargetHealth": alias["evaluateTargetHealth"]}}
        if inputs.get("failoverRoutingPolicies"):
            body.update(SetIdentifier=inputs["setIdentifier"], Failover=inputs["failoverRoutingPolicies"][0]["type"])
        if inputs.get("healthCheckId"):
            body["HealthCheckId"] = self._check_id(inputs["healthCheckId"])
        return body

    def _check_id(self, plan_id: str) -> str:
        """moto's id for a health check of the plan: the Region switch plan's own checks (ARC creates them; in
        moto they are stand-ins) are made on first use."""
        if plan_id not in self.health_check_ids:
            created = self.client("route53", ROUTE53_REGION).create_health_check(
                CallerReference=plan_id, HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName":
                                                            "region-switch.invalid", "Port": 443})
            self.health_check_ids[plan_id] = created["HealthCheck"]["Id"]
        return self.health_check_ids[plan_id]

    def _outputs(self) -> dict[str, Any]:
        """`pulumi stack output --json` as it would read after a real `up`: the plan's, with the cloud's ids."""
        outputs = copy.deepcopy(self.plan.outputs)
        for details in outputs["regions"].values():
            if "healthCheckId" in details:
                details["healthCheckId"] = self.health_check_ids[details["healthCheckId"]]
        if "hostedZoneId" in outputs:
            outputs["hostedZoneId"] = self.zone_id
        if "regionSwitch" in outputs:
            checks = outputs["regionSwitch"]["healthCheckIds"]
            outputs["regionSwitch"]["healthCheckIds"] = {r: self._check_id(i) for r, i in checks.items()}
        return outputs

    def health_check(self, region: str) -> dict[str, Any]:
        check_id = self.outputs["regions"][region]["healthCheckId"]
        return self.client("route53", ROUTE53_REGION).get_health_check(HealthCheckId=check_id)["HealthCheck"]


def _tags(mapping: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in mapping.items()]
