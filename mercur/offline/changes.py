"""What an `up` would change going from one plan to another, as the engine decides it: an input that differs,
unless the resource ignores it (`ignore_changes`) or it is write-only and its version did not move."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Any, Iterable

from .synth import Plan

WRITE_ONLY_SUFFIX, VERSION_SUFFIX = "Wo", "WoVersion"  # pulumi-aws's write-only arguments and their versions


@dataclass(frozen=True, order=True)
class Change:
    urn: str
    field: str  # a top-level input; "" where the resource is created or deleted
    before: Any = None
    after: Any = None

    def line(self) -> str:
        return f"{self.urn} {self.field or '(whole resource)'}: {self.before!r} -> {self.after!r}"


def changes(before: Plan, after: Plan, types: Iterable[str] = ("",)) -> list[Change]:
    """Every change to resources whose type starts with one of `types` (all, by default)."""
    prefixes = tuple(types)
    old = {r.urn: r for r in before.resources if r.type.startswith(prefixes)}
    new = {r.urn: r for r in after.resources if r.type.startswith(prefixes)}
    found = [Change(urn, "", before="exists") for urn in old.keys() - new.keys()]
    found += [Change(urn, "", after="exists") for urn in new.keys() - old.keys()]
    for urn in old.keys() & new.keys():
        was, now = _without(old[urn].inputs, new[urn].ignore_changes), _without(new[urn].inputs, new[urn].ignore_changes)
        for field in sorted(was.keys() | now.keys()):
            if not _write_only_unmoved(field, was, now) and was.get(field) != now.get(field):
                found.append(Change(urn, field, was.get(field), now.get(field)))
    return sorted(found)


def _without(inputs: dict, paths: Iterable[str]) -> dict:
    """The inputs less every ignored path (`spec.minReplicas` reaches into `spec`)."""
    copy = deepcopy(dict(inputs))
    for path in paths:
        *parents, leaf = path.split(".")
        node: Any = copy
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return copy


def _write_only_unmoved(field: str, was: dict, now: dict) -> bool:
    """A write-only argument is sent only when its version changes; its value is never compared."""
    if not field.endswith(WRITE_ONLY_SUFFIX):
        return False
    version = f"{field}Version"
    return was.get(version) == now.get(version)
