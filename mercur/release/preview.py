"""What a reviewer approves: the change in `pulumi preview --json`, summarized for the job summary and the PR,
and held against a later preview so that the gated job applies exactly what was approved.

Why a repeated preview and not Pulumi's saved update plans (`preview --save-plan` / `up --plan`): Pulumi's own
docs list what a plan cannot record (values unknown until an earlier resource exists, resources created inside
`apply`), and this program has both (pulumi-eks' remote component, the Kubernetes objects that wait for the
cluster). A plan that cannot record a step fails the `up` at that step, mid-deploy. A second preview under the
gate, compared with the approved one before `up` starts, fails before anything changes.

The comparison covers every step that changes something: its operation, URN, the properties that differ
(and why it replaces), and the new input values of those properties, so a different image digest or a new
resource that appeared after the approval is a difference. Unchanged resources ("same") are not compared:
the refresh of a read-only attribute between the two previews does not make the approval stale.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..config import ConfigError

UNCHANGED = {"same", "read", "refresh"}
REPLACING = {"replace", "create-replacement", "delete-replaced"}
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's sentinel for a value known only at `up`


def load(path: Path) -> dict[str, Any]:
    """A `pulumi preview --json` document, or ConfigError naming the file and the fix (one line)."""
    fix = f"write it with: pulumi preview --json > {path.name}"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(str(path), "file", "does not exist", fix) from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(str(path), "file", f"is not JSON ({type(error).__name__})", fix) from None
    if not isinstance(document, dict) or not isinstance(document.get("steps", []), list) or not all(
            isinstance(step, dict) and isinstance(step.get("op"), str) and isinstance(step.get("urn"), str)
            for step in document.get("steps", [])):
        raise ConfigError(str(path), "steps", "is not a preview's list of steps (op, urn)", fix)
    return document


def changes(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step that changes something, in a canonical form (sorted, defaults dropped)."""
    found = []
    for step in document.get("steps", []):
        if step["op"] in UNCHANGED:
            continue
        new_inputs = (step.get("newState") or {}).get("inputs") or {}
        changed = sorted(set(step.get("diffReasons") or []) | set(step.get("replaceReasons") or []))
        whole = step["op"] in {"create", "import"} | REPLACING or not changed
        found.append({
            "op": step["op"], "urn": step["urn"],
            "properties": changed,
            "replaceReasons": sorted(step.get("replaceReasons") or []),
            "detailedDiff": {k: (v or {}).get("kind", "update") for k, v in sorted(
                (step.get("detailedDiff") or {}).items())},
            "inputs": _without_defaults(new_inputs if whole else {k: new_inputs.get(k) for k in changed}),
        })
    return sorted(found, key=lambda c: (c["urn"], c["op"]))


def _without_defaults(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_defaults(v) for k, v in sorted(value.items()) if k != "__defaults"}
    if isinstance(value, list):
        return [_without_defaults(v) for v in value]
    return value


def fingerprint(document: dict[str, Any]) -> str:
    """sha256 of the canonical change: what the job summary shows and the gated job must reproduce."""
    return hashlib.sha256(json.dumps(changes(document), sort_keys=True).encode()).hexdigest()


def differences(approved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What the new preview would do that the approved one did not, and the reverse: one line each."""
    before = {(c["urn"], c["op"]): c for c in changes(approved)}
    after = {(c["urn"], c["op"]): c for c in changes(now)}
    lines = [f"not approved: {op} {urn}" for urn, op in sorted(after.keys() - before.keys())]
    lines += [f"approved but no longer planned: {op} {urn}" for urn, op in sorted(before.keys() - after.keys())]
    lines += [f"changed since the approval: {op} {urn} ({', '.join(_changed_fields(before[key], after[key]))})"
              for key in sorted(before.keys() & after.keys()) if before[key] != after[key]
              for urn, op in [key]]
    return lines


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    fields = [f for f in ("properties", "replaceReasons", "detailedDiff") if before[f] != after[f]]
    inputs = sorted(k for k in before["inputs"].keys() | after["inputs"].keys()
                    if before["inputs"].get(k) != after["inputs"].get(k))
    return fields + [f"input {k}" for k in inputs]


def markdown(document: dict[str, Any], stack: str) -> str:
    """The job summary / PR comment: counts per operation, then each change with the properties it touches."""
    found = changes(document)
    counts = Counter(c["op"] for c in found)
    lines = [f"### `pulumi preview` of {stack}: "
             + (", ".join(f"{n} to {op}" for op, n in sorted(counts.items())) or "no changes"),
             "", f"Change fingerprint `{fingerprint(document)}`: the gated job applies only a preview with the same.",
             ""]
    if found:
        lines += ["| operation | resource | type | properties |", "|---|---|---|---|"]
        for change in found:
            types, _, name = change["urn"].rpartition("::")
            kind = types.rpartition("::")[2].rpartition("$")[2]  # urn:pulumi:stack::project::parent$type::name
            shown = [p + (" (replaces)" if p in change["replaceReasons"] else "") for p in change["properties"]]
            if any(v == UNKNOWN for v in _leaves(change["inputs"])):
                shown.append("values known at `up`")
            lines.append(f"| {change['op']} | `{name}` | `{kind}` | {', '.join(shown) or '-'} |")
    blocking = [d for d in document.get("diagnostics", []) if d.get("severity") in ("error", "warning")]
    if blocking:
        lines += ["", "Diagnostics:", *[f"- {d['severity']}: {str(d.get('message', '')).strip()[:300]}"
                                        for d in blocking]]
    return "\n".join(lines) + "\n"


def _leaves(value: Any):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value
