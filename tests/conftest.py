"""Shared fixtures: the one mock engine (mercur.synth), its plans per stack, and editable project copies."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import pulumi
import pytest
import yaml

from mercur import synth

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "prod")


@pytest.fixture(autouse=True)
def _declarations_only_through_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without mocks the SDK fakes registrations and tests pass vacuously: refuse any resource declared
    outside `mercur.synth`, loudly and at the line that declares it."""
    declare = pulumi.Resource.__init__

    def guarded(self: pulumi.Resource, *args: Any, **kwargs: Any) -> None:
        if not synth.recording():
            raise RuntimeError("resources may only be declared through mercur.synth (the shared mock engine)")
        declare(self, *args, **kwargs)

    monkeypatch.setattr(pulumi.Resource, "__init__", guarded)


_plans: dict[str, synth.Plan] = {}


@pytest.fixture
def plan_of() -> Callable[[str], synth.Plan]:
    """The plan of a checked-in stack file, synthesized once per test session."""
    def get(stack: str) -> synth.Plan:
        if stack not in _plans:
            _plans[stack] = synth.synthesize(stack, ROOT)
        return _plans[stack]
    return get


@pytest.fixture(params=STACKS)
def stack_plan(request: pytest.FixtureRequest, plan_of: Callable[[str], synth.Plan]) -> synth.Plan:
    return plan_of(request.param)


class Project:
    """A copy of the project whose stack files a test may edit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        for name in ["Pulumi.yaml", "__main__.py", *(f"Pulumi.{s}.yaml" for s in STACKS)]:
            shutil.copy(ROOT / name, path / name)

    def config(self, stack: str) -> dict[str, Any]:
        return yaml.safe_load((self.path / f"Pulumi.{stack}.yaml").read_text())["config"]

    def edit(self, stack: str, change: Callable[[dict[str, Any]], Any]) -> "Project":
        """Apply `change` to the stack's `config:` mapping (keys like `mercur:network`)."""
        values = self.config(stack)
        change(values)
        (self.path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": values}, sort_keys=False))
        return self

    def synthesize(self, stack: str) -> synth.Plan:
        return synth.synthesize(stack, self.path)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)
