"""`dr undo`: put back what a drill left changed, from its report alone — for a drill that was killed (a
cancelled CI job gets 10 s) or could not restore everything itself.

The drill writes its report as it goes: each change, with a description of its undo as data, is on disk before
the call that makes it. This rebuilds the undo of every change not marked restored through the drill's own
ledger (`Ledger.record`, the one way an undo is built from its description), runs the drill's restore (newest
first, RESTORE_ATTEMPTS each, signals deferred) and rewrites the report. Every undo is idempotent: undoing
what is already undone (by the drill, or by an earlier `dr undo`) changes nothing.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.errors import ConfigError, show
from . import aws, drill
from .aws import ClientFactory, cached
from .drill import EXIT_FAIL, EXIT_PASS, RESTORE_ATTEMPTS, Change, Context, DrillFailed, Interrupted, Ledger

if TYPE_CHECKING:
    from ..config import StackConfig
    from .outputs import StackOutputs

FIX = "pass the --report file `dr drill` wrote (dr-drill-STACK-<time>.json unless --report named it)"
BY_HAND = "see docs/runbook.md, Undoing a drill by hand"


@dataclass(frozen=True)
class Outcome:
    code: int
    line: str
    rewritten: bool = False  # the report file now says what was undone


def load(path: Path, stack: "StackConfig") -> dict[str, Any]:
    """The report, held to what undoing needs; whatever makes it unusable is one ConfigError line (exit 2)."""
    name = str(path)
    if path.exists() and not path.is_dir() and not path.is_file():  # a FIFO would block the read forever
        raise ConfigError(name, "(file)", "is not a regular file", FIX)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(name, "(file)", "does not exist", FIX) from None
    except IsADirectoryError:
        raise ConfigError(name, "(file)", "is a directory", FIX) from None
    except PermissionError:
        raise ConfigError(name, "(file)", "cannot be read (permission denied)", "make it readable") from None
    except UnicodeDecodeError as error:
        raise ConfigError(name, f"byte {error.start}", "is not UTF-8 text", FIX) from None
    except json.JSONDecodeError as error:
        raise ConfigError(name, f"line {error.lineno}", "is not valid JSON", FIX) from None
    except (OSError, RecursionError) as error:
        raise ConfigError(name, "(file)", f"cannot be read ({type(error).__name__})", FIX) from None
    if not isinstance(data, dict):
        raise ConfigError(name, "(document)", f"is not a drill report (a JSON object), got {show(data)}", FIX)
    for key in ("stack", "verdict"):
        if not isinstance(data.get(key), str):
            raise ConfigError(name, key, "is missing: not a drill report" if key not in data else
                              f"expected a string, got {show(data[key])}", FIX)
    if data["stack"] != stack.stack:
        raise ConfigError(name, "stack", f"is {show(data['stack'])}, but the command names {stack.stack}",
                          f"pass {stack.stack}'s drill report, or run `dr undo {data['stack']}` with its outputs")
    changes = data.get("changes")
    if changes is not None and not isinstance(changes, list):
        raise ConfigError(name, "changes", f"expected a list, got {show(changes)}", FIX)
    kinds = drill.undo_kinds()
    for index, change in enumerate(changes or []):
        where = f"changes[{index}]"
        if not isinstance(change, dict):
            raise ConfigError(name, where, f"expected an object, got {show(change)}", FIX)
        if not isinstance(change.get("what"), str) or not isinstance(change.get("restored"), bool):
            key = "what" if not isinstance(change.get("what"), str) else "restored"
            raise ConfigError(name, f"{where}.{key}", f"expected {'a string' if key == 'what' else 'true or false'}"
                              f", got {show(change.get(key))}", FIX)
        undo = change.get("undo")
        if undo is None:
            continue  # a report of a drill that wrote no undo descriptions: its undoByHand is all there is
        if not isinstance(undo, dict) or not isinstance(undo.get("kind"), str):
            raise ConfigError(name, f"{where}.undo", f"expected an object with a kind, got {show(undo)}", FIX)
        for key in kinds[undo["kind"]].fields if undo["kind"] in kinds else ():
            if not isinstance(undo.get(key), str) or not undo[key].strip():
                raise ConfigError(name, f"{where}.undo.{key}", "is missing" if key not in undo else
                                  f"expected a non-empty string, got {show(undo[key])}", FIX)
    if any(not c["restored"] for c in changes or []) and not (isinstance(data.get("drillId"), str) and data["drillId"]):
        raise ConfigError(name, "drillId", f"expected the drill's id, got {show(data.get('drillId'))}", FIX)
    _settings(data, name)
    return data


def _settings(data: dict[str, Any], name: str = "report") -> tuple[bool, float, float]:
    """The drill's own --approve, --timeout and --poll: the undo approves and waits as the drill did."""
    options = data.get("options")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ConfigError(name, "options", f"expected an object, got {show(options)}", FIX)
    approve = options.get("approve", False)
    if not isinstance(approve, bool):
        raise ConfigError(name, "options.approve", f"expected true or false, got {show(approve)}", FIX)
    bounds = []
    for key, default, least in (("timeoutSeconds", 900.0, 1.0), ("pollSeconds", 10.0, 0.0)):
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < least:
            raise ConfigError(name, f"options.{key}", f"expected a finite number of seconds of at least {least:g}, "
                                                      f"got {show(value)}", FIX)
        bounds.append(float(value))
    return approve, bounds[0], bounds[1]


def _left(document: dict[str, Any]) -> list[int]:
    return [i for i, change in enumerate(document.get("changes") or []) if not change["restored"]]


def run(stack: "StackConfig", outputs: "StackOutputs", path: Path, document: dict[str, Any],
        clients: ClientFactory | None = None, pace: drill.Pace | None = None, probes: Any = None) -> Outcome:
    """Undo every change `document` (a report `load` accepted) names as not restored; rewrite it at `path`."""
    changes, drill_id = document.get("changes") or [], document.get("drillId") or "the drill"
    left = _left(document)
    if not left:
        return Outcome(EXIT_PASS, f"{stack.stack} undo: NOTHING TO UNDO — " + (
            f"every change of {drill_id} is restored" if changes else f"{drill_id} made no change"))
    approve, timeout, poll = _settings(document)
    pace = pace or drill.Pace(timeout, poll)
    ledger = Ledger(pace)
    Context(stack, outputs, cached(clients or aws.default_clients), pace, ledger, document["drillId"], approve,
            probes)  # binds the ledger: the undos run with this context, as the drill's did
    kinds, rebuilt = drill.undo_kinds(), []
    for index in left:
        entry = changes[index]
        if (entry.get("undo") or {}).get("kind") in kinds:
            change = ledger.record(entry["what"], entry["undo"])  # the drill's own undo, from its description
        else:
            change = _cannot(entry)
            ledger.changes.append(change)
        rebuilt.append((index, change))
    unwritten: list[str] = []

    def save() -> None:
        for index, change in rebuilt:
            entry = changes[index]
            entry.pop("error", None)
            entry.update(restored=change.restored, undoByHand=None if change.restored else change.manual,
                         **({"error": change.error} if change.error else {}))
        try:
            drill.write_atomically(path, document)
            unwritten.clear()
        except OSError as error:
            unwritten[:] = [f"{type(error).__name__}: {error.strerror or error}"]

    ledger.on_change = save
    pace.progress(f"undoing {len(left)} change(s) of {drill_id}, newest first, from {path}")
    with drill.SignalGuard().installed() as guard:
        try:
            drill.restore_deferring_signals(ledger, pace, guard)
        except Interrupted:
            pass  # noted while restoring ("the restore finished first"); nothing is left to stop
    not_restored = [change for _, change in rebuilt if not change.restored]
    if not_restored:
        document.update(verdict="not restored", exitCode=EXIT_FAIL)
    elif document["verdict"] in ("running", "not restored"):  # killed, or it could not restore by itself
        document.update(verdict="restored by dr undo", exitCode=EXIT_FAIL)
    document["undone"] = {"finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "restored": len(rebuilt) - len(not_restored), "left": len(not_restored)}
    save()
    restored = len(rebuilt) - len(not_restored)
    parts = [f"{restored} change(s) of {drill_id} restored" if restored else None,
             *(line for c in not_restored for line in c.left_lines()),
             f"the report could NOT be rewritten at {path} ({unwritten[0]})" if unwritten else None]
    return Outcome(EXIT_FAIL if not_restored else EXIT_PASS, f"{stack.stack} undo: "
                   f"{'NOT RESTORED' if not_restored else 'RESTORED'} — " + "; ".join(filter(None, parts)),
                   rewritten=not unwritten)


def _cannot(entry: dict[str, Any]) -> Change:
    """A change this version cannot undo: no undo description (an older drill's report), or a kind it does not
    know. Named, with the report's command, and not tried."""
    undo = entry.get("undo")
    why = "the report holds no undo description for it" if undo is None else \
        f"undo kind {show(undo['kind'])} is unknown to this version"

    def refuse() -> None:
        raise DrillFailed(why)
    manual = entry.get("undoByHand") if isinstance(entry.get("undoByHand"), str) else BY_HAND
    return Change(entry["what"], undo or {}, refuse, manual, attempts=RESTORE_ATTEMPTS, error=f"not undone: {why}")


def main(stack: "StackConfig", outputs: "StackOutputs", path: Path, document: dict[str, Any]) -> int:
    """Credentials are needed only when there is something to undo."""
    from . import probes

    clients, found = None, None
    if _left(document):
        aws.require_credentials()
        clients = cached(aws.default_clients)
        found = probes.Probes(stack, outputs, clients) if outputs.record_name else None
    outcome = run(stack, outputs, path, document, clients, probes=found)
    if outcome.rewritten:
        print(f"drill report rewritten: {path}", file=sys.stderr)
    print(outcome.line)
    return outcome.code
