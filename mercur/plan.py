"""The offline plan: what a stack would build, as a readable summary or one JSON document."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from .synth import Plan

_GLOBAL = "global"


def document(plan: Plan) -> str:
    """The JSON contract: {project, stack, resources: [{urn, type, name, parent, region, inputs}], outputs}."""
    return json.dumps(plan.document(), indent=2, sort_keys=False, default=str)


def summary(plan: Plan) -> str:
    """Resources per region and type, then totals; regions in failover order."""
    order: list[str] = list(plan.outputs.get("failoverOrder", []))
    regions = order + sorted({r.region for r in plan.resources if r.region and r.region not in order})
    by_region: dict[str, Counter[str]] = {}
    for resource in plan.resources:
        by_region.setdefault(resource.region or _GLOBAL, Counter())[resource.type] += 1

    lines = [f"{plan.project}/{plan.stack}: {len(plan.resources)} resources in {len(regions)} region(s)", ""]
    region_outputs: dict[str, Any] = plan.outputs.get("regions", {})
    for region in regions + ([_GLOBAL] if _GLOBAL in by_region else []):
        counts = by_region.get(region, Counter())
        role = "" if region == _GLOBAL else (" (active)" if region == regions[0] else " (passive)")
        lines.append(f"{region}{role}: {sum(counts.values())} resources")
        details = region_outputs.get(region, {})
        if details:
            lines.append(f"  cluster {details.get('clusterName')}, AZs {', '.join(details.get('availabilityZones', []))}")
        width = max((len(t) for t in counts), default=0)
        lines += [f"  {type_:<{width}}  {count:>3}" for type_, count in sorted(counts.items())]
        lines.append("")
    lines += _objectives(plan.outputs.get("objectives", {}), region_outputs)
    totals = Counter(r.type for r in plan.resources)
    lines.append(f"Totals: {len(plan.resources)} resources, {len(totals)} types, "
                 f"{sum(1 for r in plan.resources if r.custom)} custom, "
                 f"{sum(1 for r in plan.resources if r.protect)} protected")
    return "\n".join(lines)


def _objectives(objectives: dict[str, Any], regions: dict[str, Any]) -> list[str]:
    """Target vs achievable recovery objectives, and where each region's backups go."""
    lines = []
    rpo = objectives.get("rpoMinutes")
    if rpo:
        verdict = "met" if rpo["achievable"] <= rpo["target"] else "NOT MET"
        lines.append(f"RPO: target {rpo['target']} min, achievable {rpo['achievable']} min ({verdict}; "
                     f"backups every {objectives['backupIntervalHours']}h)")
    rto = objectives.get("rtoMinutes")
    if rto:
        if rto["achievable"] is None:
            lines.append(f"RTO: target {rto['target']:g} min; single region, no failover")
        else:
            verdict = "met" if rto["achievable"] <= rto["target"] else "NOT MET"
            check = objectives["healthCheck"]
            lines.append(f"RTO: target {rto['target']:g} min, achievable {rto['achievable']:g} min ({verdict}; "
                         f"health checks every {check['intervalSeconds']} s, {check['failureThreshold']} failures)")
    copies = [f"{region} -> {details['backupCopiesTo']}" for region, details in regions.items()
              if details.get("backupCopiesTo")]
    if copies:
        lines.append(f"Backup copies: {', '.join(copies)}")
    return lines + ([""] if lines else [])
