"""mercur.components.observability: every cluster runs the CloudWatch observability add-on with enhanced
Container Insights and container logs, its permissions through Pod Identity only, into log groups that exist
first with the stack file's retention and the region's key."""

from __future__ import annotations

import json

import pytest

from mercur.components import observability


def _addons(plan):
    return [a for a in plan.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "amazon-cloudwatch-observability"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_cluster_has_the_addon_with_pod_identity(plan_of, stack) -> None:
    plan = plan_of(stack)
    clusters = {c.region: c for c in plan.of_type("eks:index:Cluster")}
    addons = {a.region: a for a in _addons(plan)}
    assert set(addons) == set(clusters)
    roles = {r.inputs.get("name"): r for r in plan.of_type("aws:iam/role:Role")}
    for region, addon in addons.items():
        assert addon.inputs["clusterName"] == clusters[region].inputs["name"]
        [association] = addon.inputs["podIdentityAssociations"]
        assert association["serviceAccount"] == "cloudwatch-agent"
        role_name = association["roleArn"].rsplit("/", 1)[1]
        trust = json.loads(roles[role_name].inputs["assumeRolePolicy"])["Statement"][0]
        assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        assert trust["Condition"]["StringEquals"] == {"aws:RequestTag/kubernetes-namespace": "amazon-cloudwatch",
                                                      "aws:RequestTag/kubernetes-service-account": "cloudwatch-agent"}
        attached = [a for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                    if a.inputs["role"] == role_name]
        assert [a.inputs["policyArn"] for a in attached] == ["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]
        assert attached[0].urn in addon.depends_on  # it starts with its permission in place


def test_enhanced_container_insights_and_logs_without_application_signals(plan_of) -> None:
    for addon in _addons(plan_of("prod")):
        configuration = json.loads(addon.inputs["configurationValues"])
        collected = configuration["agent"]["config"]["logs"]["metrics_collected"]
        assert collected == {"kubernetes": {"enhanced_container_insights": True}}
        assert configuration["containerLogs"] == {"enabled": True}
        assert "traces" not in configuration["agent"]["config"]  # Application Signals' traces: off


@pytest.mark.parametrize("stack,days", [("dev", 30), ("prod", 365)])
def test_the_log_groups_exist_first_with_retention_and_the_regions_key(plan_of, stack, days) -> None:
    plan = plan_of(stack)
    for addon in _addons(plan):
        cluster = addon.inputs["clusterName"]
        groups = {g.inputs["name"]: g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
                  if g.inputs["name"].startswith(f"/aws/containerinsights/{cluster}/")}
        assert set(groups) == {f"/aws/containerinsights/{cluster}/{kind}"
                               for kind in ("application", "dataplane", "host", "performance")}
        for group in groups.values():
            assert group.inputs["retentionInDays"] == days and group.region == addon.region
            assert group.inputs["kmsKeyId"].startswith(f"arn:aws:kms:{addon.region}:")
            assert group.urn in addon.depends_on
    assert observability.LOG_GROUPS == ("application", "dataplane", "host", "performance")
