"""The offline plan's outputs: the readable summary, the JSON document, and the `--out` directory."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import yaml

from .compliance import Finding
from . import reading
from .diagram import mermaid
from .synth import UNKNOWN, Plan, Resource
from .terraform_plan import terraform_plan_json
from ..components.monitoring import SLO_TYPE
from ..components.observability import OBSERVABILITY_ADDON

_GLOBAL = "global"
_LABEL_WIDTH = 10  # the per-region block's left column: network, cluster, nodes, apps, database, monitoring, backups


def plural(count: int | float, noun: str, many: str | None = None) -> str:
    """`1 resource`, `2 resources`, `1 policy`, `3 policies`."""
    return f"{count:g} {noun if count == 1 else many or noun + 's'}"


class Style:
    """ANSI colour for a terminal; plain text for a pipe, a file, CI logs, or wherever NO_COLOR is set."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: Any) -> "Style":
        return cls(bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR"))

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self._paint("1", text)

    def verdict(self, passed: bool, text: str | None = None) -> str:
        return self._paint("32" if passed else "1;31", text or ("pass" if passed else "FAIL"))


def _requirements(spec: dict[str, Any]) -> str:
    wanted = {term["key"].split("/")[-1]: term for term in spec["template"]["spec"]["requirements"]}
    generation = int(wanted["instance-generation"]["values"][0]) + 1
    return (f"{'/'.join(wanted['instance-category']['values'])} from generation {generation}, "
            f"{' or '.join(wanted['capacity-type']['values'])}")


def document(plan: Plan, findings: Sequence[Finding] = ()) -> str:
    """The JSON contract: {project, stack, resources: [{urn, type, name, parent, region, inputs}], outputs,
    findings: [{rule, urn, message, level}]}."""
    body = plan.document()
    body["findings"] = [{"rule": f.rule, "urn": f.urn, "message": f.message,
                         "level": "mandatory" if f.mandatory else "advisory"} for f in findings]
    return json.dumps(body, indent=2, default=str)


def summary(plan: Plan, findings: Sequence[Finding] = (), types: bool = False, style: Style = Style(False)) -> str:
    """The verdict first, one block per region, then DNS and the Region switch, the RPO and the findings;
    per-type counts per region with `types`."""
    order: list[str] = list(plan.outputs.get("failoverOrder", []))
    objectives: dict[str, Any] = plan.outputs.get("objectives", {})
    regions: dict[str, Any] = plan.outputs.get("regions", {})
    placed: dict[str, list[Resource]] = {}
    for resource in plan.resources:
        placed.setdefault(resource.region or _GLOBAL, []).append(resource)
    health_alarms = [r for r in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                     if "HealthCheckId" in (r.inputs.get("dimensions") or {})]
    alarm_urns = {alarm.urn for alarm in health_alarms}

    lines = [_verdict(plan, findings, objectives, order, style), ""]
    for position, region in enumerate(order):
        role = "active" if position == 0 else "passive"
        here = [r for r in placed.get(region, []) if r.urn not in alarm_urns]
        lines.append(style.bold(f"{region} · {role} · {plural(len(placed.get(region, [])), 'resource')}"))
        lines += _region_block(here, regions.get(region, {}), objectives, style)
        lines += _types(placed.get(region, [])) if types else []
        lines.append("")
    for elsewhere in sorted(set(placed) - set(order) - {_GLOBAL}):  # e.g. Route53's alarms, in us-east-1
        lines.append(style.bold(f"{elsewhere} · not serving · {plural(len(placed[elsewhere]), 'resource')}")
                     + (": what Route53 keeps in this region (health-check alarms and their topic, query logs, "
                        "the DNSSEC signing key)" if any(a.region == elsewhere for a in health_alarms) else ""))
        lines += (_types(placed[elsewhere]) if types else []) + [""]
    lines += _global_block(placed.get(_GLOBAL, []), style, types)
    lines += _dns_block(plan, regions, objectives, health_alarms, style)
    lines += _recovery_block(objectives, style)
    lines += _policy_results(findings, style)
    return "\n".join(lines).rstrip("\n")


def _verdict(plan: Plan, findings: Sequence[Finding], objectives: dict[str, Any], order: list[str],
             style: Style) -> str:
    """`mercur/prod PASS: policies pass · RPO pass · RTO pass · capacity pass; 255 resources in 2 regions`."""
    mandatory = sum(1 for f in findings if f.mandatory)
    checks = [("policies", mandatory == 0,
               f"{plural(mandatory, 'violation')}, {plural(len(findings) - mandatory, 'advisory', 'advisories')}")]
    rpo = objectives.get("rpoMinutes") or {}
    if rpo:
        met = sum(1 for point in rpo.values() if point.get("proven", True) and point["achievable"] <= point["target"])
        unproven = [_LOSS_KINDS[kind] for kind, point in rpo.items() if not point.get("proven", True)]
        checks.append(("RPO", met == len(rpo), f"{met} of {len(rpo)} kinds of loss"
                       + (f"; {', '.join(unproven)} not proven" if unproven else "")))
    rto = objectives.get("rtoMinutes") or {}
    if rto.get("unproven"):
        checks.append(("RTO", False, f"not proven: {rto['unproven']}"))
    elif rto.get("achievable") is not None:
        checks.append(("RTO", rto["achievable"] <= rto["target"],
                       f"{rto['achievable']:.1f} of {rto['target']:g} min from the failure"))
    capacity = objectives.get("capacity")
    pools = [p for p in plan.of_type("kubernetes:karpenter.sh/v1:NodePool") if p.region in order]
    if capacity and pools:
        holding = sum(1 for pool in pools if _holds(pool, capacity["required"]))
        checks.append(("capacity", holding == len(pools),
                       f"NodePool limits hold the peak in {holding} of {plural(len(pools), 'region')}"))
    passed = all(ok for _, ok, _ in checks)
    head = f"{plan.project}/{plan.stack} {style.verdict(passed, 'PASS' if passed else 'FAIL')}"
    parts = [f"{name} {style.verdict(ok)} ({detail})" for name, ok, detail in checks]
    if rto and rto.get("achievable") is None and not rto.get("unproven"):  # nothing to fail over to
        parts.insert(2 if rpo else 1, "RTO n/a (single region)")
    return (f"{head}: {' · '.join(parts)}; {plural(len(plan.resources), 'resource')} in "
            f"{plural(len(order), 'region')}")


_GIB = {"Mi": 1 / 1024, "Gi": 1, "Ti": 1024}


def _holds(pool: Resource, required: dict[str, float]) -> bool:
    """The NodePool as built (not the stack file's numbers) against the nodes a region's peak needs."""
    limits = pool.inputs["spec"]["limits"]
    memory = str(limits["memory"])
    memory_gib = float(memory[:-2]) * _GIB[memory[-2:]] if memory[-2:] in _GIB else float(memory) / 2**30
    return float(limits["cpu"]) >= required["cpu"] and memory_gib >= required["memoryGib"]


def _row(label: str, text: str) -> str:
    return f"  {label:<{_LABEL_WIDTH}} {text}"


def _region_block(here: list[Resource], details: dict[str, Any], objectives: dict[str, Any],
                  style: Style) -> list[str]:
    def of(type_: str) -> list[Resource]:
        return [r for r in here if r.type == type_]

    lines = []
    zones = sorted(zip(details.get("availabilityZoneIds", []), details.get("availabilityZones", [])))
    for vpc in of("aws:ec2/vpc:Vpc"):
        nats = len(of("aws:ec2/natGateway:NatGateway"))
        egress = (f"{plural(nats, 'NAT gateway')}" + (" (one per AZ)" if nats == len(zones) else "")
                  if nats else "no NAT (interface endpoints)")
        lines.append(_row("network", f"VPC {vpc.inputs['cidrBlock']} across {plural(len(zones), 'AZ')} "
                                     f"({', '.join(f'{zone_id} {name}' for zone_id, name in zones)}); {egress}"))
    for cluster in of("eks:index:Cluster"):
        api = "public+private" if cluster.inputs.get("endpointPublicAccess") else "private"
        lines.append(_row("cluster", f"EKS {cluster.inputs['name']} {cluster.inputs['version']}, {api} API"))
    capacity = objectives.get("capacity")
    for pool in of("kubernetes:karpenter.sh/v1:NodePool"):
        limits = pool.inputs["spec"]["limits"]
        text = f"NodePool {pool.inputs['metadata']['name']}: {_requirements(pool.inputs['spec'])}; limits " \
               f"{limits['cpu']} vCPU / {limits['memory']}"
        if capacity:
            required, holds = capacity["required"], _holds(pool, capacity["required"])
            text += (f" {'≥' if holds else '<'} {required['cpu']:g} vCPU / {required['memoryGib']:g}Gi needed at the "
                     f"peak ({style.verdict(holds, 'holds' if holds else 'DOES NOT HOLD')})")
        lines.append(_row("nodes", text))
    apps = [f"{name} {count}{' with volumes' if volumes else ''}" for name, count, volumes in reading.replicas(here)]
    if apps:
        lines.append(_row("apps", ", ".join(apps) + " replicas (min–max)"))
    database = details.get("database")
    instances = of("aws:rds/clusterInstance:ClusterInstance")
    if database:
        role = {"home": "writer", "member": "reader, replicating"}.get(database["role"], database["role"])
        sizes = Counter(i.inputs["instanceClass"] for i in instances)
        lines.append(_row("database", f"Aurora {database['clusterId']} ({role}), "
                                      + ", ".join(f"{n} × {size}" for size, n in sorted(sizes.items()))))
    lines.append(_row("monitoring", _monitoring(here)))
    for vault in of("aws:backup/vault:Vault"):
        locked = " (locked)" if of("aws:backup/vaultLockConfiguration:VaultLockConfiguration") else ""
        target = details.get("backupCopiesTo")
        lines.append(_row("backups", f"vault {vault.inputs['name']}{locked}"
                                     + (f" → copies to {target}" if target else ", no copy")))
    return lines


def _monitoring(here: list[Resource]) -> str:
    """What the region observes, how many alarms and SLOs it has, and the topics the alarms page through (by
    name)."""
    observed = [f"{addon.inputs['addonName']} (Container Insights, container logs)" for addon in here
                if addon.type == "aws:eks/addon:Addon" and addon.inputs["addonName"] == OBSERVABILITY_ADDON]
    alarms = [r for r in here if r.type == "aws:cloudwatch/metricAlarm:MetricAlarm"]
    topics = sorted({str(arn).rsplit(":", 1)[-1] for alarm in alarms for arn in alarm.inputs.get("alarmActions", [])})
    silent = sum(1 for alarm in alarms if not alarm.inputs.get("alarmActions"))
    objectives = sum(1 for r in here if r.type == "aws:cloudcontrol/resource:Resource"
                     and r.inputs.get("typeName") == SLO_TYPE)
    slos = f", {plural(objectives, 'availability SLO')}" if objectives else ""
    return (f"{', '.join(observed) or 'no cluster telemetry'}; {plural(len(alarms), 'alarm')}{slos} → "
            f"{', '.join(topics) or 'nowhere'}" + (f" ({silent} with no action)" if silent else ""))


def _types(resources: list[Resource]) -> list[str]:
    counts = Counter(r.type for r in resources)
    width = max((len(t) for t in counts), default=0)
    return [f"    {type_:<{width}}  {count:>3}" for type_, count in sorted(counts.items())]


def _global_block(resources: list[Resource], style: Style, types: bool) -> list[str]:
    if not resources:
        return []
    database = [r for r in resources if r.type == "aws:rds/globalCluster:GlobalCluster"]
    roles = sum(1 for r in resources if r.type == "aws:iam/role:Role")
    parts = [f"Aurora global database {d.inputs['globalClusterIdentifier']} ({d.inputs['engine']} "
             f"{d.inputs['engineVersion']})" for d in database]
    parts += [plural(roles, "IAM role")] if roles else []
    lines = [style.bold(f"global · {plural(len(resources), 'resource')}") + (f": {', '.join(parts)}" if parts else "")]
    return lines + (_types(resources) if types else []) + [""]


def _dns_block(plan: Plan, regions: dict[str, Any], objectives: dict[str, Any], alarms: list[Resource],
               style: Style) -> list[str]:
    records = plan.of_type("aws:route53/record:Record")
    if not records:
        return []
    name = plan.outputs.get("recordName", records[0].inputs["name"])
    kind = "failover" if any(r.inputs.get("failoverRoutingPolicies") for r in records) else "alias"
    lines = [style.bold(f"DNS {name} · {kind} record")]
    for route in reading.routes(plan):  # a nested failover set's records indented under the alias to it
        label = "  " * (len(route.path) - 1) + route.path[-1]
        lines.append(_row(label, f"→ {route.region} {route.app} load balancer" if route.region
                          else f"→ failover set {route.target}"))
    switch = plan.outputs.get("regionSwitch") or {}
    target_health = any(a.get("evaluateTargetHealth") for r in records for a in r.inputs.get("aliases") or [])
    if kind == "failover":
        unknown = any(r.inputs.get("healthCheckId") == UNKNOWN for r in records)
        switched = bool(switch.get("healthCheckIds")) or unknown
        by = "the health checks the Region switch plan sets" if switched else "the endpoint health checks below"
        by += " (not known in this run: see the warning)" if unknown else ""
        also = ", and each load balancer's own target health" if target_health else ""
        if switched:  # which moves first, the writer or the traffic, is what the on-call engineer must know
            also += " (DNS-only failover: it may move before the writer)" if target_health else \
                ": DNS moves only with the switch, after the writer"
        lines.append(_row("answers", f"by {by}{also}"))
    checks = [r for r in plan.of_type("aws:route53/healthCheck:HealthCheck") if r.inputs.get("fqdn")]
    if checks:
        check = checks[0].inputs
        where = "each region's load balancer" if len(checks) > 1 else "the load balancer"
        lines.append(_row("checks", f"{check['type']} {check['resourcePath']} on {where} every "
                                    f"{check['requestInterval']} s × {check['failureThreshold']} failures"))
    if alarms:
        where = sorted({a.region for a in alarms})
        names = ", ".join(a.inputs["name"] for a in sorted(alarms, key=lambda a: a.inputs["name"]))
        lines.append(_row("alarms", f"{names} (in {', '.join(where)}, where Route53 publishes health)"))
    switch_plans = plan.of_type("aws:arcregionswitch/plan:Plan")
    for switch in switch_plans:
        steps = " → ".join(s["name"] for s in switch.inputs["workflows"][0]["steps"])
        lines.append(style.bold(f"Region switch {switch.inputs['name']}") + f" · {steps}, towards either region")
    return lines + [""]


def _recovery_block(objectives: dict[str, Any], style: Style) -> list[str]:
    """RPO per kind of loss, and the RTO where no Region switch plan gives it."""
    lines = []
    rpo = objectives.get("rpoMinutes")
    if rpo:
        lines.append(style.bold("RPO per kind of loss") + " · target / achievable")
        for kind, label in _LOSS_KINDS.items():
            point = rpo[kind]
            proven = point.get("proven", True)
            ok = proven and point["achievable"] <= point["target"]
            lines.append(f"  {label:<18} {point['target']:>5g} / {point['achievable']:<5g} min  "
                         f"{style.verdict(ok, 'pass' if ok else 'FAIL' if proven else 'NOT PROVEN')}  "
                         f"{point['basis']}")
    if lines:
        lines.append("")
    lines += _recovery_time(objectives.get("rtoMinutes") or {}, objectives.get("regionSwitch"), style)
    return lines + ([""] if lines else [])


def _recovery_time(rto: dict[str, Any], switch: dict[str, Any] | None, style: Style) -> list[str]:
    """The chain from a region's failure to the first request served elsewhere, term by term with its source."""
    if not rto:
        return []
    if rto.get("unproven"):
        return [style.bold("RTO") + f" · target {rto['target']:g} min: {style.verdict(False, 'NOT PROVEN')}, "
                f"{rto['unproven']}: the database's writer would stay in the lost region"]
    if rto.get("achievable") is None:
        return [style.bold("RTO") + f" · target {rto['target']:g} min; single region, no failover"]
    ok = rto["achievable"] <= rto["target"]
    lines = [style.bold("RTO from the failure to the first request") +
             f" · {rto['achievable']:.1f} of {rto['target']:g} min  {style.verdict(ok)}"]
    width = max(len(term["name"]) for term in rto["terms"])
    for term in rto["terms"]:
        lines.append(f"  {term['name']:<{width}} {term['seconds']:>5g} s  {term['basis']:<10}  {term['source']}")
    assumed = [t for t in rto["terms"] if t["basis"] in ("assumed", "stack file")]
    if assumed:
        lines.append(f"  assumed: {', '.join(t['name'] for t in assumed)} "
                     f"({sum(t['seconds'] for t in assumed):g} s of {rto['achievable'] * 60:g}); drills measure them")
    if switch:
        lines.append("  not counted: a step that fails pauses the plan's execution until someone retries or skips "
                     "it (docs/runbook.md)")
    elif rto.get("fullCapacity") is not None:
        lines.append(f"  full capacity after {rto['fullCapacity']:g} min: the HPA, a node, the image, the start")
    return lines


_LOSS_KINDS = {"regionLoss": "a region lost", "corruption": "bad data written",
               "regionLossAndCorruption": "both at once"}
def _policy_results(findings: Sequence[Finding], style: Style) -> list[str]:
    mandatory = sum(1 for f in findings if f.mandatory)
    lines = [style.bold("Policies") + f" · {plural(mandatory, 'mandatory violation')}, "
             f"{plural(len(findings) - mandatory, 'advisory finding')}"]
    return lines + [f"  {finding.line()}" for finding in findings]


def manifests(plan: Plan) -> dict[str, str]:
    """Every Kubernetes object as YAML, keyed `<region>/<namespace>/<kind>-<name>.yaml` (secrets masked)."""
    files = {}
    for resource in (r for r in plan.resources if r.type.startswith("kubernetes:")
                     and not r.type.startswith("kubernetes:pulumi")):
        body = resource.document()["inputs"]
        metadata = body.get("metadata", {})
        path = f"{resource.region}/{metadata.get('namespace', '_cluster')}/{body['kind'].lower()}-{metadata['name']}.yaml"
        files[path] = yaml.safe_dump(body, sort_keys=False)
    return files


def write(plan: Plan, findings: Sequence[Finding], out: Path) -> list[Path]:
    """`plan.json`, `tfplan.json` (Terraform's plan format, for Checkov), `diagram.mmd` and `manifests/` under
    `out`; returns what it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "plan.json", out / "tfplan.json", out / "diagram.mmd"]
    written[0].write_text(document(plan, findings) + "\n")
    written[1].write_text(terraform_plan_json(plan) + "\n")
    written[2].write_text(mermaid(plan))
    for relative, text in manifests(plan).items():
        path = out / "manifests" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
