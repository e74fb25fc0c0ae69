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
        {"Sid": sid, "Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions),
         "Resource": "*", "Condition": dict(condition)},
    ]})


def from_account(account: str) -> dict[str, Any]:
    """Condition: the service acts on behalf of this account (no confused deputy)."""
    return {"StringEquals": {"aws:SourceAccount": account}}
