"""mercur.offline.policies: each rule passes a known-good resource and fires, alone, on each violation.

Known-good resources are taken from prod's plan; each case changes one thing, the way Checkov and Pulumi's
compliance-policies test their rules.
"""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from pulumi_policy import (PolicyCustomTimeouts, PolicyProviderResource, PolicyResource, PolicyResourceOptions,
                           ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs,
                           StackValidationPolicy)

from mercur.components.tags import APP_SIGNALS
from mercur.offline import policies
from mercur.offline.synth import Plan, Resource
from conftest import ROOT, parse_python

OPTIONS = PolicyResourceOptions(True, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])  # protected, as in prod


def _provider(environment: str = "prod", region: str = "us-west-1") -> PolicyProviderResource:
    tags = json.dumps({"tags": {"Environment": environment, "Project": "mercur"}})
    return PolicyProviderResource("pulumi:providers:aws", {"region": region, "defaultTags": tags},
                                  f"urn:pulumi:x::mercur::pulumi:providers:aws::{region}", region)


def fired(resource_type: str, props: dict, provider: PolicyProviderResource | None = None,
          options: PolicyResourceOptions = OPTIONS) -> set[str]:
    """Names of the resource rules that report a violation for these properties."""
    names: set[str] = set()
    for policy in policies.all_policies():
        if isinstance(policy, ResourceValidationPolicy):
            args = ResourceValidationArgs(resource_type, props, "urn:x", "x", options, provider or _provider())
            policy.validate(args, lambda message, urn=None, name=policy.name: names.add(name))
    return names


def fired_on_stack(resources: list[PolicyResource]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for policy in policies.all_policies():
        if isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(resources),
                            lambda message, urn=None, name=policy.name: found.setdefault(name, []).append(urn))
    return found


def _good(plan: Plan, type_: str, **where: Any) -> dict:
    resource = next(r for r in plan.of_type(type_) if all(getattr(r, k) == v for k, v in where.items()))
    return copy.deepcopy(dict(resource.inputs))


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def change(props: dict) -> None:
        *parents, leaf = path.split(".")
        target = props
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is DELETE:
            del target[leaf]
        else:
            target[leaf] = value
    return change


DELETE = object()
CONTAINER = "spec.template.spec.containers.0"

# rule -> (resource type, one violation per case)
VIOLATIONS: dict[str, tuple[str, list[Callable[[dict], None]]]] = {
    "eks-control-plane-logging": ("eks:index:Cluster", [_set("enabledClusterLogTypes", ["api", "audit"])]),
    "eks-secrets-encryption": ("eks:index:Cluster", [_set("encryptionConfigKeyArn", DELETE)]),
    "eks-endpoint-private": ("eks:index:Cluster", [lambda p: p.update(endpointPublicAccess=True,
                                                                      publicAccessCidrs=["198.51.100.0/24"])]),
    "eks-supported-version": ("eks:index:Cluster", [_set("version", "1.29")]),
    "eks-auto-mode": ("eks:index:Cluster", [_set("autoMode.enabled", False), _set("autoMode", DELETE)]),
    "eks-node-pool-limits": (policies.NODE_POOL, [_set("spec.limits", DELETE), _set("spec.limits.memory", DELETE)]),
    "eks-node-class-private-encrypted": (policies.NODE_CLASS, [
        _set("spec.subnetSelectorTerms", [{"tags": {"kubernetes.io/role/internal-elb": "1"}}]),
        _set("spec.ephemeralStorage.kmsKeyID", DELETE)]),
    "k8s-no-load-balancer-service": ("kubernetes:core/v1:Service", [_set("spec.type", "LoadBalancer"),
                                                                    _set("spec.type", "NodePort")]),
    "k8s-storage-class-encrypted": ("kubernetes:storage.k8s.io/v1:StorageClass", [
        _set("parameters.kmsKeyId", DELETE), _set("parameters.encrypted", "false"),
        _set("provisioner", "ebs.csi.aws.com")]),
    "kms-key-rotation": ("aws:kms/key:Key", [_set("enableKeyRotation", False), _set("enableKeyRotation", DELETE)]),
    "log-group-retention": ("aws:cloudwatch/logGroup:LogGroup", [_set("retentionInDays", 90),
                                                                 _set("retentionInDays", DELETE)]),
    "log-group-kms": ("aws:cloudwatch/logGroup:LogGroup", [_set("kmsKeyId", DELETE)]),
    "subnet-no-public-ip": ("aws:ec2/subnet:Subnet", [_set("mapPublicIpOnLaunch", True)]),
    "default-security-group-closed": ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", [
        _set("ingress", [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}])]),
    "k8s-probes": ("kubernetes:apps/v1:Deployment", [_set(f"{CONTAINER}.readinessProbe", DELETE),
                                                     _set(f"{CONTAINER}.livenessProbe", DELETE)]),
    "k8s-requests-and-limits": ("kubernetes:apps/v1:Deployment", [_set(f"{CONTAINER}.resources.limits", {}),
                                                                  _set(f"{CONTAINER}.resources.requests", DELETE)]),
    "k8s-image-pinned": ("kubernetes:apps/v1:Deployment", [_set(f"{CONTAINER}.image", "ghcr.io/m/app:latest"),
                                                           _set(f"{CONTAINER}.image", "ghcr.io/m/app"),
                                                           _set(f"{CONTAINER}.image", "ghcr.io/m/app:1.2.3")]),
    "k8s-no-privilege-escalation": ("kubernetes:apps/v1:Deployment",
                                    [_set(f"{CONTAINER}.securityContext.allowPrivilegeEscalation", True)]),
    "k8s-not-privileged": ("kubernetes:apps/v1:Deployment", [_set(f"{CONTAINER}.securityContext.privileged", True)]),
    "k8s-read-only-root": ("kubernetes:apps/v1:Deployment",
                           [_set(f"{CONTAINER}.securityContext.readOnlyRootFilesystem", False)]),
    "k8s-run-as-non-root": ("kubernetes:apps/v1:Deployment", [_set(f"{CONTAINER}.securityContext.runAsNonRoot", False)]),
    "k8s-drop-capabilities": ("kubernetes:apps/v1:Deployment",
                              [_set(f"{CONTAINER}.securityContext.capabilities", {"drop": ["NET_ADMIN"]})]),
    "k8s-not-default-namespace": ("kubernetes:apps/v1:Deployment", [_set("metadata.namespace", "default"),
                                                                    _set("metadata.namespace", DELETE)]),
    "k8s-topology-spread": ("kubernetes:apps/v1:Deployment", [_set("spec.template.spec.topologySpreadConstraints", [])]),
    "k8s-prod-replicas": ("kubernetes:apps/v1:Deployment", [_set("spec.replicas", 2)]),
    "backup-vault-cmk": ("aws:backup/vault:Vault", [_set("kmsKeyArn", DELETE)]),
    "rds-encrypted-cmk": ("aws:rds/cluster:Cluster", [_set("kmsKeyId", DELETE), _set("storageEncrypted", False)]),
    "rds-not-public": ("aws:rds/clusterInstance:ClusterInstance", [_set("publiclyAccessible", True),
                                                                   _set("publiclyAccessible", DELETE)]),
    "rds-enhanced-monitoring": ("aws:rds/clusterInstance:ClusterInstance", [
        _set("monitoringInterval", 0), _set("monitoringInterval", 45), _set("monitoringRoleArn", DELETE)]),
    "rds-performance-insights": ("aws:rds/clusterInstance:ClusterInstance", [
        _set("performanceInsightsEnabled", False), _set("performanceInsightsKmsKeyId", DELETE)]),
    "rds-protected-in-prod": ("aws:rds/cluster:Cluster", [_set("deletionProtection", False)]),
    "rds-iam-authentication": ("aws:rds/cluster:Cluster", [_set("iamDatabaseAuthenticationEnabled", False)]),
    "rds-backup-retention": ("aws:rds/cluster:Cluster", [_set("backupRetentionPeriod", 3)]),
    "route53-https-deep-health-check": ("aws:route53/healthCheck:HealthCheck", [_set("type", "HTTP"),
                                                                                 _set("resourcePath", "/")]),
    "route53-short-ttl": ("aws:route53/record:Record", [lambda p: (p.pop("aliases"), p.update(ttl=300,
                                                                                             records=["x"]))]),
}


@pytest.fixture
def prod(plan_of) -> Plan:
    return plan_of("prod")


@pytest.mark.parametrize("rule, case", [(rule, index) for rule, (_, cases) in VIOLATIONS.items()
                                        for index in range(len(cases))])
def test_each_violation_fires_exactly_its_rule(prod, rule, case) -> None:
    resource_type, changes = VIOLATIONS[rule]
    where = {"region": "us-west-1"} if resource_type.startswith("kubernetes:apps") else {}
    props, options = _good(prod, resource_type, **where), _options(prod, resource_type, **where)
    assert fired(resource_type, props, options=options) == set(), "the known-good resource must pass"
    changes[case](props)
    assert fired(resource_type, props, options=options) == {rule}


def _options(plan: Plan, type_: str, **where: Any) -> PolicyResourceOptions:
    """The known-good resource's own options (its ignore_changes), protected as in prod."""
    resource = next(r for r in plan.of_type(type_) if all(getattr(r, k) == v for k, v in where.items()))
    return PolicyResourceOptions(True, list(resource.ignore_changes), None, [], PolicyCustomTimeouts(0, 0, 0), [])


@pytest.mark.parametrize("resource_type,field", [
    ("aws:rds/cluster:Cluster", "replicationSourceIdentifier"), ("aws:rds/cluster:Cluster", "engineVersion"),
    ("aws:rds/cluster:Cluster", "masterPasswordWo"),
    ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "spec.minReplicas"),
    ("kubernetes:apps/v1:Deployment", "spec.replicas")])
def test_a_resource_that_would_manage_run_time_state_fires(prod, resource_type, field) -> None:
    where = {"region": "us-west-1"} if resource_type.startswith("kubernetes:") else {}
    props, good = _good(prod, resource_type, **where), _options(prod, resource_type, **where)
    assert fired(resource_type, props, options=good) == set()
    managing = PolicyResourceOptions(True, [f for f in good.ignore_changes if f != field], None, [],
                                     PolicyCustomTimeouts(0, 0, 0), [])
    assert fired(resource_type, props, options=managing) == {"run-time-state-left-alone"}


def test_a_cluster_outside_a_global_database_may_manage_its_engine_version(plan_of) -> None:
    props, good = _good(plan_of("dev"), "aws:rds/cluster:Cluster"), _options(plan_of("dev"), "aws:rds/cluster:Cluster")
    assert "engineVersion" not in good.ignore_changes
    assert "run-time-state-left-alone" not in fired("aws:rds/cluster:Cluster", props, _provider("dev"), good)


def test_a_prod_database_pulumi_may_delete_fires_and_a_staging_one_does_not(prod) -> None:
    props = _good(prod, "aws:rds/cluster:Cluster")
    ignored = _options(prod, "aws:rds/cluster:Cluster").ignore_changes
    unprotected = PolicyResourceOptions(False, ignored, None, [], PolicyCustomTimeouts(0, 0, 0), [])
    assert fired("aws:rds/cluster:Cluster", props, options=unprotected) == {"rds-protected-in-prod"}
    props["deletionProtection"] = False
    assert fired("aws:rds/cluster:Cluster", props, _provider("staging"), unprotected) == set()


def test_world_open_api_fires_both_endpoint_rules(prod) -> None:
    props = _good(prod, "eks:index:Cluster")
    props.update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])
    assert fired("eks:index:Cluster", props) == {"eks-endpoint-private", "eks-endpoint-not-world-open"}
    props["publicAccessCidrs"] = ["198.51.100.0/24"]
    assert fired("eks:index:Cluster", props) == {"eks-endpoint-private"}


def test_eks_rules_read_the_aws_cluster_crossguard_sees_inside_pulumi_eks() -> None:
    good = {"version": "1.35", "enabledClusterLogTypes": sorted(policies.LOG_TYPES),
            "encryptionConfig": {"provider": {"keyArn": "arn:aws:kms:us-west-1:1:key/k"}, "resources": ["secrets"]},
            "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True},
            "computeConfig": {"enabled": True, "nodePools": ["system"]}}
    assert fired(policies.EKS_CLUSTER, good) == set()
    good["vpcConfig"] = {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}
    assert fired(policies.EKS_CLUSTER, good) == {"eks-endpoint-private", "eks-endpoint-not-world-open"}
    del good["computeConfig"]
    assert "eks-auto-mode" in fired(policies.EKS_CLUSTER, good)


@pytest.mark.parametrize("rule_type", ["aws:ec2/securityGroup:SecurityGroup"])
def test_world_ingress_is_refused(rule_type) -> None:
    good = {"ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/16"]}]}
    assert fired(rule_type, good) == set()
    good["ingress"][0]["cidrBlocks"] = ["0.0.0.0/0"]
    assert fired(rule_type, good) == {"no-world-ingress"}
    assert fired("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                 {"cidrIpv6": "::/0", "fromPort": 22, "toPort": 22}) == {"no-world-ingress"}


def test_passive_and_non_prod_workloads_may_run_fewer_replicas(prod) -> None:
    props = _good(prod, "kubernetes:apps/v1:Deployment", region="us-east-1")
    options = _options(prod, "kubernetes:apps/v1:Deployment", region="us-east-1")
    assert props["spec"]["replicas"] < policies.MIN_PROD_REPLICAS
    assert fired("kubernetes:apps/v1:Deployment", props, options=options) == set()


# Stack rules: known-good is prod's whole plan; each case removes or alters one resource.

def _stack(plan: Plan, change: Callable[[list[Resource]], list[Resource]] = lambda r: r) -> list[PolicyResource]:
    from mercur.offline.compliance import _policy_resources, _providers
    resources = [r for r in plan.resources if not r.type.startswith("pulumi:providers:")]
    resources = change([copy.deepcopy(r) for r in resources])
    return _policy_resources(resources, _providers(plan))


def _without(type_: str, count: int = 1) -> Callable[[list[Resource]], list[Resource]]:
    def change(resources: list[Resource]) -> list[Resource]:
        dropped = [r for r in resources if r.type == type_][:count]
        return [r for r in resources if r not in dropped]
    return change


def _without_where(type_: str, keep_out: Callable[[Resource], bool]) -> Callable[[list[Resource]], list[Resource]]:
    def change(resources: list[Resource]) -> list[Resource]:
        return [r for r in resources if not (r.type == type_ and keep_out(r))]
    return change


def _edit_where(type_: str, where: Callable[[Resource], bool],
                edit: Callable[[dict], None]) -> Callable[[list[Resource]], list[Resource]]:
    def change(resources: list[Resource]) -> list[Resource]:
        edit(next(r for r in resources if r.type == type_ and where(r)).inputs)
        return resources
    return change


def _edit(type_: str, edit: Callable[[dict], None]) -> Callable[[list[Resource]], list[Resource]]:
    def change(resources: list[Resource]) -> list[Resource]:
        target = next(r for r in resources if r.type == type_)
        edit(target.inputs)
        return resources
    return change


STACK_VIOLATIONS = {
    "vpc-flow-logs": _without("aws:ec2/flowLog:FlowLog"),
    "vpc-default-security-group-managed": _without("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"),
    "eks-nodes-in-private-subnets": _edit(policies.NODE_CLASS, lambda p: p["spec"]["subnetSelectorTerms"].append(
        {"id": "subnet-elsewhere"})),
    "eks-pod-identity-per-workload": _without("aws:eks/podIdentityAssociation:PodIdentityAssociation"),
    "k8s-disruption-budgets": _without("kubernetes:policy/v1:PodDisruptionBudget"),
    "backup-vault-lock-in-prod": _without("aws:backup/vaultLockConfiguration:VaultLockConfiguration"),
    "backup-copied-to-peer-region": _edit("aws:backup/plan:Plan", lambda p: [
        rule.pop("copyActions") for rule in p["rules"]]),
    "route53-failover-pair": _without("aws:route53/record:Record"),
    "route53-alarm-per-health-check": _without_where("aws:cloudwatch/metricAlarm:MetricAlarm",
                                                     lambda r: r.inputs.get("namespace") == "AWS/Route53"),
    "rds-tls-enforced": _edit("aws:rds/clusterParameterGroup:ClusterParameterGroup", lambda p: p.update(
        parameters=[])),
    "rds-replication-lag-alarm": _without_where("aws:cloudwatch/metricAlarm:MetricAlarm",
                                                lambda r: r.inputs.get("metricName") == "AuroraGlobalDBReplicationLag"),
    "rds-global-in-every-region": _edit_where("aws:rds/cluster:Cluster", lambda r: r.region == "us-east-1",
                                              lambda p: p.pop("globalClusterIdentifier")),
    "eks-private-api-deploy-path": _without("aws:ec2transitgateway/vpcAttachment:VpcAttachment"),
    "sns-topic-subscribed": _without("aws:sns/topicSubscription:TopicSubscription", count=10),
    "app-slo-alarms": _without_where("aws:cloudwatch/metricAlarm:MetricAlarm", lambda r: r.region == "us-east-1" and (
        r.inputs.get("tags") or {}).get("mercur:app") == "storefront" and r.inputs["tags"]["mercur:signal"] == "5xx"),
    "alarm-has-action": _edit_where("aws:cloudwatch/metricAlarm:MetricAlarm",
                                    lambda r: r.inputs.get("metricName") == "CPUUtilization",
                                    lambda p: p.update(alarmActions=[])),
}


@pytest.mark.parametrize("signal", APP_SIGNALS)
def test_an_app_missing_any_signal_in_one_region_fails_the_plan(prod, signal) -> None:
    found = fired_on_stack(_stack(prod, _without_where("aws:cloudwatch/metricAlarm:MetricAlarm", lambda r: (
        r.region == "us-west-1" and (r.inputs.get("tags") or {}).get("mercur:app") == "orders-api"
        and r.inputs["tags"]["mercur:signal"] == signal))))
    assert set(found) == {"app-slo-alarms"} and len(found["app-slo-alarms"]) == 2  # its workload in both regions
    assert all("orders-api-deployment" in urn for urn in found["app-slo-alarms"])


def test_a_switch_triggers_alarm_needs_no_action_and_any_other_does(plan_of) -> None:
    """Staging's plan triggers on its `-down` alarms: ARC acts on them; the detection alarms page."""
    staging = plan_of("staging")
    assert fired_on_stack(_stack(staging)) == {}
    found = fired_on_stack(_stack(staging, _edit("aws:arcregionswitch/plan:Plan", lambda p: p.update(triggers=[]))))
    assert set(found) == {"alarm-has-action"} and len(found["alarm-has-action"]) == 2


def test_a_private_api_also_needs_the_443_rule_from_the_deployer(prod) -> None:
    """The public listeners' 443 rules (from anywhere) stay: they are no deploy path."""
    found = fired_on_stack(_stack(prod, _without_where(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        lambda r: r.inputs.get("cidrIpv4", "0.0.0.0/0") != "0.0.0.0/0")))
    assert set(found) == {"eks-private-api-deploy-path"} and len(found["eks-private-api-deploy-path"]) == 2


def test_a_public_api_needs_no_transit_gateway(plan_of) -> None:
    assert "eks-private-api-deploy-path" not in fired_on_stack(_stack(plan_of("dev")))


def test_versions_past_their_support_date_fire_and_current_ones_do_not(monkeypatch) -> None:
    from datetime import date
    from mercur.config import models
    assert "eks-supported-version" not in fired("eks:index:Cluster", {"version": "1.35"})
    monkeypatch.setattr(models, "today", lambda: date(2027, 3, 27))
    assert "eks-supported-version" in fired("eks:index:Cluster", {"version": "1.35"})


def test_prod_passes_every_stack_rule(prod) -> None:
    assert fired_on_stack(_stack(prod)) == {}


@pytest.mark.parametrize("rule", STACK_VIOLATIONS)
def test_each_stack_violation_fires_exactly_its_rule(prod, rule) -> None:
    found = fired_on_stack(_stack(prod, STACK_VIOLATIONS[rule]))
    assert set(found) == {rule}
    assert all(urn and urn.startswith("urn:pulumi:prod::mercur::") for urn in found[rule])


def test_nodes_must_avoid_public_subnets(prod) -> None:
    def public(resources):
        node_class = next(r for r in resources if r.type == policies.NODE_CLASS and r.region == "us-west-1")
        public = [s.id for s in resources if s.type == "aws:ec2/subnet:Subnet" and s.region == "us-west-1"
                  and s.inputs["tags"]["mercur:tier"] == "public"]
        node_class.inputs["spec"]["subnetSelectorTerms"] = [{"id": s} for s in public]
        return resources
    assert set(fired_on_stack(_stack(prod, public))) == {"eks-nodes-in-private-subnets"}

    def cluster_in_public(resources):
        cluster = next(r for r in resources if r.type == "eks:index:Cluster" and r.region == "us-west-1")
        cluster.inputs["publicSubnetIds"] = ["subnet-public"]
        return resources
    assert set(fired_on_stack(_stack(prod, cluster_in_public))) == {"eks-nodes-in-private-subnets"}


def test_every_rule_is_documented_with_its_reference_and_unique() -> None:
    names = [p.name for p in policies.all_policies()]
    assert len(names) == len(set(names)) >= 25
    for rule in policies.RESOURCE_RULES + policies.STACK_RULES:
        assert rule.description and rule.description.strip()
    cited = " ".join(r.description for r in policies.RESOURCE_RULES)
    for reference in ("CKV_AWS_37", "CKV_AWS_58", "CKV_AWS_39", "CKV_AWS_38", "CKV_AWS_3", "CKV_AWS_339",
                      "CKV_AWS_7", "CKV_AWS_66", "CKV_AWS_338", "CKV_AWS_158", "CKV_AWS_130", "CKV_AWS_24",
                      "CKV_K8S_8", "CKV_K8S_10", "CKV_K8S_14", "CKV_K8S_20", "CKV_K8S_16", "CKV_K8S_22",
                      "CKV_K8S_23", "CKV_K8S_28", "CKV_K8S_21", "CKV_AWS_166"):
        assert reference in cited, reference
    assert "CKV2_AWS_11" in policies._flow_logs.__doc__ and "CKV2_AWS_12" in policies._default_sg_managed.__doc__


def test_the_crossguard_pack_exposes_exactly_these_rules() -> None:
    """The pack's __main__ starts a gRPC server when imported: read it instead."""
    pack = ROOT / "policy" / "__main__.py"
    calls = [node for node in ast.walk(parse_python(pack.read_text())) if isinstance(node, ast.Call)]
    [pack_call] = [c for c in calls if getattr(c.func, "id", "") == "PolicyPack"]
    [policies_arg] = [k.value for k in pack_call.keywords if k.arg == "policies"]
    assert ast.unparse(policies_arg) == "all_policies()"
    assert "from mercur.offline.policies import all_policies" in pack.read_text()
    requirements = (ROOT / "policy" / "requirements.txt").read_text()
    assert "pulumi-policy" in requirements
    assert json.loads((ROOT / "policy" / "config.dev.json").read_text()) == {"all": "advisory"}
    assert Path(ROOT / "policy" / "PulumiPolicy.yaml").is_file()
