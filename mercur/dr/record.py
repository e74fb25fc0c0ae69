"""`dr record`: what drills and checks measured, as the `measured:` block of `mercur:dr` in a stack file.

The plan then prints those terms as measured, with their source, instead of assumed: the failover drill's
detection and its traffic step (the checks flipping until the zone's name servers answer), and `dr check`'s
longest cross-Region copy of the week (the both-at-once RPO rests on it). Not the failover drill's
capacity-and-writer step: it is a graceful switchover, and the chain counts the ungraceful failover a lost
region takes.
The block is printed to paste, reviewed like any stack-file change; nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..config import ConfigError
from ..config.models import MeasuredTerms

# The failover drill's measurements, by the chain's term names (mercur/config/objectives.py).
FROM_FAILOVER = {"detectionSeconds": "detection", "dnsSeconds": "checksFlip"}


def load(path: Path, stack: str) -> dict[str, Any]:
    """A drill or check report of `stack`, or one line naming the file and what is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(str(path), "file", f"cannot be read ({error.strerror})", "pass a report file") from None
    except (UnicodeDecodeError, ValueError):
        raise ConfigError(str(path), "file", "is not a JSON report", "pass what dr drill --report or dr check "
                                                                     "--json wrote") from None
    if not isinstance(document, dict) or not ("drills" in document or "measured" in document):
        raise ConfigError(str(path), "file", "is neither a drill report nor a check report",
                          "pass what dr drill --report or dr check --json wrote")
    if document.get("stack") != stack:
        raise ConfigError(str(path), "stack", f"is {document.get('stack')!r}, not {stack!r}",
                          f"pass {stack}'s reports: each stack records its own measurements")
    return document


def measured(documents: list[tuple[Path, dict[str, Any]]]) -> tuple[dict[str, float], list[str]]:
    """Seconds per term and where each report's figures came from, later reports overriding earlier ones."""
    terms: dict[str, float] = {}
    sources: list[str] = []
    for path, document in documents:
        found: dict[str, float] = {}
        for result in document.get("drills") or []:
            rto = result.get("measuredRto") or {}
            if result.get("kind") != "failover" or not isinstance(rto, dict):
                continue
            found.update({term: float(rto[key]) for key, term in FROM_FAILOVER.items()
                          if isinstance(rto.get(key), (int, float)) and rto[key] > 0})
        copy = (document.get("measured") or {}).get("crossRegionCopy")
        if isinstance(copy, (int, float)) and copy > 0:
            found["crossRegionCopy"] = float(copy)
        if found:
            terms.update(found)
            what = f"dr drill {document['drillId']}" if document.get("drillId") else "dr check"
            when = str(document.get("finished") or document.get("checked") or "")[:10]
            sources.append(f"{what} {when}".strip())
        elif document.get("drills") is not None and not document.get("measured"):
            raise ConfigError(str(path), "drills", "hold no measurement (no failover drill finished)",
                              "pass the report of a failover drill that ran to its end")
    return terms, sources


def block(terms: dict[str, float], sources: list[str], stack: str) -> str:
    """The YAML to paste under `mercur:dr`, checked against the stack file's own model first."""
    measured = {"source": "; ".join(sources), "seconds": {k: round(v, 1) for k, v in sorted(terms.items())}}
    MeasuredTerms.model_validate(measured)
    body = yaml.safe_dump({"measured": measured}, sort_keys=False, default_flow_style=False)
    return (f"    # under mercur:dr in Pulumi.{stack}.yaml: these replace the plan's assumed figures\n"
            + "".join(f"    {line}\n" for line in body.splitlines()))


def main(stack: str, paths: list[Path]) -> str:
    documents = [(path, load(path, stack)) for path in paths]
    terms, sources = measured(documents)
    if not terms:
        raise ConfigError(str(paths[0]), "measured", "holds nothing to record",
                          "pass a failover drill's report or a check report with a copy time")
    return block(terms, sources, stack)
