"""KMS key policies: administered by the account (so IAM policies grant its roles), plus the one AWS service
each key exists for."""

from __future__ import annotations

import json
from typing import Any, Mapping

PUBLISH_ENCRYPTED = ("kms:GenerateDataKey*", "kms:Decrypt")  # what a service needs to write to an encrypted topic


def key_policy(partition: str, account: str, *, sid: str, service: str, actions: tuple[str, ...],
               condition: Mapping[str, Any]) -> str:
    """The account administers the key; `service` may use it for `actions` under `condition` only."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
         "Action": "kms:*", "Resource": "*"},
        service_statement(sid, service, actions, condition),
    ]})


def service_statement(sid: str, service: str, actions: tuple[str, ...], condition: Mapping[str, Any]) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions),
            "Resource": "*", "Condition": dict(condition)}


def from_account(account: str) -> dict[str, Any]:
    """Condition: the service acts on behalf of this account (no confused deputy)."""
    return {"StringEquals": {"aws:SourceAccount": account}}


LOGS_KEY_USE = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")


def logs_may_encrypt(partition: str, account: str, region: str) -> dict[str, Any]:
    """The key-policy statement letting CloudWatch Logs encrypt this account's log groups in `region`."""
    return service_statement("CloudWatchLogsEncrypts", f"logs.{region}.amazonaws.com", LOGS_KEY_USE, {"ArnLike": {
        "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:log-group:*"}})


EBS_KEY_USE = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant",
               "kms:DescribeKey")


def ebs_may_encrypt(account: str, region: str) -> dict[str, Any]:
    """The key-policy statement letting EBS volumes in `region` use the key for this account's principals
    (EKS Auto Mode's node root volumes and the apps' persistent volumes): only through EC2, only for callers
    in this account — the shape of AWS's own aws/ebs key (EKS User Guide, "Create a storage class")."""
    return {"Sid": "EbsVolumesOfThisAccount", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": list(EBS_KEY_USE), "Resource": "*", "Condition": {"StringEquals": {
                "kms:CallerAccount": account, "kms:ViaService": f"ec2.{region}.amazonaws.com"}}}


def cluster_role_may_encrypt(role_arn: str) -> list[dict[str, Any]]:
    """The key-policy statements EKS Auto Mode's cluster role needs to launch nodes with volumes on the key
    (EKS User Guide, "Enable EBS Volume Encryption with Customer Managed KMS Keys for EKS Auto Mode")."""
    return [{"Sid": "AutoModeUsesTheKey", "Effect": "Allow", "Principal": {"AWS": role_arn},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
             "Resource": "*"},
            {"Sid": "AutoModeAttachesVolumes", "Effect": "Allow", "Principal": {"AWS": role_arn},
             "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}]
