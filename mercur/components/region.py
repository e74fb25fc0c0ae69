"""Everything Mercur runs in one AWS region: its key, network and cluster."""

from __future__ import annotations

import json
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws

from .backup import BackupRoles, BackupVault
from .cluster import Cluster, ClusterRole
from .entry import EntryNetwork
from .database import GlobalDatabase, Home, RegionalDatabase, master_secret_name
from .identity import WorkloadRoles
from .keys import (LOGS_KEY_USE, PUBLISH_ENCRYPTED, cluster_role_may_encrypt, ebs_may_encrypt, from_account,
                   key_policy, logs_may_encrypt, service_statement)
from .monitoring import Monitoring, Watched
from .observability import Observability
from ..config import RegionConfig, StackConfig
from ..config.regions import PARTITION
from .network import Network, Zone
from .workloads import Bootstrap, DatabaseAccess, Placement, Workloads


def platform_key_policy(partition: str, account: str, region: str, cluster_role_arn: str) -> str:
    """EKS uses it through the cluster role's grants; CloudWatch Logs for this account's log groups only;
    EBS (node root volumes, the apps' volumes) through EC2 in this region for this account only, and Auto
    Mode's cluster role directly; CloudWatch alarms of this account publish to the encrypted platform topic."""
    statement = logs_may_encrypt(partition, account, region)
    policy = json.loads(key_policy(partition, account, sid=statement["Sid"], service=statement["Principal"]["Service"],
                                   actions=LOGS_KEY_USE, condition=statement["Condition"]))
    policy["Statement"] += [ebs_may_encrypt(account, region), *cluster_role_may_encrypt(cluster_role_arn),
                            service_statement("CloudWatchPublishesPlatformAlarms", "cloudwatch.amazonaws.com",
                                              PUBLISH_ENCRYPTED, from_account(account))]
    return json.dumps(policy)


class Region(pulumi.ComponentResource):
    """One region's platform. Receives its AWS provider (every child inherits it) and its resolved AZs."""

    def __init__(self, name: str, *, stack: StackConfig, region: RegionConfig, zones: Sequence[Zone],
                 provider: aws.Provider, backup_roles: BackupRoles, app_roles: WorkloadRoles,
                 global_db: GlobalDatabase | None, home_db: Home | None,
                 region_switch_role: pulumi.Input[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:region:Region", name, {"region": region.name},
                         pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers={"aws": provider})))
        label = f"{stack.project}-{stack.environment}-{region.short}"
        # A retiring region drops its protection so that removing it from the stack file deletes it.
        protect = stack.is_production and not region.retiring
        stateful = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)

        # The account from the stack file and the partition from the region table: synthesis asks the region
        # nothing, so a preview or an `up` runs while it is down.
        account, partition = stack.account_id, PARTITION
        cluster_role = ClusterRole(name, cluster_name=label, partition=partition,
                                   opts=pulumi.ResourceOptions(parent=self))
        # One CMK per region for the cluster's secrets, its log groups and its volumes (CKV_AWS_58, CKV_AWS_7).
        self.key = aws.kms.Key(f"{name}-platform-key", description=f"{label}: EKS secrets, logs and volumes",
                               enable_key_rotation=True, deletion_window_in_days=30,
                               policy=cluster_role.arn.apply(lambda role_arn: platform_key_policy(
                                   partition, account, region.name, role_arn)),
                               opts=stateful)
        aws.kms.Alias(f"{name}-platform-key", name=f"alias/{label}-platform", target_key_id=self.key.key_id,
                      opts=pulumi.ResourceOptions(parent=self))

        self.backup = BackupVault(name, dr=stack.dr, label=label, partition=partition, account=account,
                                  roles=backup_roles, alerts=stack.alerts, protect=protect,
                                  opts=pulumi.ResourceOptions(parent=self))
        self.network = Network(name, region=region, network=stack.network, zones=zones, cluster_name=label,
                               log_key_arn=self.key.arn, label=label, deployer=stack.deploy.network,
                               opts=pulumi.ResourceOptions(parent=self))
        self.cluster = Cluster(name, cluster=stack.cluster, node_pool=stack.node_pool, deploy=stack.deploy,
                               deployer_cidrs=self.network.deployer_cidrs, deploy_path=self.network.deploy_path,
                               cluster_name=label, region=region.name,
                               vpc_id=self.network.vpc_id,
                               private_subnet_ids=self.network.private_subnet_ids, key_arn=self.key.arn,
                               cluster_role=cluster_role, protect=protect, region_switch_role=region_switch_role,
                               app_namespaces=[app.name for app in stack.apps],
                               opts=pulumi.ResourceOptions(parent=self))
        self.eks_cluster_arn = f"arn:{partition}:eks:{region.name}:{account}:cluster/{label}"
        self.database = RegionalDatabase(
            name, database=stack.database, global_db=global_db, region=region.name, label=label,
            partition=partition, account=account, home=home_db, vpc_id=self.network.vpc_id,
            subnet_ids=self.network.private_subnet_ids, client_security_group=self.cluster.eks.cluster_security_group_id,
            apps=[app for app in stack.apps if app.database], app_role_names=app_roles.names,
            bootstrap_role_name=app_roles.bootstrap.name if app_roles.bootstrap else None, alerts=stack.alerts,
            protect=protect, stack_label=f"{stack.project}-{stack.environment}", log_key_arn=self.key.arn,
            rpo_bound_seconds=stack.rpo_bound_seconds,
            peers={other.name: f"{stack.project}-{stack.environment}-{other.short}" for other in stack.regions
                   if other.name != region.name},
            opts=pulumi.ResourceOptions(parent=self)) if stack.database and global_db else None
        active = region == stack.active_region
        database = DatabaseAccess(
            # The global writer endpoint follows the writer across a switchover: no app needs a redeploy.
            host=global_db.writer_endpoint or self.database.endpoint, reader=self.database.cluster.reader_endpoint,
            region=region.name,
            bootstrap=Bootstrap(cluster_endpoint=self.database.endpoint,
                                global_cluster=global_db.identifier if global_db.cluster else None,
                                secret_id=master_secret_name(f"{stack.project}-{stack.environment}"),
                                password_version=stack.database.password_version,
                                role_arn=app_roles.bootstrap.arn, images=stack.database.bootstrap_images,
                                ready=self.database.instances, secret_written=global_db.secret_written)
            if app_roles.bootstrap else None) if self.database and global_db and stack.database else None
        placement = Placement(region=region.name, active=active,
                              standby_replicas=stack.standby.replicas, environment=stack.environment,
                              tags={"Project": stack.project, "Environment": stack.environment}, label=label,
                              entry=EntryNetwork(vpc_id=self.network.vpc_id,
                                                 public_subnet_ids=self.network.public_subnet_ids,
                                                 node_security_group_id=self.cluster.eks.cluster_security_group_id,
                                                 cluster_name=label),
                              certificate_arn=stack.dns.certificates.get(region.name) if stack.dns else None)
        self.workloads = Workloads(name, apps=stack.apps, placement=placement, k8s_provider=self.cluster.provider,
                                   cluster_name=self.cluster.cluster_name, cluster_ready=self.cluster.eks,
                                   app_roles=app_roles.arns, key_arn=self.key.arn, database=database,
                                   protect=protect, opts=pulumi.ResourceOptions(parent=self),
                                   network_policy_controller=self.cluster.network_policy_controller)

        self.observability = Observability(
            name, cluster_name=label, cluster_prefix=f"{stack.project}-{stack.environment}", partition=partition,
            account=account, retention_days=stack.monitoring.container_log_retention_days, key_arn=self.key.arn,
            cluster_ready=self.cluster.eks, opts=pulumi.ResourceOptions(parent=self))
        self.monitoring = Monitoring(
            name, label=label, region=region.name, account=account, monitoring=stack.monitoring, key_arn=self.key.arn,
            alerts=stack.alerts, opts=pulumi.ResourceOptions(parent=self),
            watched=Watched(cluster_name=label, floors={app.name: placement.min_replicas(app) for app in stack.apps},
                            load_balancers={app: entry.dimensions for app, entry in self.workloads.entries.items()},
                            database=stack.database if self.database else None,
                            instance_ids=[f"{label}-{index}" for index in range(stack.database.instances)]
                            if self.database and stack.database else [],
                            nat_gateway_ids=self.network.nat_gateway_ids, node_pool_cpu=stack.node_pool.limits.cpu))

        self.name = region.name
        self.logical_name = name
        self.label = label  # <project>-<environment>-<region short>: its cluster's, vault's, dashboard's name
        self.outputs: dict[str, Any] = {
            "vpcId": self.network.vpc_id,
            "availabilityZones": self.network.zone_names,
            "availabilityZoneIds": [zone.id for zone in zones],
            "privateSubnetIds": self.network.private_subnet_ids,
            "clusterName": self.cluster.cluster_name,
            "platformKeyArn": self.key.arn,
            "endpoints": self.workloads.endpoints,
            "backupVaultArn": self.backup.vault.arn,
            "backupKeyArn": self.backup.key.arn,
            "alertTopicArn": self.monitoring.topic.arn,
            "dashboard": self.monitoring.dashboard_name,
        }
        if self.database:
            self.outputs["database"] = self.database.outputs
        self.register_outputs(self.outputs)
