"""mercur.dr.outputs: the stack-output contract held against the stack file; one line for a bad file."""

from __future__ import annotations

import json
import os

import pytest

from mercur.config import ConfigError, load_file
from mercur.dr import outputs
from conftest import ROOT, STACKS


def _prod(plan_of) -> dict:
    return json.loads(json.dumps(plan_of("prod").outputs))


@pytest.mark.parametrize("stack", STACKS)
def test_the_plans_outputs_hold_everything_their_stack_file_calls_for(plan_of, stack) -> None:
    data = plan_of(stack).outputs
    parsed = outputs.parse(data, "outputs.json", load_file(ROOT, stack))
    assert parsed.gaps == ()
    assert parsed.failover_order == tuple(data["failoverOrder"]) and parsed.active.name == data["activeRegion"]
    assert parsed.active.backup_vault_name == parsed.active.cluster_name  # both named after the region's label
    assert (parsed.switch_plan_arn is not None) == (stack != "dev")
    assert parsed.node_pool_limits is not None


@pytest.mark.parametrize("change, gap", [
    (lambda o: o["regions"].pop("us-east-1"), "regions.us-east-1 is missing"),
    (lambda o: o["regions"]["us-east-1"].pop("healthCheckId"), "regions.us-east-1.healthCheckId is missing"),
    (lambda o: o["regions"]["us-east-1"].pop("clusterName"), "regions.us-east-1.clusterName is missing"),
    (lambda o: o["regions"]["us-west-1"]["database"].pop("clusterArn"),
     "regions.us-west-1.database.clusterArn is missing"),
    (lambda o: o.pop("hostedZoneId"), "hostedZoneId is missing"),
    (lambda o: o.pop("regionSwitch"), "regionSwitch is missing"),
    (lambda o: o["regionSwitch"]["healthCheckIds"].pop("us-east-1"), "regionSwitch.healthCheckIds.us-east-1 is missing"),
    (lambda o: o["database"].pop("globalClusterId"), "database.globalClusterId is missing"),
    (lambda o: o.update(failoverOrder=["us-east-1", "us-west-1"]), "failoverOrder is us-east-1, us-west-1; "
                                                                   "Pulumi.prod.yaml has us-west-1, us-east-1"),
])
def test_what_the_stack_file_calls_for_and_the_outputs_lack_is_a_gap(plan_of, change, gap) -> None:
    data = _prod(plan_of)
    change(data)
    parsed = outputs.parse(data, "outputs.json", load_file(ROOT, "prod"))
    assert any(g.startswith(gap) for g in parsed.gaps), parsed.gaps


@pytest.mark.parametrize("change, key, problem", [
    (lambda o: o.pop("failoverOrder"), "failoverOrder", "is missing"),
    (lambda o: o.update(failoverOrder=[]), "failoverOrder", "is an empty list"),
    (lambda o: o.update(failoverOrder=[1, 2]), "failoverOrder", "expected a list of names"),
    (lambda o: o.update(regions=[]), "regions", "expected an object, got []"),
    (lambda o: o["regions"]["us-east-1"].update(clusterName=7), "regions.us-east-1.clusterName", "expected a non-empty"),
    (lambda o: o["regions"]["us-east-1"].update(availabilityZones=[]), "regions.us-east-1.availabilityZones",
     "is an empty list"),
    (lambda o: o["regions"]["us-east-1"].update(endpoints={"storefront": None}), "regions.us-east-1.endpoints",
     "expected names by key"),
    (lambda o: o.update(environment=True), "environment", "expected a non-empty string, got true"),
    (lambda o: o["objectives"]["capacity"]["limits"].update(cpu="lots"), "objectives.capacity.limits.cpu",
     "expected a number"),
])
def test_a_malformed_key_is_one_line(plan_of, tmp_path, change, key, problem) -> None:
    data = _prod(plan_of)
    change(data)
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as caught:
        outputs.load(path, load_file(ROOT, "prod"))
    assert str(caught.value).startswith(f"{path}: {key}: {problem}") and "\n" not in str(caught.value)


def test_unreadable_files_are_one_line(tmp_path) -> None:
    broken = tmp_path / "out.json"
    broken.write_text("{ nope")
    cases = {broken: "line 1: is not valid JSON", tmp_path / "gone.json": r"\(file\): does not exist",
             tmp_path: r"\(file\): is a directory"}
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"environment": "pr\xf6d"}'.encode("latin-1"))
    cases[latin] = "byte 19: is not UTF-8 text"
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    cases[fifo] = r"\(file\): is not a regular file"  # reading it would block forever
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    cases[listed] = r"\(document\): is not a JSON object"
    for path, message in cases.items():
        with pytest.raises(ConfigError, match=f"^{path}: {message}; "):
            outputs.load(path)
