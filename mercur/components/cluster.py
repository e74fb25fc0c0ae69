"""One region's EKS cluster: hardened control plane, managed node groups, core add-ons, k8s provider."""

from __future__ import annotations

import json
from typing import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from ..config import ClusterConfig, DeployConfig, NodeGroupConfig

# pulumi-eks defaults are not secure: each of these is set explicitly (CKV_AWS_37).
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# Previews only read: with server-side apply a dry run needs `patch`, and without it pulumi-kubernetes falls
# back to a client-side diff (pulumi-kubernetes #2213, #2419), so a pull request's token changes nothing.
PREVIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    # vpc-cni runs on the node role: an IRSA role for it would need the OIDC provider the cluster creates.
    "AmazonEKS_CNI_Policy",
)
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
EBS_CSI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:ebs-csi-controller-sa"
NODE_AMI_TYPE = "AL2023_x86_64_STANDARD"
# Add-ons whose pods need nodes. metrics-server (an EKS community add-on) feeds the HPAs: without it no app
# scales, and a passive region could not absorb a failover.
NODE_ADDONS = ("coredns", "metrics-server")


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


def _assume_role_policy(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def irsa_trust_policy(oidc_provider_arn: str, oidc_provider_url: str, service_account: str) -> str:
    """Trust policy letting exactly one Kubernetes service account assume a role (IRSA)."""
    issuer = oidc_provider_url.removeprefix("https://")
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": oidc_provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:sub": service_account, f"{issuer}:aud": "sts.amazonaws.com"}},
    }]})


def access_entries(cluster: ClusterConfig, deploy: DeployConfig) -> dict[str, eks.AccessEntryArgs]:
    """Who may use the Kubernetes API. The deploy role creates the cluster, and EKS grants its creator admin
    by itself (pulumi-eks bootstraps creator permissions): an entry of our own for it would collide
    (pulumi-eks #2373), so it gets none, and neither does the admin role when it is the same role."""
    def entry(principal: str, policy: str) -> eks.AccessEntryArgs:
        return eks.AccessEntryArgs(principal_arn=principal, access_policies={"policy": eks.AccessPolicyAssociationArgs(
            policy_arn=policy, access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"))})

    entries = {"preview": entry(deploy.preview_role_arn, PREVIEW_POLICY)}
    if cluster.admin_role_arn != deploy.role_arn:
        entries["platform-admin"] = entry(cluster.admin_role_arn, CLUSTER_ADMIN_POLICY)
    return entries


class Cluster(pulumi.ComponentResource):
    """EKS control plane + managed node groups in the region's private subnets.

    Exposes `provider`, a Kubernetes provider whose kubeconfig names the region, for the workloads.
    """

    def __init__(self, name: str, *, cluster: ClusterConfig, node_groups: Sequence[NodeGroupConfig],
                 deploy: DeployConfig, deployer_cidrs: Sequence[str], cluster_name: str, region: str,
                 vpc_id: pulumi.Input[str], public_subnet_ids: Sequence[pulumi.Input[str]],
                 private_subnet_ids: Sequence[pulumi.Input[str]], key_arn: pulumi.Input[str], protect: bool,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:cluster:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # Created before the cluster so EKS writes into a retained, encrypted group (CKV_AWS_338/158)
        # instead of creating one that never expires.
        control_plane_logs = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs", name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=cluster.log_retention_days, kms_key_id=key_arn, opts=child)

        self.eks = eks.Cluster(
            f"{name}-eks",
            name=cluster_name,
            version=cluster.version,
            vpc_id=vpc_id,
            public_subnet_ids=list(public_subnet_ids),  # load balancers only
            private_subnet_ids=list(private_subnet_ids),
            node_associate_public_ip_address=False,
            endpoint_private_access=True,
            endpoint_public_access=cluster.endpoint_public_access,
            public_access_cidrs=list(cluster.public_access_cidrs) or None,
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=access_entries(cluster, deploy),
            create_oidc_provider=True,
            encryption_config_key_arn=key_arn,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            skip_default_node_group=True,
            # The managed coredns add-on needs nodes to become healthy: it is added below, after them.
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            # Without it the VPC CNI ignores NetworkPolicies and the workloads' default-deny means nothing.
            vpc_cni_options=eks.VpcCniOptionsArgs(enable_network_policy=True),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=protect,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[control_plane_logs], protect=protect),
        )

        node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=_assume_role_policy("ec2.amazonaws.com"),
                                 opts=child)
        attachments = [aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=node_role.name,
                                                    policy_arn=f"arn:aws:iam::aws:policy/{policy}", opts=child)
                       for policy in NODE_POLICIES]
        self.node_groups = [self._node_group(name, cluster_name, group, node_role, attachments, private_subnet_ids)
                            for group in node_groups]

        after_nodes = pulumi.ResourceOptions(parent=self, depends_on=self.node_groups)
        for addon in NODE_ADDONS:
            aws.eks.Addon(f"{name}-{addon}", cluster_name=cluster_name, addon_name=addon,
                          resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="PRESERVE",
                          opts=after_nodes)
        ebs_csi_role = aws.iam.Role(
            f"{name}-ebs-csi", opts=child,
            assume_role_policy=pulumi.Output.all(self.eks.oidc_provider_arn, self.eks.oidc_provider_url).apply(
                lambda pair: irsa_trust_policy(pair[0], pair[1], EBS_CSI_SERVICE_ACCOUNT)))
        ebs_csi_policy = aws.iam.RolePolicyAttachment(f"{name}-ebs-csi", role=ebs_csi_role.name,
                                                      policy_arn=EBS_CSI_POLICY, opts=child)
        aws.eks.Addon(f"{name}-ebs-csi", cluster_name=cluster_name, addon_name="aws-ebs-csi-driver",
                      service_account_role_arn=ebs_csi_role.arn,
                      resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="PRESERVE",
                      opts=pulumi.ResourceOptions.merge(after_nodes,
                                                        pulumi.ResourceOptions(depends_on=[ebs_csi_policy])))

        # Private API: the deployer's runners reach it on 443 through the Transit Gateway, nothing else does.
        for index, cidr in enumerate(deployer_cidrs):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-from-deployer-{index}", security_group_id=self.eks.cluster_security_group_id,
                cidr_ipv4=cidr, ip_protocol="tcp", from_port=443, to_port=443,
                description="Kubernetes API from the deployer network (CI runners)", opts=child)

        self.cluster_name = cluster_name
        self.oidc_provider_arn = self.eks.oidc_provider_arn
        self.oidc_provider_url = self.eks.oidc_provider_url
        self.kubeconfig = pulumi.Output.secret(
            self.eks.kubeconfig_json.apply(lambda text: region_explicit_kubeconfig(text, region)))
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=self.node_groups))
        self.register_outputs({"clusterName": cluster_name, "oidcProviderArn": self.oidc_provider_arn})

    def _node_group(self, name: str, cluster_name: str, group: NodeGroupConfig, role: aws.iam.Role,
                    attachments: list, subnet_ids: Sequence[pulumi.Input[str]]) -> eks.ManagedNodeGroup:
        """Nodes in private subnets, encrypted root volumes, IMDSv2 only, no SSH key (CKV_AWS_100)."""
        template = aws.ec2.LaunchTemplate(
            f"{name}-{group.name}-lt",
            description=f"{cluster_name} {group.name} nodes: encrypted gp3 root, IMDSv2",
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=group.disk_size_gb, volume_type="gp3", encrypted="true",
                    delete_on_termination="true"))],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=2),
            update_default_version=True,
            opts=pulumi.ResourceOptions(parent=self))
        return eks.ManagedNodeGroup(
            f"{name}-{group.name}",
            cluster=self.eks,
            node_group_name=f"{cluster_name}-{group.name}",
            node_role_arn=role.arn,
            subnet_ids=list(subnet_ids),
            ami_type=NODE_AMI_TYPE,
            instance_types=list(group.instance_types),
            capacity_type=group.capacity_type,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=group.min_size, desired_size=group.desired_size, max_size=group.max_size),
            # The cluster autoscaler owns the desired size once running; don't reset it on every `up`.
            ignore_scaling_changes=True,
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)),
            labels={"mercur.io/node-group": group.name},
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments))
