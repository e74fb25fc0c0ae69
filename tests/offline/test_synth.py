"""mercur.offline.synth: the one mock engine. It records what the program declares and supplies only what the
cloud would compute."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from mercur import config
from mercur.offline import synth
from conftest import ROOT


def test_declaring_a_resource_outside_the_engine_fails_loudly() -> None:
    with pytest.raises(RuntimeError, match="only be declared through mercur.offline.synth"):
        aws.s3.Bucket("stray")
    assert not synth.recording()


def test_the_mock_cloud_knows_every_region_config_accepts() -> None:
    for region, facts in config.REGIONS.items():
        zones = synth.ACCOUNT_ZONES[region]
        assert len(zones) >= facts.usable_az_count and all(name.startswith(region) for name, _ in zones)
        assert [zone_id for _, zone_id in zones] == list(facts.zone_ids)


def test_unanswered_provider_functions_fail_instead_of_returning_nothing() -> None:
    with pytest.raises(NotImplementedError, match="aws:s3/getBucket:getBucket"):
        synth._invoke("aws:s3/getBucket:getBucket", {}, "us-west-1")


def test_mocked_kubeconfig_lacks_the_region_as_pulumi_eks_does() -> None:
    args = json.loads(synth._kubeconfig("c", "https://x"))["users"][0]["user"]["exec"]["args"]
    assert "--region" not in args


def test_runs_are_deterministic(plan_of) -> None:
    again = synth.synthesize("dev", ROOT)
    assert again.document() == plan_of("dev").document()


def test_every_registration_is_recorded_with_its_parent(stack_plan) -> None:
    urns = {r.urn for r in stack_plan.resources}
    assert len(urns) == len(stack_plan.resources)
    [top] = [r for r in stack_plan.resources if r.parent is None]
    assert top.type == "mercur:platform:Platform"
    assert all(r.parent in urns for r in stack_plan.resources if r is not top)


def test_resource_references_are_recorded_as_urns(plan_of) -> None:
    plan = plan_of("dev")
    [eks] = plan.of_type("eks:index:Cluster")
    assert plan.by_urn(eks.inputs["serviceRole"]).type == "aws:iam/role:Role"


def test_secrets_are_masked_in_the_document(plan_of) -> None:
    [provider] = plan_of("dev").of_type("pulumi:providers:kubernetes")
    assert provider.document()["inputs"]["kubeconfig"] == "[secret]"
    assert provider.inputs["kubeconfig"].startswith("{")  # the record keeps it for tests


def test_config_errors_raised_inside_the_program_surface_as_config_errors(project) -> None:
    values = config.stack_file_values(project.path, "dev")
    values["mercur:network"] = json.dumps({"natGateways": "sometimes"})
    with pytest.raises(config.ConfigError, match="mercur:network.natGateways"):
        synth.run_program("dev", values, project.path)
    assert not synth.recording()


def test_runtime_state_does_not_leak_between_runs(plan_of) -> None:
    dev, prod = plan_of("dev"), plan_of("prod")
    assert {r.urn.split("::")[0] for r in dev.resources} == {"urn:pulumi:dev"}
    assert {r.urn.split("::")[0] for r in prod.resources} == {"urn:pulumi:prod"}
    assert pulumi.runtime.get_config("mercur:regions") is None


def test_an_auto_name_past_the_providers_limit_fails_as_the_provider_would(project, monkeypatch) -> None:
    """pulumi-aws bounds ELB auto-names to 32 characters and refuses a longer one at preview: the mock engine
    refuses it too (it once cut the name and hid the failure)."""
    from mercur.components import entry
    monkeypatch.setattr(entry, "elb_name", lambda label, app: None)  # every ELB resource auto-named
    with pytest.raises(Exception, match=r"plus 7 random chars is longer than maximum length 32"):
        synth.run_program("dev", config.stack_file_values(project.path, "dev"), project.path)
