"""Lookups the program cannot avoid, made so that a Region's outage does not stop the run.

The program asks AWS nothing it can know another way: the account and the zone come from the stack file, the
Availability Zones from the region table. What only AWS knows (the health checks a Region switch plan
created) is asked here. When the region that would answer cannot:
- a preview goes on with the value unknown and warns which region it could not ask;
- an `up` stops, unless the operator has declared that region down (`MERCUR_UNREACHABLE=us-east-1`, as the
  runbook's outage command does): an unknown value reaching a resource in an `up` could rewrite it without
  what it needs. Declared, the run goes on and warns, and what depends on the answer is declared to keep what
  it has (`unanswered` below: the failover records ignore their health check ids for that run).

The call is awaited here rather than made through an `..._output` function: the SDK fails the whole run on
any Output that ends in an error, even one the program handles.
"""

from __future__ import annotations

import os
from typing import Any, Awaitable, Callable, TypeVar, cast

import pulumi

T = TypeVar("T")

UNREACHABLE_VARIABLE = "MERCUR_UNREACHABLE"  # comma-separated regions the operator declares down


class Unanswered(RuntimeError):
    """A lookup failed in an `up` whose operator did not declare the region down."""


def declared_unreachable() -> frozenset[str]:
    """The regions this run was told are down (docs/runbook.md, "Changing the platform while a region is down")."""
    return frozenset(r.strip() for r in os.environ.get(UNREACHABLE_VARIABLE, "").split(",") if r.strip())


def unanswered(region: str) -> bool:
    """Whether what depends on `region`'s answers should keep what it has in this run."""
    return region in declared_unreachable()


def tolerated(ask: Callable[[], Awaitable[T | None]], *, region: str, what: str, meanwhile: str,
              depends_on: set[pulumi.Resource]) -> pulumi.Output[T]:
    """`ask()`'s answer (None: not known yet, as in a preview before the resource exists). When the call
    fails: in a preview, or where `region` is declared down, an unknown value and a warning naming `region`;
    otherwise `Unanswered`, which fails the run."""
    async def answer() -> T | None:
        try:
            found = await ask()
        except Exception as error:  # noqa: BLE001 - any failure of the call: an outage answers in many ways
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            if not pulumi.runtime.is_dry_run() and not unanswered(region):
                raise Unanswered(
                    f"could not ask {region} for {what} ({reason}): this `up` stops rather than change what "
                    f"depends on it without an answer; if {region} is down, run the outage command of "
                    f"docs/runbook.md ({UNREACHABLE_VARIABLE}={region} pulumi up --target ...)") from None
            pulumi.log.warn(f"could not ask {region} for {what} ({reason}); {meanwhile}")
            return None
        if unanswered(region):  # a declaration left set after the outage would hold what should move
            pulumi.log.warn(f"{region} answered for {what} though {UNREACHABLE_VARIABLE} declares it down: "
                            f"run without {UNREACHABLE_VARIABLE} once it is back (docs/runbook.md)")
        return found

    value: pulumi.Output[Any] = pulumi.Output.from_input(answer())
    # `future()` is typed Optional for an unknown value; this one is always known (a coroutine's answer).
    known = value.apply(lambda found: found is not None)
    return pulumi.Output(depends_on, cast("Awaitable[T]", value.future()), cast("Awaitable[bool]", known.future()))
