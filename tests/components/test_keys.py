"""mercur.components.keys: account-administered key policies with exactly one service statement."""

import json

from mercur.components import keys


def test_the_account_administers_and_one_service_uses_the_key_on_conditions() -> None:
    admin, service = json.loads(keys.key_policy("aws", "123456789012", sid="S", service="sns.amazonaws.com",
                                                actions=keys.PUBLISH_ENCRYPTED,
                                                condition=keys.from_account("123456789012")))["Statement"]
    assert admin == {"Sid": "AccountAdministers", "Effect": "Allow",
                     "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}
    assert service["Principal"] == {"Service": "sns.amazonaws.com"}
    assert service["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]
    assert service["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
