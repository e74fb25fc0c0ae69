"""mercur.offline.compliance: the rules evaluated over a recorded plan, as the engine would hand resources over."""

from __future__ import annotations

import pytest

from mercur.offline import compliance


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_pass_every_mandatory_rule(plan_of, stack) -> None:
    assert compliance.evaluate(plan_of(stack), stack) == []


def test_dev_findings_are_advisory(plan_of) -> None:
    findings = compliance.evaluate(plan_of("dev"), "dev")
    assert findings and not compliance.blocking(findings)
    assert {f.rule for f in findings} == {"eks-endpoint-private", "log-group-retention",
                                          "route53-https-deep-health-check", "k8s-image-pinned"}
    assert all(f.urn.startswith("urn:pulumi:dev::mercur::") for f in findings)


def test_a_public_prod_api_is_a_mandatory_violation_naming_the_rule(project) -> None:
    project.edit("prod", lambda v: v["mercur:cluster"].update(endpointPublicAccess=True,
                                                              publicAccessCidrs=["198.51.100.0/24"]))
    findings = compliance.blocking(compliance.evaluate(project.synthesize("prod", shared=True), "prod"))
    assert {f.rule for f in findings} == {"eks-endpoint-private"} and len(findings) == 2
    assert findings[0].line().startswith("[mandatory] eks-endpoint-private: urn:pulumi:prod::mercur::")


def test_stack_rules_see_providers_and_parents(plan_of) -> None:
    from mercur.offline.compliance import _policy_resources, _providers
    plan = plan_of("prod")
    resources = _policy_resources(plan.resources, _providers(plan))
    vault = next(r for r in resources if r.resource_type == "aws:backup/vault:Vault")
    assert vault.provider.props["region"] in ("us-west-1", "us-east-1")
    assert vault.parent.resource_type == "mercur:backup:BackupVault"
