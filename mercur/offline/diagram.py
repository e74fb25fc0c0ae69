"""A Mermaid deployment diagram drawn from the recorded resources (not from config): what will exist."""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict

from .synth import Plan

_WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")


def _id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def mermaid(plan: Plan) -> str:
    """AWS -> region -> VPC -> AZs (subnets) and EKS cluster -> apps; DNS failover and backup copy edges."""
    order = list(plan.outputs.get("failoverOrder", []))
    lines = ["flowchart TB", f'  subgraph aws["AWS: {plan.project}/{plan.stack}"]']
    for position, region in enumerate(order):
        lines += _region(plan, region, "active" if position == 0 else "passive")
    lines.append("  end")
    lines += _failover_edges(plan) + _backup_edges(plan)
    return "\n".join(lines) + "\n"


def _region(plan: Plan, region: str, role: str) -> list[str]:
    here = [r for r in plan.resources if r.region == region]
    lines = [f'    subgraph {_id("region", region)}["{region} ({role})"]']
    for vpc in (r for r in here if r.type == "aws:ec2/vpc:Vpc"):
        lines.append(f'      subgraph {_id("vpc", region)}["VPC {vpc.inputs["cidrBlock"]}"]')
        subnets = defaultdict(list)
        for subnet in (r for r in here if r.type == "aws:ec2/subnet:Subnet"):
            subnets[subnet.inputs["availabilityZoneId"]].append(subnet)
        for zone in sorted(subnets):
            lines.append(f'        subgraph {_id("az", zone)}["{zone}"]')
            for subnet in sorted(subnets[zone], key=lambda s: ipaddress.ip_network(s.inputs["cidrBlock"])):
                tier = subnet.inputs.get("tags", {}).get("mercur:tier", "subnet")
                lines.append(f'          {_id("subnet", subnet.name)}["{tier} {subnet.inputs["cidrBlock"]}"]')
            lines.append("        end")
        for cluster in (r for r in here if r.type == "eks:index:Cluster"):
            eks = _id("eks", region)
            lines.append(f'        {eks}{{{{"EKS {cluster.inputs["name"]} ({cluster.inputs["version"]})"}}}}')
            for workload in (r for r in here if r.type in _WORKLOADS):
                app = workload.inputs["metadata"]["name"]
                replicas = workload.inputs["spec"].get("replicas")
                lines.append(f'        {_id("app", region, app)}(["{app} x{replicas}"])')
                lines.append(f"        {eks} --> {_id('app', region, app)}")
        lines.append("      end")
    for vault in (r for r in here if r.type == "aws:backup/vault:Vault"):
        lines.append(f'      {_id("vault", region)}[("backup vault {vault.inputs["name"]}")]')
    lines.append("    end")
    return lines


def _failover_edges(plan: Plan) -> list[str]:
    records = plan.of_type("aws:route53/record:Record")
    if not records:
        return []
    endpoints = {}  # load balancer hostname -> (region, app)
    for region, details in plan.outputs.get("regions", {}).items():
        for app, hostname in (details.get("endpoints") or {}).items():
            endpoints[hostname] = (region, app)
    record_name = plan.outputs.get("recordName", records[0].inputs["name"])
    lines = [f'  {_id("dns", record_name)}(("{record_name}"))']
    def order(record) -> tuple:
        policies = record.inputs.get("failoverRoutingPolicies") or [{"type": ""}]
        return len(record.inputs["name"]), record.inputs["name"], policies[0]["type"] != "PRIMARY"

    for record in sorted(records, key=order):
        policies = record.inputs.get("failoverRoutingPolicies") or [{"type": "ALIAS"}]
        label = policies[0]["type"]
        source = _id("dns", record.inputs["name"])
        if record.inputs["name"] != record_name:
            lines.append(f'  {source}(("{record.inputs["name"]}"))')
        for alias in record.inputs.get("aliases") or []:
            if alias["name"] in endpoints:
                target = _id("app", *endpoints[alias["name"]])
            else:
                target = _id("dns", alias["name"])
            arrow = "==>" if label == "PRIMARY" else "-.->"
            lines.append(f"  {source} {arrow}|{label}| {target}")
    return lines


def _backup_edges(plan: Plan) -> list[str]:
    lines, seen = [], set()
    for backup_plan in plan.of_type("aws:backup/plan:Plan"):
        for rule in backup_plan.inputs.get("rules", []):
            for copy in rule.get("copyActions") or []:
                target = copy["destinationVaultArn"].split(":")[3]
                edge = (backup_plan.region, target)
                if edge not in seen:
                    seen.add(edge)
                    lines.append(f"  {_id('vault', backup_plan.region)} -.->|backup copy| {_id('vault', target)}")
    return lines
