"""mercur.dr.outputs: the stack-output contract, and one line for a bad file."""

from __future__ import annotations

import json

import pytest

from mercur.dr import outputs
from mercur.config import ConfigError


def test_the_plans_outputs_satisfy_the_contract(stack_plan) -> None:
    parsed = outputs.parse(stack_plan.outputs, "outputs.json")
    assert parsed.failover_order == tuple(stack_plan.outputs["failoverOrder"])
    assert parsed.active.name == stack_plan.outputs["activeRegion"]
    assert parsed.active.backup_vault_name == parsed.active.cluster_name  # both named after the region's label


@pytest.mark.parametrize("change, key", [
    (lambda o: o.pop("failoverOrder"), "failoverOrder"),
    (lambda o: o["regions"]["us-east-1"].pop("clusterName"), "regions.us-east-1.clusterName"),
    (lambda o: o.pop("hostedZoneId"), "hostedZoneId"),
    (lambda o: o["regions"].pop("us-east-1"), "regions.us-east-1"),
    (lambda o: o.update(regions=[]), "regions"),
])
def test_a_missing_or_mistyped_key_is_one_line(plan_of, tmp_path, change, key) -> None:
    data = json.loads(json.dumps(plan_of("prod").outputs))
    change(data)
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as caught:
        outputs.load(path)
    assert str(caught.value).startswith(f"prod.json: {key}: ") and "\n" not in str(caught.value)


def test_not_json_and_missing_files_are_one_line(tmp_path) -> None:
    broken = tmp_path / "out.json"
    broken.write_text("{ nope")
    with pytest.raises(ConfigError, match=r"^out.json: line 1: is not valid JSON"):
        outputs.load(broken)
    with pytest.raises(ConfigError, match=r"^gone.json: \(file\): does not exist"):
        outputs.load(tmp_path / "gone.json")
