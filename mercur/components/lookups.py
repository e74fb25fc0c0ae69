"""Lookups the program cannot avoid, made so that a Region's outage does not stop the run.

The program asks AWS nothing it can know another way: the account and the zone come from the stack file, the
Availability Zones from the region table. What only AWS knows (the health checks a Region switch plan
created) is asked here: when the region that would answer cannot, the run goes on with the value unknown and
warns which region it could not ask. A preview then shows the dependent resources changing to an unknown
value; an `up` that targets only the surviving region (docs/runbook.md) leaves them as they are; a full `up`
stops at them, as it would at any change there while that region is down.

The call is awaited here rather than made through an `..._output` function: the SDK fails the whole run on
any Output that ends in an error, even one the program handles.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, TypeVar, cast

import pulumi

T = TypeVar("T")


def tolerated(ask: Callable[[], Awaitable[T | None]], *, region: str, what: str, meanwhile: str,
              depends_on: set[pulumi.Resource]) -> pulumi.Output[T]:
    """`ask()`'s answer (None: not known yet, as in a preview before the resource exists), or an unknown value
    and a warning naming `region` when the call fails."""
    async def answer() -> T | None:
        try:
            return await ask()
        except Exception as error:  # noqa: BLE001 - any failure of the call: an outage answers in many ways
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            pulumi.log.warn(f"could not ask {region} for {what} ({reason}); {meanwhile}")
            return None

    value: pulumi.Output[Any] = pulumi.Output.from_input(answer())
    # `future()` is typed Optional for an unknown value; this one is always known (a coroutine's answer).
    known = value.apply(lambda found: found is not None)
    return pulumi.Output(depends_on, cast("Awaitable[T]", value.future()), cast("Awaitable[bool]", known.future()))
