"""The data tier: an Aurora PostgreSQL global database, one regional cluster per region.

`GlobalDatabase` (once per stack, through the global provider so that reordering the regions moves nothing)
holds the global cluster and generates the master password; `RegionalDatabase` (in each Region) holds that
region's key, network access, cluster, instances, master secret, the apps' `rds-db:connect` grants and the
replication-lag alarm. The writer starts in the active region; a switchover (ARC Region switch) moves it
without a deploy, and the apps follow through the global writer endpoint.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import pulumi
import pulumi_aws as aws

from ..config import AlertsConfig, AppConfig, DatabaseConfig
from .failover import subscribe
from . import rpo_keeper_handler
from .rpo_keeper import RpoKeeper
from .runtime_state import (AURORA_ENGINE_VERSION, AURORA_MASTER_CREDENTIALS, AURORA_REPLICATION, AURORA_RPO_BOUND,
                            ignored)
from .keys import PUBLISH_ENCRYPTED, from_account, key_policy, service_statement

ENGINE = "aurora-postgresql"
PORT = 5432
MASTER_USER = "mercur_admin"
PASSWORD_LENGTH = 40
PASSWORD_KINDS = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
PASSWORD_ALPHABET = "".join(PASSWORD_KINDS)
LOG_EXPORTS = ("postgresql",)
LAG_METRIC = "AuroraGlobalDBReplicationLag"  # milliseconds, reported by each secondary cluster
RPO_PARAMETER = rpo_keeper_handler.PARAMETER
RPO_LAG_METRIC = rpo_keeper_handler.METRIC  # milliseconds: what rds.global_db_rpo is held against
BACKUP_WINDOW = "03:00-04:00"  # UTC, before the AWS Backup plans' 05:00 restore tests
MAINTENANCE_WINDOW = "sun:04:30-sun:05:30"
SECRETS_MANAGER_READ = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")


def new_password(length: int = PASSWORD_LENGTH) -> str:
    """Letters and digits from the OS's CSPRNG, each kind at least once (PostgreSQL and psql's connection
    strings take them unquoted)."""
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))
        if all(any(c in kind for c in password) for kind in PASSWORD_KINDS):
            return password


def master_secret_name(label: str) -> str:
    return f"{label}/database/master"


def database_key_policy(partition: str, account: str, region: str) -> str:
    """RDS and Secrets Manager use it through their own grants (the account's IAM policies decide who may
    read); CloudWatch alarms publish to the database's encrypted alert topic with it."""
    policy = json.loads(key_policy(partition, account, sid="CloudWatchPublishesDatabaseAlarms",
                                   service="cloudwatch.amazonaws.com", actions=PUBLISH_ENCRYPTED,
                                   condition=from_account(account)))
    return json.dumps(policy)


def connect_policy(partition: str, region: str, account: str, cluster_resource_id: str, user: str) -> str:
    """IAM authentication as one database user on one regional cluster (the app's role gets one per region)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "ConnectAsItsOwnUser", "Effect": "Allow", "Action": "rds-db:connect",
        "Resource": f"arn:{partition}:rds-db:{region}:{account}:dbuser:{cluster_resource_id}/{user}"}]})


def read_master_secret_policy(partition: str, account: str, region: str, secret_name: str, key_arn: str,
                              global_cluster: str | None = None) -> str:
    """The database Job reads the master secret's copy in its region, decrypting through Secrets Manager only
    (a secret's ARN ends in six random characters, the same for its replicas), and asks its region's RDS
    where the global database's writer is."""
    find_writer = [{"Sid": "FindTheWriter", "Effect": "Allow", "Action": "rds:DescribeGlobalClusters",
                    "Resource": f"arn:{partition}:rds::{account}:global-cluster:{global_cluster}"}] \
        if global_cluster else []
    return json.dumps({"Version": "2012-10-17", "Statement": [*find_writer,
        {"Sid": "ReadTheMasterSecret", "Effect": "Allow", "Action": list(SECRETS_MANAGER_READ),
         "Resource": f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret_name}-??????"},
        {"Sid": "DecryptThroughSecretsManager", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn,
         "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}},
    ]})


class GlobalDatabase(pulumi.ComponentResource):
    """The global cluster (multi-region stacks) and the generated master password."""

    def __init__(self, name: str, *, database: DatabaseConfig, label: str, multi_region: bool, protect: bool,
                 provider: aws.Provider, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:database:GlobalDatabase", name, None, opts)
        self.identifier = label
        # Generated here at every run (no AWS call: a run needs no region to answer); it is sent only when
        # passwordVersion changes (the `_wo` arguments are write-only: kept neither in the state nor in the plan).
        self.password = pulumi.Output.secret(new_password())
        self.cluster = aws.rds.GlobalCluster(
            f"{name}-global", global_cluster_identifier=label, engine=ENGINE,
            engine_version=database.engine_version, storage_encrypted=True, deletion_protection=protect,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, protect=protect)) if multi_region else None
        self.writer_endpoint = self.cluster.endpoint if self.cluster else None
        # The master secret's write of this run, which the database Jobs wait for. The Jobs are declared in the
        # Regions, before the secret (it needs every region's key): MasterSecret resolves this once declared,
        # and `settle_secret_write` fails it if the run never got there (otherwise the SDK would wait forever).
        written: tuple[pulumi.Output[pulumi.Resource], Callable[[pulumi.Output[pulumi.Resource]], None]] = \
            pulumi.deferred_output()
        self.secret_written, self._resolve_secret_written = written
        self._secret_declared = False
        self.register_outputs({"globalClusterId": label})

    def secret_declared(self, version: aws.secretsmanager.SecretVersion) -> None:
        self._resolve_secret_written(pulumi.Output.from_input(version))
        self._secret_declared = True

    def settle_secret_write(self) -> None:
        """Called once the program declared everything: what waits on an undeclared secret fails."""
        if not self._secret_declared:
            self._resolve_secret_written(pulumi.Output.from_input(_undeclared_secret()))
            self._secret_declared = True


async def _undeclared_secret() -> pulumi.Resource:
    raise RuntimeError("the master secret was never declared: the database Jobs cannot run")


@dataclass(frozen=True)
class Home:
    """The cluster that created the global database (the others join it once it runs)."""

    cluster: aws.rds.Cluster
    instances: Sequence[aws.rds.ClusterInstance]


class MasterSecret(pulumi.ComponentResource):
    """The master credentials in the home region's Secrets Manager, replicated to every other region on that
    region's database key: one value everywhere, readable after any one region's loss."""

    def __init__(self, name: str, *, label: str, database: DatabaseConfig, global_db: GlobalDatabase,
                 replicas: Mapping[str, pulumi.Input[str]], key_arn: pulumi.Input[str], protect: bool,
                 provider: aws.Provider, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:database:MasterSecret", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.name = master_secret_name(label)
        self.secret = aws.secretsmanager.Secret(
            f"{name}-master", name=self.name, kms_key_id=key_arn,
            description=f"{label}: the Aurora master user (for the bootstrap Job and break-glass only)",
            recovery_window_in_days=30 if protect else 7,
            replicas=[aws.secretsmanager.SecretReplicaArgs(region=region, kms_key_id=key)
                      for region, key in sorted(replicas.items())],
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=protect,
                                                                            retain_on_delete=protect)))
        # Written with the same generated value the home cluster receives, in the same run, and only when
        # passwordVersion changes.
        version = aws.secretsmanager.SecretVersion(
            f"{name}-master", secret_id=self.secret.id, opts=child,
            # The version inside the value tells the database Job which password the writer should have.
            secret_string_wo=global_db.password.apply(lambda password: json.dumps(
                {"username": MASTER_USER, "password": password, "engine": "postgres", "port": PORT,
                 "passwordVersion": database.password_version})),
            secret_string_wo_version=database.password_version)
        global_db.secret_declared(version)
        self.register_outputs({"name": self.name})


class RegionalDatabase(pulumi.ComponentResource):
    """One region's share of the database. Every child inherits the region's AWS provider."""

    def __init__(self, name: str, *, database: DatabaseConfig, global_db: GlobalDatabase, region: str,
                 label: str, partition: str, account: str, home: Home | None, vpc_id: pulumi.Input[str],
                 subnet_ids: Sequence[pulumi.Input[str]], client_security_group: pulumi.Input[str],
                 apps: Sequence[AppConfig], app_role_names: Mapping[str, pulumi.Input[str]],
                 bootstrap_role_name: pulumi.Input[str] | None, alerts: AlertsConfig | None, protect: bool,
                 stack_label: str, log_key_arn: pulumi.Input[str], rpo_bound_seconds: int | None = None,
                 peers: Mapping[str, str] | None = None, opts: pulumi.ResourceOptions | None = None) -> None:
        """`rpo_bound_seconds`: the region-loss RPO Aurora enforces on the writer (`rds.global_db_rpo`, kept by
        the RPO keeper); `peers`: the other regions' cluster identifiers, by region."""
        super().__init__("mercur:database:RegionalDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)
        self.role = "home" if home is None else "member"

        # CKV_AWS_96/327: storage, Performance Insights, logs and the master secret on a key of the region's own.
        self.key = aws.kms.Key(f"{name}-db-key", description=f"{label}: database storage, secrets and alerts",
                               enable_key_rotation=True, deletion_window_in_days=30, opts=stateful,
                               policy=database_key_policy(partition, account, region))
        aws.kms.Alias(f"{name}-db-key", name=f"alias/{label}-database", target_key_id=self.key.key_id, opts=child)

        # 5432 from the cluster security group only: Auto Mode's nodes, and so every pod, carry it.
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-db-sg", vpc_id=vpc_id, description=f"{label} Aurora: PostgreSQL from the EKS cluster only",
            tags={"Name": f"{label}-database"}, opts=child)
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-db-from-cluster", security_group_id=self.security_group.id,
            referenced_security_group_id=client_security_group, ip_protocol="tcp", from_port=PORT, to_port=PORT,
            description="PostgreSQL from the EKS cluster security group", opts=child)
        subnets = aws.rds.SubnetGroup(f"{name}-db-subnets", name=f"{label}-database", subnet_ids=list(subnet_ids),
                                      description=f"{label}: the database in the private subnets", opts=child)
        # CKV2_AWS_69: TLS or nothing. The region-loss RPO bound (the stack file's) goes on the home cluster's group
        # only, where the writer starts; a secondary's group keeps the default (AWS's advice for two regions: a
        # bound there would hold a promoted writer's commits for want of a secondary). From then on the RPO keeper
        # owns it and moves it with the writer: its first run, before any instance exists, lifts it while no
        # peer is in sync, and a later run sets it again once one replicates. The provider reads back every
        # parameter this account set, so the parameters are declared at creation only
        # (runtime_state.AURORA_RPO_BOUND).
        declared = [aws.rds.ClusterParameterGroupParameterArgs(name="rds.force_ssl", value="1",
                                                               apply_method="pending-reboot")]
        if home is None and global_db.cluster and rpo_bound_seconds is not None:
            declared.append(aws.rds.ClusterParameterGroupParameterArgs(
                name=RPO_PARAMETER, value=str(rpo_bound_seconds), apply_method="immediate"))  # a dynamic parameter
        group_name = f"{label}-aurora-postgresql{database.major_version}"
        parameters = aws.rds.ClusterParameterGroup(
            f"{name}-db-params", name=group_name,
            family=f"aurora-postgresql{database.major_version}", description=f"{label}: TLS required",
            parameters=declared, opts=pulumi.ResourceOptions(parent=self, ignore_changes=ignored(AURORA_RPO_BOUND)))

        serverless = aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
            min_capacity=database.serverless.min_capacity, max_capacity=database.serverless.max_capacity) \
            if database.serverless else None
        self.cluster = aws.rds.Cluster(
            f"{name}-db", cluster_identifier=label, engine=ENGINE, engine_mode="provisioned",
            engine_version=database.engine_version,
            global_cluster_identifier=global_db.cluster.id if global_db.cluster else None,
            db_subnet_group_name=subnets.name, vpc_security_group_ids=[self.security_group.id],
            db_cluster_parameter_group_name=parameters.name, port=PORT,
            storage_encrypted=True, kms_key_id=self.key.arn,
            iam_database_authentication_enabled=True,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            backup_retention_period=database.backup_retention_days, preferred_backup_window=BACKUP_WINDOW,
            preferred_maintenance_window=MAINTENANCE_WINDOW, copy_tags_to_snapshot=True,
            deletion_protection=protect, skip_final_snapshot=not protect,
            final_snapshot_identifier=f"{label}-final" if protect else None,
            serverlessv2_scaling_configuration=serverless,
            # Credentials are sent to the cluster that creates the global database (the home region, fixed in the
            # stack file), once; the others replicate them. Rotation happens on the writer, wherever it is (the
            # database Job), so no cluster's credentials are managed after creation (runtime_state.py).
            master_username=MASTER_USER if home is None else None,
            master_password_wo=global_db.password if home is None else None,
            master_password_wo_version=database.password_version if home is None else None,
            opts=pulumi.ResourceOptions(
                parent=self, protect=protect, retain_on_delete=protect,
                depends_on=[*home.instances] if home else [],  # a member joins a running home cluster
                ignore_changes=ignored(AURORA_MASTER_CREDENTIALS, *((AURORA_REPLICATION, AURORA_ENGINE_VERSION)
                                                                     if global_db.cluster else ()))))

        # CKV_AWS_118: every instance reports OS metrics (enhanced monitoring) through RDS's own role.
        monitoring = aws.iam.Role(
            f"{name}-db-monitoring", name=f"{label}-rds-monitoring", opts=child,
            description=f"{label}: RDS enhanced monitoring publishes OS metrics",
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                "Action": "sts:AssumeRole", "Condition": from_account(account)}]}))
        may_publish = aws.iam.RolePolicyAttachment(
            f"{name}-db-monitoring", role=monitoring.name, opts=child,
            policy_arn=f"arn:{partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole")

        # On every cluster: whichever trails the writer reports the lag, the writer reports none (not breaching),
        # so the alarm follows the writer through a switchover without a deploy.
        self.alerts = self._alerts(name, label, account, alerts, child)
        self.lag_alarm = self._alarm_on_lag(name, label, database, child)
        self.rpo_lag_alarm: aws.cloudwatch.MetricAlarm | None = None
        keeper_ran: list[pulumi.Resource] = []
        if global_db.cluster and rpo_bound_seconds is not None:
            self.rpo_lag_alarm = self._alarm_on_rpo_lag(name, label, database, rpo_bound_seconds, child)
            keeper = RpoKeeper(name, label=label, partition=partition, account=account, region=region,
                               cluster_arn=self.cluster.arn, global_cluster=global_db.identifier,
                               parameter_group=group_name, peers=peers or {}, rpo_seconds=rpo_bound_seconds,
                               log_key_arn=log_key_arn, alerts_topic_arn=self.alerts.arn, opts=child)
            # The instances start after the keeper's first run: on a new global database it lifts the bound
            # declared above (no peer in sync yet), so no commit ever waits for a secondary that does not exist;
            # and a keeper that cannot work fails this `up` rather than leaving the RPO unenforced in silence.
            keeper_ran = [keeper.first_run]

        # The same count everywhere: wherever the writer is, it has a reader in another AZ to fail over to.
        count = database.instances
        # No engine_version: an Aurora instance runs its cluster's (an upgrade goes through the cluster, or the
        # global cluster), so a version here would only be a difference to fight after every upgrade. Minor
        # upgrades are declared too (the stack file's engineVersion): Aurora does not apply automatic ones to a
        # global database's members (Aurora User Guide, global database limitations), and on a lone cluster
        # they would move it away from the declared version.
        self.instances = [aws.rds.ClusterInstance(
            f"{name}-db-{index}", identifier=f"{label}-{index}", cluster_identifier=self.cluster.id,
            engine=aws.rds.EngineType(ENGINE), instance_class=database.instance_class,
            db_subnet_group_name=subnets.name, publicly_accessible=False, auto_minor_version_upgrade=False,
            performance_insights_enabled=True, performance_insights_kms_key_id=self.key.arn,
            performance_insights_retention_period=7, promotion_tier=index,
            monitoring_interval=database.monitoring_interval_seconds, monitoring_role_arn=monitoring.arn,
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[may_publish,
                                                                                           *keeper_ran])))
            for index in range(count)]

        for app in apps:
            aws.iam.RolePolicy(
                f"{name}-{app.name}-db-connect", role=app_role_names[app.name], opts=child,
                name=f"connect-{region}",
                policy=self.cluster.cluster_resource_id.apply(lambda resource_id, user=app.database_identifier:
                                                              connect_policy(partition, region, account,
                                                                             resource_id, user)))
        if bootstrap_role_name is not None:
            aws.iam.RolePolicy(f"{name}-db-bootstrap", role=bootstrap_role_name, name=f"master-secret-{region}",
                               opts=child, policy=self.key.arn.apply(lambda key_arn: read_master_secret_policy(
                                   partition, account, region, master_secret_name(stack_label), key_arn,
                                   global_db.identifier if global_db.cluster else None)))


        self.endpoint = self.cluster.endpoint
        self.cluster_identifier = label
        self.outputs = {"clusterArn": self.cluster.arn, "clusterId": label, "endpoint": self.cluster.endpoint,
                        "readerEndpoint": self.cluster.reader_endpoint, "role": self.role,
                        "subnetGroupName": subnets.name,
                        "securityGroupId": self.security_group.id, "engineVersion": database.engine_version}
        self.register_outputs(self.outputs)

    def _alerts(self, name: str, label: str, account: str, alerts: AlertsConfig | None,
                child: pulumi.ResourceOptions) -> aws.sns.Topic:
        """The database's alert topic, on its key, published to by CloudWatch alarms of this account only."""
        topic = aws.sns.Topic(f"{name}-db-alerts", name=f"{label}-database-alerts", kms_master_key_id=self.key.arn,
                              opts=child)
        aws.sns.TopicPolicy(f"{name}-db-alerts", arn=topic.arn, opts=child, policy=topic.arn.apply(
            lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [service_statement(
                "CloudWatchPublishes", "cloudwatch.amazonaws.com", ("sns:Publish",), from_account(account))
                | {"Resource": arn}]})))
        subscribe(f"{name}-db-alerts", topic, alerts, child)
        return topic

    def _alarm_on_lag(self, name: str, label: str, database: DatabaseConfig,
                      child: pulumi.ResourceOptions) -> aws.cloudwatch.MetricAlarm:
        """A cluster behind the writer by more than the stated bound pages: that bound is a region's-loss RPO."""
        return self._lag_alarm(f"{name}-db-replication-lag", f"{label}-database-replication-lag", LAG_METRIC, label,
                               database, f"{label} trails the global database's writer by more than "
                                         f"{database.replication_lag_bound_seconds} s: a region's loss would cost "
                                         f"more than the stated RPO", child)

    def _alarm_on_rpo_lag(self, name: str, label: str, database: DatabaseConfig, bound_seconds: int,
                          child: pulumi.ResourceOptions) -> aws.cloudwatch.MetricAlarm:
        """The lag Aurora measures against rds.global_db_rpo (user transactions, as the secondary reports it):
        paged before the writer starts to hold commits at the bound."""
        return self._lag_alarm(f"{name}-db-rpo-lag", f"{label}-database-rpo-lag", RPO_LAG_METRIC, label, database,
                               f"{label}'s RPO lag exceeds {database.replication_lag_bound_seconds} s; at "
                               f"{bound_seconds} s (rds.global_db_rpo) the writer holds commits until it catches up",
                               child)

    def _lag_alarm(self, resource: str, alarm: str, metric: str, label: str, database: DatabaseConfig,
                   description: str, child: pulumi.ResourceOptions) -> aws.cloudwatch.MetricAlarm:
        """Whichever cluster trails the writer reports the lag; the writer reports none (not breaching), so the
        alarm follows the writer through a switchover without a deploy."""
        return aws.cloudwatch.MetricAlarm(
            resource, name=alarm, alarm_description=description, namespace="AWS/RDS", metric_name=metric,
            dimensions={"DBClusterIdentifier": label}, statistic="Maximum", period=60, evaluation_periods=3,
            datapoints_to_alarm=2, threshold=database.replication_lag_bound_seconds * 1000,
            comparison_operator="GreaterThanThreshold", treat_missing_data="notBreaching",
            alarm_actions=[self.alerts.arn], ok_actions=[self.alerts.arn], opts=child)
