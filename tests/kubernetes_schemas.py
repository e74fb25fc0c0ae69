"""kubernetes-validate, with each schema file parsed once per test session.

`kubernetes_validate.validate` re-reads and re-parses its schema files (1.5 MB of definitions) for every
object it checks; the files do not change during a session, so the parsed documents are kept.
"""

from __future__ import annotations

import functools

import kubernetes_validate
from kubernetes_validate import utils

utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)

validate = kubernetes_validate.validate
ValidationError = kubernetes_validate.ValidationError
