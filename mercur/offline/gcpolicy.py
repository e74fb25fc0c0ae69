"""How Python's cyclic garbage collector behaves while the program runs under the mocks.

A synthesis allocates tens of thousands of short-lived, mostly acyclic objects per resource (Outputs,
futures, protobuf structs). Each allocation burst triggers collections that walk the whole young heap, so
with the collector on, a plan spends about a third of its time collecting and grows faster than the stack.
Holding the collector off while the program runs keeps the cost flat per resource; reference counting still
frees everything acyclic, and the cyclic rest is collected once the collector is back on.

The plan command is a short-lived process: it keeps the collector off from its first import and freezes
the heap before it exits, so interpreter shutdown does not walk it either. A test session is long-lived
(moto, botocore and pytest churn cyclic garbage): it freezes what collection loaded, collects the young
generation ten times less often, holds the collector off inside each synthesis, and freezes the heap again
before each xdist worker exits (that alone saved two of twelve seconds of `make test`).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def held_off() -> Iterator[None]:
    """The collector off for the block, back to how it was afterwards (synthesis, in the CLI and tests)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def for_short_process() -> None:
    """A process that runs one plan and exits: no collections at all, from before the SDKs are imported."""
    gc.disable()


def for_test_session() -> None:
    """After collection: the imported modules are never garbage, so no collection should walk them again."""
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)  # CPython's default is (700, 10, 10)


def before_exit() -> None:
    """Move every live object to the permanent generation: the shutdown collection then has nothing to walk."""
    gc.freeze()
