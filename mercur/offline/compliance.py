"""Evaluate the policy rules against a recorded plan, exactly as the engine hands resources to CrossGuard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from pulumi_policy import (PolicyCustomTimeouts, PolicyProviderResource, PolicyResource,
                           PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)

from .policies import all_policies
from .synth import Plan, Resource

# Rules are mandatory where it matters; dev reports the same findings as advice.
ADVISORY_ENVIRONMENTS = ("dev",)


@dataclass(frozen=True)
class Finding:
    rule: str
    urn: str
    message: str
    mandatory: bool

    def line(self) -> str:
        level = "mandatory" if self.mandatory else "advisory"
        return f"[{level}] {self.rule}: {self.urn}: {self.message}"


def _options(resource: Resource) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=resource.protect, ignore_changes=list(resource.ignore_changes),
                                 delete_before_replace=resource.delete_before_replace,
                                 aliases=list(resource.aliases), additional_secret_outputs=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), parent=resource.parent)


def _providers(plan: Plan) -> dict[str, PolicyProviderResource | None]:
    """Each resource's provider as CrossGuard passes it (explicit, else the component's `aws` provider)."""
    by_urn = {r.urn: r for r in plan.resources if r.type.startswith("pulumi:providers:")}
    policy_providers = {urn: PolicyProviderResource(p.type, p.inputs, p.urn, p.name) for urn, p in by_urn.items()}
    return {r.urn: policy_providers.get(r.provider or r.providers.get("aws") or "") for r in plan.resources}


def evaluate(plan: Plan, environment: str) -> list[Finding]:
    """Every rule over every recorded resource (custom and component, as CrossGuard sees them)."""
    mandatory = environment not in ADVISORY_ENVIRONMENTS
    findings: list[Finding] = []
    providers = _providers(plan)
    resources = [r for r in plan.resources if not r.type.startswith("pulumi:providers:")]

    def reporter(rule: str, default_urn: str):
        def report(message: str, urn: str | None = None) -> None:
            findings.append(Finding(rule, urn or default_urn, message, mandatory))
        return report

    policies = all_policies()
    arguments = [ResourceValidationArgs(r.type, r.inputs, r.urn, r.name, _options(r), providers[r.urn])
                 for r in resources]
    for policy in (p for p in policies if isinstance(p, ResourceValidationPolicy)):
        for args in arguments:
            policy.validate(args, reporter(policy.name, args.urn))
    stack_resources = _policy_resources(resources, providers)
    for policy in (p for p in policies if isinstance(p, StackValidationPolicy)):
        policy.validate(StackValidationArgs(stack_resources), reporter(policy.name, f"urn:pulumi:{plan.stack}"))
    return findings


def _policy_resources(resources: Iterable[Resource], providers: dict) -> list[PolicyResource]:
    built: dict[str, PolicyResource] = {}
    for resource in resources:  # sorted by URN: parents (shorter type chains) may come later; link afterwards
        built[resource.urn] = PolicyResource(resource.type, resource.inputs, resource.urn, resource.name,
                                             _options(resource), providers[resource.urn], None, [], {})
    for resource in resources:
        built[resource.urn].parent = built.get(resource.parent or "")
    return list(built.values())


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.mandatory]

