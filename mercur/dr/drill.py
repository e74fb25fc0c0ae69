"""`dr drill`: exercise the failover and the restore for real, measure them, and put everything back.

The order that keeps a drill safe:
1. every flag and the report path are checked before AWS is called (`Options.from_args`);
2. pre-flight: `dr check` must be READY and no switch may be in progress — nothing changes before that;
3. each change is written in the `Ledger` *before* the call that makes it (a lost response still leaves a
   change to undo), with how to undo it by hand and, as data, how to undo it by program (`Undo`);
4. the report file is rewritten (whole, atomically) at every change, restore and result: when the process is
   killed outright (a cancelled CI job, after its 10 s), the file names every change made and whether it was
   restored, and `dr undo` (mercur.dr.undo) rebuilds the undo of each from it — with the same code;
5. an AWS error, a timeout, Ctrl-C or SIGTERM unwinds to `restore`, which undoes every change in reverse order
   with further signals ignored; what it cannot undo is named, with the command that does, and the exit is 1.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
import uuid
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from ..config import ConfigError, StackConfig
from . import aws
from .aws import ClientFactory, cached, credential_failure
from .outputs import StackOutputs

DRILL_TAG = "mercur:drill"
EXIT_PASS, EXIT_FAIL, EXIT_INPUT = 0, 1, 2
RESTORE_ATTEMPTS = 3


class DrillTimeout(RuntimeError):
    pass


class DrillFailed(RuntimeError):
    """A step did not do what it should (a plan execution failed, a restored cluster does not answer)."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM: unwinds like KeyboardInterrupt, so every restore still runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class Pace:
    """How a drill waits; injectable so tests run in milliseconds. Every wait is bounded."""

    timeout_seconds: float = 900
    poll_seconds: float = 10
    clock: Callable[[], float] = time.time  # wall-clock seconds: measurements are compared with AWS timestamps
    sleep: Callable[[float], None] = time.sleep
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.timeout_seconds) and self.timeout_seconds > 0):
            raise ValueError(f"timeout {self.timeout_seconds} is not a finite number of seconds above 0")
        if not (math.isfinite(self.poll_seconds) and self.poll_seconds >= 0):
            raise ValueError(f"poll {self.poll_seconds} is not a finite number of seconds")

    def wait(self, what: str, done: Callable[[], Any], timeout: float | None = None,
             own_bound: float | None = None) -> Any:
        """Poll `done` until it returns something truthy (returned); DrillTimeout after the bound: --timeout,
        or less (`timeout`), or a wait's own that no step's timeout should cut short (`own_bound`)."""
        bound = own_bound if own_bound is not None else \
            self.timeout_seconds if timeout is None else min(timeout, self.timeout_seconds)
        start, said = self.clock(), -math.inf
        while True:
            finished = done()
            elapsed = self.clock() - start
            if finished:
                self.progress(f"  {what}: done after {elapsed:.0f} s")
                return finished
            if elapsed >= bound:
                raise DrillTimeout(f"{what}: not done after {bound:.0f} s")
            if elapsed - said >= 30 or said < 0:  # a line at least every 30 s: CI shows the drill is alive
                self.progress(f"  {what}: waiting ({elapsed:.0f} s of {bound:.0f} s)")
                said = elapsed
            self.sleep(self.poll_seconds)


@dataclass(frozen=True)
class Undo:
    """How one kind of change is undone, from its description alone: the dict the report keeps under
    `changes[].undo` ({"kind": ..., and `fields`}). The drill's ledger and `dr undo` both build the undo from it."""
    fields: tuple[str, ...]  # what the description holds besides its kind (each a non-empty string)
    run: Callable[["Context", Mapping[str, str]], None]  # undoes and verifies; raises when it could not
    manual: Callable[[Mapping[str, str]], str]  # the command that undoes it by hand
    # After `run` failed for good: what the world shows still changed, each with the exact command that undoes
    # it (empty: the world shows it undone after all, whatever the errors said).
    left: Callable[["Context", Mapping[str, str]], list[tuple[str, str]]]


def undo_kinds() -> dict[str, Undo]:
    """Every kind of change a drill makes, by the `kind` of its description."""
    from . import failover, restore, unplanned
    return {**failover.UNDO, **restore.UNDO, **unplanned.UNDO}


@dataclass
class Change:
    what: str
    description: dict[str, Any]  # how to undo it, as data (the report's `undo`; see Undo)
    undo: Callable[[], None]  # built from the description: undoes and verifies; raises when it could not
    manual: str  # the command that undoes it by hand
    restored: bool = False
    error: str | None = None
    attempts: int = 0
    left_over: list[tuple[str, str]] = field(default_factory=list)  # from the world, after the undo failed

    def document(self) -> dict[str, Any]:
        return {"what": self.what, "undo": self.description, "restored": self.restored,
                "undoByHand": None if self.restored else self.manual, **({"error": self.error} if self.error else {}),
                **({"leftOver": [{"what": what, "undoByHand": how} for what, how in self.left_over]}
                   if self.left_over and not self.restored else {})}

    def left_lines(self) -> list[str]:
        """The verdict line's account of it: each thing the world shows left, or the change as recorded."""
        if self.restored:
            return []
        return [f"LEFT CHANGED: {what} (undo: {how})" for what, how in self.left_over] or \
            [f"LEFT CHANGED: {self.what} (undo: {self.manual})"]


class Ledger:
    """Every change a drill makes, recorded before the call that makes it; `on_change` runs after each record,
    settle and restore attempt (the drill rewrites its report there)."""

    def __init__(self, pace: Pace, on_change: Callable[[], None] | None = None) -> None:
        self.pace, self.changes = pace, []  # type: list[Change]
        self.on_change = on_change or (lambda: None)
        self.context: Context | None = None  # what the undos run with: bound when the Context is made

    def record(self, what: str, undo: Mapping[str, str]) -> Change:
        """`undo` describes how to undo the change (see Undo); the one way an undo is built, by the drill and by
        `dr undo` from a report."""
        kind, context, description = undo_kinds()[undo["kind"]], self.context, dict(undo)
        change = Change(what, description, lambda: kind.run(context, description), kind.manual(description))
        self.changes.append(change)
        self.on_change()
        return change

    def account(self, change: Change) -> None:
        """After the last failed try: ask the world what is still changed. Nothing: restored after all (an
        undo whose answers were lost). Something: each item with its own command. The world not answering:
        the change stays as recorded."""
        kind = undo_kinds().get(change.description.get("kind", ""))
        if kind is None or self.context is None:
            return
        try:
            left = kind.left(self.context, change.description)
        except Exception as error:  # noqa: BLE001 - what cannot be asked stays as recorded, with its command
            self.pace.progress(f"  could not ask what is left of it ({type(error).__name__}: {error})")
            return
        if not left:
            self.pace.progress(f"  the world shows it undone: {change.what} (the errors were answers lost)")
            change.restored, change.error = True, None
        else:
            change.left_over, change.manual = left, "; ".join(how for _, how in left)
        self.on_change()

    def settle(self, change: Change) -> None:
        """Undo one change now, as part of the drill (an error propagates: `restore` tries again later)."""
        change.undo()
        change.restored = True
        self.on_change()

    def restore(self) -> bool:
        """Undo every change not yet undone, newest first, each tried at most RESTORE_ATTEMPTS times in all
        (a change that could not be undone after one drill is not retried again after the next). Never raises."""
        for change in reversed(self.changes):
            while not change.restored and change.attempts < RESTORE_ATTEMPTS:
                change.attempts += 1
                try:
                    self.pace.progress(f"restoring: {change.what}")
                    change.undo()
                    change.restored, change.error = True, None
                    self.on_change()
                except Exception as error:  # noqa: BLE001 - keep trying; the report names what stays changed
                    change.error = f"{type(error).__name__}: {error}"
                    self.pace.progress(f"  attempt {change.attempts} failed: {change.error}")
                    self.on_change()
                    if change.attempts < RESTORE_ATTEMPTS:  # what refused now (a conflict) often works later
                        self.pace.sleep(min(120.0, 15.0 * 2 ** change.attempts))
            if not change.restored and change.attempts >= RESTORE_ATTEMPTS and not change.left_over:
                self.account(change)
            if not change.restored:
                self.pace.progress(f"NOT RESTORED: {change.what}; undo by hand: {change.manual}")
        return all(c.restored for c in self.changes)


class SignalGuard:
    """SIGINT and SIGTERM (a cancelled CI job) for the whole of a drill or an undo: the first one stops the
    work (Interrupted) and decides the exit; while a restore runs, or once one signal has stopped the drill,
    every further one is only noted — stopping the restore would leave changes, and no later signal may end
    the process (the default SIGTERM would, with 143) or change its exit."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.noted: list[int] = []
        self._restoring = 0

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.first is None and not self._restoring:
            self.first = signum
            raise Interrupted(signum)
        self.noted.append(signum)  # only noted: printing here could re-enter a write the restore is making

    @contextmanager
    def installed(self) -> Iterator["SignalGuard"]:
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextmanager
    def restoring(self) -> Iterator[None]:
        """Signals wait until the restore is done; the first of them then stops the work (Interrupted)."""
        self._restoring += 1
        try:
            yield
        finally:
            self._restoring -= 1
        if not self._restoring and self.first is None and self.noted:
            self.first = self.noted[0]
            raise Interrupted(self.first)


@dataclass(frozen=True)
class Options:
    kinds: tuple[str, ...]
    report: Path
    timeout_seconds: float
    poll_seconds: float
    approve: bool

    @classmethod
    def from_args(cls, args: Any, stack: StackConfig) -> "Options":
        """Every flag checked, and the report's directory writable, before anything is called or changed."""
        flags = {}
        for flag in ("timeout", "poll"):
            raw = getattr(args, flag)
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < (0 if flag == "poll" else 1):
                raise ConfigError(f"--{flag}", str(raw), "is not a finite number of seconds"
                                  + (" of at least 1" if flag == "timeout" else ""), f"pass e.g. --{flag} "
                                                                                      + ("900" if flag == "timeout" else "10"))
            flags[flag] = value
        if stack.is_production and args.confirm != args.stack:
            raise ConfigError(f"Pulumi.{args.stack}.yaml", "environment", "is prod: a drill fails over real traffic",
                              f"repeat the stack name to go ahead: --confirm {args.stack}")
        report = args.report or Path(f"dr-drill-{args.stack}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json")
        directory = report.parent if str(report.parent) else Path(".")
        if report.is_dir() or not directory.is_dir():
            raise ConfigError("--report", str(report), "is a directory" if report.is_dir() else
                              f"is in {directory}, which does not exist", "pass a file in an existing directory")
        try:  # created now and rewritten at the end: a drill never ends with nowhere to write its result
            report.write_text(json.dumps({"stack": args.stack, "verdict": "running"}) + "\n")
        except OSError as error:
            raise ConfigError("--report", str(report), f"cannot be written ({error.strerror})",
                              "pass a writable path") from None
        kinds = ("failover", "restore") if args.kind == "all" else (args.kind,)
        return cls(kinds, report, flags["timeout"], flags["poll"], bool(args.approve))

    def document(self) -> dict[str, Any]:
        """What `dr undo` needs to undo as the drill would have (the drill id is the report's `drillId`)."""
        return {"kinds": list(self.kinds), "approve": self.approve, "timeoutSeconds": self.timeout_seconds,
                "pollSeconds": self.poll_seconds}


@dataclass
class Context:
    """What every drill gets: the stack, its outputs, AWS, the pace, the ledger and how to probe the app."""
    stack: StackConfig
    outputs: StackOutputs
    clients: ClientFactory
    pace: Pace
    ledger: Ledger
    drill_id: str
    approve: bool = False
    probes: Any = None  # mercur.dr.probes.Probes: the zone's name servers and the app, as clients see them

    def __post_init__(self) -> None:
        self.ledger.context = self


@dataclass
class DrillReport:
    stack: str
    environment: str
    drill_id: str
    started: str = field(default_factory=lambda: _utc())
    preflight: dict[str, Any] = field(default_factory=dict)
    drills: list[dict[str, Any]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    interrupted: int | None = None
    finished: str | None = None
    path: Path | None = None  # the report file, rewritten as the drill goes (see save)
    options: dict[str, Any] = field(default_factory=dict)
    unwritten: str | None = None  # why the latest write of the file failed; None: the file holds this report
    ever_unwritten: str | None = None  # why a write failed, if one ever did

    @property
    def restored(self) -> bool:
        return all(c.restored for c in self.changes)

    @property
    def verdict(self) -> str:
        if self.finished is None:
            return "running"
        if not self.restored:
            return "not restored"
        if self.interrupted is not None:
            return "interrupted, restored"
        if not self.preflight.get("ready", False):
            return "not started"
        return "pass" if self.drills and all(d.get("verdict") == "pass" for d in self.drills) else "fail"

    @property
    def exit_code(self) -> int:
        verdict = self.verdict
        if verdict == "pass":
            return EXIT_PASS
        if verdict == "interrupted, restored":
            return 128 + int(self.interrupted or 0)
        return EXIT_FAIL

    def document(self) -> dict[str, Any]:
        return {"stack": self.stack, "environment": self.environment, "drillId": self.drill_id,
                "started": self.started, "finished": self.finished, "verdict": self.verdict,
                "exitCode": self.exit_code if self.finished else None, "options": self.options,
                "preflight": self.preflight, "drills": self.drills, "changes": [c.document() for c in self.changes],
                "interrupted": signal.Signals(self.interrupted).name if self.interrupted else None}

    def save(self, progress: Callable[[str], None]) -> None:
        """Rewrite the report file whole. A write that fails (its directory removed, the disk full) is noted
        and said once, never raised: the drill goes on and restores; its verdict line says so."""
        if self.path is None:
            return
        try:
            write_atomically(self.path, self.document())
        except OSError as error:
            first = self.ever_unwritten is None
            self.unwritten = self.ever_unwritten = f"{type(error).__name__}: {error.strerror or error}"
            if first:
                progress(f"the report {self.path} cannot be written ({self.unwritten}): the drill goes on")
            return
        self.unwritten = None

    def line(self) -> str:
        """The one human verdict line: the measured objectives against their targets, and what stays changed."""
        parts = [d["summary"] for d in self.drills if d.get("summary")]
        left = [c for c in self.changes if not c.restored]
        head = {"pass": "PASS", "fail": "FAIL", "not started": "NOT STARTED (pre-flight failed, nothing changed)",
                "not restored": "NOT RESTORED", "interrupted, restored": "INTERRUPTED (everything restored)"}[
            self.verdict]
        if self.verdict == "not started":
            parts = [f"{len(self.preflight.get('failing', []))} pre-flight item(s) failing: "
                     + "; ".join(self.preflight.get("failing", [])[:3])]
        failed = [f"{d['kind']}: {d['error']}" for d in self.drills if d.get("error")]
        tail = [line for c in left for line in c.left_lines()]
        restored = f"{len(self.changes)} change(s) restored" if self.changes and not left else None
        written = (f"the report could NOT be written to {self.path} ({self.unwritten})" if self.unwritten else
                   f"the report could not be rewritten as the drill went ({self.ever_unwritten}); the final one "
                   "was written" if self.ever_unwritten else None)
        return f"{self.stack} drill: {head} — " + "; ".join(filter(None, [*parts, *failed, restored, *tail, written]))


def write_atomically(path: Path, document: Mapping[str, Any]) -> None:
    """`path` holds the old document or the new one, never a part: a temporary file beside it, then renamed."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(document, indent=2, default=str) + "\n")
        os.replace(temporary, path)
    except OSError:
        with suppress(OSError):  # a full disk may leave a part behind; a removed directory, nothing
            temporary.unlink(missing_ok=True)
        raise


def _utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run(stack: StackConfig, outputs: StackOutputs, options: Options, clients: ClientFactory | None = None,
        pace: Pace | None = None, probes: Any = None) -> DrillReport:
    """Pre-flight, the drills, the restore; the report (also written to options.report) says what happened."""
    from . import failover, restore, unplanned
    from .check import check

    pace = pace or Pace(options.timeout_seconds, options.poll_seconds)
    clients = cached(clients or aws.default_clients)
    drill_id = f"drill-{uuid.uuid4().hex[:8]}"
    ledger = Ledger(pace)
    report = DrillReport(stack.stack, stack.environment, drill_id, changes=ledger.changes, path=options.report,
                         options=options.document())
    ledger.on_change = save = lambda: report.save(pace.progress)  # each change on disk before its call
    context = Context(stack, outputs, clients, pace, ledger, drill_id, options.approve, probes)
    runs = {"failover": failover.run, "restore": restore.run, "ungraceful": unplanned.run}
    preflights = {"failover": failover.preflight, "ungraceful": unplanned.preflight}
    save()
    with SignalGuard().installed() as guard:
        _run(stack, outputs, options, context, report, runs, check, preflights, guard)
    return report


def _run(stack: StackConfig, outputs: StackOutputs, options: Options, context: Context, report: DrillReport,
         runs: Mapping[str, Callable[[Context, dict[str, Any]], None]], check: Callable[..., Any],
         preflights: Mapping[str, Callable[[Context], list[str]]], guard: SignalGuard) -> None:
    pace, ledger, clients = context.pace, context.ledger, context.clients
    save = ledger.on_change
    try:
        pace.progress(f"pre-flight: dr check {stack.stack}")
        try:
            readiness = check(stack, outputs, clients)
            failing = [f"{i.region} {i.check}: {i.detail}" for i in readiness.items if not i.ok]
            for kind in (k for k in options.kinds if k in preflights):
                failing += preflights[kind](context)
        except (ClientError, BotoCoreError) as error:  # nothing has changed: say so, with AWS's answer
            problem = credential_failure(error) or error
            failing = [f"pre-flight could not ask AWS: {type(problem).__name__}: {problem}"]
        report.preflight = {"ready": not failing, "failing": failing}
        save()
        for line in failing:
            pace.progress(f"  FAIL {line}")
        if failing:
            return
        for kind in options.kinds:
            result: dict[str, Any] = {"kind": kind, "started": _utc()}
            report.drills.append(result)
            save()
            try:
                runs[kind](context, result)
            except (ClientError, BotoCoreError, DrillTimeout, DrillFailed, ValueError, OSError) as error:
                if (problem := credential_failure(error)) is not None:
                    error = problem
                result.update(verdict="fail", error=f"{type(error).__name__}: {error}")
                pace.progress(f"{kind} drill failed: {result['error']}")
            finally:
                result["finished"] = _utc()
                save()
                restore_deferring_signals(ledger, pace, guard)
    except Interrupted as signal_received:
        report.interrupted = signal_received.signum
        pace.progress(f"{signal_received} received: restoring what the drill changed")
        for result in report.drills:
            result.setdefault("verdict", "interrupted")
        save()
    finally:
        try:
            restore_deferring_signals(ledger, pace, guard)
        except Interrupted as signal_received:
            report.interrupted = report.interrupted or signal_received.signum
        report.interrupted = guard.first if report.interrupted is None else report.interrupted
        report.finished = _utc()
        save()


def restore_deferring_signals(ledger: Ledger, pace: Pace, guard: SignalGuard) -> None:
    """Restore with signals deferred; a first signal that arrived meanwhile then stops the drill (Interrupted)."""
    if all(c.restored for c in ledger.changes):
        return
    stopped_already = guard.first is not None
    try:
        with guard.restoring():
            ledger.restore()
    except Interrupted as signal_received:
        pace.progress(f"{signal.Signals(signal_received.signum).name} received while restoring: the restore "
                      f"finished first")
        raise
    if stopped_already and guard.noted:
        pace.progress(f"{signal.Signals(guard.noted[0]).name} received while restoring: the restore finished first")


def main(stack: StackConfig, outputs: StackOutputs, options: Options) -> int:
    from . import probes

    clients = cached(aws.default_clients)
    report = run(stack, outputs, options, clients,
                 probes=probes.Probes(stack, outputs, clients) if outputs.record_name else None)
    print(f"drill report {'NOT ' if report.unwritten else ''}written to {options.report}", file=sys.stderr)
    print(report.line())
    return report.exit_code
