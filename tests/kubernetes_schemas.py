"""kubernetes-validate, with each schema file parsed once per test session; custom resources against their CRDs.

`kubernetes_validate.validate` re-reads and re-parses its schema files (1.5 MB of definitions) for every
object it checks; the files do not change during a session, so the parsed documents are kept.

Custom resources are checked against `schemas/<group>-<version>-<Kind>.json`:
- `karpenter.sh-v1-NodePool.json`: the v1 openAPIV3Schema of kubernetes-sigs/karpenter's
  `pkg/apis/crds/karpenter.sh_nodepools.yaml` (v1.14.0-20-g226646810), which EKS Auto Mode serves;
- `eks.amazonaws.com-v1-NodeClass.json`: written from the EKS User Guide's NodeClass specification (AWS
  publishes no CRD file for it);
- `eks.amazonaws.com-v1-TargetGroupBinding.json`: written from the AWS Load Balancer Controller's
  TargetGroupBinding specification, which Auto Mode serves under its own group.
Strictly: a field the schema does not name is an error (the API server would silently prune it).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate import utils

utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)

ValidationError = kubernetes_validate.ValidationError
SCHEMAS = Path(__file__).parent / "schemas"


def _strict(schema: Any) -> Any:
    """Objects with named properties and no `additionalProperties` of their own refuse unnamed ones."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_strict(item) for item in schema]
    return schema


@functools.lru_cache(maxsize=None)
def _custom(api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    path = SCHEMAS / f"{api_version.replace('/', '-')}-{kind}.json"
    if not path.is_file():
        return None
    schema = _strict(json.loads(path.read_text()))
    schema["properties"]["metadata"]["additionalProperties"] = True  # ObjectMeta: checked by the API server
    return jsonschema.Draft7Validator(schema)


def validate(data: dict, version: str, strict: bool = True) -> None:
    """Validate a Kubernetes object for the cluster `version`: built-in kinds by kubernetes-validate,
    custom resources against their CRD schemas (raising ValidationError either way)."""
    custom = _custom(data.get("apiVersion", ""), data.get("kind", ""))
    if custom is None:
        kubernetes_validate.validate(data, version, strict=strict)
        return
    errors = sorted(custom.iter_errors(data), key=lambda e: list(e.path))
    if errors:
        raise ValidationError(errors[0], version)
