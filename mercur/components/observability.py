"""Observability: one cluster's telemetry, the way AWS recommends it for EKS, through the
`amazon-cloudwatch-observability` add-on: the CloudWatch agent (Container Insights with enhanced
observability) and Fluent Bit (container logs; host and data-plane logs only where the nodes' OS writes what it
reads: AWS says AL2023 nodes do not by default, and Auto Mode's nodes may not either, so those groups may stay
empty).

Choices, each with its reason:
- Classic enhanced Container Insights, not the OpenTelemetry configuration: its metrics land in the
  `ContainerInsights` namespace, where CloudWatch alarms and dashboards read them (the OTel configuration's
  keep their Prometheus names and are queried with PromQL; it also needs add-on 6.2.0 or later). CloudWatch
  User Guide, "Container Insights with OpenTelemetry metrics for Amazon EKS".
- No Application Signals instrumentation: the agent configuration below replaces the add-on's default, which
  turns it on (and instruments pods); our apps are not instrumented, and its log group would never expire. The
  user's path is watched at each app's load balancer (monitoring.Monitoring: its alarms, and CloudWatch SLOs
  on the load balancer's metrics, which need no instrumentation), in Container Insights and by the Route53
  health checks.
- Permissions through EKS Pod Identity, the add-on's recommended option since 3.1.0 ("Install the CloudWatch
  agent with the Amazon CloudWatch Observability EKS add-on", Option 1): the agent and Fluent Bit both run as
  `amazon-cloudwatch/cloudwatch-agent`. Auto Mode's node role holds no CloudWatch permission, by design.
- The log groups exist before the add-on, with the stack file's retention and the region's key: Fluent Bit
  and the agent create missing ones without either.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from .identity import pod_identity_trust_policy

OBSERVABILITY_ADDON = "amazon-cloudwatch-observability"
NAMESPACE, SERVICE_ACCOUNT = "amazon-cloudwatch", "cloudwatch-agent"
AGENT_POLICY = "CloudWatchAgentServerPolicy"
# Fluent Bit writes application, dataplane and host; the agent writes performance (its EMF metrics).
LOG_GROUPS = ("application", "dataplane", "host", "performance")
# The add-on's configuration (its schema: `aws eks describe-addon-configuration`): the agent's configuration
# replaces the default one entirely, so Application Signals stays off; container logs on.
CONFIGURATION = {
    "agent": {"config": {"logs": {"metrics_collected": {"kubernetes": {"enhanced_container_insights": True}}}}},
    "containerLogs": {"enabled": True},
}


def log_group_name(cluster_name: str, kind: str) -> str:
    return f"/aws/containerinsights/{cluster_name}/{kind}"


class Observability(pulumi.ComponentResource):
    """The add-on on one cluster, its Pod Identity role and its log groups."""

    def __init__(self, name: str, *, cluster_name: str, cluster_prefix: str, partition: str, account: str,
                 retention_days: int, key_arn: pulumi.Input[str], cluster_ready: pulumi.Resource,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:observability:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        groups = [aws.cloudwatch.LogGroup(f"{name}-{kind}", name=log_group_name(cluster_name, kind),
                                          retention_in_days=retention_days, kms_key_id=key_arn, opts=child)
                  for kind in LOG_GROUPS]
        role = aws.iam.Role(
            f"{name}-agent", name=f"{cluster_name}-cloudwatch-agent",
            description=f"{cluster_name}: the CloudWatch agent and Fluent Bit (EKS Pod Identity)",
            assume_role_policy=pod_identity_trust_policy(partition, account, cluster_prefix, NAMESPACE,
                                                         SERVICE_ACCOUNT),
            max_session_duration=3600, opts=child)
        attached = aws.iam.RolePolicyAttachment(
            f"{name}-agent", role=role.name, policy_arn=f"arn:{partition}:iam::aws:policy/{AGENT_POLICY}", opts=child)
        self.addon = aws.eks.Addon(
            f"{name}-addon", cluster_name=cluster_name, addon_name=OBSERVABILITY_ADDON,
            configuration_values=json.dumps(CONFIGURATION, sort_keys=True),
            pod_identity_associations=[aws.eks.AddonPodIdentityAssociationArgs(role_arn=role.arn,
                                                                                service_account=SERVICE_ACCOUNT)],
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="PRESERVE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_ready, attached, *groups]))
        self.register_outputs({"addon": OBSERVABILITY_ADDON, "logGroups": [g.name for g in groups]})
