"""mercur.config.reference: the JSON Schema and the configuration reference come from the models and are current."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from mercur.config import reference
from conftest import ROOT, STACKS


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / reference.SCHEMA_PATH).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_committed_schema_and_reference_are_what_the_models_generate() -> None:
    for path, text in reference.rendered().items():
        assert (ROOT / path).read_text() == text, f"{path} is stale: run python -m mercur.config.reference"
    assert reference.main(["--check"]) == 0


@pytest.mark.parametrize("stack", STACKS)
def test_the_schema_accepts_each_stack_file_and_editors_are_pointed_at_it(stack) -> None:
    text = (ROOT / f"Pulumi.{stack}.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./docs/stack.schema.json"
    assert list(_validator().iter_errors(yaml.safe_load(text))) == []


@pytest.mark.parametrize("change, where", [
    (lambda c: c["mercur:network"].update(natGateway=c["mercur:network"].pop("natGateways")), "natGateway"),
    (lambda c: c.update({"mecur:tags": c.pop("mercur:tags")}), "mecur:tags"),
    (lambda c: c["mercur:apps"][0].update(replica={"min": 1}), "replica"),
    (lambda c: c["mercur:dr"].update(rpoMinutes="240"), "240"),
])
def test_the_schema_rejects_a_misspelled_or_mistyped_key(change, where) -> None:
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    change(document["config"])
    errors = list(_validator().iter_errors(document))
    assert errors and any(where in error.message for error in errors), [e.message for e in errors]


def test_the_reference_lists_every_key_with_its_meaning() -> None:
    text = (ROOT / reference.REFERENCE_PATH).read_text()
    for key in ("mercur:regions[].cidr", "mercur:apps[].secretEnv", "mercur:dr.rpoMinutes", "mercur:dns.healthCheck"
                                                                                              ".intervalSeconds"):
        row = next(line for line in text.splitlines() if line.startswith(f"| `{key}` |"))
        cells = re.split(r"(?<!\\)\|", row)
        assert len(cells) == 6 and cells[4].strip()
