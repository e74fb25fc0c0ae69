"""The application on one regional cluster: per app its namespace, workload, load balancer and guards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apps import v1 as apps_v1
from pulumi_kubernetes.autoscaling import v2 as autoscaling
from pulumi_kubernetes.batch import v1 as batch
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta
from pulumi_kubernetes.networking import v1 as networking
from pulumi_kubernetes.policy import v1 as policy
from pulumi_kubernetes.storage import v1 as storage

from ..config import AppConfig
from ..config.models import BootstrapImages, split_image
from .database import MASTER_USER, PORT
from .entry import EntryNetwork, PublicEntry
from .identity import BOOTSTRAP_SERVICE_ACCOUNT
from ..config.objectives import STARTUP_PROBE_FAILURES, STARTUP_PROBE_PERIOD_SECONDS, TARGET_WARMUP_SECONDS
from .runtime_state import DEPLOYMENT_REPLICAS, HPA_MINIMUM, STATEFUL_SET_REPLICAS, ignored
from .tags import BACKUP_SELECTION, ENVIRONMENT_ANNOTATION, ROLE_ANNOTATION

STORAGE_CLASS = "gp3-encrypted"
# EKS Auto Mode's own controllers: its EBS provisioner and its load balancer API (EKS User Guide, "Create a
# storage class", "Migrate to EKS Auto Mode").
EBS_PROVISIONER = "ebs.csi.eks.amazonaws.com"
TARGET_GROUP_BINDING_API = "eks.amazonaws.com/v1"
RUN_AS = 10001  # an unprivileged uid/gid the images are built for
SERVICE_PORT = 80
TERMINATION_GRACE_SECONDS = 30
# A terminating pod is deregistered from its target group at once, but the load balancer's nodes keep
# sending to it for a few seconds more: it serves on that long before it is told to stop (within its grace).
DRAIN_SECONDS = 15
# A new pod counts as available (and a rollout retires an old one) only once its target has passed the load
# balancer's first health checks, and a little more.
MIN_READY_SECONDS = TARGET_WARMUP_SECONDS + 5


@dataclass(frozen=True)
class Bootstrap:
    """What each region's database Job needs: its region's cluster endpoint (the writer's, when the writer is
    there), the global cluster it asks where the writer is, the master secret and its version, the role
    allowed to read it, its images, and what it waits for: the instances and this run's write of the secret."""

    cluster_endpoint: pulumi.Output[str]
    global_cluster: str | None  # None: a one-region stack, whose cluster is always the writer
    secret_id: str  # the master secret's name: its copy in the Job's own region answers
    password_version: int
    role_arn: pulumi.Output[str]
    images: BootstrapImages
    ready: Sequence[pulumi.Resource]
    secret_written: pulumi.Output[pulumi.Resource]  # the master secret's SecretVersion, once declared


@dataclass(frozen=True)
class DatabaseAccess:
    host: pulumi.Output[str]  # the global writer endpoint (a one-region stack: its cluster's)
    reader: pulumi.Output[str]  # this region's reader endpoint: reads stay in the region
    region: str
    bootstrap: Bootstrap | None = None  # in every region: the Job acts where the writer is when it runs


@dataclass(frozen=True)
class Placement:
    """Where an app runs and how big: the active region runs the configured bounds, passive ones the standby."""

    region: str
    active: bool
    standby_replicas: int
    environment: str
    tags: Mapping[str, str]
    label: str  # the region's name prefix (<project>-<environment>-<region short>)
    entry: EntryNetwork
    certificate_arn: str | None = None  # TLS on the load balancers (ACM, this region's)

    def min_replicas(self, app: AppConfig) -> int:
        return app.min_replicas if self.active else self.standby_replicas


def pull_policy(image: str) -> str:
    """A digest is the same image forever: pull it once per node. A tag can be moved by its registry: ask
    the registry on every start (CKV_K8S_15), so a node never runs a stale copy of a moved tag."""
    return "IfNotPresent" if split_image(image)[2] else "Always"


def labels(app: AppConfig, environment: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app.name, "app.kubernetes.io/instance": f"{app.name}-{environment}",
            "app.kubernetes.io/part-of": "mercur", "app.kubernetes.io/managed-by": "pulumi"}


def target_group_binding(app: AppConfig, target_group_arn: pulumi.Input[str]) -> dict:
    """Auto Mode's controller keeps the target group's members equal to the ready pods behind the app's
    Service, by IP (EKS User Guide, "Migrate to EKS Auto Mode": TargetGroupBinding, eks.amazonaws.com/v1).
    No `networking`: the security group rules are the program's (entry.PublicEntry)."""
    return {"serviceRef": {"name": app.name, "port": SERVICE_PORT}, "targetGroupARN": target_group_arn,
            "targetType": "ip"}


# The database Job runs in every region and acts only where the writer is at run time: a Region switch moves
# the writer without a deploy, so no stack-file order can say where it is (runtime_state.WRITER_REGION).
# Its init container asks the region's own RDS, then fetches the region's copy of the master secret once that
# copy holds the passwordVersion the Job was declared with (replication to other regions takes seconds).
FIND_WRITER_AND_READ_SECRET = r"""set -eu
if [ -n "${GLOBAL_CLUSTER:-}" ]; then
  writer="$(aws rds describe-global-clusters --global-cluster-identifier "$GLOBAL_CLUSTER" \
    --query 'GlobalClusters[0].GlobalClusterMembers[?IsWriter].DBClusterArn' --output text)"
  case "$writer" in
    arn:*:rds:"$AWS_REGION":*) echo "the writer is here: $writer" ;;
    arn:*) echo "the writer is $writer: the Job in its region does the work"; : > /run/secret/writer-elsewhere
           exit 0 ;;
    *) echo "no writer now (a switchover under way?): trying again" >&2; exit 1 ;;
  esac
fi
# The Job waits for this run's write of the secret (dependsOn); a replica follows it within seconds. A copy
# without passwordVersion was written before the secret carried it and holds the password the clusters were
# created with: it is read again after 30 s (a replica may not hold a new write yet) before it is taken as it
# is (the Job never rotates from it).
read_secret() {
  aws secretsmanager get-secret-value --secret-id "$SECRET_ID" --query SecretString --output text \
    > /run/secret/current.json
}
has_the_version() { grep -Eq "\"passwordVersion\": $PASSWORD_VERSION[,}]" /run/secret/current.json; }
unversioned() { ! grep -q '"passwordVersion"' /run/secret/current.json; }
tries=0
until read_secret && { has_the_version || { unversioned && sleep 30 && read_secret && unversioned; }; }; do
  tries=$((tries + 1)); [ "$tries" -lt 30 ] || { echo "the secret never reached passwordVersion $PASSWORD_VERSION" >&2; exit 1; }
  sleep 10
done
aws secretsmanager get-secret-value --secret-id "$SECRET_ID" --version-stage AWSPREVIOUS --query SecretString \
  --output text > /run/secret/previous.json 2>/dev/null || : > /run/secret/previous.json
"""
# Then, on the writer: log in with the password the secret holds. Only when the writer refuses it as a wrong
# password (SQLSTATE 28P01, whose message libpq prints) and the secret names a passwordVersion does the Job
# rotate: it logs in with the previous password and sets the current one with psql's \password, which hashes
# it (SCRAM) on the client as PostgreSQL's ALTER ROLE page advises, so no statement log holds the cleartext.
# The passwords travel from the in-memory files through environment and a pipe, never a command line. Any
# other failure (network, TLS, a database still starting) fails the try; the Job retries (backoffLimit).
# The new password replicates with the storage to every cluster of the global database.
ROTATE_AND_BOOTSTRAP = rf"""set -eu
if [ -e /run/secret/writer-elsewhere ]; then exit 0; fi
password() {{ sed -n 's/.*"password": *"\([^"]*\)".*/\1/p' "$1"; }}
conn="host=$DB_HOST port={PORT} dbname=postgres user={MASTER_USER} connect_timeout=10"
current="$(password /run/secret/current.json)"
if ! refused="$(PGPASSWORD="$current" psql "$conn" -Atqc 'SELECT 1' 2>&1 > /dev/null)"; then
  case "$refused" in
    *"password authentication failed"*) ;;
    *) echo "$refused" >&2; exit 1 ;;
  esac
  grep -q '"passwordVersion"' /run/secret/current.json || {{
    echo "the writer refuses the secret's password and the secret names no passwordVersion to rotate to" >&2
    exit 1; }}
  echo "the writer has the previous password: rotating it to passwordVersion $PASSWORD_VERSION"
  printf '%s\n%s\n' "$current" "$current" | PGPASSWORD="$(password /run/secret/previous.json)" \
    psql "$conn" -v ON_ERROR_STOP=1 -qc '\password'
fi
PGPASSWORD="$current" exec psql "$conn" -v ON_ERROR_STOP=1 -f /bootstrap/bootstrap.sql
"""


def bootstrap_sql(user: str) -> str:
    """Idempotent: the user (IAM authentication only) and its own database, created when missing."""
    return (f"SELECT format('CREATE ROLE %I LOGIN', '{user}') "
            f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}')\\gexec\n"
            f"GRANT rds_iam TO {user};\n"
            # PostgreSQL 16 lets CREATE DATABASE ... OWNER name only a role the caller may SET ROLE to; Aurora's
            # master user is rds_superuser, not a superuser: it takes that membership first (idempotent).
            f"GRANT {user} TO CURRENT_USER;\n"
            f"SELECT format('CREATE DATABASE %I OWNER %I', '{user}', '{user}') "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{user}')\\gexec\n")


def database_env(app: AppConfig, database: DatabaseAccess) -> list[tuple[str, pulumi.Input[str]]]:
    return [("DB_HOST", database.host), ("DB_READ_HOST", database.reader), ("DB_PORT", str(PORT)),
            ("DB_NAME", app.database_identifier),
            ("DB_USER", app.database_identifier), ("DB_AUTH", "iam"), ("DB_SSLMODE", "require"),
            ("AWS_REGION", database.region)]


class Workloads(pulumi.ComponentResource):
    """Every app on one cluster, through that cluster's Kubernetes provider (inherited by all children).

    `entries` maps each app to its public entry (its load balancer): the DNS failover's targets and what the
    region's alarms watch.
    """

    def __init__(self, name: str, *, apps: Sequence[AppConfig], placement: Placement,
                 k8s_provider: k8s.Provider, cluster_name: str, cluster_ready: pulumi.Resource,
                 app_roles: Mapping[str, pulumi.Input[str]], key_arn: pulumi.Input[str],
                 database: DatabaseAccess | None, protect: bool, opts: pulumi.ResourceOptions | None = None,
                 network_policy_controller: pulumi.Resource) -> None:
        super().__init__("mercur:workloads:Workloads", name, None, pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(providers={"kubernetes": k8s_provider})))
        # Auto Mode creates no StorageClass; volumes from this one are encrypted with the region's key and
        # carry the tag backup policies select on.
        storage.StorageClass(
            f"{name}-{STORAGE_CLASS}",
            metadata=meta.ObjectMetaArgs(name=STORAGE_CLASS,
                                         annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
            provisioner=EBS_PROVISIONER,
            parameters={"type": "gp3", "encrypted": "true", "kmsKeyId": key_arn,
                        "tagSpecification_1": "=".join(BACKUP_SELECTION)},
            volume_binding_mode="WaitForFirstConsumer",
            reclaim_policy="Retain" if protect else "Delete",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self))
        self.apps = {app.name: Application(f"{name}-{app.name}", app=app, placement=placement,
                                           cluster_name=cluster_name, cluster_ready=cluster_ready,
                                           network_policy_controller=network_policy_controller,
                                           role_arn=app_roles[app.name],
                                           database=database if app.database else None, protect=protect,
                                           opts=pulumi.ResourceOptions(parent=self))
                     for app in apps}
        self.entries = {app: application.entry for app, application in self.apps.items()}
        self.endpoints = {app: entry.hostname for app, entry in self.entries.items()}
        self.register_outputs({"endpoints": self.endpoints})


class Application(pulumi.ComponentResource):
    """One app: Namespace, ServiceAccount bound to the app's role, Deployment or StatefulSet, Service, its
    public entry (load balancer) and the binding that registers the pods in it, HPA, PDB, policies."""

    def __init__(self, name: str, *, app: AppConfig, placement: Placement, cluster_name: str,
                 cluster_ready: pulumi.Resource, role_arn: pulumi.Input[str], database: DatabaseAccess | None,
                 protect: bool, opts: pulumi.ResourceOptions | None = None,
                 network_policy_controller: pulumi.Resource) -> None:
        super().__init__("mercur:workloads:Application", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._labels = labels(app, placement.environment)
        selector = {k: self._labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
        namespace = core.Namespace(f"{name}-ns", metadata=meta.ObjectMetaArgs(name=app.name, labels={
            **self._labels, "pod-security.kubernetes.io/enforce": "restricted"}), opts=child)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        # Pod Identity hands the app's role to pods of this service account (Auto Mode runs the agent).
        core.ServiceAccount(f"{name}-sa", metadata=self._meta(app), automount_service_account_token=False,
                            opts=in_namespace)
        # Pods get credentials only if the association exists when they are admitted: it comes first.
        identity = aws.eks.PodIdentityAssociation(
            f"{name}-pod-identity", cluster_name=cluster_name, namespace=app.name, service_account=app.name,
            role_arn=role_arn, opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_ready]))

        env = [core.EnvVarArgs(name=key, value=value) for key, value in sorted(app.env.items())]
        if database:
            # No password anywhere: the app signs an IAM authentication token with its Pod Identity role.
            env += [core.EnvVarArgs(name=key, value=value) for key, value in database_env(app, database)]
            if database.bootstrap:
                self._bootstrap(name, app, database, cluster_name, cluster_ready, namespace)
        if app.secret_env:
            secret = core.Secret(f"{name}-env", metadata=self._meta(app, name=f"{app.name}-env"),
                                 type="Opaque", string_data=pulumi.Output.secret(dict(app.secret_env)),
                                 opts=in_namespace)
            env += [core.EnvVarArgs(name=key, value_from=core.EnvVarSourceArgs(
                secret_key_ref=core.SecretKeySelectorArgs(name=secret.metadata.name, key=key)))
                for key in sorted(app.secret_env)]

        replicas = placement.min_replicas(app)
        pod = self._pod(app, env, selector)
        # The autoscalers own the replica count once running: Pulumi sets it at creation only.
        scaled = pulumi.ResourceOptions(parent=self, depends_on=[namespace, identity],
                                        ignore_changes=ignored(STATEFUL_SET_REPLICAS if app.volume else DEPLOYMENT_REPLICAS))
        if app.volume:
            workload_kind = "StatefulSet"
            core.Service(f"{name}-headless", metadata=self._meta(app, name=f"{app.name}-headless"),
                         spec=core.ServiceSpecArgs(cluster_ip="None", selector=selector, ports=[
                             core.ServicePortArgs(name="http", port=app.port, target_port="http")]),
                         opts=in_namespace)
            workload: pulumi.CustomResource = apps_v1.StatefulSet(
                f"{name}-statefulset", metadata=self._workload_meta(app, placement), opts=scaled,
                spec=apps_v1.StatefulSetSpecArgs(
                    replicas=replicas, service_name=f"{app.name}-headless", min_ready_seconds=MIN_READY_SECONDS,
                    selector=meta.LabelSelectorArgs(match_labels=selector), template=pod,
                    pod_management_policy="Parallel",
                    update_strategy=apps_v1.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
                    persistent_volume_claim_retention_policy=apps_v1.
                    StatefulSetPersistentVolumeClaimRetentionPolicyArgs(when_deleted="Retain", when_scaled="Retain"),
                    volume_claim_templates=[core.PersistentVolumeClaimArgs(
                        metadata=meta.ObjectMetaArgs(name="data", labels=self._labels),
                        spec=core.PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"], storage_class_name=STORAGE_CLASS,
                            resources=core.VolumeResourceRequirementsArgs(
                                requests={"storage": f"{app.volume.size_gb}Gi"})))]))
        else:
            workload_kind = "Deployment"
            workload = apps_v1.Deployment(
                f"{name}-deployment", metadata=self._workload_meta(app, placement), opts=scaled,
                spec=apps_v1.DeploymentSpecArgs(
                    replicas=replicas, selector=meta.LabelSelectorArgs(match_labels=selector), template=pod,
                    revision_history_limit=5, min_ready_seconds=MIN_READY_SECONDS,
                    # Never below the desired count during a rollout: surge first, then retire.
                    strategy=apps_v1.DeploymentStrategyArgs(
                        type="RollingUpdate",
                        rolling_update=apps_v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge="25%"))))

        # The app's Service names its pods for Container Insights (monitoring.app_dimensions) and for the
        # TargetGroupBinding, which registers them in the load balancer the program owns (entry.PublicEntry).
        service = core.Service(
            f"{name}-service", opts=in_namespace, metadata=self._meta(app),
            spec=core.ServiceSpecArgs(type="ClusterIP", selector=selector, ports=[
                core.ServicePortArgs(name="http", port=SERVICE_PORT, target_port="http", protocol="TCP")]))
        self.entry = PublicEntry(f"{name}-entry", app=app, label=placement.label, network=placement.entry,
                                 certificate_arn=placement.certificate_arn,
                                 tags={**placement.tags, "Application": app.name}, protect=protect,
                                 opts=pulumi.ResourceOptions(parent=self))
        # Named after its target group: Auto Mode's controller refuses a new target group ARN in place, so a new
        # group gets a new binding, created (and filled) before the old one is deleted.
        binding = k8s.apiextensions.CustomResource(
            f"{name}-target-group-binding", api_version=TARGET_GROUP_BINDING_API, kind="TargetGroupBinding",
            metadata=self._meta(app, name=self.entry.target_group_name),
            spec=target_group_binding(app, self.entry.target_group_arn),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, service]))
        self.entry.listen(after=binding)

        # The minimum by region role at creation; after a Region switch, ARC's scaling step has set it where the
        # traffic now is, and the next `up` keeps that (runtime_state.HPA_MINIMUM).
        autoscaling.HorizontalPodAutoscaler(
            f"{name}-hpa", metadata=self._meta(app), opts=pulumi.ResourceOptions(
                parent=self, depends_on=[workload], ignore_changes=ignored(HPA_MINIMUM)),
            spec=autoscaling.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=autoscaling.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind=workload_kind, name=app.name),
                min_replicas=replicas, max_replicas=app.max_replicas,
                metrics=[autoscaling.MetricSpecArgs(type="Resource", resource=autoscaling.ResourceMetricSourceArgs(
                    name="cpu", target=autoscaling.MetricTargetArgs(
                        type="Utilization", average_utilization=app.target_cpu_percent)))],
                # A failover lands the whole load at once: scale up without waiting, scale down slowly.
                behavior=autoscaling.HorizontalPodAutoscalerBehaviorArgs(
                    scale_up=autoscaling.HPAScalingRulesArgs(stabilization_window_seconds=0, select_policy="Max",
                                                             policies=[
                        autoscaling.HPAScalingPolicyArgs(type="Percent", value=100, period_seconds=15),
                        autoscaling.HPAScalingPolicyArgs(type="Pods", value=4, period_seconds=15)]),
                    scale_down=autoscaling.HPAScalingRulesArgs(stabilization_window_seconds=300))))

        # maxUnavailable, not minAvailable: a standby of one replica must still let nodes drain.
        policy.PodDisruptionBudget(f"{name}-pdb", metadata=self._meta(app), opts=in_namespace,
                                   spec=policy.PodDisruptionBudgetSpecArgs(
                                       max_unavailable=1, selector=meta.LabelSelectorArgs(match_labels=selector)))

        # Enforced only once the cluster's network policy controller is on (cluster.NETWORK_POLICY_CONTROLLER).
        enforced = pulumi.ResourceOptions(parent=self, depends_on=[namespace, network_policy_controller])
        networking.NetworkPolicy(f"{name}-default-deny", metadata=self._meta(app, name="default-deny-ingress"),
                                 opts=enforced, spec=networking.NetworkPolicySpecArgs(
                                     pod_selector=meta.LabelSelectorArgs(), policy_types=["Ingress"]))
        networking.NetworkPolicy(f"{name}-allow-http", metadata=self._meta(app, name=f"{app.name}-allow-http"),
                                 opts=enforced, spec=networking.NetworkPolicySpecArgs(
                                     pod_selector=meta.LabelSelectorArgs(match_labels=selector),
                                     policy_types=["Ingress"],
                                     ingress=[networking.NetworkPolicyIngressRuleArgs(ports=[
                                         networking.NetworkPolicyPortArgs(protocol="TCP", port=app.port)])]))

        self.register_outputs({"endpoint": self.entry.hostname})

    def _bootstrap(self, name: str, app: AppConfig, database: DatabaseAccess, cluster_name: str,
                   cluster_ready: pulumi.Resource, namespace: core.Namespace) -> None:
        """A Job that, where the writer is when it runs, rotates the master password to passwordVersion if the
        writer still has the previous one, then creates the app's database user and database if they are
        missing (idempotent): it reads the master secret with a role of its own and runs psql over TLS."""
        bootstrap = database.bootstrap
        assert bootstrap is not None, "called only where the region runs the database Job"
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        account = core.ServiceAccount(f"{name}-db-bootstrap-sa", metadata=self._meta(app, name=BOOTSTRAP_SERVICE_ACCOUNT),
                                      automount_service_account_token=False, opts=in_namespace)
        association = aws.eks.PodIdentityAssociation(
            f"{name}-db-bootstrap-identity", cluster_name=cluster_name, namespace=app.name,
            service_account=BOOTSTRAP_SERVICE_ACCOUNT, role_arn=bootstrap.role_arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_ready]))
        script = core.ConfigMap(f"{name}-db-bootstrap-sql", metadata=self._meta(app, name=f"{app.name}-db-bootstrap"),
                                data={"bootstrap.sql": bootstrap_sql(app.database_identifier)}, opts=in_namespace)
        # The version in both containers' environment: a rotation replaces the Job in every region.
        version = core.EnvVarArgs(name="PASSWORD_VERSION", value=str(bootstrap.password_version))
        tmp = core.VolumeMountArgs(name="tmp", mount_path="/tmp")
        secret = core.VolumeMountArgs(name="secret", mount_path="/run/secret")
        hardened = core.SecurityContextArgs(
            allow_privilege_escalation=False, privileged=False, read_only_root_filesystem=True, run_as_non_root=True,
            run_as_user=RUN_AS, run_as_group=RUN_AS, capabilities=core.CapabilitiesArgs(drop=["ALL"]),
            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"))
        small = core.ResourceRequirementsArgs(requests={"cpu": "50m", "memory": "128Mi"},
                                              limits={"cpu": "500m", "memory": "256Mi"})
        batch.Job(
            f"{name}-db-bootstrap", metadata=self._meta(app, name=f"{app.name}-db-bootstrap"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, association, script, *bootstrap.ready,
                                                                 bootstrap.secret_written]),
            spec=batch.JobSpecArgs(backoff_limit=4, active_deadline_seconds=900, template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels={**self._labels, "app.kubernetes.io/component": "db-bootstrap"}),
                spec=core.PodSpecArgs(
                    service_account_name=BOOTSTRAP_SERVICE_ACCOUNT, automount_service_account_token=False,
                    restart_policy="Never",
                    security_context=core.PodSecurityContextArgs(
                        run_as_non_root=True, run_as_user=RUN_AS, run_as_group=RUN_AS, fs_group=RUN_AS,
                        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault")),
                    init_containers=[core.ContainerArgs(
                        name="find-writer", image=bootstrap.images.aws_cli,
                        image_pull_policy=pull_policy(bootstrap.images.aws_cli),
                        command=["/bin/sh", "-c", FIND_WRITER_AND_READ_SECRET],
                        env=[core.EnvVarArgs(name="SECRET_ID", value=bootstrap.secret_id),
                             core.EnvVarArgs(name="AWS_REGION", value=database.region),
                             *([core.EnvVarArgs(name="GLOBAL_CLUSTER", value=bootstrap.global_cluster)]
                               if bootstrap.global_cluster else []),
                             version, core.EnvVarArgs(name="HOME", value="/tmp")],
                        resources=small, security_context=hardened, volume_mounts=[tmp, secret])],
                    containers=[core.ContainerArgs(
                        name="rotate-and-create-user", image=bootstrap.images.postgres,
                        image_pull_policy=pull_policy(bootstrap.images.postgres), command=["/bin/sh", "-c", ROTATE_AND_BOOTSTRAP],
                        env=[core.EnvVarArgs(name="DB_HOST", value=bootstrap.cluster_endpoint), version,
                             core.EnvVarArgs(name="PGSSLMODE", value="require"),
                             core.EnvVarArgs(name="HOME", value="/tmp")],
                        resources=small, security_context=hardened,
                        volume_mounts=[tmp, secret, core.VolumeMountArgs(name="sql", mount_path="/bootstrap",
                                                                         read_only=True)])],
                    volumes=[core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs(size_limit="64Mi")),
                             # In memory: the master password never touches a disk.
                             core.VolumeArgs(name="secret", empty_dir=core.EmptyDirVolumeSourceArgs(
                                 medium="Memory", size_limit="1Mi")),
                             core.VolumeArgs(name="sql", config_map=core.ConfigMapVolumeSourceArgs(
                                 name=script.metadata.name))]))))

    def _workload_meta(self, app: AppConfig, placement: Placement) -> meta.ObjectMetaArgs:
        """Workloads say which environment and role they serve: policies and DR tooling read it."""
        return self._meta(app, annotations={ENVIRONMENT_ANNOTATION: placement.environment,
                                            ROLE_ANNOTATION: "active" if placement.active else "passive"})

    def _meta(self, app: AppConfig, *, name: str | None = None,
              annotations: Mapping[str, pulumi.Input[str]] | None = None) -> meta.ObjectMetaArgs:
        return meta.ObjectMetaArgs(name=name or app.name, namespace=app.name, labels=self._labels,
                                   annotations=annotations)

    def _pod(self, app: AppConfig, env: list, selector: Mapping[str, str]) -> core.PodTemplateSpecArgs:
        probe = core.HTTPGetActionArgs(path=app.health_path, port="http")
        mounts = [core.VolumeMountArgs(name="tmp", mount_path="/tmp")]
        if app.volume:
            mounts.append(core.VolumeMountArgs(name="data", mount_path=app.volume.mount_path))
        spread = [core.TopologySpreadConstraintArgs(
            max_skew=1, topology_key=key, when_unsatisfiable=when,
            label_selector=meta.LabelSelectorArgs(match_labels=dict(selector)))
            for key, when in (("topology.kubernetes.io/zone", "DoNotSchedule"),
                              ("kubernetes.io/hostname", "ScheduleAnyway"))]
        container = core.ContainerArgs(
            name=app.name, image=app.image, image_pull_policy=pull_policy(app.image),
            ports=[core.ContainerPortArgs(name="http", container_port=app.port, protocol="TCP")],
            env=env or None,
            resources=core.ResourceRequirementsArgs(
                requests={"cpu": app.requests.cpu, "memory": app.requests.memory},
                limits={"cpu": app.limits.cpu, "memory": app.limits.memory}),
            startup_probe=core.ProbeArgs(http_get=probe, period_seconds=STARTUP_PROBE_PERIOD_SECONDS,
                                         failure_threshold=STARTUP_PROBE_FAILURES),
            readiness_probe=core.ProbeArgs(http_get=probe, period_seconds=5, failure_threshold=3),
            liveness_probe=core.ProbeArgs(http_get=probe, period_seconds=10, failure_threshold=3),
            lifecycle=core.LifecycleArgs(pre_stop=core.LifecycleHandlerArgs(
                sleep=core.SleepActionArgs(seconds=DRAIN_SECONDS))),
            security_context=core.SecurityContextArgs(
                allow_privilege_escalation=False, privileged=False, read_only_root_filesystem=True,
                run_as_non_root=True, run_as_user=RUN_AS, run_as_group=RUN_AS,
                capabilities=core.CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault")),
            volume_mounts=mounts)
        return core.PodTemplateSpecArgs(
            metadata=meta.ObjectMetaArgs(labels=self._labels),
            spec=core.PodSpecArgs(
                service_account_name=app.name, automount_service_account_token=False,
                security_context=core.PodSecurityContextArgs(
                    run_as_non_root=True, run_as_user=RUN_AS, run_as_group=RUN_AS, fs_group=RUN_AS,
                    seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault")),
                topology_spread_constraints=spread,
                termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
                containers=[container],
                volumes=[core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs(size_limit="256Mi"))]))
