"""mercur.config.errors and load.one_line: every validation failure as ONE line `<file>: <key>: <problem>; <fix>`."""

from __future__ import annotations

import copy

import pytest

from mercur.config import ConfigError, show
from mercur.config import load
from conftest import ROOT


def _prod() -> dict:
    return copy.deepcopy(load.stack_file_keys(ROOT, "prod"))


def _reject(raw: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        load.parse(raw, stack="prod", source="Pulumi.x.yaml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("Pulumi.x.yaml: ")
    return message


def test_unknown_key_suggests_the_closest_known_one() -> None:
    raw = _prod()
    raw["network"]["maxAzz"] = raw["network"].pop("maxAzs")
    assert _reject(raw) == "Pulumi.x.yaml: mercur:network.maxAzz: unknown key; did you mean `maxAzs`?"


def test_unknown_key_with_nothing_close_lists_the_known_keys() -> None:
    raw = _prod()
    raw["network"]["zzz"] = 1
    assert _reject(raw).endswith("known keys here: flowLogRetentionDays, maxAzs, natGateways")


def test_types_are_checked_and_bools_are_not_integers() -> None:
    raw = _prod()
    raw["network"]["maxAzs"] = True
    assert _reject(raw) == "Pulumi.x.yaml: mercur:network.maxAzs: expected an integer, got true; write an integer"


def test_nested_keys_and_list_items_are_named_by_path() -> None:
    raw = _prod()
    raw["apps"][1]["requests"]["gamma"] = 3
    assert _reject(raw).startswith("Pulumi.x.yaml: mercur:apps[1].requests.gamma: unknown key")


def test_choice_and_bounds_name_the_allowed_values() -> None:
    raw = _prod()
    raw["network"]["maxAzs"] = 7
    assert _reject(raw).endswith("7 is out of range; use a value from 2 to 4")
    raw = _prod()
    raw["nodePool"]["minGeneration"] = 3
    assert _reject(raw).endswith("3 is out of range; use a value from 4 to 8")


def test_a_missing_key_says_what_it_is_for() -> None:
    raw = _prod()
    del raw["cluster"]["adminRoleArn"]
    assert _reject(raw).endswith("mercur:cluster.adminRoleArn: is required but missing; add it (The IAM role "
                                 "granted cluster-admin through an access entry)")


def test_long_values_are_shortened_to_keep_one_line() -> None:
    assert len(show("x" * 500)) == 60 and show({"a": 1}) == '{"a": 1}'
    raw = _prod()
    raw["apps"][0]["image"] = "x" * 1_000_000
    assert len(_reject(raw)) < 300


def test_control_characters_never_split_the_line() -> None:
    raw = _prod()
    raw["tags"]["Team\nLead"] = "x"
    message = _reject(raw)
    assert "Team\\nLead" in message
