"""The offline plan's outputs: the readable summary, the JSON document, and the `--out` directory."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import yaml

from .compliance import Finding
from .diagram import mermaid
from .synth import Plan, Resource

_GLOBAL = "global"
_TREE_TYPES = {  # what the per-region tree shows, in this order, and how it names each
    "aws:ec2/vpc:Vpc": lambda r: f"VPC {r.inputs['cidrBlock']}",
    "aws:ec2/subnet:Subnet": lambda r: f"{r.inputs['tags'].get('mercur:tier', 'subnet')} subnet "
                                       f"{r.inputs['cidrBlock']} in {r.inputs['availabilityZoneId']}",
    "aws:ec2/natGateway:NatGateway": lambda r: f"NAT gateway {r.name}",
    "eks:index:Cluster": lambda r: f"EKS {r.inputs['name']} {r.inputs['version']}, "
                                   f"{'public+private' if r.inputs.get('endpointPublicAccess') else 'private'} API",
    "kubernetes:karpenter.sh/v1:NodePool": lambda r: f"NodePool {r.inputs['metadata']['name']} (Auto Mode): "
                                                     f"{_requirements(r.inputs['spec'])}",
    "kubernetes:apps/v1:Deployment": lambda r: f"app {r.inputs['metadata']['name']}: {r.inputs['spec']['replicas']} "
                                               f"replicas ({r.inputs['metadata']['annotations']['mercur.io/role']})",
    "kubernetes:apps/v1:StatefulSet": lambda r: f"app {r.inputs['metadata']['name']}: {r.inputs['spec']['replicas']} "
                                                f"replicas with volumes",
    "aws:rds/globalCluster:GlobalCluster": lambda r: f"Aurora global database {r.inputs['globalClusterIdentifier']} "
                                                     f"({r.inputs['engine']} {r.inputs['engineVersion']})",
    "aws:rds/cluster:Cluster": lambda r: f"Aurora cluster {r.inputs['clusterIdentifier']}"
                                         f"{' (global member)' if r.inputs.get('globalClusterIdentifier') else ''}",
    "aws:rds/clusterInstance:ClusterInstance": lambda r: f"DB instance {r.inputs['identifier']} "
                                                         f"{r.inputs['instanceClass']}",
    "aws:backup/vault:Vault": lambda r: f"backup vault {r.inputs['name']}",
    "aws:arcregionswitch/plan:Plan": lambda r: f"Region switch plan {r.inputs['name']}: "
                                               + ", ".join(f"activate {w['workflowTargetRegion']} ("
                                                           + " -> ".join(s['name'] for s in w['steps']) + ")"
                                                           for w in r.inputs['workflows'])
                                               + f", RTO {r.inputs['recoveryTimeObjectiveMinutes']} min",
    "aws:route53/healthCheck:HealthCheck": lambda r: f"health check {r.inputs['type']} {r.inputs['fqdn']}"
                                                     f"{r.inputs['resourcePath']}",
    "aws:cloudwatch/metricAlarm:MetricAlarm": lambda r: f"alarm {r.inputs['name']}",
}


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


def summary(plan: Plan, findings: Sequence[Finding] = ()) -> str:
    """Resources per region and type, a tree of what matters, objectives, policy results, totals."""
    order: list[str] = list(plan.outputs.get("failoverOrder", []))
    regions = order + sorted({r.region for r in plan.resources if r.region and r.region not in order})
    by_region: dict[str, Counter[str]] = {}
    for resource in plan.resources:
        by_region.setdefault(resource.region or _GLOBAL, Counter())[resource.type] += 1

    lines = [f"{plan.project}/{plan.stack}: {len(plan.resources)} resources in {len(regions)} region(s)", ""]
    region_outputs: dict[str, Any] = plan.outputs.get("regions", {})
    for region in regions + ([_GLOBAL] if _GLOBAL in by_region else []):
        counts = by_region.get(region, Counter())
        role = "" if region == _GLOBAL or region not in order else \
            (" (active)" if region == order[0] else " (passive)")
        lines.append(f"{region}{role}: {sum(counts.values())} resources")
        details = region_outputs.get(region, {})
        if details:
            lines.append(f"  cluster {details.get('clusterName')}, AZs {', '.join(details.get('availabilityZones', []))}")
        in_region = [r for r in plan.resources if (r.region or _GLOBAL) == region]
        lines += _tree(in_region)
        lines += _capacity(in_region, plan.outputs.get("objectives", {}).get("capacity"))
        width = max((len(t) for t in counts), default=0)
        lines += [f"  {type_:<{width}}  {count:>3}" for type_, count in sorted(counts.items())]
        lines.append("")
    lines += _objectives(plan.outputs.get("objectives", {}), region_outputs)
    lines += _policy_results(findings)
    totals = Counter(r.type for r in plan.resources)
    lines.append(f"Totals: {len(plan.resources)} resources, {len(totals)} types, "
                 f"{sum(1 for r in plan.resources if r.custom)} custom, "
                 f"{sum(1 for r in plan.resources if r.protect)} protected")
    return "\n".join(lines)


def _tree(resources: list[Resource]) -> list[str]:
    lines = [describe(resource) for type_, describe in _TREE_TYPES.items()
             for resource in resources if resource.type == type_]
    return [f"  {'└─' if index == len(lines) - 1 else '├─'} {line}" for index, line in enumerate(lines)]


def _capacity(resources: list[Resource], capacity: dict[str, Any] | None) -> list[str]:
    """The region's NodePool limits against the peak it carries after a failover (every app at its maximum)."""
    pools = [r for r in resources if r.type == "kubernetes:karpenter.sh/v1:NodePool"]
    if not capacity or not pools:
        return []
    limits = pools[0].inputs["spec"]["limits"]
    peak, required = capacity["peak"], capacity["required"]
    holds = int(limits["cpu"]) >= required["cpu"] and int(limits["memory"].removesuffix("Gi")) >= required["memoryGib"]
    return [f"  capacity after a failover: peak {peak['cpu']:g} vCPU / {peak['memoryGib']:g}Gi requested, needs "
            f"{required['cpu']} vCPU / {required['memoryGib']}Gi of nodes; limits {limits['cpu']} vCPU / "
            f"{limits['memory']} ({'holds' if holds else 'DOES NOT HOLD'})"]


def _objectives(objectives: dict[str, Any], regions: dict[str, Any]) -> list[str]:
    """Target vs achievable recovery objectives, and where each region's backups go."""
    lines = []
    rpo = objectives.get("rpoMinutes")
    if rpo:
        lines.append("RPO, per kind of loss:")
        for kind, label in _LOSS_KINDS.items():
            point = rpo[kind]
            verdict = "met" if point["achievable"] <= point["target"] else "NOT MET"
            lines.append(f"  {label:<26} target {point['target']:>5} min, achievable {point['achievable']:>6g} min "
                         f"({verdict}; {point['basis']})")
    rto = objectives.get("rtoMinutes")
    if rto:
        if rto["achievable"] is None:
            lines.append(f"RTO: target {rto['target']:g} min; single region, no failover")
        elif "regionSwitch" in objectives:
            lines += _switch_rto(rto, objectives["regionSwitch"], objectives["healthCheck"])
        else:
            verdict = "met" if rto["achievable"] <= rto["target"] else "NOT MET"
            check, terms = objectives["healthCheck"], objectives["rtoTermsSeconds"]
            lines.append(f"RTO: target {rto['target']:g} min, achievable {rto['achievable']:g} min to the first "
                         f"request ({verdict}); full capacity after {rto['fullCapacity']:g} min")
            lines.append(f"  first request: {_terms(terms['firstRequest'])}")
            lines.append(f"  full capacity: {_terms(terms['fullCapacity'])}")
            lines.append(f"  (detection: health checks every {check['intervalSeconds']} s x "
                         f"{check['failureThreshold']} failures; unhealthy once no more than 18% of Route53's checkers see it healthy)")
    copies = [f"{region} -> {details['backupCopiesTo']}" for region, details in regions.items()
              if details.get("backupCopiesTo")]
    if copies:
        lines.append(f"Backup copies: {', '.join(copies)}")
    return lines + ([""] if lines else [])


def _switch_rto(rto: dict[str, Any], switch: dict[str, Any], check: dict[str, Any]) -> list[str]:
    verdict = "met" if rto["achievable"] <= rto["target"] else "NOT MET"
    steps = switch["stepsSeconds"]
    first = next(iter(steps))
    lines = [f"RTO: target {rto['target']:g} min, achievable {rto['achievable']:.1f} min ({verdict}): the Region "
             f"switch plan's steps after its approval",
             f"  steps: {' | '.join(f'{k} {v} s' for k, v in switch['parallelSeconds'].items())} in parallel "
             f"({steps[first]} s) + traffic {steps['traffic']} s (health checks flip, then the DNS TTL) = "
             f"{sum(steps.values())} s",
             f"  before them: detection {switch['detectionSeconds']} s (health checks every "
             f"{check['intervalSeconds']} s x {check['failureThreshold']} failures), then "
             + (f"a person approves (up to {switch['approvalTimeoutMinutes']} min, not counted)"
                if switch["approvalTimeoutMinutes"] else "the plan runs")
             + (f"; automatically after {switch['automaticAfterMinutes']} min red"
                if switch["automaticAfterMinutes"] else "; never automatically")]
    return lines


_LOSS_KINDS = {"regionLoss": "a region lost:", "corruption": "bad data written:",
               "regionLossAndCorruption": "both at once:"}
_TERM_NAMES = {"detection": "detection", "dnsTtl": "DNS TTL", "standbyServes": "standby pods serve",
               "hpaReaction": "HPA reacts", "nodeLaunch": "node launch", "imagePull": "image pull",
               "startupBudget": "startup probe budget"}


def _terms(terms: dict[str, int]) -> str:
    return " + ".join(f"{_TERM_NAMES[name]} {seconds} s" for name, seconds in terms.items()) + \
        f" = {sum(terms.values())} s"


def _policy_results(findings: Sequence[Finding]) -> list[str]:
    mandatory = sum(1 for f in findings if f.mandatory)
    lines = [f"Policies: {mandatory} mandatory violation(s), {len(findings) - mandatory} advisory finding(s)"]
    lines += [f"  {finding.line()}" for finding in findings]
    return lines + [""]


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
    """`plan.json`, `diagram.mmd` and `manifests/` under `out`; returns what it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "plan.json", out / "diagram.mmd"]
    written[0].write_text(document(plan, findings) + "\n")
    written[1].write_text(mermaid(plan))
    for relative, text in manifests(plan).items():
        path = out / "manifests" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
