"""One region's EKS cluster on EKS Auto Mode: hardened control plane, the apps' NodePool, k8s provider.

With Auto Mode EKS runs compute (Karpenter), block storage and load balancing itself: no node groups, no
launch templates, no EBS CSI add-on or controller roles. pulumi-eks (`auto_mode`) requires access entries
(authentication mode API), turns the default node group, security groups, vpc-cni and kube-proxy off (its
default instance role only with `skip_default_node_group`), and keeps the built-in `system` pool for cluster
components; the apps get a NodePool of our own. NetworkPolicies are enforced once the `amazon-vpc-cni`
ConfigMap turns Auto Mode's network policy controller on.
"""

from __future__ import annotations

import json
from typing import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.meta import v1 as meta

from ..config import ClusterConfig, DeployConfig, NodePoolConfig

# pulumi-eks defaults are not secure: each of these is set explicitly (CKV_AWS_37).
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# Previews only read: with server-side apply a dry run needs `patch`, and without it pulumi-kubernetes falls
# back to a client-side diff (pulumi-kubernetes #2213, #2419), so a pull request's token changes nothing.
PREVIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
# What ARC Region switch may do in the apps' namespaces: scale workloads and patch their HPAs (ARC Developer
# Guide, "Amazon EKS resource scaling execution block").
REGION_SWITCH_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonARCRegionSwitchScalingPolicy"
# Auto Mode runs cluster DNS, pod networking and the Pod Identity agent itself; metrics-server (an EKS
# community add-on) still feeds the HPAs: without it no app scales and a passive region could not absorb
# a failover.
ADDONS = ("metrics-server",)
BUILTIN_NODE_POOLS = ("system",)  # cluster components; the apps run on APP_NODE_POOL
APP_NODE_POOL = "apps"
# What AWS recommends for an Auto Mode cluster role (EKS User Guide, "Learn about identity and access in EKS
# Auto Mode"); pulumi-eks attaches the same set when it creates the role itself.
CLUSTER_ROLE_POLICIES = ("AmazonEKSClusterPolicy", "AmazonEKSComputePolicy", "AmazonEKSBlockStoragePolicy",
                         "AmazonEKSLoadBalancingPolicy", "AmazonEKSNetworkingPolicy")
# Auto Mode enforces NetworkPolicies only once this ConfigMap turns its network policy controller on (EKS User
# Guide, "Use Network Policies with EKS Auto Mode", step 1); until then they are accepted and ignored.
NETWORK_POLICY_CONFIG_MAP = ("kube-system", "amazon-vpc-cni")  # namespace, name
NETWORK_POLICY_CONTROLLER = {"enable-network-policy-controller": "true"}
NODE_CLASS_API = "eks.amazonaws.com/v1"
NODE_POOL_API = "karpenter.sh/v1"


def region_explicit_kubeconfig(kubeconfig_json: str, region: str) -> str:
    """Pin `aws eks get-token` to the cluster's region (pulumi-eks #1038 omits `--region`).

    Without it the token is minted for whatever AWS_REGION the caller has, which fails for the passive
    region's cluster.
    """
    kubeconfig = json.loads(kubeconfig_json)
    for user in kubeconfig.get("users", []):
        exec_ = user.get("user", {}).get("exec")
        if not exec_:
            continue
        args = list(exec_.get("args", []))
        if "--region" in args:
            args[args.index("--region") + 1] = region
        else:
            args += ["--region", region]
        exec_["args"] = args
    return json.dumps(kubeconfig, sort_keys=True)


def access_entries(cluster: ClusterConfig, deploy: DeployConfig, region_switch: pulumi.Input[str] | None = None,
                   namespaces: Sequence[str] = ()) -> dict[str, eks.AccessEntryArgs]:
    """Who may use the Kubernetes API. The deploy role creates the cluster, and EKS grants its creator admin
    by itself (pulumi-eks bootstraps creator permissions): an entry of our own for it would collide
    (pulumi-eks #2373), so it gets none, and neither does the admin role when it is the same role."""
    def entry(principal: str, policy: str) -> eks.AccessEntryArgs:
        return eks.AccessEntryArgs(principal_arn=principal, access_policies={"policy": eks.AccessPolicyAssociationArgs(
            policy_arn=policy, access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"))})

    entries = {"preview": entry(deploy.preview_role_arn, PREVIEW_POLICY)}
    if cluster.admin_role_arn != deploy.role_arn:
        entries["platform-admin"] = entry(cluster.admin_role_arn, CLUSTER_ADMIN_POLICY)
    if region_switch is not None and namespaces:
        entries["region-switch"] = eks.AccessEntryArgs(principal_arn=region_switch, access_policies={
            "scaling": eks.AccessPolicyAssociationArgs(
                policy_arn=REGION_SWITCH_POLICY, access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(
                    type="namespace", namespaces=list(namespaces)))})
    return entries


def cluster_trust_policy() -> str:
    """EKS assumes the cluster role; Auto Mode also tags its sessions (`sts:TagSession`)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"]}]})


def cluster_role_policy(partition: str) -> str:
    """What Auto Mode's managed policies do not grant, for the cluster's own resources only:
    - volumes with tags of our own: Auto Mode's policies refuse extra tags on what it creates (EKS User Guide,
      "Custom AWS tags for EKS Auto resources"), and the volumes must carry the backup-selection tag;
    - the members of the target groups the program creates for the cluster (entry.PublicEntry tags them with
      the cluster's name), which its TargetGroupBindings keep equal to the ready pods."""
    own_cluster = "${aws:PrincipalTag/eks:eks-cluster-name}"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "TaggedVolumes", "Effect": "Allow", "Action": ["ec2:CreateVolume", "ec2:CreateSnapshot"],
         "Resource": [f"arn:{partition}:ec2:*:*:volume/*", f"arn:{partition}:ec2:*:*:snapshot/*"],
         "Condition": {"StringEquals": {"aws:RequestTag/eks:eks-cluster-name": own_cluster}}},
        {"Sid": "TargetsOfOwnTargetGroups", "Effect": "Allow",
         "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
         "Resource": f"arn:{partition}:elasticloadbalancing:*:*:targetgroup/*/*",
         "Condition": {"StringEquals": {"aws:ResourceTag/eks:eks-cluster-name": own_cluster}}},
    ]})


def node_pool_spec(pool: NodePoolConfig, node_class: str) -> dict:
    """The apps' NodePool: the configured instance categories, generations and capacity types, amd64, and
    limits the plan proves hold a region's peak after a failover. Empty and underused nodes are consolidated."""
    requirements = [
        {"key": "eks.amazonaws.com/instance-category", "operator": "In", "values": list(pool.categories)},
        {"key": "eks.amazonaws.com/instance-generation", "operator": "Gt", "values": [str(pool.min_generation - 1)]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(pool.capacity_types)},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
    ]
    return {
        "template": {"spec": {
            "nodeClassRef": {"group": "eks.amazonaws.com", "kind": "NodeClass", "name": node_class},
            "requirements": requirements,
            "expireAfter": "336h",  # nodes are replaced at least every two weeks (patched AMIs)
        }},
        "limits": {"cpu": str(pool.limits.cpu), "memory": pool.limits.memory},
        "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "5m"},
    }


def node_class_spec(pool: NodePoolConfig, role: str, subnet_ids: Sequence[str], security_group: str,
                    key_arn: str) -> dict:
    """Nodes in the private subnets only, in the cluster security group, root volumes encrypted with the
    region's key; NetworkPolicies enforced (the apps' default-deny means something)."""
    return {
        "role": role,
        "subnetSelectorTerms": [{"id": subnet} for subnet in subnet_ids],
        "securityGroupSelectorTerms": [{"id": security_group}],
        # What no NetworkPolicy selects is open (the AWS default, stated); policies are enforced once the
        # controller's ConfigMap exists. `networkPolicyEventLogs` stays at its default, Disabled.
        "networkPolicy": "DefaultAllow",
        "ephemeralStorage": {"size": f"{pool.ephemeral_storage_gb}Gi", "kmsKeyID": key_arn},
    }


class ClusterRole(pulumi.ComponentResource):
    """The role EKS runs the cluster with: ours rather than pulumi-eks's (the same managed policies plus tag
    propagation), created before the region's key so that the key policy can name it."""

    def __init__(self, name: str, *, cluster_name: str, partition: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:cluster:ClusterRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(f"{name}-cluster-role", assume_role_policy=cluster_trust_policy(),
                                 description=f"EKS Auto Mode runs {cluster_name} with it", opts=child)
        self.grants: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(f"{name}-cluster-role-{policy}", role=self.role.name,
                                         policy_arn=f"arn:{partition}:iam::aws:policy/{policy}", opts=child)
            for policy in CLUSTER_ROLE_POLICIES]
        self.grants.append(aws.iam.RolePolicy(f"{name}-cluster-role-own-resources", role=self.role.id,
                                              policy=cluster_role_policy(partition), opts=child))
        self.arn = self.role.arn
        self.register_outputs({"arn": self.arn})


class Cluster(pulumi.ComponentResource):
    """EKS control plane on Auto Mode, the apps' NodeClass and NodePool in the region's private subnets.

    Exposes `provider`, a Kubernetes provider whose kubeconfig names the region, for the workloads.
    """

    def __init__(self, name: str, *, cluster: ClusterConfig, node_pool: NodePoolConfig, deploy: DeployConfig,
                 deployer_cidrs: Sequence[str], deploy_path: Sequence[pulumi.Resource], cluster_name: str, region: str, vpc_id: pulumi.Input[str],
                 private_subnet_ids: Sequence[pulumi.Input[str]],
                 key_arn: pulumi.Input[str], cluster_role: "ClusterRole", protect: bool,
                 region_switch_role: pulumi.Input[str] | None = None, app_namespaces: Sequence[str] = (),
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:cluster:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        role, grants = cluster_role.role, cluster_role.grants

        # Created before the cluster so EKS writes into a retained, encrypted group (CKV_AWS_338/158)
        # instead of creating one that never expires; deleted only after the cluster.
        control_plane_logs = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs", name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=cluster.log_retention_days, kms_key_id=key_arn, opts=child)

        self.eks = eks.Cluster(
            f"{name}-eks",
            name=cluster_name,
            version=cluster.version,
            service_role=role,
            vpc_id=vpc_id,
            # The cluster's subnets hold its control-plane ENIs and the built-in system pool's nodes: private
            # only, where the deployer routes are. Load balancers find the public subnets by their role tag.
            private_subnet_ids=list(private_subnet_ids),
            endpoint_private_access=True,
            endpoint_public_access=cluster.endpoint_public_access,
            public_access_cidrs=list(cluster.public_access_cidrs) or None,
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=access_entries(cluster, deploy, region_switch_role, app_namespaces),
            # pulumi-eks's own compute config (it adds `enabled` and the node role it creates for Auto Mode).
            auto_mode=eks.AutoModeOptionsArgs(
                enabled=True, compute_config=eks.ClusterComputeConfigArgs(node_pools=list(BUILTIN_NODE_POOLS))),
            # Auto Mode alone still gets pulumi-eks's default instance role, its instance profile and an EC2_LINUX
            # access entry for it (nodejs/eks/cluster/cluster.ts: createInstanceRole tests `skipDefaultNodeGroup`
            # as passed): no node ever uses them. Auto Mode's own node role is created either way.
            skip_default_node_group=True,
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),  # Auto Mode runs cluster DNS
            encryption_config_key_arn=key_arn,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=protect,
            # The role's policies first: EKS checks them when it creates the cluster, and needs them to delete it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[control_plane_logs, *grants], protect=protect),
        )

        # Private API: the deployer's runners reach it on 443 through the Transit Gateway, nothing else does.
        reachable: list[pulumi.Resource] = list(deploy_path)
        for index, cidr in enumerate(deployer_cidrs):
            reachable.append(aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-from-deployer-{index}", security_group_id=self.eks.cluster_security_group_id,
                cidr_ipv4=cidr, ip_protocol="tcp", from_port=443, to_port=443,
                description="Kubernetes API from the deployer network (CI runners)", opts=child))

        self.kubeconfig = pulumi.Output.secret(
            self.eks.kubeconfig_json.apply(lambda text: region_explicit_kubeconfig(text, region)))
        # Nothing goes to the API before the runners can reach it: attachment, routes and the 443 rule first.
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=reachable))
        in_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)

        # An upsert (server-side apply): the ConfigMap may already exist; every NetworkPolicy depends on it.
        self.network_policy_controller = k8s.core.v1.ConfigMap(
            f"{name}-network-policy-controller", opts=in_cluster, data=dict(NETWORK_POLICY_CONTROLLER),
            metadata=meta.ObjectMetaArgs(namespace=NETWORK_POLICY_CONFIG_MAP[0], name=NETWORK_POLICY_CONFIG_MAP[1],
                                         labels={"app.kubernetes.io/managed-by": "pulumi"}))

        for addon in ADDONS:
            aws.eks.Addon(f"{name}-{addon}", cluster_name=cluster_name, addon_name=addon,
                          resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="PRESERVE",
                          opts=pulumi.ResourceOptions(parent=self, depends_on=[self.eks]))

        node_class = CustomResource(
            f"{name}-node-class", api_version=NODE_CLASS_API, kind="NodeClass", opts=in_cluster,
            metadata=meta.ObjectMetaArgs(name=APP_NODE_POOL, labels={"app.kubernetes.io/managed-by": "pulumi"}),
            spec=pulumi.Output.all(self.eks.auto_mode_node_role_name, self.eks.cluster_security_group_id, key_arn,
                                   *private_subnet_ids).apply(
                lambda v: node_class_spec(node_pool, v[0], v[3:], v[1], v[2])))
        self.node_pool = CustomResource(
            f"{name}-node-pool", api_version=NODE_POOL_API, kind="NodePool",
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[node_class])),
            metadata=meta.ObjectMetaArgs(name=APP_NODE_POOL, labels={"app.kubernetes.io/managed-by": "pulumi"}),
            spec=node_pool_spec(node_pool, APP_NODE_POOL))

        self.cluster_name = cluster_name
        self.register_outputs({"clusterName": cluster_name})
