"""mercur.components.cluster: a hardened EKS control plane, managed node groups, add-ons, a region-pinned
provider."""

from __future__ import annotations

import json

import pytest

from mercur import config
from mercur.components import cluster
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


def test_irsa_trust_is_scoped_to_one_service_account() -> None:
    policy = json.loads(cluster.irsa_trust_policy("arn:aws:iam::1:oidc-provider/oidc.example/id/X",
                                                  "https://oidc.example/id/X", "system:serviceaccount:ns:sa"))
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Federated": "arn:aws:iam::1:oidc-provider/oidc.example/id/X"}
    assert statement["Condition"]["StringEquals"] == {"oidc.example/id/X:sub": "system:serviceaccount:ns:sa",
                                                      "oidc.example/id/X:aud": "sts.amazonaws.com"}


def _clusters(plan: Plan) -> dict:
    return {c.region: c for c in plan.of_type("eks:index:Cluster")}


def test_control_plane_is_hardened_in_every_stack(stack_plan) -> None:
    for region, eks in _clusters(stack_plan).items():
        inputs = eks.inputs
        assert inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
        assert inputs["authenticationMode"] == "API" and inputs["createOidcProvider"] is True
        assert inputs["skipDefaultNodeGroup"] is True and inputs["endpointPrivateAccess"] is True
        assert inputs["nodeAssociatePublicIpAddress"] is False
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
        assert set(entries) == {"platform-admin", "preview"}
        assert entries["platform-admin"]["principalArn"] == stack.cluster.admin_role_arn
        assert entries["platform-admin"]["accessPolicies"]["policy"] == {"policyArn": cluster.CLUSTER_ADMIN_POLICY,
                                                                         "accessScope": {"type": "cluster"}}
        assert entries["preview"]["principalArn"] == stack.deploy.preview_role_arn
        assert entries["preview"]["accessPolicies"]["policy"]["policyArn"].endswith("/AmazonEKSViewPolicy")
        assert stack.deploy.role_arn not in {e["principalArn"] for e in entries.values()}


def test_an_admin_role_that_deploys_gets_no_second_entry(project) -> None:
    project.edit("prod", lambda v: v["mercur:cluster"].update(adminRoleArn=v["mercur:deploy"]["roleArn"]))
    for eks in project.synthesize("prod").of_type("eks:index:Cluster"):
        assert set(eks.inputs["accessEntries"]) == {"preview"}


def test_subnets_are_split_by_role_within_the_region(stack_plan) -> None:
    for region, eks in _clusters(stack_plan).items():
        for field, tier in (("privateSubnetIds", "private"), ("publicSubnetIds", "public")):
            subnets = [stack_plan.by_id(i) for i in eks.inputs[field]]
            assert {(s.region, s.inputs["tags"]["mercur:tier"]) for s in subnets} == {(region, tier)}


def test_node_groups_match_config_and_stay_private(plan_of) -> None:
    plan = plan_of("prod")
    for group in plan.of_type("eks:index:ManagedNodeGroup"):
        inputs = group.inputs
        assert inputs["scalingConfig"] == {"minSize": 3, "desiredSize": 3, "maxSize": 12}
        assert inputs["instanceTypes"] == ["m6i.xlarge", "m6a.xlarge"] and inputs["capacityType"] == "ON_DEMAND"
        assert inputs["cluster"] == _clusters(plan)[group.region].urn
        assert {plan.by_id(i).inputs["tags"]["mercur:tier"] for i in inputs["subnetIds"]} == {"private"}
        assert {plan.by_id(i).region for i in inputs["subnetIds"]} == {group.region}
        assert "remoteAccess" not in inputs  # no SSH (CKV_AWS_100)
        template = plan.by_id(inputs["launchTemplate"]["id"])
        [disk] = template.inputs["blockDeviceMappings"]
        assert disk["ebs"]["encrypted"] == "true" and disk["ebs"]["volumeSize"] == 100
        assert template.inputs["metadataOptions"]["httpTokens"] == "required"


def test_dev_nodes_are_small_and_spot(plan_of) -> None:
    [group] = plan_of("dev").of_type("eks:index:ManagedNodeGroup")
    assert group.inputs["scalingConfig"]["maxSize"] <= 3 and group.inputs["capacityType"] == "SPOT"


def test_node_role_has_only_the_node_policies(plan_of) -> None:
    plan = plan_of("staging")
    for group in plan.of_type("eks:index:ManagedNodeGroup"):
        role_name = group.inputs["nodeRoleArn"].rsplit("/", 1)[1]
        attached = {a.inputs["policyArn"].rsplit("/", 1)[1] for a in plan.of_type(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment") if a.inputs["role"] == role_name}
        assert attached == set(cluster.NODE_POLICIES)


def test_ebs_csi_addon_assumes_an_irsa_role_of_its_own_cluster(stack_plan) -> None:
    for region, eks in _clusters(stack_plan).items():
        addons = {a.inputs["addonName"]: a for a in stack_plan.of_type("aws:eks/addon:Addon") if a.region == region}
        assert set(addons) == {"coredns", "metrics-server", "aws-ebs-csi-driver"}
        assert {a.inputs["clusterName"] for a in addons.values()} == {eks.inputs["name"]}
        role = stack_plan.by_id(addons["aws-ebs-csi-driver"].inputs["serviceAccountRoleArn"].rsplit("/", 1)[1])
        [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert f"oidc.eks.{region}.amazonaws.com" in statement["Principal"]["Federated"]
        assert cluster.EBS_CSI_SERVICE_ACCOUNT in statement["Condition"]["StringEquals"].values()


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
