"""Reading `Pulumi.<stack>.yaml` so that no input can break the reader: every problem is one ConfigError.

Bounds come before work: the file's size before it is decoded, the document's size after alias expansion
before it is constructed, its nesting before anything recurses into it. Then the YAML-specific traps: a
duplicate key (the last would silently win), an unquoted date, set or binary value (types no setting
has), a key in a namespace that is one typo away from `mercur:` (silently ignored otherwise), a secret
outside `secretEnv` (it would be logged and diffed) or a plaintext value inside it.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError, clip, show

PROJECT = "mercur"
NAMESPACE = f"{PROJECT}:"
# Config namespaces Pulumi itself defines for this program's providers and engine; any other namespace
# is a typo or belongs to another program.
PULUMI_NAMESPACES = ("aws", "kubernetes", "eks", "pulumi")
# Top-level keys of a Pulumi stack file besides `config`.
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")

MAX_FILE_BYTES = 256 * 1024  # the checked-in stack files are about 2 KB
MAX_VALUES = 20_000  # scalars, lists and mappings after alias expansion
MAX_DEPTH = 24  # the deepest setting is five levels down
_NAMESPACE_TYPO_DISTANCE = 2

# Offline (plan, tests) a `secure:` value cannot be decrypted without the CLI; it stands in as this text.
OFFLINE_SECRET = "offline-secret-placeholder"
_SECRET_PLACE = re.compile(r"mercur:apps\[[0-9]+\]\.secretEnv\.[A-Za-z_][A-Za-z0-9_]*", re.ASCII)

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it: 10x faster


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def read_config(path: Path) -> Mapping[str, Any]:
    """The `config:` mapping of a stack file, every key checked for its namespace."""
    return parse_config(path.name, read_bytes(path))


def read_bytes(path: Path) -> bytes:
    name = path.name
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise ConfigError(name, "(file)", "is a directory", "pass a stack file") from None
    except OSError as error:
        raise ConfigError(name, "(file)", f"cannot be read ({error.strerror})", "check the path and permissions") \
            from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(name, "(file)", f"is larger than {MAX_FILE_BYTES // 1024} KiB",
                          "a stack file holds settings, not data: trim it")
    return data


def parse_config(name: str, data: bytes) -> Mapping[str, Any]:
    document = _document(name, data)
    if not isinstance(document, Mapping):
        raise ConfigError(name, "document", f"expected a mapping, got {show(document)}",
                          "start the file with `config:`")
    for key in document:
        if key not in STACK_FILE_KEYS:
            raise ConfigError(name, clip(str(key)), "is not a stack file key", _suggest(str(key), STACK_FILE_KEYS))
    config = document.get("config", {})
    if not isinstance(config, Mapping):
        raise ConfigError(name, "config", "expected a mapping of settings", "put the settings under `config:`")
    for key in config:
        _check_namespace(name, key)
    return config


def mercur_values(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The `mercur:` keys with the namespace stripped and each `secure:` ciphertext replaced."""
    values: dict[str, Any] = {}
    for key, value in config.items():
        if key.startswith(NAMESPACE):
            _check_secrets(key, value, source)
            values[key[len(NAMESPACE):]] = _without_ciphertext(value)
    return values


# --------------------------------------------------------------------------------------------------
# Bytes -> text -> nodes -> values, each step bounded


def _document(name: str, data: bytes) -> Any:
    text = _decode(name, data)
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        _check_nodes(name, node)
        return loader.construct_document(node)
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}" if mark else "document"
        raise ConfigError(name, where, f"is not valid YAML ({clip(error.problem or 'unreadable')})",
                          "fix the indentation or quoting there") from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:
        # A value the YAML resolver accepted but could not build (a 13th month, say).
        raise ConfigError(name, "document", f"is not valid YAML ({clip(str(error))})",
                          "quote values that are meant as text") from None
    except RecursionError:
        raise ConfigError(name, "document", f"nests deeper than {MAX_DEPTH} levels",
                          "write settings as flat mappings and lists") from None
    finally:
        loader.dispose()


def _decode(name: str, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(data) > 1 and (data[0] == 0 or data[1] == 0)):
        raise ConfigError(name, "(file)", "is UTF-16 or UTF-32 encoded", "save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ConfigError(name, f"line {line}", f"byte {error.start} is not UTF-8", "save the file as UTF-8") \
            from None


def _check_nodes(name: str, root: Node) -> None:
    """Duplicate keys, recursive aliases, depth and the size after alias expansion, on the node graph:
    aliases share nodes, so this is linear in the file even when its expansion is exponential."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()

    def size(node: Node, depth: int) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if depth > MAX_DEPTH:
            raise _at(name, node, f"nests deeper than {MAX_DEPTH} levels", "write settings as flat mappings and lists")
        if id(node) in on_path:
            raise _at(name, node, "is an alias of itself", "remove the recursive alias")
        on_path.add(id(node))
        total = 1
        if isinstance(node, SequenceNode):
            total += sum(size(item, depth + 1) for item in node.value)
        elif isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if (key.tag, key.value) in seen:
                        raise _at(name, key, f"key {show(key.value)} appears twice in one mapping (also line "
                                             f"{seen[key.tag, key.value]})", "keep one; YAML would silently use the last")
                    seen[key.tag, key.value] = key.start_mark.line + 1
                total += size(key, depth + 1) + size(value, depth + 1)
        on_path.discard(id(node))
        sizes[id(node)] = total
        if total > MAX_VALUES:
            raise _at(name, node, f"expands to more than {MAX_VALUES:,} values", "remove the alias chain")
        return total

    size(root, 0)


def _at(name: str, node: Node, problem: str, fix: str) -> ConfigError:
    return ConfigError(name, f"line {node.start_mark.line + 1}", problem, fix)


# --------------------------------------------------------------------------------------------------
# Keys and values


def _check_namespace(source: str, key: Any) -> None:
    if not isinstance(key, str):
        raise ConfigError(source, f"config.{show(key)}", f"{show(key)} is not a text key", "quote it")
    shown = clip(key)
    if ":" not in key:
        raise ConfigError(source, shown, "has no namespace", f"write it as {NAMESPACE}{shown}")
    namespace, _, rest = key.partition(":")
    if namespace == PROJECT or namespace in PULUMI_NAMESPACES:
        return
    if _distance(namespace.strip().lower(), PROJECT) <= _NAMESPACE_TYPO_DISTANCE:
        raise ConfigError(source, shown, f"namespace {show(namespace)} is not `{PROJECT}`",
                          f"did you mean `{NAMESPACE}{clip(rest.strip())}`?")
    raise ConfigError(source, shown, f"namespace {show(namespace)} is not read by this project",
                      f"use `{NAMESPACE}` or a provider's own: {', '.join(n + ':' for n in PULUMI_NAMESPACES)}")


def _distance(a: str, b: str) -> int:
    """Levenshtein distance, bounded: long strings are never near `mercur`."""
    if abs(len(a) - len(b)) > _NAMESPACE_TYPO_DISTANCE:
        return _NAMESPACE_TYPO_DISTANCE + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _suggest(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key[:100], known, n=1)
    return f"did you mean `{close[0]}`?" if close else f"known keys here: {', '.join(known)}"


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{clip(str(key))}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def check_values(key: str, value: Any, source: str) -> None:
    """Only what JSON can hold: text keys, finite numbers; dates, sets and binary are quoting mistakes."""
    for path, item in _walk(value, key):
        if isinstance(item, Mapping):
            bad = [k for k in item if not isinstance(k, str)]
            if bad:
                raise ConfigError(source, path, f"has the key {show(bad[0])}, which YAML did not read as text",
                                  "quote the key")
        elif isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(source, path, f"{item} is not a finite number", "write a number")
        elif not isinstance(item, (str, int, float, bool, list, type(None))):
            raise ConfigError(source, path, f"YAML read {show(item)} as a {type(item).__name__}",
                              "quote the value: settings are text, numbers, lists and mappings")


def _check_secrets(key: str, value: Any, source: str) -> None:
    """`secure:` values belong only in `apps[].secretEnv`, and every value there is one."""
    check_values(key, value, source)
    for path, item in _walk(value, key):
        secret = isinstance(item, Mapping) and set(item) == {"secure"}
        in_place = bool(_SECRET_PLACE.fullmatch(path))
        if secret and not in_place:
            raise ConfigError(source, path, "is a secret outside apps[].secretEnv",
                              "keep secrets in an app's secretEnv and plain settings in the clear")
        if in_place and not (secret and isinstance(item["secure"], str)):
            raise ConfigError(source, path, "is in plaintext in secretEnv",
                              f"encrypt it: pulumi config set --secret --path '{path}' <value>")


def _without_ciphertext(value: Any) -> Any:
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return OFFLINE_SECRET
        return {k: _without_ciphertext(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_ciphertext(v) for v in value]
    return value
