"""A Mermaid deployment diagram drawn from the recorded resources (not from config): what will exist.

Laid out to read at page width: Route53 (the record, its health checks and the Region switch plan) on top,
then one column per region in failover order (active first), each from its load balancer down through the
cluster and the AZs to its database and backup vault; the global database's replication and the backup
copies run between the columns. An AZ is one node (its subnets and NAT gateway as lines), which keeps a
two-region stack within about 2:1.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from typing import Any

from . import reading
from .synth import Plan, Resource

_STYLES = ["  classDef active fill:#e7f5e9,stroke:#2e7d32,stroke-width:2px,color:#1b3d1f",
           "  classDef passive fill:#fff4e0,stroke:#b26a00,stroke-width:2px,color:#4a2c00",
           "  classDef route53 fill:#eef2fb,stroke:#3a5ba0,color:#1a2a4a",
           "  classDef legend fill:#ffffff,stroke:#9e9e9e,color:#424242"]


def _id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def _label(*lines: str) -> str:
    return "<br/>".join(line.replace('"', "'") for line in lines if line)


def mermaid(plan: Plan) -> str:
    order = list(plan.outputs.get("failoverOrder", []))
    roles = {region: "active" if position == 0 else "passive" for position, region in enumerate(order)}
    title = f"{plan.project}/{plan.stack} · " + ", ".join(f"{region} {role}" for region, role in roles.items())
    lines = ["---", f'title: "{title}"', "---", "flowchart TB"]
    routes = reading.routes(plan)
    lines += _route53(plan, order)
    for region in order:
        lines += _region(plan, region, roles[region], routes)
    lines += _traffic_edges(routes) + _database_edges(plan, order) + _backup_edges(plan, order)
    lines += _legend(len(order) > 1) + _STYLES
    lines += [f"  class {_id('region', region)} {role}" for region, role in roles.items()]
    return "\n".join(lines) + "\n"


def _route53(plan: Plan, order: list[str]) -> list[str]:
    records = plan.of_type("aws:route53/record:Record")
    if not records:
        return []
    name = plan.outputs.get("recordName", records[0].inputs["name"])
    failover = any(r.inputs.get("failoverRoutingPolicies") for r in records)
    lines = ['  subgraph route53["Route53"]',
             f'    dns(("{_label(name, "failover record" if failover else "alias record")}"))']
    for switch in plan.of_type("aws:arcregionswitch/plan:Plan"):
        steps = " → ".join(s["name"] for s in switch.inputs["workflows"][0]["steps"])
        text = _label(f"Region switch plan {switch.inputs['name']}", steps,
                      f"RTO target {switch.inputs['recoveryTimeObjectiveMinutes']} min")
        lines.append(f'    switch[["{text}"]]')
        lines.append("    switch -.->|flips| dns")
    lines += ["  end", "  class route53 route53"]
    return lines


def _region(plan: Plan, region: str, role: str, routes: list[reading.Route]) -> list[str]:
    here = [r for r in plan.resources if r.region == region]
    details: dict[str, Any] = plan.outputs.get("regions", {}).get(region, {})
    lines = [f'  subgraph {_id("region", region)}["{region} · {role}"]', "    direction TB"]
    entry = next((route.app for route in routes if route.region == region), None)  # what DNS sends here
    check = _health_check(plan, region)
    if check:
        text = _label(f"endpoint check {region}",
                      f"{check['type']} {check['resourcePath']} every {check['requestInterval']} s", "→ alarm")
        lines.append(f'    {_id("check", region)}{{{{"{text}"}}}}')
    if entry:
        lines.append(f'    {_id("lb", region)}[/"{_label("load balancer (ALB)", entry)}"/]')
    for cluster in (r for r in here if r.type == "eks:index:Cluster"):
        apps = [f"{name} ×{count}" for name, count, _ in reading.replicas(here)]
        pools = [p for p in here if p.type == "kubernetes:karpenter.sh/v1:NodePool"]
        limits = pools[0].inputs["spec"]["limits"] if pools else None
        text = _label(f"EKS {cluster.inputs['name']} {cluster.inputs['version']}", *apps,
                      f"NodePool up to {limits['cpu']} vCPU" if limits else "")
        lines.append(f'    {_id("eks", region)}{{{{"{text}"}}}}')
    for vpc in (r for r in here if r.type == "aws:ec2/vpc:Vpc"):
        lines.append(f'    subgraph {_id("vpc", region)}["VPC {vpc.inputs["cidrBlock"]}"]')
        lines.append("      direction TB")
        lines += [f"      {line}" for line in _zones(plan, here, details)]
        lines.append("    end")
    database = details.get("database")
    if database:
        role_text = "writer" if database["role"] == "home" else "reader (replica)"
        text = _label(f"Aurora {database['clusterId']}", role_text)
        lines.append(f'    {_id("db", region)}[("{text}")]')
    for vault in (r for r in here if r.type == "aws:backup/vault:Vault"):
        lines.append(f'    {_id("vault", region)}[("{_label("backup vault", vault.inputs["name"])}")]')
    lines.append("  end")
    if check and entry:
        lines.append(f"  {_id('check', region)} -.-|checks| {_id('lb', region)}")
    if entry and any(r.type == "eks:index:Cluster" for r in here):
        lines.append(f"  {_id('lb', region)} --> {_id('eks', region)}")
    if database and any(r.type == "eks:index:Cluster" for r in here):
        # Invisible: keeps the database a row below the cluster (the apps use the global writer endpoint, not
        # this cluster's, so no edge is drawn), which keeps the picture within 2:1.
        lines.append(f"  {_id('eks', region)} ~~~ {_id('db', region)}")
    return lines


def _zones(plan: Plan, here: list[Resource], details: dict[str, Any]) -> list[str]:
    """One node per AZ, in zone-id order: its subnets (by address) and its NAT gateway."""
    names = dict(zip(details.get("availabilityZoneIds", []), details.get("availabilityZones", [])))
    subnets: dict[str, list[Resource]] = defaultdict(list)
    for subnet in (r for r in here if r.type == "aws:ec2/subnet:Subnet"):
        subnets[subnet.inputs["availabilityZoneId"]].append(subnet)
    nat_zones = {plan.by_id(nat.inputs["subnetId"]).inputs["availabilityZoneId"]
                 for nat in here if nat.type == "aws:ec2/natGateway:NatGateway"}
    lines = []
    for zone in sorted(subnets):
        rows = [f"{s.inputs.get('tags', {}).get('mercur:tier', 'subnet')} {s.inputs['cidrBlock']}"
                for s in sorted(subnets[zone], key=lambda s: ipaddress.ip_network(s.inputs["cidrBlock"]))]
        rows += ["NAT gateway"] if zone in nat_zones else []
        text = _label(f"{zone} · {names.get(zone, zone)}", *rows)
        lines.append(f'{_id("az", zone)}["{text}"]')
    return lines


def _health_check(plan: Plan, region: str) -> dict[str, Any] | None:
    """The region's endpoint health check (the one with a target; the switch's own checks have none)."""
    return next((r.inputs for r in plan.of_type("aws:route53/healthCheck:HealthCheck")
                 if r.inputs.get("fqdn") and r.inputs["tags"].get("mercur:region") == region), None)


def _traffic_edges(routes: list[reading.Route]) -> list[str]:
    """DNS to each region's load balancer, labelled by the policy path (`SECONDARY·PRIMARY` through a nested
    failover set); only the top record's PRIMARY (or plain alias) is drawn as serving traffic."""
    lines = []
    for route in (r for r in routes if r.region):
        label = "·".join(route.path)
        arrow = "==>" if label in ("PRIMARY", "ALIAS") else "-.->"
        lines.append(f"  dns {arrow}|{label}| {_id('lb', route.region)}")
    return lines


def _database_edges(plan: Plan, order: list[str]) -> list[str]:
    """The global database below the regions, joined to the writer and to each replica. (Drawn straight from
    writer to replica, the edge would push the passive column down a rank.)"""
    regions = plan.outputs.get("regions", {})
    members = [r for r in order if regions.get(r, {}).get("database")]
    writer = next((r for r in members if regions[r]["database"]["role"] == "home"), None)
    database = plan.outputs.get("database") or {}
    if not writer or len(members) < 2 or not database.get("globalClusterId"):
        return []
    replicas = [r for r in members if r != writer]
    text = _label(f"Aurora global database {database['globalClusterId']}",
                  f"storage replication {writer} → {', '.join(replicas)}",
                  "apps in every region use its writer endpoint")
    return ([f'  gdb[("{text}")]', f"  {_id('db', writer)} ===|writer| gdb"]
            + [f"  {_id('db', replica)} ---|replica| gdb" for replica in replicas])


def _backup_edges(plan: Plan, order: list[str]) -> list[str]:
    """Copies between two vaults are one two-way edge; a one-way copy is a one-way edge."""
    copies = {(region, target) for region, details in plan.outputs.get("regions", {}).items()
              if (target := details.get("backupCopiesTo"))}
    lines = []
    for source, target in sorted(copies, key=lambda pair: (order.index(pair[0]) if pair[0] in order else 99)):
        if (target, source) in copies:
            # One two-way edge, written from the later region: written the other way, Mermaid's layout (dagre)
            # draws the passive column left of the active one.
            if order.index(source) > order.index(target):
                lines.append(f"  {_id('vault', source)} <-.->|backup copies| {_id('vault', target)}")
        else:
            lines.append(f"  {_id('vault', source)} -.->|backup copies| {_id('vault', target)}")
    return lines


def _legend(failover: bool) -> list[str]:
    rows = ["green: active region" + (" · amber: passive" if failover else ""),
            "thick: serving traffic, the database writer",
            "dotted: " + ("standby traffic, health checks, backup copies" if failover else "health checks")]
    rows += ["flips: the switch plan sets the health checks the records answer by"] if failover else []
    return ['  subgraph legend["Legend"]', f'    key["{_label(*rows)}"]', "  end", "  class key legend"]
