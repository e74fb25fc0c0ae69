"""Loading a stack's config from its file (offline plan, tests) or from the engine (`pulumi up`), and turning
every validation failure into the one-line error: `Pulumi.<stack>.yaml: <key path>: <problem>; <fix>`."""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, get_args

from pydantic import BaseModel, ValidationError

from .errors import ConfigError, clip, show
from .models import ENVIRONMENTS, StackConfig
from .reader import NAMESPACE, mercur_values, parse_config, read_bytes, stack_file

_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}", re.ASCII)
# Where pydantic's error locations name its own validators rather than keys.
_INTERNAL_LOC = re.compile(r"(function-(after|before|plain|wrap)|nullable|json-or-python|lax-or-strict)\[.*\]")
_KINDS = {"string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
          "int_from_float": "an integer", "bool_type": "true or false", "float_type": "a number",
          "float_parsing": "a number", "list_type": "a list", "tuple_type": "a list"}
_MAPPING_TYPES = ("dict_type", "model_type", "model_attributes_type")


def parse(raw: Mapping[str, Any], *, stack: str, source: str,
          sibling_cidrs: Callable[[], Mapping[str, Sequence[str]]] = lambda: {}) -> StackConfig:
    """Validate the `mercur:` keys of one stack (namespace stripped) into a StackConfig.

    `sibling_cidrs` yields the region CIDRs of the other stack files, so environments never overlap.
    """
    values = dict(raw)
    if "environment" not in values and stack in ENVIRONMENTS:
        values["environment"] = stack  # the stack's name is the default
    try:
        document = json.dumps(values, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise ConfigError(source, "config", "holds values JSON cannot represent", "use text, numbers, lists and "
                                                                                   "mappings") from None
    context = {"stack": stack, "source": source, "siblings": sibling_cidrs}
    try:
        return StackConfig.model_validate_json(document, strict=True, context=context)
    except ValidationError as error:
        raise one_line(error, source) from None


def one_line(error: ValidationError, source: str) -> ConfigError:
    """The failure to report: an unknown key first (a typo also explains the key it left missing)."""
    errors = error.errors(include_url=False)
    chosen = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [part for part in chosen["loc"] if not (isinstance(part, str) and _INTERNAL_LOC.fullmatch(part))]
    ctx = chosen.get("ctx") or {}
    kind, value = chosen["type"], chosen.get("input")
    if kind == "mercur":
        loc += list(ctx["at"])
        problem, fix = ctx["problem"], ctx["fix"]
    elif kind == "missing":
        hint = _field(loc).description if _field(loc) else ""
        problem, fix = "is required but missing", f"add it ({hint})" if hint else "add it"
    elif kind == "extra_forbidden":
        known = sorted(_aliases(loc[:-1]))
        close = difflib.get_close_matches(str(loc[-1])[:100], known, n=1)
        problem, fix = "unknown key", f"did you mean `{close[0]}`?" if close else f"known keys here: {', '.join(known)}"
    elif kind in _MAPPING_TYPES:
        problem, fix = f"expected a mapping, got {show(value)}", "write it as `key: value` lines"
    elif kind in _KINDS:
        problem, fix = f"expected {_KINDS[kind]}, got {show(value)}", f"write {_KINDS[kind]}"
    elif kind == "literal_error":
        problem, fix = f"{show(value)} is not supported", f"use one of: {ctx['expected'].replace(chr(39), '')}"
    elif kind == "too_short":
        problem, fix = "is empty", f"add at least {ctx.get('min_length', 1)} ({_description(loc)})"
    elif kind == "too_long":
        problem, fix = f"has {ctx.get('actual_length')} entries", f"keep at most {ctx.get('max_length')}"
    else:
        problem, fix = clip(chosen["msg"]), "correct the value"
    return ConfigError(source, _key(loc), problem, fix)


def _key(loc: Sequence[Any]) -> str:
    text = NAMESPACE
    for index, part in enumerate(p for p in loc if p != "[key]"):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("" if index == 0 else ".") + clip(str(part))
    return text.rstrip(":") if text == NAMESPACE else text


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models(arg)]


def _walk(loc: Sequence[Any]) -> tuple[type[BaseModel] | None, Any]:
    """The FieldInfo the last key of `loc` names, and the model its value is (None where loc leaves the models)."""
    model: type[BaseModel] | None = StackConfig
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None:
            return None, None
        info = next((f for name, f in model.model_fields.items() if (f.alias or name) == part), None)
        if info is None:
            return None, None
        nested = _models(info.annotation)
        model = nested[0] if nested else None
    return model, info


def _field(loc: Sequence[Any]) -> Any:
    return _walk(loc)[1]


def _description(loc: Sequence[Any]) -> str:
    info = _field(loc)
    return (info.description or "an entry") if info else "an entry"


def _aliases(loc: Sequence[Any]) -> list[str]:
    """The keys allowed where `loc` points (a mapping that is a model)."""
    model = _walk(loc)[0] if loc else StackConfig
    return [f.alias or name for name, f in model.model_fields.items()] if model else []


# --------------------------------------------------------------------------------------------------
# Entry points


def check_stack_name(stack: str) -> None:
    if not _STACK_NAME.fullmatch(stack):
        raise ConfigError(f"Pulumi.{clip(stack)}.yaml", "stack", f"{show(stack)} is not a stack name",
                          "use letters, digits, -, _ and . (like prod)")


def _siblings(project_dir: Path, stack: str) -> Callable[[], Mapping[str, Sequence[str]]]:
    def read() -> Mapping[str, Sequence[str]]:
        found: dict[str, list[str]] = {}
        own = stack_file(project_dir, stack).name
        for path in sorted(project_dir.glob("Pulumi.*.yaml")):
            if path.name != own and path.is_file():
                try:
                    found[path.name] = _region_cidrs(path.name, read_bytes(path))
                except ConfigError:
                    continue  # a broken sibling is reported when that stack is loaded
        return found
    return read


@functools.lru_cache(maxsize=64)
def _region_cidrs(name: str, data: bytes) -> list[str]:
    """A sibling stack file's region CIDRs, parsed once per content (a plan validates twice)."""
    try:
        regions = parse_config(name, data).get(f"{NAMESPACE}regions") or []
        return [r["cidr"] for r in regions if isinstance(r, Mapping) and isinstance(r.get("cidr"), str)]
    except (ConfigError, TypeError, AttributeError):
        return []


def _shown(directory: Path) -> str:
    """A directory as the person typing the command sees it: relative to where they are, if inside it."""
    try:
        relative = str(directory.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(directory)
    return "the current directory" if relative == "." else relative


def stack_file_keys(project_dir: Path, stack: str) -> dict[str, Any]:
    """The `mercur:` keys of `Pulumi.<stack>.yaml` (namespace stripped, ciphertext replaced)."""
    check_stack_name(stack)
    path = stack_file(project_dir, stack)
    if not path.exists():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        raise ConfigError(path.name, "stack", f"no such stack file in {_shown(project_dir)}",
                          f"use one of: {', '.join(known) or 'none found'}")
    return copy.deepcopy(_mercur_keys(path.name, read_bytes(path)))


@functools.lru_cache(maxsize=16)
def _mercur_keys(name: str, data: bytes) -> dict[str, Any]:
    """Parsed and checked once per content: the offline plan reads the file before the program runs and the
    program reads it again (callers get a copy)."""
    return mercur_values(parse_config(name, data), name)


def load_file(project_dir: Path, stack: str) -> StackConfig:
    """Load `Pulumi.<stack>.yaml` from the project directory (offline plan, tests)."""
    return parse(stack_file_keys(project_dir, stack), stack=stack, source=stack_file(project_dir, stack).name,
                 sibling_cidrs=_siblings(project_dir, stack))


def load_bytes(project_dir: Path, stack: str, data: bytes) -> StackConfig:
    """Validate `data` as the content of `Pulumi.<stack>.yaml` in the project directory, as `load_file` validates
    the file's content (the other stack files are read for their CIDRs): an edit checked before it is written.
    Reads nothing of the stack's own file."""
    check_stack_name(stack)
    name = stack_file(project_dir, stack).name
    return parse(copy.deepcopy(_mercur_keys(name, data)), stack=stack, source=name,
                 sibling_cidrs=_siblings(project_dir, stack))


def engine_values(raw: Mapping[str, Any]) -> dict[str, str]:
    """The stack file's `mercur:` values as the Pulumi engine hands them to a program: JSON strings."""
    return {f"{NAMESPACE}{key}": value if isinstance(value, str) else json.dumps(value)
            for key, value in raw.items()}


def stack_file_values(project_dir: Path, stack: str) -> dict[str, str]:
    return engine_values(stack_file_keys(project_dir, stack))


def load_engine(config_map: Mapping[str, str], *, stack: str, project_dir: Path) -> StackConfig:
    """Load from the engine's config map (`{"mercur:key": "json or text"}`), as `pulumi up` provides."""
    check_stack_name(stack)
    raw: dict[str, Any] = {}
    for key, text in config_map.items():
        if not key.startswith(NAMESPACE):
            continue
        # Pulumi keeps top-level config values as text; only structured ones (objects, lists) are JSON.
        value: Any = text
        if isinstance(text, str) and text.lstrip()[:1] in ("{", "["):
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                pass  # the model reports a string where structure belongs
        raw[key[len(NAMESPACE):]] = value
    return parse(raw, stack=stack, source=stack_file(project_dir, stack).name,
                 sibling_cidrs=_siblings(project_dir, stack))


def load_from_engine(*, stack: str, project_dir: Path) -> StackConfig:
    """The running Pulumi program's config: what `pulumi up` (or the offline plan's mocks) provides. The
    stack file itself, where present, is read too: secrets placement and YAML traps are file properties."""
    from pulumi.runtime import config as engine  # only the program path needs the SDK

    if stack_file(project_dir, stack).exists():
        stack_file_keys(project_dir, stack)
    return load_engine({**engine.get_config_env(), **engine.CONFIG.get()}, stack=stack, project_dir=project_dir)
