"""The stack file's JSON Schema and configuration reference, generated from the models.

  python -m mercur.config.reference            write docs/stack.schema.json and docs/configuration.md
  python -m mercur.config.reference --check    exit 1 if either is out of date (tests run this check)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from .models import StackConfig
from .reader import NAMESPACE, PULUMI_NAMESPACES, STACK_FILE_KEYS

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCHEMA_PATH = Path("docs/stack.schema.json")
REFERENCE_PATH = Path("docs/configuration.md")
SCHEMA_ID = "https://github.com/mercur-shop/platform/blob/main/docs/stack.schema.json"


def stack_file_schema() -> dict[str, Any]:
    """Pulumi.<stack>.yaml as a whole: Pulumi's own top-level keys, and under `config:` the `mercur:` keys
    (closed) beside the provider namespaces Pulumi defines."""
    inner = StackConfig.model_json_schema(by_alias=True)
    definitions = inner.pop("$defs", {})
    config = {
        "type": "object",
        "properties": {f"{NAMESPACE}{key}": value for key, value in inner["properties"].items()},
        "required": [f"{NAMESPACE}{key}" for key in inner.get("required", []) if key != "environment"],
        "patternProperties": {f"^({'|'.join(PULUMI_NAMESPACES)}):": {}},
        "additionalProperties": False,
    }
    top = {key: {"type": "string"} for key in STACK_FILE_KEYS if key not in ("config", "environment")}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Mercur stack file (Pulumi.<stack>.yaml)",
        "type": "object",
        "properties": {"config": config, **top, "environment": {"description": "Pulumi ESC environments"}},
        "additionalProperties": False,
        "$defs": definitions,
    }


def _resolve(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return definitions[schema["$ref"].rsplit("/", 1)[1]]
    for option in schema.get("anyOf", []):  # Optional[X]: the X
        if option.get("type") != "null":
            return {**_resolve(option, definitions), **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


def _kind(schema: dict[str, Any], definitions: dict[str, Any]) -> str:
    schema = _resolve(schema, definitions)
    if "enum" in schema and len(schema["enum"]) > 8:
        return f"one of {len(schema['enum'])} values (JSON Schema)"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kind = schema.get("type", "mapping" if "properties" in schema else "any")
    if kind == "array":
        return f"list of {_kind(schema.get('items', {}), definitions)}"
    if kind == "object" and "properties" not in schema:
        return "mapping"
    if isinstance(kind, list):
        return " or ".join(kind)
    return {"object": "mapping"}.get(kind, kind)


def _rows(prefix: str, schema: dict[str, Any], definitions: dict[str, Any],
          required: list[str]) -> Iterator[tuple[str, str, str, str]]:
    for key, value in schema.get("properties", {}).items():
        resolved = _resolve(value, definitions)
        path = f"{prefix}.{key}" if prefix else key
        default = "required" if key in required else json.dumps(value.get("default", resolved.get("default")))
        bounds = [f"{name} {resolved[name]}" for name in ("minimum", "maximum", "minItems", "maxItems")
                  if name in resolved]
        description = " ".join(filter(None, [value.get("description") or resolved.get("description", ""),
                                             f"({', '.join(bounds)})" if bounds else ""]))
        yield path, _kind(value, definitions), default, description
        nested = resolved if resolved.get("type") != "array" else _resolve(resolved.get("items", {}), definitions)
        if "properties" in nested:
            suffix = "[]" if resolved.get("type") == "array" else ""
            yield from _rows(path + suffix, nested, definitions, nested.get("required", []))


def reference_markdown() -> str:
    schema = stack_file_schema()
    definitions = schema["$defs"]
    config = schema["properties"]["config"]
    lines = ["# Configuration reference", "",
             "Generated from `mercur/config/models.py` by `python -m mercur.config.reference`; do not edit by hand.",
             "Every key lives under `config:` in `Pulumi.<stack>.yaml`. Editors that read the `yaml-language-server`",
             "line at the top of each stack file check it against `docs/stack.schema.json` as you type.", "",
             f"Besides `{NAMESPACE}` keys, only the namespaces Pulumi defines for this program's providers are "
             f"allowed: {', '.join(f'`{n}:`' for n in PULUMI_NAMESPACES)}.", "",
             "| key | type | default | meaning |", "|---|---|---|---|"]
    for path, kind, default, description in _rows("", config, definitions, config["required"]):
        lines.append(f"| `{path}` | {kind} | {default if default != 'null' else '—'} | {description} |")
    return "\n".join(lines) + "\n"


def rendered() -> dict[Path, str]:
    return {SCHEMA_PATH: json.dumps(stack_file_schema(), indent=2) + "\n", REFERENCE_PATH: reference_markdown()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mercur.config.reference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is out of date")
    args = parser.parse_args(argv)
    stale = [path for path, text in rendered().items()
             if not (PROJECT_DIR / path).is_file() or (PROJECT_DIR / path).read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path}: out of date; run python -m mercur.config.reference", file=sys.stderr)
        return 1 if stale else 0
    for path, text in rendered().items():
        (PROJECT_DIR / path).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
