"""Security and resilience rules, as `pulumi_policy` objects: one set for CrossGuard and the offline plan.

Every rule reads engine-form (camelCase) properties — what CrossGuard's `args.props` holds and what the
mock engine records — so `pulumi preview --policy-pack policy` and `python -m mercur plan` agree. Where
pulumi-eks creates the real AWS resource inside its component (visible to CrossGuard only), the rule
checks both shapes. Rules are mandatory; in dev the plan (and `policy/config.dev.json`) makes them advisory.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from pulumi_policy import (EnforcementLevel, PolicyProviderResource, PolicyResource, ReportViolation,
                           ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs,
                           StackValidationPolicy)

from ..components import runtime_state
from ..components.tags import (APP_SIGNALS, APP_TAG, ENVIRONMENT_ANNOTATION, PUBLIC_LISTENER_PORTS,
                               PUBLIC_LISTENER_TAG, ROLE_ANNOTATION, SIGNAL_TAG)
from ..config import EKS_STANDARD_SUPPORT_ENDS, split_image
from ..config import models as config_models

EKS_COMPONENT, EKS_CLUSTER = "eks:index:Cluster", "aws:eks/cluster:Cluster"
NODE_POOL, NODE_CLASS = "kubernetes:karpenter.sh/v1:NodePool", "kubernetes:eks.amazonaws.com/v1:NodeClass"
AUTO_MODE_EBS = "ebs.csi.eks.amazonaws.com"
WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
PODS = (*WORKLOADS, "kubernetes:batch/v1:Job")  # whatever runs containers: the container rules apply to all
LOG_TYPES = {"api", "audit", "authenticator", "controllerManager", "scheduler"}
WORLD = {"0.0.0.0/0", "::/0"}
MIN_LOG_RETENTION_DAYS = 365
MIN_PROD_REPLICAS = 3
ResourceCheck = Callable[[Mapping[str, Any], ResourceValidationArgs], Iterable[str]]
StackCheck = Callable[[Sequence[PolicyResource]], Iterable[tuple[str, str]]]


# --------------------------------------------------------------------------------------------------
# Helpers over engine-form properties


def _get(props: Mapping[str, Any], path: str, default: Any = None) -> Any:
    value: Any = props
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def _provider_tags(provider: PolicyProviderResource | None) -> Mapping[str, str]:
    """An AWS provider's default tags: engine form carries them as a JSON string, state as an object."""
    tags = (provider.props or {}).get("defaultTags") if provider else None
    if isinstance(tags, str):
        tags = json.loads(tags)
    return (tags or {}).get("tags", {}) if isinstance(tags, Mapping) else {}


def _provider_region(provider: PolicyProviderResource | None) -> str | None:
    return (provider.props or {}).get("region") if provider else None


def _containers(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    pod = _get(props, "spec.template.spec", {})
    return list(pod.get("containers") or []) + list(pod.get("initContainers") or [])


def _eks(props: Mapping[str, Any], component: str, resource: str, resource_type: str) -> Any:
    """The same setting on pulumi-eks's component (offline) or the aws.eks.Cluster it creates (CrossGuard)."""
    return _get(props, component if resource_type == EKS_COMPONENT else resource)


# --------------------------------------------------------------------------------------------------
# Rule definitions


@dataclass(frozen=True)
class Rule:
    name: str
    description: str  # what it demands, with the Checkov/CIS ids it follows
    types: tuple[str, ...]
    check: ResourceCheck

    def policy(self) -> ResourceValidationPolicy:
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if args.resource_type in self.types:
                for message in self.check(args.props, args):
                    report(message, None)
        return ResourceValidationPolicy(self.name, self.description, validate, EnforcementLevel.MANDATORY)


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    check: StackCheck

    def policy(self) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report: ReportViolation) -> None:
            for urn, message in self.check(args.resources):
                report(message, urn)
        return StackValidationPolicy(self.name, self.description, validate, EnforcementLevel.MANDATORY)


def _eks_logging(props, args):
    """CKV_AWS_37: all five control-plane log types."""
    enabled = _eks(props, "enabledClusterLogTypes", "enabledClusterLogTypes", args.resource_type) or []
    missing = sorted(LOG_TYPES - set(enabled))
    if missing:
        yield f"control-plane logs missing: {', '.join(missing)}"


def _eks_secrets(props, args):
    """CKV_AWS_58: Kubernetes secrets envelope-encrypted with a customer-managed KMS key."""
    key = _eks(props, "encryptionConfigKeyArn", "encryptionConfig.provider.keyArn", args.resource_type)
    if not key:
        yield "secrets are not encrypted with a customer-managed KMS key"


def _eks_private(props, args):
    """CKV_AWS_39: the API endpoint is private."""
    if _eks(props, "endpointPublicAccess", "vpcConfig.endpointPublicAccess", args.resource_type) is not False:
        yield "the Kubernetes API endpoint is public"


def _eks_not_world(props, args):
    """CKV_AWS_38: a public endpoint is never open to 0.0.0.0/0 (pulumi-eks's default when unset)."""
    public = _eks(props, "endpointPublicAccess", "vpcConfig.endpointPublicAccess", args.resource_type)
    cidrs = _eks(props, "publicAccessCidrs", "vpcConfig.publicAccessCidrs", args.resource_type)
    if public is not False and (not cidrs or WORLD & set(cidrs)):
        yield "the public Kubernetes API endpoint is open to the whole internet"


def _eks_version(props, args):
    """CKV_AWS_339: a Kubernetes version in EKS standard support (past its end date it bills extended support)."""
    today = config_models.today()
    ends = EKS_STANDARD_SUPPORT_ENDS.get(str(props.get("version")))
    if ends is None or ends <= today:
        supported = [v for v, end in EKS_STANDARD_SUPPORT_ENDS.items() if end > today]
        yield f"version {props.get('version')} is not in standard support ({', '.join(supported)})"


def _auto_mode(props, args):
    """EKS Auto Mode runs compute, storage and load balancing: nodes come when the HPAs need them, no one
    scales a node group during a failover."""
    enabled = _eks(props, "autoMode.enabled", "computeConfig.enabled", args.resource_type)
    if enabled is not True:
        yield "the cluster does not run on EKS Auto Mode"


def _node_pool_limits(props, args):
    """A NodePool caps its CPU and memory (the plan proves the caps hold a region's peak after a failover):
    without limits a runaway HPA buys instances without end."""
    limits = _get(props, "spec.limits") or {}
    missing = [resource for resource in ("cpu", "memory") if not limits.get(resource)]
    if missing:
        yield f"the NodePool has no {' or '.join(missing)} limit"


def _node_class_private_encrypted(props, args):
    """A NodeClass names its subnets by id (never a tag any subnet could carry) and encrypts the nodes'
    volumes with a customer-managed key (CKV_AWS_3 asks the same of every EBS volume)."""
    terms = _get(props, "spec.subnetSelectorTerms") or []
    if not terms or any(set(term) != {"id"} for term in terms):
        yield "the NodeClass selects subnets by something other than their ids"
    if not _get(props, "spec.ephemeralStorage.kmsKeyID"):
        yield "the nodes' volumes are not encrypted with a customer-managed key"


def _no_load_balancer_service(props, args):
    """No Service makes a load balancer of its own: an app's public entry is the ALB the program owns
    (entry.PublicEntry), which the alarms watch and the DNS records alias; a controller's would be neither."""
    if (props.get("spec") or {}).get("type") in ("LoadBalancer", "NodePort"):
        yield f"the Service is of type {props['spec']['type']}: expose the app through its PublicEntry"


def _storage_class_encrypted(props, args):
    """CKV_AWS_3 family: volumes from a StorageClass are encrypted with a customer-managed key, through Auto
    Mode's EBS provisioner."""
    parameters = props.get("parameters") or {}
    if props.get("provisioner") != AUTO_MODE_EBS:
        yield f"the provisioner {props.get('provisioner')} does not run on Auto Mode"
    if str(parameters.get("encrypted")).lower() != "true" or not parameters.get("kmsKeyId"):
        yield "volumes are not encrypted with a customer-managed key"


def _kms_rotation(props, args):
    """CKV_AWS_7: customer-managed symmetric keys rotate (KMS cannot rotate asymmetric ones, such as the
    DNSSEC signing key)."""
    symmetric = props.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    if symmetric and props.get("enableKeyRotation") is not True:
        yield "key rotation is off"


def _log_retention(props, args):
    """CKV_AWS_66 / CKV_AWS_338: log groups expire, after at least a year."""
    days = props.get("retentionInDays")
    if not days or days < MIN_LOG_RETENTION_DAYS:
        yield f"retention is {days or 'unlimited'} days; keep {MIN_LOG_RETENTION_DAYS} or more (and not forever)"


def _log_kms(props, args):
    """CKV_AWS_158: log groups are encrypted with a customer-managed KMS key."""
    if not props.get("kmsKeyId"):
        yield "the log group is not encrypted with a KMS key"


def _no_public_ips(props, args):
    """CKV_AWS_130: subnets never hand out public IPs on launch."""
    if props.get("mapPublicIpOnLaunch"):
        yield "instances launched here get public IPs"


def _no_world_ingress(props, args):
    """CKV_AWS_24/25/260/277: no ingress from the whole internet, except a public load balancer's listener
    port (HTTP or HTTPS alone, on a rule tagged as such: entry.PUBLIC_LISTENER_TAG)."""
    if (props.get("tags") or {}).get(PUBLIC_LISTENER_TAG) == "true" \
            and props.get("fromPort") == props.get("toPort") in PUBLIC_LISTENER_PORTS:
        return
    rules = props.get("ingress") or []
    if args.resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        rules = [props] if props.get("type") == "ingress" else []
    if args.resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        rules = [{"cidrBlocks": [props.get("cidrIpv4")], "ipv6CidrBlocks": [props.get("cidrIpv6")],
                  "fromPort": props.get("fromPort"), "toPort": props.get("toPort")}]
    for rule in rules:
        if WORLD & set((rule.get("cidrBlocks") or []) + (rule.get("ipv6CidrBlocks") or [])):
            yield f"ingress on ports {rule.get('fromPort')}-{rule.get('toPort')} is open to the internet"


def _default_sg_closed(props, args):
    """CKV2_AWS_12: the default security group allows nothing."""
    if props.get("ingress") or props.get("egress"):
        yield "the default security group has rules"


def _probes(props, args):
    """CKV_K8S_8/9: liveness and readiness probes."""
    for container in _get(props, "spec.template.spec.containers", []) or []:
        for probe in ("livenessProbe", "readinessProbe"):
            if not container.get(probe):
                yield f"container {container.get('name')} has no {probe}"


def _resources(props, args):
    """CKV_K8S_10-13: CPU and memory requests and limits."""
    for container in _containers(props):
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not _get(container, f"resources.{kind}.{resource}"):
                    yield f"container {container.get('name')} has no {resource} {kind[:-1]}"


def _image_pinned(props, args):
    """CKV_K8S_14/43: images are pinned by digest (`release` pins them; a registry can move a tag)."""
    for container in _containers(props):
        _, tag, digest = split_image(str(container.get("image", "")))
        if not digest:
            yield (f"container {container.get('name')} runs {container.get('image')} by "
                   f"{'tag' if tag not in (None, 'latest') else 'no version'}: pin a digest")


def _security_context(field: str, expected: Any, what: str) -> ResourceCheck:
    def check(props, args):
        pod = _get(props, "spec.template.spec.securityContext", {}) or {}
        for container in _containers(props):
            value = _get(container, f"securityContext.{field}", pod.get(field))
            if value != expected:
                yield f"container {container.get('name')} {what}"
    return check


def _drop_capabilities(props, args):
    """CKV_K8S_28/37: all capabilities dropped (so NET_RAW too)."""
    for container in _containers(props):
        dropped = set(_get(container, "securityContext.capabilities.drop", []) or [])
        if not {"ALL"} & dropped:
            yield f"container {container.get('name')} keeps Linux capabilities (drop ALL)"


def _namespaced(props, args):
    """CKV_K8S_21: nothing in the default namespace."""
    if _get(props, "metadata.namespace") in (None, "", "default"):
        yield "the object lives in the default namespace"


def _topology_spread(props, args):
    """Pods spread across zones, so losing an AZ loses a fraction of the replicas."""
    keys = {c.get("topologyKey") for c in _get(props, "spec.template.spec.topologySpreadConstraints", []) or []}
    if "topology.kubernetes.io/zone" not in keys:
        yield "pods are not spread across availability zones"


def _prod_replicas(props, args):
    """Active prod workloads run at least three replicas: one per AZ survives the loss of one."""
    annotations = _get(props, "metadata.annotations", {}) or {}
    if annotations.get(ENVIRONMENT_ANNOTATION) == "prod" and annotations.get(ROLE_ANNOTATION) == "active":
        replicas = _get(props, "spec.replicas", 1)
        if replicas < MIN_PROD_REPLICAS:
            yield f"{replicas} replicas in the active prod region; run at least {MIN_PROD_REPLICAS}"


def _vault_cmk(props, args):
    """CKV_AWS_166: backup vaults encrypt with a customer-managed KMS key."""
    if not props.get("kmsKeyArn"):
        yield "the vault uses the AWS-managed key"


RDS_CLUSTER, RDS_INSTANCE = "aws:rds/cluster:Cluster", "aws:rds/clusterInstance:ClusterInstance"
MIN_DATABASE_BACKUP_DAYS = 7


def _db_encrypted(props, args):
    """CKV_AWS_96, CKV_AWS_327: Aurora storage is encrypted with a customer-managed key."""
    if props.get("storageEncrypted") is not True or not props.get("kmsKeyId"):
        yield "storage is not encrypted with a customer-managed KMS key"


def _db_private(props, args):
    """CKV_AWS_17: no database instance is publicly accessible."""
    if props.get("publiclyAccessible") is not False:
        yield "the instance is (or may be) publicly accessible"


def _db_protected(props, args):
    """CKV_AWS_139: prod databases carry deletion protection and Pulumi's `protect`."""
    if _provider_tags(args.provider).get("Environment") == "prod" and not (
            props.get("deletionProtection") is True and args.opts.protect):
        yield "a prod database without deletion protection and protect"


MONITORING_INTERVALS = (1, 5, 10, 15, 30, 60)  # what Checkov's CKV_AWS_118 accepts (RDSEnhancedMonitorEnabled)


def _db_enhanced_monitoring(props, args):
    """CKV_AWS_118: every database instance reports OS metrics (enhanced monitoring, through a role)."""
    if props.get("monitoringInterval") not in MONITORING_INTERVALS or not props.get("monitoringRoleArn"):
        yield "enhanced monitoring is off (monitoringInterval 1-60 s with a monitoringRoleArn)"


def _db_performance_insights(props, args):
    """CKV_AWS_353/354: every database instance keeps Performance Insights, on a customer-managed key."""
    if props.get("performanceInsightsEnabled") is not True or not props.get("performanceInsightsKmsKeyId"):
        yield "Performance Insights is off or not on a customer-managed key"


def _db_iam_auth(props, args):
    """CKV_AWS_162: IAM database authentication is on (apps hold no database passwords)."""
    if props.get("iamDatabaseAuthenticationEnabled") is not True:
        yield "IAM database authentication is off"


def _run_time_state_left_alone(props, args):
    """What the Region switch, Aurora and the autoscalers change while the platform runs (the replication
    source and engine version of a global database's clusters, the master credentials, HPA minima, replica
    counts) is declared at creation only: `ignore_changes`, so the next `up` after a switch keeps what it did
    (mercur/components/runtime_state.py names each field and the AWS document that says it changes)."""
    for field in runtime_state.missing(args.resource_type, props, list(args.opts.ignore_changes or [])):
        yield f"manages {field}, which changes at run time: list it in ignore_changes"


def _db_backups(props, args):
    """CKV_AWS_133 family: automated backups (and point-in-time restore) kept a week at least."""
    if (props.get("backupRetentionPeriod") or 1) < MIN_DATABASE_BACKUP_DAYS:
        yield f"backups kept {props.get('backupRetentionPeriod') or 1} days; keep {MIN_DATABASE_BACKUP_DAYS} or more"


def _deep_https_health(props, args):
    """Route53 health checks probe an HTTPS application path, not just the port or `/`."""
    if props.get("type") != "HTTPS":
        yield f"the health check speaks {props.get('type')}, not HTTPS"
    if props.get("resourcePath") in (None, "", "/"):
        yield "the health check probes `/` instead of the application's health path"


def _short_ttl(props, args):
    """Failover records change answers within a minute: TTL <= 60 s (alias records use the target's)."""
    if not props.get("aliases") and (props.get("ttl") or 300) > 60:
        yield f"TTL {props.get('ttl')} s delays failover; use 60 s or less, or an alias record"


# Stack rules: relations between resources.


def _by_provider(resources: Sequence[PolicyResource], type_: str) -> dict[str | None, list[PolicyResource]]:
    grouped: dict[str | None, list[PolicyResource]] = defaultdict(list)
    for resource in resources:
        if resource.resource_type == type_:
            grouped[resource.provider.urn if resource.provider else None].append(resource)
    return grouped


def _flow_logs(resources):
    """CKV2_AWS_11: every VPC has flow logs."""
    logs = _by_provider(resources, "aws:ec2/flowLog:FlowLog")
    for provider, vpcs in _by_provider(resources, "aws:ec2/vpc:Vpc").items():
        logged = [log for log in logs.get(provider, []) if log.props.get("vpcId")]
        for vpc in vpcs[len(logged):]:
            yield vpc.urn, "the VPC has no flow log"


def _default_sg_managed(resources):
    """CKV2_AWS_12: every VPC's default security group is managed (and so closed)."""
    managed = _by_provider(resources, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    for provider, vpcs in _by_provider(resources, "aws:ec2/vpc:Vpc").items():
        for vpc in vpcs[len(managed.get(provider, [])):]:
            yield vpc.urn, "the VPC's default security group keeps AWS's allow rules"


def _nodes_private(resources):
    """Nodes and control-plane ENIs stay in private subnets: clusters get private subnets only (Auto Mode's
    system pool uses them) and every NodeClass names some of them."""
    private: set[str] = set()
    for cluster in (r for r in resources if r.resource_type == EKS_COMPONENT):
        private.update(cluster.props.get("privateSubnetIds") or [])
        if cluster.props.get("publicSubnetIds"):
            yield cluster.urn, "the cluster's ENIs and system nodes may land in public subnets"
    for node_class in (r for r in resources if r.resource_type == NODE_CLASS):
        subnets = {term.get("id") for term in _get(node_class.props, "spec.subnetSelectorTerms") or []}
        if private and not subnets <= private:
            yield node_class.urn, "nodes are placed outside the private subnets"


def _pod_identities(resources):
    """Every workload's service account has a Pod Identity association in each cluster it runs on: without
    one the app runs with no AWS identity (or, worse, the node's)."""
    associations = defaultdict(int)
    for association in (r for r in resources if r.resource_type == "aws:eks/podIdentityAssociation:PodIdentityAssociation"):
        associations[(association.props.get("namespace"), association.props.get("serviceAccount"))] += 1
    needed: dict[tuple, list[PolicyResource]] = defaultdict(list)
    for workload in (r for r in resources if r.resource_type in PODS):
        account = _get(workload.props, "spec.template.spec.serviceAccountName") or "default"
        needed[(_get(workload.props, "metadata.namespace"), account)].append(workload)
    for key, workloads in needed.items():
        for workload in workloads[associations.get(key, 0):]:
            yield workload.urn, f"service account {key[1]} has no Pod Identity association on this cluster"


def _disruption_budgets(resources):
    """Every workload has a PodDisruptionBudget selecting its pods."""
    def key(resource: PolicyResource) -> tuple:  # the cluster (its provider), namespace and selector
        return (resource.provider.urn if resource.provider else None, _get(resource.props, "metadata.namespace"),
                json.dumps(_get(resource.props, "spec.selector"), sort_keys=True))

    budgets = {key(r) for r in resources if r.resource_type == "kubernetes:policy/v1:PodDisruptionBudget"}
    for workload in (r for r in resources if r.resource_type in WORKLOADS):
        if key(workload) not in budgets:
            yield workload.urn, "no PodDisruptionBudget covers this workload"


def _vault_lock_in_prod(resources):
    """Prod vaults carry a vault lock (recovery points cannot be deleted early, even by an admin)."""
    locked = {_get(r.props, "backupVaultName") for r in resources
              if r.resource_type == "aws:backup/vaultLockConfiguration:VaultLockConfiguration"}
    for vault in (r for r in resources if r.resource_type == "aws:backup/vault:Vault"):
        if _provider_tags(vault.provider).get("Environment") == "prod" and vault.props.get("name") not in locked:
            yield vault.urn, "the prod vault has no vault lock"


def _copied_to_peer(resources):
    """Outside dev, every backup rule copies to a vault in another region, and every vault's region has a plan."""
    plans = [r for r in resources if r.resource_type == "aws:backup/plan:Plan"
             and _provider_tags(r.provider).get("Environment") != "dev"]
    for plan in plans:
        region = _provider_region(plan.provider)
        for rule in plan.props.get("rules") or []:
            targets = [str(c.get("destinationVaultArn", "")).split(":") for c in rule.get("copyActions") or []]
            if not any(len(arn) > 3 and arn[3] not in ("", region) for arn in targets):
                yield plan.urn, f"rule {rule.get('ruleName')} keeps its backups in {region} only"
    planned = {_provider_region(plan.provider) for plan in plans}
    for vault in (r for r in resources if r.resource_type == "aws:backup/vault:Vault"):
        if _provider_tags(vault.provider).get("Environment") != "dev" and _provider_region(vault.provider) not in planned:
            yield vault.urn, "no backup plan fills this vault's region"


def _failover_pairs(resources):
    """Failover records come as PRIMARY + SECONDARY of one name and type (a lone PRIMARY while the other
    regions retire), distinct set ids, all health-checked."""
    sets: dict[tuple[str, str], list[PolicyResource]] = defaultdict(list)
    for record in (r for r in resources if r.resource_type == "aws:route53/record:Record"):
        if record.props.get("failoverRoutingPolicies"):
            sets[(record.props.get("name"), record.props.get("type"))].append(record)
    for (name, _), records in sets.items():
        kinds = sorted(r.props["failoverRoutingPolicies"][0].get("type") for r in records)
        if kinds not in (["PRIMARY", "SECONDARY"], ["PRIMARY"]):
            yield records[0].urn, f"{name} has failover records {kinds}, not one PRIMARY and one SECONDARY"
        if len({r.props.get("setIdentifier") for r in records}) != len(records):
            yield records[0].urn, f"{name}'s failover records share a set identifier"
        for record in records:
            nested = any(a.get("evaluateTargetHealth") for a in record.props.get("aliases") or [])
            if not record.props.get("healthCheckId") and not nested:
                yield record.urn, f"{name}'s {record.props['failoverRoutingPolicies'][0].get('type')} is not health-checked"


def _db_tls(resources):
    """CKV2_AWS_69: every Aurora PostgreSQL cluster's parameter group forces TLS (rds.force_ssl = 1)."""
    forcing = {r.props.get("name") for r in resources
               if r.resource_type == "aws:rds/clusterParameterGroup:ClusterParameterGroup"
               and any(p.get("name") == "rds.force_ssl" and str(p.get("value")) == "1"
                       for p in r.props.get("parameters") or [])}
    for cluster in (r for r in resources if r.resource_type == RDS_CLUSTER):
        if cluster.props.get("dbClusterParameterGroupName") not in forcing:
            yield cluster.urn, "the cluster accepts connections without TLS"


def _db_lag_alarms(resources):
    """Every cluster of a global database has an alarm on its replication lag (the RPO of a region's loss):
    whichever trails the writer, after any switchover."""
    watched = {_get(r.props, "dimensions.DBClusterIdentifier") for r in resources
               if r.resource_type == "aws:cloudwatch/metricAlarm:MetricAlarm"
               and r.props.get("metricName") == "AuroraGlobalDBReplicationLag"}
    for cluster in (r for r in resources if r.resource_type == RDS_CLUSTER):
        if cluster.props.get("globalClusterIdentifier") and cluster.props.get("clusterIdentifier") not in watched:
            yield cluster.urn, "nothing alarms on this cluster's replication lag"


def _db_in_every_region(resources):
    """A multi-region stack's database spans every region with a cluster: each region's Aurora cluster
    joins the global database (a region without one would fail over to nothing)."""
    if not any(r.resource_type == "aws:rds/globalCluster:GlobalCluster" for r in resources):
        return
    joined = {_provider_region(r.provider) for r in resources
              if r.resource_type == RDS_CLUSTER and r.props.get("globalClusterIdentifier")}
    for cluster in (r for r in resources if r.resource_type in (EKS_COMPONENT, EKS_CLUSTER)):
        if _provider_region(cluster.provider) not in joined:
            yield cluster.urn, "this region has no cluster in the global database"


SWITCH_PLAN = "aws:arcregionswitch/plan:Plan"


def _switch_approved(props, args):
    """In prod a person approves every Region switch: each workflow starts with a manual approval."""
    if _provider_tags(args.provider).get("Environment") != "prod":
        return
    for workflow in props.get("workflows") or []:
        steps = workflow.get("steps") or []
        if not steps or steps[0].get("executionBlockType") != "ManualApproval":
            yield f"activating {workflow.get('workflowTargetRegion')} needs no approval"


def _switch_watched(props, args):
    """A Region switch plan has an RTO and watches each of its regions' health (its associated alarms)."""
    if not props.get("recoveryTimeObjectiveMinutes"):
        yield "the plan has no recovery time objective"
    watched = {a.get("mapBlockKey", "").removesuffix("-health") for a in props.get("associatedAlarms") or []
               if a.get("alarmType") == "applicationHealth"}
    missing = sorted(set(props.get("regions") or []) - watched)
    if missing:
        yield f"no application-health alarm for {', '.join(missing)}"


def _switch_covers_every_region(resources):
    """A two-region stack has a Region switch plan with a workflow activating each of its regions."""
    regions = {_provider_region(r.provider) for r in resources if r.resource_type in (EKS_COMPONENT, EKS_CLUSTER)}
    plans = [r for r in resources if r.resource_type == SWITCH_PLAN]
    if len(regions) != 2 and not plans:
        return  # one region: nothing to switch to; three or more: DNS fails over down the chain
    covered = {w.get("workflowTargetRegion") for p in plans for w in p.props.get("workflows") or []}
    if not plans:
        cluster = next(r for r in resources if r.resource_type in (EKS_COMPONENT, EKS_CLUSTER))
        yield cluster.urn, "two regions and no Region switch plan to move between them"
    for region in sorted(regions - covered):
        for plan in plans:
            yield plan.urn, f"no workflow activates {region}"


def _private_api_reachable(resources):
    """A private Kubernetes API has a deploy path: in its region a Transit Gateway attachment to the
    deployer network and a rule admitting 443 from it (a public listener's, from anywhere, is not one).
    Without one every Kubernetes object times out."""
    attached = set(_by_provider(resources, "aws:ec2transitgateway/vpcAttachment:VpcAttachment"))
    admitted = {provider for provider, rules in _by_provider(
        resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").items()
        if any(r.props.get("fromPort") == 443 and r.props.get("toPort") == 443
               and r.props.get("cidrIpv4") and r.props.get("cidrIpv4") not in WORLD for r in rules)}
    for cluster in (r for r in resources if r.resource_type in (EKS_COMPONENT, EKS_CLUSTER)):
        if _eks(cluster.props, "endpointPublicAccess", "vpcConfig.endpointPublicAccess",
                cluster.resource_type) is not False:
            continue
        provider = cluster.provider.urn if cluster.provider else None
        if provider not in attached or provider not in admitted:
            yield cluster.urn, "the private API has no deploy path: attach the deployer network " \
                               "(mercur:deploy.network) and admit 443 from it"


def _topics_subscribed(resources):
    """Every SNS topic has a subscriber (the on-call endpoints of mercur:alerts): an alert nobody receives is
    no alert."""
    subscribed = {(r.parent.urn if r.parent else None) for r in resources
                  if r.resource_type == "aws:sns/topicSubscription:TopicSubscription"}
    for topic in (r for r in resources if r.resource_type == "aws:sns/topic:Topic"):
        if (topic.parent.urn if topic.parent else None) not in subscribed:
            yield topic.urn, "nobody is subscribed to this topic: set mercur:alerts"


def _alarm_per_health_check(resources):
    """Every Route53 health check has a CloudWatch alarm (in us-east-1, where its metric lives)."""
    # An alarm names its health check by id, which exists only once created: count them instead.
    alarms = [r for r in resources if r.resource_type == "aws:cloudwatch/metricAlarm:MetricAlarm"
              and r.props.get("namespace") == "AWS/Route53" and _provider_region(r.provider) == "us-east-1"]
    checks = [r for r in resources if r.resource_type == "aws:route53/healthCheck:HealthCheck"]
    for check in checks[len(alarms):]:
        yield check.urn, "the health check has no alarm in us-east-1"


def _alarms_act(resources):
    """Every alarm sends its ALARM state somewhere (an alarm with no action pages no one), except those a
    Region switch plan's triggers read: ARC acts on them, and the detection alarm on the same metric pages."""
    triggers = set()
    for plan in (r for r in resources if r.resource_type == SWITCH_PLAN):
        keys = {c.get("associatedAlarmName") for t in plan.props.get("triggers") or [] for c in t.get("conditions") or []}
        triggers |= {str(a.get("resourceIdentifier", "")).rsplit(":", 1)[-1]
                     for a in plan.props.get("associatedAlarms") or [] if a.get("mapBlockKey") in keys}
    for alarm in (r for r in resources if r.resource_type == "aws:cloudwatch/metricAlarm:MetricAlarm"):
        if not alarm.props.get("alarmActions") and alarm.props.get("name") not in triggers:
            yield alarm.urn, "the alarm has no alarm action (and no Region switch trigger reads it)"


def _app_alarms(resources):
    """Every app that serves traffic has, in each region it runs in, an alarm with an action on each thing
    users feel (tags.APP_SIGNALS): 5xx, p99 response time, connection errors and healthy targets at its load
    balancer, its error budget burning, ready pods below its floor and restarts."""
    alarms = Counter(((r.props.get("tags") or {}).get(APP_TAG), (r.props.get("tags") or {}).get(SIGNAL_TAG))
                     for r in resources
                     if r.resource_type == "aws:cloudwatch/metricAlarm:MetricAlarm" and r.props.get("alarmActions"))
    workloads = Counter(_get(r.props, "metadata.name") for r in resources if r.resource_type in WORKLOADS)
    for workload in (r for r in resources if r.resource_type in WORKLOADS):
        app = _get(workload.props, "metadata.name")
        missing = [signal for signal in APP_SIGNALS if alarms[(app, signal)] < workloads[app]]
        if missing:
            yield workload.urn, f"no alarm with an action on {', '.join(missing)} for every region it runs in"


RESOURCE_RULES: tuple[Rule, ...] = (
    Rule("eks-control-plane-logging", _eks_logging.__doc__, (EKS_COMPONENT, EKS_CLUSTER), _eks_logging),
    Rule("eks-secrets-encryption", _eks_secrets.__doc__, (EKS_COMPONENT, EKS_CLUSTER), _eks_secrets),
    Rule("eks-endpoint-private", _eks_private.__doc__, (EKS_COMPONENT, EKS_CLUSTER), _eks_private),
    Rule("eks-endpoint-not-world-open", _eks_not_world.__doc__, (EKS_COMPONENT, EKS_CLUSTER), _eks_not_world),
    Rule("eks-supported-version", _eks_version.__doc__, (EKS_COMPONENT, EKS_CLUSTER), _eks_version),
    Rule("eks-auto-mode", _auto_mode.__doc__, (EKS_COMPONENT, EKS_CLUSTER), _auto_mode),
    Rule("eks-node-pool-limits", _node_pool_limits.__doc__, (NODE_POOL,), _node_pool_limits),
    Rule("eks-node-class-private-encrypted", _node_class_private_encrypted.__doc__, (NODE_CLASS,),
         _node_class_private_encrypted),
    Rule("k8s-no-load-balancer-service", _no_load_balancer_service.__doc__, ("kubernetes:core/v1:Service",),
         _no_load_balancer_service),
    Rule("k8s-storage-class-encrypted", _storage_class_encrypted.__doc__,
         ("kubernetes:storage.k8s.io/v1:StorageClass",), _storage_class_encrypted),
    Rule("kms-key-rotation", _kms_rotation.__doc__, ("aws:kms/key:Key",), _kms_rotation),
    Rule("log-group-retention", _log_retention.__doc__, ("aws:cloudwatch/logGroup:LogGroup",), _log_retention),
    Rule("log-group-kms", _log_kms.__doc__, ("aws:cloudwatch/logGroup:LogGroup",), _log_kms),
    Rule("subnet-no-public-ip", _no_public_ips.__doc__, ("aws:ec2/subnet:Subnet",), _no_public_ips),
    Rule("no-world-ingress", _no_world_ingress.__doc__, (
        "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"), _no_world_ingress),
    Rule("default-security-group-closed", _default_sg_closed.__doc__,
         ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",), _default_sg_closed),
    Rule("k8s-probes", _probes.__doc__, WORKLOADS, _probes),
    Rule("k8s-requests-and-limits", _resources.__doc__, PODS, _resources),
    Rule("k8s-image-pinned", _image_pinned.__doc__, PODS, _image_pinned),
    Rule("k8s-no-privilege-escalation", "CKV_K8S_20: containers cannot gain privileges.", PODS,
         _security_context("allowPrivilegeEscalation", False, "allows privilege escalation")),
    Rule("k8s-not-privileged", "CKV_K8S_16: no privileged containers.", PODS,
         _security_context("privileged", False, "is not explicitly unprivileged")),
    Rule("k8s-read-only-root", "CKV_K8S_22: read-only root filesystems.", PODS,
         _security_context("readOnlyRootFilesystem", True, "has a writable root filesystem")),
    Rule("k8s-run-as-non-root", "CKV_K8S_23: containers run as a non-root user.", PODS,
         _security_context("runAsNonRoot", True, "may run as root")),
    Rule("k8s-drop-capabilities", _drop_capabilities.__doc__, PODS, _drop_capabilities),
    Rule("k8s-not-default-namespace", _namespaced.__doc__, (*PODS, "kubernetes:core/v1:Service"), _namespaced),
    Rule("k8s-topology-spread", _topology_spread.__doc__, WORKLOADS, _topology_spread),
    Rule("k8s-prod-replicas", _prod_replicas.__doc__, WORKLOADS, _prod_replicas),
    Rule("backup-vault-cmk", _vault_cmk.__doc__, ("aws:backup/vault:Vault",), _vault_cmk),
    Rule("region-switch-approval-in-prod", _switch_approved.__doc__, (SWITCH_PLAN,), _switch_approved),
    Rule("region-switch-rto-and-alarms", _switch_watched.__doc__, (SWITCH_PLAN,), _switch_watched),
    Rule("rds-encrypted-cmk", _db_encrypted.__doc__, (RDS_CLUSTER,), _db_encrypted),
    Rule("rds-not-public", _db_private.__doc__, (RDS_INSTANCE,), _db_private),
    Rule("rds-enhanced-monitoring", _db_enhanced_monitoring.__doc__, (RDS_INSTANCE,), _db_enhanced_monitoring),
    Rule("rds-performance-insights", _db_performance_insights.__doc__, (RDS_INSTANCE,), _db_performance_insights),
    Rule("rds-protected-in-prod", _db_protected.__doc__, (RDS_CLUSTER,), _db_protected),
    Rule("rds-iam-authentication", _db_iam_auth.__doc__, (RDS_CLUSTER,), _db_iam_auth),
    Rule("rds-backup-retention", _db_backups.__doc__, (RDS_CLUSTER,), _db_backups),
    Rule("run-time-state-left-alone", _run_time_state_left_alone.__doc__,
         tuple(sorted({state.resource_type for state in runtime_state.CONTRACT if state.fields})),
         _run_time_state_left_alone),
    Rule("route53-https-deep-health-check", _deep_https_health.__doc__, ("aws:route53/healthCheck:HealthCheck",),
         _deep_https_health),
    Rule("route53-short-ttl", _short_ttl.__doc__, ("aws:route53/record:Record",), _short_ttl),
)

STACK_RULES: tuple[StackRule, ...] = (
    StackRule("vpc-flow-logs", _flow_logs.__doc__, _flow_logs),
    StackRule("vpc-default-security-group-managed", _default_sg_managed.__doc__, _default_sg_managed),
    StackRule("eks-nodes-in-private-subnets", _nodes_private.__doc__, _nodes_private),
    StackRule("eks-pod-identity-per-workload", _pod_identities.__doc__, _pod_identities),
    StackRule("k8s-disruption-budgets", _disruption_budgets.__doc__, _disruption_budgets),
    StackRule("backup-vault-lock-in-prod", _vault_lock_in_prod.__doc__, _vault_lock_in_prod),
    StackRule("backup-copied-to-peer-region", _copied_to_peer.__doc__, _copied_to_peer),
    StackRule("route53-failover-pair", _failover_pairs.__doc__, _failover_pairs),
    StackRule("route53-alarm-per-health-check", _alarm_per_health_check.__doc__, _alarm_per_health_check),
    StackRule("eks-private-api-deploy-path", _private_api_reachable.__doc__, _private_api_reachable),
    StackRule("sns-topic-subscribed", _topics_subscribed.__doc__, _topics_subscribed),
    StackRule("rds-tls-enforced", _db_tls.__doc__, _db_tls),
    StackRule("region-switch-covers-every-region", _switch_covers_every_region.__doc__,
              _switch_covers_every_region),
    StackRule("rds-replication-lag-alarm", _db_lag_alarms.__doc__, _db_lag_alarms),
    StackRule("rds-global-in-every-region", _db_in_every_region.__doc__, _db_in_every_region),
    StackRule("app-slo-alarms", _app_alarms.__doc__, _app_alarms),
    StackRule("alarm-has-action", _alarms_act.__doc__, _alarms_act),
)


def all_policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    """Fresh policy objects for a PolicyPack (the pack and the plan each build their own)."""
    return [rule.policy() for rule in RESOURCE_RULES] + [rule.policy() for rule in STACK_RULES]
