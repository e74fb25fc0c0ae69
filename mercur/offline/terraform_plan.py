"""The offline plan in the shape of `terraform show -json`, so that Checkov's `terraform_plan` framework reads it.

Pulumi's AWS provider is bridged from Terraform's: a resource's inputs are the Terraform resource's arguments
in camelCase, nested blocks are objects (one) or lists of objects, maps are objects. What differs is named
here: the Terraform type of each Pulumi type the program declares, the blocks whose Pulumi name is the plural
of Terraform's (the bridge pluralizes a repeated block: `rule` → `rules`), the arguments the bridge renames
(`alarm_name` → `name`), and the EKS cluster pulumi-eks builds from its component's inputs. A type or a
repeated block missing from these tables fails the tests (tests/offline/test_terraform_plan.py), so a new
resource cannot go unchecked silently; a renamed argument cannot be detected that way (the SDK carries no
Terraform names), so RENAMED lists the ones of the types declared here, from pulumi-aws's resources.go.

Left out: components (`mercur:*`), providers, and Kubernetes objects (Checkov reads those as manifests,
`plan --out DIR` writes them).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .synth import Plan, Resource, _computed

EKS_COMPONENT = "eks:index:Cluster"

# Pulumi type token -> Terraform resource type (terraform-provider-aws's names; pulumi-aws's resources.go maps
# each token to one of them).
TERRAFORM_TYPES = {
    "aws:arcregionswitch/plan:Plan": "aws_arcregionswitch_plan",
    "aws:backup/plan:Plan": "aws_backup_plan",
    "aws:backup/restoreTestingPlan:RestoreTestingPlan": "aws_backup_restore_testing_plan",
    "aws:backup/restoreTestingSelection:RestoreTestingSelection": "aws_backup_restore_testing_selection",
    "aws:backup/selection:Selection": "aws_backup_selection",
    "aws:backup/vault:Vault": "aws_backup_vault",
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": "aws_backup_vault_lock_configuration",
    "aws:cloudwatch/dashboard:Dashboard": "aws_cloudwatch_dashboard",
    "aws:cloudwatch/eventRule:EventRule": "aws_cloudwatch_event_rule",
    "aws:cloudwatch/eventTarget:EventTarget": "aws_cloudwatch_event_target",
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": "aws_cloudwatch_log_resource_policy",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "aws_cloudwatch_metric_alarm",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "aws_default_security_group",
    "aws:ec2/eip:Eip": "aws_eip",
    "aws:ec2/flowLog:FlowLog": "aws_flow_log",
    "aws:ec2/internetGateway:InternetGateway": "aws_internet_gateway",
    "aws:ec2/natGateway:NatGateway": "aws_nat_gateway",
    "aws:ec2/routeTable:RouteTable": "aws_route_table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws_route_table_association",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:ec2/subnet:Subnet": "aws_subnet",
    "aws:ec2/vpc:Vpc": "aws_vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "aws_vpc_endpoint",
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment": "aws_ec2_transit_gateway_vpc_attachment",
    "aws:eks/addon:Addon": "aws_eks_addon",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "aws_eks_pod_identity_association",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws_iam_role_policy_attachment",
    "aws:kms/alias:Alias": "aws_kms_alias",
    "aws:kms/key:Key": "aws_kms_key",
    "aws:lambda/function:Function": "aws_lambda_function",
    "aws:lambda/invocation:Invocation": "aws_lambda_invocation",
    "aws:lambda/permission:Permission": "aws_lambda_permission",
    "aws:rds/cluster:Cluster": "aws_rds_cluster",
    "aws:rds/clusterInstance:ClusterInstance": "aws_rds_cluster_instance",
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": "aws_rds_cluster_parameter_group",
    "aws:rds/globalCluster:GlobalCluster": "aws_rds_global_cluster",
    "aws:rds/subnetGroup:SubnetGroup": "aws_db_subnet_group",
    "aws:route53/healthCheck:HealthCheck": "aws_route53_health_check",
    "aws:route53/hostedZoneDnsSec:HostedZoneDnsSec": "aws_route53_hosted_zone_dnssec",
    "aws:route53/keySigningKey:KeySigningKey": "aws_route53_key_signing_key",
    "aws:route53/queryLog:QueryLog": "aws_route53_query_log",
    "aws:route53/record:Record": "aws_route53_record",
    "aws:route53/zone:Zone": "aws_route53_zone",
    "aws:secretsmanager/secret:Secret": "aws_secretsmanager_secret",
    "aws:secretsmanager/secretVersion:SecretVersion": "aws_secretsmanager_secret_version",
    "aws:sns/topic:Topic": "aws_sns_topic",
    "aws:sns/topicPolicy:TopicPolicy": "aws_sns_topic_policy",
    "aws:sns/topicSubscription:TopicSubscription": "aws_sns_topic_subscription",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "aws_vpc_security_group_ingress_rule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "aws_vpc_security_group_egress_rule",
    "aws:lb/loadBalancer:LoadBalancer": "aws_lb",
    "aws:lb/listener:Listener": "aws_lb_listener",
    "aws:lb/targetGroup:TargetGroup": "aws_lb_target_group",
    "aws:cloudcontrol/resource:Resource": "aws_cloudcontrolapi_resource",
    EKS_COMPONENT: "aws_eks_cluster",  # the cluster pulumi-eks creates (eks_cluster_values)
}

# Repeated blocks, by Pulumi name -> Terraform name (the Terraform resource's block, in its documentation).
# A repeated block absent here keeps its name (converted to snake_case); the tests list every repeated block
# of the three stacks and require it here or in SAME_NAME.
BLOCKS = {
    "aws_backup_plan": {"rules": "rule", "copyActions": "copy_action"},
    "aws_backup_selection": {"conditions": "condition", "selectionTags": "selection_tag"},
    "aws_route_table": {"routes": "route"},
    "aws_rds_cluster_parameter_group": {"parameters": "parameter"},
    "aws_route53_record": {"aliases": "alias", "failoverRoutingPolicies": "failover_routing_policy"},
    "aws_secretsmanager_secret": {"replicas": "replica"},
    "aws_eks_addon": {"podIdentityAssociations": "pod_identity_association"},
    "aws_cloudwatch_metric_alarm": {"metricQueries": "metric_query"},
    "aws_lb_listener": {"defaultActions": "default_action"},
}
SAME_NAME = {
    "aws_backup_selection": {"stringEquals"},
    # ARC Region switch's provider resource is written on the Plugin Framework, whose nested lists keep their
    # Terraform names in the plural; Checkov has no check on it.
    "aws_arcregionswitch_plan": {"associatedAlarms", "conditions", "eksClusters", "eksResourceScalingConfigs",
                                 "executionApprovalConfigs", "globalAuroraConfigs", "kubernetesResourceTypes",
                                 "parallelConfigs", "recordSets", "resources", "route53HealthCheckConfigs",
                                 "scalingResources", "steps", "triggers", "ungracefuls", "workflows"},
}
# Arguments the bridge renames, by Terraform type: Pulumi name -> Terraform name.
RENAMED = {
    "aws_cloudwatch_metric_alarm": {"name": "alarm_name"},
    "aws_lambda_function": {"name": "function_name"},
    "aws_lambda_permission": {"function": "function_name"},
    "aws_sns_topic_subscription": {"topic": "topic_arn"},
}
def eks_cluster_values(inputs: dict[str, Any]) -> dict[str, Any]:
    """The `aws_eks_cluster` pulumi-eks creates from its component's inputs (the same correspondence the
    policies read, mercur/offline/policies.py `_eks`): Auto Mode turns compute, block storage and load
    balancing on together."""
    auto = inputs.get("autoMode") or {}
    enabled = bool(auto.get("enabled"))
    values: dict[str, Any] = {
        "name": inputs.get("name"), "version": inputs.get("version"),
        "enabled_cluster_log_types": inputs.get("enabledClusterLogTypes") or [],
        "deletion_protection": inputs.get("deletionProtection"),
        "vpc_config": [{"endpoint_private_access": inputs.get("endpointPrivateAccess"),
                        "endpoint_public_access": inputs.get("endpointPublicAccess"),
                        "public_access_cidrs": inputs.get("publicAccessCidrs") or [],
                        "subnet_ids": [*(inputs.get("privateSubnetIds") or []), *(inputs.get("publicSubnetIds") or [])]}],
        "access_config": [{"authentication_mode": inputs.get("authenticationMode")}],
        "compute_config": [{"enabled": enabled, "node_pools": (auto.get("computeConfig") or {}).get("nodePools", [])}],
        "storage_config": [{"block_storage": [{"enabled": enabled}]}],
        "kubernetes_network_config": [{"elastic_load_balancing": [{"enabled": enabled}]}],
    }
    if inputs.get("encryptionConfigKeyArn"):
        values["encryption_config"] = [{"resources": ["secrets"],
                                        "provider": [{"key_arn": inputs["encryptionConfigKeyArn"]}]}]
    if inputs.get("upgradePolicy"):
        values["upgrade_policy"] = [{"support_type": inputs["upgradePolicy"].get("supportType")}]
    return values


# Arguments whose value is a map (keys are data, kept as written), not a block.
MAPS = frozenset({"tags", "tagsAll", "dimensions", "recoveryPointTags", "variables"})
ASSETS = frozenset({"code"})  # a Pulumi archive: Terraform names the file (`filename`), which no check reads

_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(name: str) -> str:
    return _WORD.sub("_", name).lower()


def _values(value: Any, blocks: dict[str, str], renamed: dict[str, str] | None = None) -> Any:
    """Terraform's names: `renamed` applies to the resource's own arguments, `blocks` at every level."""
    if isinstance(value, list):
        return [_values(item, blocks) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {}
    for key, item in value.items():
        if key in ASSETS:
            continue
        name = (renamed or {}).get(key) or blocks.get(key) or snake(key)
        converted[name] = item if key in MAPS else _values(item, blocks)
    return converted


def _terraform_values(kind: str, resource: Resource) -> dict[str, Any]:
    inputs = resource.document()["inputs"]
    if resource.type == EKS_COMPONENT:
        return eks_cluster_values(inputs)
    return _values(inputs, BLOCKS.get(kind, {}), RENAMED.get(kind))


def _address(kind: str, resource: Resource, taken: set[str]) -> tuple[str, str]:
    """A Terraform address unique in the plan: the Pulumi name, made a Terraform name (a region prefix
    already tells regions apart; a second one of the same name gets the parent's name too)."""
    base = re.sub(r"[^A-Za-z0-9_-]", "_", resource.name)
    name = base if f"{kind}.{base}" not in taken else re.sub(
        r"[^A-Za-z0-9_-]", "_", f"{(resource.parent or '').rsplit('::', 1)[-1]}_{base}")
    taken.add(f"{kind}.{name}")
    return f"{kind}.{name}", name


def _references(value: Any, known: dict[str, str]) -> list[str]:
    """The Terraform references a value holds: another resource's id, ARN or name, as the program passed it."""
    if isinstance(value, str):
        return [known[value]] if value in known else []
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item, known)]
    return []


def terraform_plan(plan: Plan) -> dict[str, Any]:
    """The plan as Terraform's JSON plan format: `planned_values`, `resource_changes` (all creates), and the
    `configuration`'s references from one resource's argument to another's id or ARN, which Checkov's graph
    checks follow (a flow log to its VPC, a backup selection to its cluster)."""
    addresses, taken = {}, set()
    known: dict[str, str] = {}  # an attribute's value -> `<address>.<attribute>`
    for resource in plan.resources:
        if (kind := TERRAFORM_TYPES.get(resource.type)) is not None:
            addresses[resource.urn] = address = _address(kind, resource, taken)
            computed = _computed(resource.type, resource.name, resource.id, resource.region, resource.inputs,
                                 plan.account)
            for attribute, value in (("id", resource.id), ("arn", computed.get("arn"))):
                if isinstance(value, str):
                    known.setdefault(value, f"{address[0]}.{attribute}")
    resources, changes, configuration = [], [], []
    for resource in plan.resources:
        if resource.urn not in addresses:
            continue
        kind = TERRAFORM_TYPES[resource.type]
        address, name = addresses[resource.urn]
        values = _terraform_values(kind, resource)
        values["region"] = resource.region
        expressions = {}
        for key, value in resource.inputs.items():
            if refs := [ref for ref in _references(value, known) if not ref.startswith(f"{address}.")]:
                expressions[RENAMED.get(kind, {}).get(key) or BLOCKS.get(kind, {}).get(key) or snake(key)] = {
                    "references": [part for ref in refs for part in (ref, ref.rsplit(".", 1)[0])]}
        configuration.append({"address": address, "mode": "managed", "type": kind, "name": name,
                              "provider_config_key": "aws", "expressions": expressions})
        resources.append({"address": address, "mode": "managed", "type": kind, "name": name,
                          "provider_name": "registry.terraform.io/hashicorp/aws", "schema_version": 0,
                          "values": values})
        changes.append({"address": address, "mode": "managed", "type": kind, "name": name,
                        "provider_name": "registry.terraform.io/hashicorp/aws",
                        "change": {"actions": ["create"], "before": None, "after": values, "after_unknown": {}}})
    return {"format_version": "1.2", "terraform_version": "1.9.0",
            "planned_values": {"root_module": {"resources": resources}}, "resource_changes": changes,
            "configuration": {"provider_config": {"aws": {"name": "aws", "full_name": "registry.terraform.io/hashicorp/aws"}},
                              "root_module": {"resources": configuration}}}


def terraform_plan_json(plan: Plan) -> str:
    return json.dumps(terraform_plan(plan), indent=1, default=str)
