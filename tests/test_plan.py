"""mercur.plan: the readable summary and the JSON contract."""

from __future__ import annotations

import json
from collections import Counter

from mercur import plan


def test_document_is_the_contract_later_tools_read(stack_plan) -> None:
    document = json.loads(plan.document(stack_plan))
    assert set(document) == {"project", "stack", "resources", "outputs"}
    assert document["project"] == "mercur" and document["stack"] == stack_plan.stack
    for resource in document["resources"]:
        assert set(resource) == {"urn", "type", "name", "parent", "region", "inputs"}
    regions = {r["region"] for r in document["resources"]}
    # us-east-1 always: Route53's metrics and their alarms live there.
    assert regions == set(stack_plan.outputs["failoverOrder"]) | {"us-east-1", None}


def test_document_never_carries_secret_values(plan_of) -> None:
    assert '"kubeconfig": "[secret]"' in plan.document(plan_of("prod"))
    assert "get-token" not in plan.document(plan_of("prod"))


def test_summary_lists_regions_in_failover_order_with_counts(plan_of) -> None:
    result = plan_of("prod")
    text = plan.summary(result)
    assert text.splitlines()[0] == f"mercur/prod: {len(result.resources)} resources in 2 region(s)"
    assert text.index("us-west-1 (active)") < text.index("us-east-1 (passive)")
    west = Counter(r.type for r in result.resources if r.region == "us-west-1")
    assert f"us-west-1 (active): {sum(west.values())} resources" in text
    assert "cluster mercur-prod-usw1, AZs us-west-1b, us-west-1c" in text
    assert f"Totals: {len(result.resources)} resources" in text
