"""The apps' AWS identities: one IAM role per app, shared by every region's cluster through EKS Pod Identity.

IAM is global, so one role serves the app wherever it runs; each cluster binds it to the app's service
account with a PodIdentityAssociation (in Workloads). Unlike per-cluster OIDC trust, the role names no
cluster's issuer: a region added or rebuilt needs no change to it.
"""

from __future__ import annotations

import json
from typing import Sequence

import pulumi
import pulumi_aws as aws

from ..config import AppConfig

POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"


BOOTSTRAP_SERVICE_ACCOUNT = "db-bootstrap"


def pod_identity_trust_policy(partition: str, account: str, cluster_prefix: str, namespace: str | list[str],
                              service_account: str) -> str:
    """EKS Pod Identity may assume the role for exactly one service account (in one namespace, or in each of
    a list), on this stack's clusters only.

    The conditions read the session tags Pod Identity sends (EKS User Guide, "Create IAM role with trust
    policy required by EKS Pod Identity"); `sts:TagSession` is what lets it send them.
    """
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "PodIdentityForOneServiceAccount", "Effect": "Allow",
        "Principal": {"Service": POD_IDENTITY_SERVICE}, "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {
            "StringEquals": {"aws:RequestTag/kubernetes-namespace": namespace,
                             "aws:RequestTag/kubernetes-service-account": service_account},
            "ArnLike": {"aws:RequestTag/eks-cluster-arn":
                        f"arn:{partition}:eks:*:{account}:cluster/{cluster_prefix}-*"},
        }}]}, sort_keys=True)


class WorkloadRoles(pulumi.ComponentResource):
    """One role per app, holding no permissions yet: what an app may do is granted to its role, once. With a
    database, one more for the Job that creates the apps' database users (granted the master secret)."""

    def __init__(self, name: str, *, apps: Sequence[AppConfig], label: str, partition: str, account: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:identity:WorkloadRoles", name, None, opts)
        self.arns: dict[str, pulumi.Output[str]] = {}
        self.names: dict[str, pulumi.Output[str]] = {}
        for app in apps:
            role = aws.iam.Role(
                f"{name}-{app.name}", name=f"{label}-app-{app.name}",
                description=f"{app.name} pods on the {label} clusters (EKS Pod Identity)",
                assume_role_policy=pod_identity_trust_policy(partition, account, label, app.name, app.name),
                max_session_duration=3600, opts=pulumi.ResourceOptions(parent=self))
            self.arns[app.name], self.names[app.name] = role.arn, role.name
        users = [app.name for app in apps if app.database]
        self.bootstrap = aws.iam.Role(
            f"{name}-db-bootstrap", name=f"{label}-db-bootstrap",
            description=f"The Job creating each app's database user on the {label} database (EKS Pod Identity)",
            assume_role_policy=pod_identity_trust_policy(partition, account, label, users, BOOTSTRAP_SERVICE_ACCOUNT),
            max_session_duration=3600, opts=pulumi.ResourceOptions(parent=self)) if users else None
        self.register_outputs({"roleArns": self.arns})
