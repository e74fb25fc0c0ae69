"""Reading raw configuration values with exact, one-line errors.

Every problem becomes a `ConfigError` rendered as `<file>: <key>: <problem>; <fix>`. Sections declare the
keys they may hold, so a typo is reported as a typo (with a suggestion), not as a missing key.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Mapping, Sequence


class ConfigError(ValueError):
    """A stack file problem, rendered as one line: `<file>: <key>: <problem>; <fix>`."""

    def __init__(self, source: str, key: str, problem: str, fix: str) -> None:
        self.source, self.key, self.problem, self.fix = source, key, problem, fix
        super().__init__(f"{source}: {key}: {problem}; {fix}")


_KIND_NAMES: dict[Any, str] = {
    str: "a string", int: "an integer", bool: "true or false", list: "a list", Mapping: "a mapping",
}


def show(value: Any) -> str:
    """A value as the user wrote it, short enough for a one-line message."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class Section:
    """A mapping being read against the keys it may hold: typos fail first, with a suggestion.

    `keys=None` accepts any key (free-form maps such as tags or environment variables).
    """

    def __init__(self, source: str, path: str, data: Any, keys: Sequence[str] | None) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(source, path, f"expected a mapping, got {show(data)}", "write it as `key: value` lines")
        self.source, self.path, self.data = source, path, data
        for name in data if keys is not None else ():
            if name not in keys:
                close = difflib.get_close_matches(str(name), keys, n=1)
                raise self.error(str(name), "unknown key", f"did you mean `{close[0]}`?" if close
                                 else f"known keys here: {', '.join(keys)}")

    def key(self, name: str) -> str:
        return f"{self.path}{name}" if self.path.endswith(":") else f"{self.path}.{name}"

    def error(self, name: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(self.source, self.key(name), problem, fix)

    def get(self, name: str, kind: type, default: Any = ..., hint: str = "") -> Any:
        if name not in self.data or self.data[name] is None:
            if default is ...:
                raise self.error(name, "is required but missing", f"add it{hint and ' (' + hint + ')'}")
            return default
        value = self.data[name]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            expected = _KIND_NAMES.get(kind, "a value")
            raise self.error(name, f"expected {expected}, got {show(value)}", f"write {expected}")
        return value

    def section(self, name: str, keys: Sequence[str] | None, default: Any = ..., hint: str = "") -> "Section":
        return Section(self.source, self.key(name), self.get(name, Mapping, default, hint), keys)

    def items(self, name: str, default: Any = ..., hint: str = "") -> list[Any]:
        return list(self.get(name, list, default, hint))

    def each(self, name: str, keys: Sequence[str], default: Any = ..., hint: str = "") -> list["Section"]:
        """The list under `name`, each item read as a section `name[i]`."""
        return [Section(self.source, f"{self.key(name)}[{index}]", item, keys)
                for index, item in enumerate(self.items(name, default, hint))]


def choice(sec: Section, name: str, allowed: Sequence[str], default: Any = ...) -> str:
    value = sec.get(name, str, default)
    if value not in allowed:
        raise sec.error(name, f"{show(value)} is not supported", f"use one of: {', '.join(allowed)}")
    return value


def bounded(sec: Section, name: str, low: int, high: int, default: Any = ...) -> int:
    value = sec.get(name, int, default)
    if not low <= value <= high:
        raise sec.error(name, f"{value} is out of range", f"use a value from {low} to {high}")
    return value
