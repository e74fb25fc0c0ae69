"""mercur.schema: the reader behind every config error."""

from __future__ import annotations

import pytest

from mercur.schema import ConfigError, Section, bounded, choice, show


def _section(data: dict) -> Section:
    return Section("Pulumi.x.yaml", "mercur:", data, ("alpha", "beta", "items"))


def test_unknown_key_suggests_the_closest_known_one() -> None:
    with pytest.raises(ConfigError, match=r"^Pulumi.x.yaml: mercur:alpah: unknown key; did you mean `alpha`\?$"):
        _section({"alpah": 1})


def test_unknown_key_with_nothing_close_lists_the_known_keys() -> None:
    with pytest.raises(ConfigError, match="known keys here: alpha, beta, items"):
        _section({"zzz": 1})


def test_types_are_checked_and_bools_are_not_integers() -> None:
    section = _section({"alpha": True, "beta": "x"})
    with pytest.raises(ConfigError, match="mercur:alpha: expected an integer, got true; write an integer"):
        section.get("alpha", int)
    assert section.get("beta", str) == "x"


def test_nested_keys_and_list_items_are_named_by_path() -> None:
    section = _section({"items": [{"alpha": 1}, {"alpha": 2, "gamma": 3}]})
    with pytest.raises(ConfigError, match=r"mercur:items\[1\].gamma: unknown key"):
        section.each("items", ("alpha",))


def test_choice_and_bounds_name_the_allowed_values() -> None:
    section = _section({"alpha": 7, "beta": "c"})
    with pytest.raises(ConfigError, match="use a value from 1 to 5"):
        bounded(section, "alpha", 1, 5)
    with pytest.raises(ConfigError, match="use one of: a, b"):
        choice(section, "beta", ("a", "b"))


def test_long_values_are_shortened_to_keep_one_line() -> None:
    assert len(show("x" * 500)) == 60 and show({"a": 1}) == '{"a": 1}'
