"""mercur.components.cluster: a hardened EKS control plane on Auto Mode, the apps' NodeClass and NodePool,
the cluster role, a region-pinned provider."""

from __future__ import annotations

import copy
import json

import kubernetes_schemas
import pytest

from mercur import config
from mercur.components import cluster
from mercur.components.tags import PUBLIC_LISTENER_TAG
from mercur.offline.synth import Plan
from conftest import ROOT


def _kubeconfig(args: list[str]) -> str:
    return json.dumps({"users": [{"name": "aws", "user": {"exec": {"command": "aws", "args": args}}},
                                 {"name": "token-only", "user": {"token": "x"}}]})


def _exec_args(text: str) -> list[str]:
    return json.loads(text)["users"][0]["user"]["exec"]["args"]


def test_kubeconfig_gains_the_region_it_lacks() -> None:
    text = cluster.region_explicit_kubeconfig(_kubeconfig(["eks", "get-token", "--cluster-name", "c"]), "us-east-1")
    assert _exec_args(text) == ["eks", "get-token", "--cluster-name", "c", "--region", "us-east-1"]
    assert json.loads(text)["users"][1]["user"] == {"token": "x"}


def test_kubeconfig_with_another_region_is_corrected_not_duplicated() -> None:
    text = cluster.region_explicit_kubeconfig(_kubeconfig(["eks", "get-token", "--region", "us-west-2"]), "us-west-1")
    assert _exec_args(text) == ["eks", "get-token", "--region", "us-west-1"]


def test_cluster_role_may_tag_volumes_and_fill_target_groups_of_its_own_cluster_only() -> None:
    policy = json.loads(cluster.cluster_role_policy("aws"))
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert actions == {"ec2:CreateVolume", "ec2:CreateSnapshot", "elasticloadbalancing:RegisterTargets",
                       "elasticloadbalancing:DeregisterTargets"}
    assert by_sid["TaggedVolumes"]["Condition"] == {"StringEquals": {
        "aws:RequestTag/eks:eks-cluster-name": "${aws:PrincipalTag/eks:eks-cluster-name}"}}
    # Registering needs the target group to be the cluster's own, by the tag entry.PublicEntry sets.
    assert by_sid["TargetsOfOwnTargetGroups"]["Condition"] == {"StringEquals": {
        "aws:ResourceTag/eks:eks-cluster-name": "${aws:PrincipalTag/eks:eks-cluster-name}"}}
    assert by_sid["TargetsOfOwnTargetGroups"]["Resource"] == "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*"
    trust = json.loads(cluster.cluster_trust_policy())["Statement"][0]
    assert trust["Principal"] == {"Service": "eks.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole", "sts:TagSession"]  # Auto Mode tags its sessions


def _clusters(plan: Plan) -> dict:
    return {c.region: c for c in plan.of_type("eks:index:Cluster")}


def test_control_plane_is_hardened_in_every_stack(stack_plan) -> None:
    for region, eks in _clusters(stack_plan).items():
        inputs = eks.inputs
        assert inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
        assert inputs["authenticationMode"] == "API" and inputs["endpointPrivateAccess"] is True
        assert inputs["upgradePolicy"] == {"supportType": "STANDARD"}
        assert inputs["version"] == "1.35"
        key_arn = inputs["encryptionConfigKeyArn"]
        key = stack_plan.by_id(key_arn.rsplit("/", 1)[1])
        assert key.type == "aws:kms/key:Key" and key.region == region and key_arn.startswith(f"arn:aws:kms:{region}:")
        assert key.inputs["enableKeyRotation"] is True
        assert eks.providers["aws"] == stack_plan.one("pulumi:providers:aws", name=region).urn


def test_api_endpoint_is_private_except_where_the_stack_opens_it(plan_of) -> None:
    for stack in ("staging", "prod"):
        for eks in plan_of(stack).of_type("eks:index:Cluster"):
            assert eks.inputs["endpointPublicAccess"] is False and "publicAccessCidrs" not in eks.inputs
    [dev] = plan_of("dev").of_type("eks:index:Cluster")
    assert dev.inputs["endpointPublicAccess"] is True
    assert dev.inputs["publicAccessCidrs"] == list(config.load_file(ROOT, "dev").cluster.public_access_cidrs)


def test_access_entries_for_admin_and_preview_but_never_for_the_creating_deploy_role(plan_of) -> None:
    stack = config.load_file(ROOT, "prod")
    for eks in plan_of("prod").of_type("eks:index:Cluster"):
        entries = eks.inputs["accessEntries"]
        assert set(entries) == {"platform-admin", "preview", "region-switch"}
        switch = entries["region-switch"]["accessPolicies"]["scaling"]
        assert switch == {"policyArn": cluster.REGION_SWITCH_POLICY, "accessScope": {
            "type": "namespace", "namespaces": [app.name for app in stack.apps]}}  # the apps' workloads only
        assert entries["platform-admin"]["principalArn"] == stack.cluster.admin_role_arn
        assert entries["platform-admin"]["accessPolicies"]["policy"] == {"policyArn": cluster.CLUSTER_ADMIN_POLICY,
                                                                         "accessScope": {"type": "cluster"}}
        assert entries["preview"]["principalArn"] == stack.deploy.preview_role_arn
        assert entries["preview"]["accessPolicies"]["policy"]["policyArn"].endswith("/AmazonEKSViewPolicy")
        assert stack.deploy.role_arn not in {e["principalArn"] for e in entries.values()}


def test_an_admin_role_that_deploys_gets_no_second_entry(project) -> None:
    project.edit("prod", lambda v: v["mercur:cluster"].update(adminRoleArn=v["mercur:deploy"]["roleArn"]))
    for eks in project.synthesize("prod").of_type("eks:index:Cluster"):
        assert set(eks.inputs["accessEntries"]) == {"preview", "region-switch"}


def test_subnets_are_split_by_role_within_the_region(stack_plan) -> None:
    for region, eks in _clusters(stack_plan).items():
        subnets = [stack_plan.by_id(i) for i in eks.inputs["privateSubnetIds"]]
        assert {(s.region, s.inputs["tags"]["mercur:tier"]) for s in subnets} == {(region, "private")}
        # Public subnets would take control-plane ENIs, whose replies to the deployer would leave by the IGW.
        assert "publicSubnetIds" not in eks.inputs and "subnetIds" not in eks.inputs


def test_clusters_run_on_auto_mode_with_only_the_system_pool_built_in(stack_plan) -> None:
    for eks in _clusters(stack_plan).values():
        auto = eks.inputs["autoMode"]
        # pulumi-eks's ClusterComputeConfig (it has no `enabled`: pulumi-eks sets it, and the node role it creates)
        assert auto["enabled"] is True and auto["computeConfig"] == {"nodePools": ["system"]}
        assert eks.inputs["corednsAddonOptions"]["enabled"] is False  # Auto Mode runs cluster DNS
    assert not stack_plan.of_type("eks:index:ManagedNodeGroup") and not stack_plan.of_type(
        "aws:ec2/launchTemplate:LaunchTemplate")


def test_no_default_instance_role_profile_or_ec2_linux_entry_beside_auto_mode(stack_plan) -> None:
    # pulumi-eks creates them unless `skipDefaultNodeGroup` is passed, Auto Mode or not (nodejs/eks/cluster/
    # cluster.ts: the instance role when `!args.skipDefaultNodeGroup`, then its profile and EC2_LINUX entry).
    for eks in _clusters(stack_plan).values():
        assert eks.inputs["skipDefaultNodeGroup"] is True
        assert eks.inputs["autoMode"].get("createNodeRole", True) is True  # Auto Mode's own node role stays


def _kubernetes_provider_of(plan: Plan, eks) -> str:
    [provider] = [p for p in plan.of_type("pulumi:providers:kubernetes") if p.region == eks.region
                  and f'"{eks.inputs["name"]}"' in p.inputs["kubeconfig"]]
    return provider.urn


def test_each_cluster_turns_its_network_policy_controller_on(stack_plan) -> None:
    """EKS User Guide, "Use Network Policies with EKS Auto Mode", step 1: without this ConfigMap Auto Mode
    accepts NetworkPolicies and enforces none."""
    maps = [m for m in stack_plan.of_type("kubernetes:core/v1:ConfigMap")
            if m.inputs["metadata"]["name"] == "amazon-vpc-cni"]
    assert sorted(m.region for m in maps) == sorted(_clusters(stack_plan))
    for eks in _clusters(stack_plan).values():
        [config_map] = [m for m in maps if m.region == eks.region]
        assert config_map.inputs["metadata"]["namespace"] == "kube-system"
        assert config_map.inputs["data"] == {"enable-network-policy-controller": "true"}
        assert config_map.provider == _kubernetes_provider_of(stack_plan, eks)
        kubernetes_schemas.validate(copy.deepcopy(dict(config_map.inputs)), "1.35", strict=True)


def test_network_policies_wait_for_their_clusters_controller(stack_plan) -> None:
    controllers = {m.region: m.urn for m in stack_plan.of_type("kubernetes:core/v1:ConfigMap")
                   if m.inputs["metadata"]["name"] == "amazon-vpc-cni"}
    policies = stack_plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert policies
    for policy in policies:
        assert controllers[policy.region] in policy.depends_on


def test_cluster_role_has_the_auto_mode_policies_and_is_ready_before_the_cluster(plan_of) -> None:
    plan = plan_of("prod")
    for region, eks in _clusters(plan).items():
        role = plan.by_urn(eks.inputs["serviceRole"])
        assert role.region == region
        attachments = [a for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                       if a.inputs["role"] == role.id]
        assert {a.inputs["policyArn"] for a in attachments} == {
            f"arn:aws:iam::aws:policy/{p}" for p in cluster.CLUSTER_ROLE_POLICIES}
        [tags] = [p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role.id]
        assert {a.urn for a in attachments} | {tags.urn} <= set(eks.dependencies)


def test_each_cluster_has_the_apps_node_pool_within_its_limits(stack_plan) -> None:
    stack = config.load_file(ROOT, stack_plan.stack)
    peak_cpu, _ = stack.required_node_pool()
    for region, eks in _clusters(stack_plan).items():
        [pool] = [p for p in stack_plan.of_type("kubernetes:karpenter.sh/v1:NodePool") if p.region == region]
        spec = pool.inputs["spec"]
        assert int(spec["limits"]["cpu"]) >= peak_cpu >= stack.peak_cpu
        assert spec["limits"] == {"cpu": str(stack.node_pool.limits.cpu), "memory": stack.node_pool.limits.memory}
        wanted = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
        assert wanted["karpenter.sh/capacity-type"] == list(stack.node_pool.capacity_types)
        assert wanted["eks.amazonaws.com/instance-category"] == list(stack.node_pool.categories)
        assert spec["template"]["spec"]["nodeClassRef"] == {"group": "eks.amazonaws.com", "kind": "NodeClass",
                                                            "name": cluster.APP_NODE_POOL}
        if stack.environment != "dev":
            assert "on-demand" in wanted["karpenter.sh/capacity-type"]


def test_node_class_keeps_nodes_private_and_their_volumes_on_the_region_key(stack_plan) -> None:
    for region, eks in _clusters(stack_plan).items():
        [node_class] = [c for c in stack_plan.of_type("kubernetes:eks.amazonaws.com/v1:NodeClass")
                        if c.region == region]
        spec = node_class.inputs["spec"]
        assert [t["id"] for t in spec["subnetSelectorTerms"]] == eks.inputs["privateSubnetIds"]
        [group] = spec["securityGroupSelectorTerms"]
        rules = [r for r in stack_plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                 if r.region == region and PUBLIC_LISTENER_TAG not in (r.inputs.get("tags") or {})]
        api_rules = [r for r in rules if r.inputs["fromPort"] == 443]
        pod_rules = [r for r in rules if "-entry-from-alb" in r.name]
        assert group["id"].startswith("sg-")  # the cluster security group, as the API's 443 rules are
        assert {r.inputs["securityGroupId"] for r in api_rules} <= {group["id"]}
        # The load balancers reach the pods on the nodes' group, which the pods share.
        assert pod_rules and {r.inputs["securityGroupId"] for r in pod_rules} == {group["id"]}
        assert spec["ephemeralStorage"]["kmsKeyID"] == eks.inputs["encryptionConfigKeyArn"]
        assert spec["role"].startswith(eks.name)  # the node role pulumi-eks made for Auto Mode
        assert spec["networkPolicy"] == "DefaultAllow"


def test_metrics_server_and_observability_are_the_only_addons(stack_plan) -> None:
    """Auto Mode runs the rest itself; metrics-server feeds the HPAs, the observability add-on the alarms."""
    for region, eks in _clusters(stack_plan).items():
        addons = [a for a in stack_plan.of_type("aws:eks/addon:Addon") if a.region == region]
        assert sorted(a.inputs["addonName"] for a in addons) == ["amazon-cloudwatch-observability", "metrics-server"]
        assert {a.inputs["clusterName"] for a in addons} == {eks.inputs["name"]}


def test_control_plane_logs_are_retained_and_encrypted(plan_of) -> None:
    plan = plan_of("staging")
    for region, eks in _clusters(plan).items():
        group = next(g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
                     if g.inputs["name"] == f"/aws/eks/{eks.inputs['name']}/cluster")
        assert group.region == region and group.inputs["retentionInDays"] == 365
        assert group.inputs["kmsKeyId"].startswith(f"arn:aws:kms:{region}:")


def test_kubernetes_provider_targets_its_own_cluster_and_region(stack_plan) -> None:
    for provider in stack_plan.of_type("pulumi:providers:kubernetes"):
        assert "kubeconfig" in provider.secrets
        kubeconfig = json.loads(provider.inputs["kubeconfig"])
        args = kubeconfig["users"][0]["user"]["exec"]["args"]
        assert args[args.index("--region") + 1] == provider.region
        assert args[args.index("--cluster-name") + 1] == _clusters(stack_plan)[provider.region].inputs["name"]
        assert f".{provider.region}.eks.amazonaws.com" in kubeconfig["clusters"][0]["cluster"]["server"]


@pytest.mark.parametrize("stack, protected", [("dev", False), ("staging", False), ("prod", True)])
def test_clusters_are_protected_only_in_prod(plan_of, stack, protected) -> None:
    for eks in plan_of(stack).of_type("eks:index:Cluster"):
        assert eks.protect is protected and eks.inputs["deletionProtection"] is protected


def test_the_cluster_waits_for_its_log_group_so_destroy_then_create_does_not_collide(plan_of) -> None:
    plan = plan_of("prod")
    for eks in plan.of_type("eks:index:Cluster"):
        [logs] = [g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
                  if g.region == eks.region and g.name.endswith("-control-plane-logs")]
        assert logs.inputs["name"] == f"/aws/eks/{eks.inputs['name']}/cluster"
        assert logs.urn in eks.dependencies  # created before the cluster, deleted after it


@pytest.mark.parametrize("kind, field", [("kubernetes:karpenter.sh/v1:NodePool", "spec.template.spec.expireafter"),
                                         ("kubernetes:eks.amazonaws.com/v1:NodeClass", "spec.ephemeralStorage.kmsKeyId")])
def test_node_pool_and_class_match_their_crds_and_a_misspelling_is_caught(plan_of, kind, field) -> None:
    [resource, *_] = plan_of("prod").of_type(kind)
    body = copy.deepcopy(dict(resource.inputs))
    kubernetes_schemas.validate(copy.deepcopy(body), "1.35", strict=True)
    *parents, leaf = field.split(".")
    target = body
    for part in parents:
        target = target[part]
    target[leaf] = "x"
    with pytest.raises(kubernetes_schemas.ValidationError, match="Additional properties"):
        kubernetes_schemas.validate(body, "1.35", strict=True)


def test_kubernetes_waits_for_the_deploy_path_to_the_private_api(plan_of) -> None:
    plan = plan_of("prod")
    for provider in plan.of_type("pulumi:providers:kubernetes"):
        waits_for = {plan.by_urn(urn).type for urn in provider.dependencies}
        assert {"aws:ec2transitgateway/vpcAttachment:VpcAttachment", "aws:ec2/routeTable:RouteTable",
                "aws:ec2/routeTableAssociation:RouteTableAssociation",
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"} <= waits_for
        rules = [plan.by_urn(u) for u in provider.dependencies if plan.by_urn(u).type.startswith("aws:vpc/")]
        assert {r.region for r in rules} == {provider.region}
