"""The one error every bad input becomes: ONE line `<file>: <key>: <problem>; <fix>`."""

from __future__ import annotations

import json
from typing import Any

# Echoed values and keys are cut to this many characters: a 10 MB value must not become a 10 MB line.
SHOWN_CHARACTERS = 60


class ConfigError(ValueError):
    """A stack file (or outputs file, or flag) problem, rendered as one line: `<file>: <key>: <problem>; <fix>`."""

    def __init__(self, source: str, key: str, problem: str, fix: str) -> None:
        self.source, self.key, self.problem, self.fix = (_one_line(part) for part in (source, key, problem, fix))
        super().__init__(f"{self.source}: {self.key}: {self.problem}; {self.fix}")


def show(value: Any) -> str:
    """A value as the user wrote it, short enough for a one-line message."""
    try:
        text = json.dumps(value, default=str, ensure_ascii=True)
    except (ValueError, RecursionError):  # a circular value: say what it is, not what it holds
        text = f"<{type(value).__name__}>"
    return clip(text)


def clip(text: str) -> str:
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS - 3] + "..."


def _one_line(text: str) -> str:
    """Control characters (newlines from a crafted key, say) never split the line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
