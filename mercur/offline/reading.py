"""What the recorded plan says about DNS routes and app replicas, read one way for the summary and the diagram."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from .synth import Plan, Resource

WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")


@dataclass(frozen=True)
class Route:
    """One alias of the stack's record tree: `path` is the policies from the top record down (`SECONDARY`,
    `PRIMARY` through a nested failover set); `region` and `app` are set where it reaches a load balancer,
    otherwise `target` names the nested set it hands over to."""
    path: tuple[str, ...]
    target: str
    region: str | None = None
    app: str | None = None


def routes(plan: Plan) -> list[Route]:
    """The record tree from `recordName` down, PRIMARY before SECONDARY at every level, depth first."""
    records = plan.of_type("aws:route53/record:Record")
    if not records:
        return []
    serving = {hostname: (region, app) for region, details in plan.outputs.get("regions", {}).items()
               for app, hostname in (details.get("endpoints") or {}).items()}

    def policy(record: Resource) -> str:
        return (record.inputs.get("failoverRoutingPolicies") or [{"type": "ALIAS"}])[0]["type"]

    def follow(name: str, path: tuple[str, ...]) -> Iterator[Route]:
        for record in sorted((r for r in records if r.inputs["name"] == name), key=lambda r: policy(r) != "PRIMARY"):
            for alias in record.inputs.get("aliases") or []:
                if alias["name"] in serving:
                    yield Route((*path, policy(record)), alias["name"], *serving[alias["name"]])
                else:
                    yield Route((*path, policy(record)), alias["name"])
                    yield from follow(alias["name"], (*path, policy(record)))

    return list(follow(plan.outputs.get("recordName", records[0].inputs["name"]), ()))


def replicas(resources: list[Resource]) -> list[tuple[str, str, bool]]:
    """(app, its replica range `min–max` from its HPA or its fixed count, whether it keeps volumes), by name."""
    ranges = {r.inputs["spec"]["scaleTargetRef"]["name"]: r.inputs["spec"]
              for r in resources if r.type == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"}
    apps = []
    for workload in (r for r in resources if r.type in WORKLOADS):
        name = workload.inputs["metadata"]["name"]
        spec: dict[str, Any] | None = ranges.get(name)
        count = f"{spec['minReplicas']}–{spec['maxReplicas']}" if spec else str(workload.inputs["spec"]["replicas"])
        apps.append((name, count, workload.type.endswith("StatefulSet")))
    return sorted(apps)
