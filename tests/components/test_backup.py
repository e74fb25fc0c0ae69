"""mercur.components.backup: vaults, schedules from the RPO, copies to the peer region, restore testing."""

from __future__ import annotations

import json

import pytest

from mercur.components import backup
from mercur import config
from mercur.offline.synth import Plan
from conftest import ROOT


def _one(plan: Plan, type_: str, region: str, suffix: str = ""):
    found = [r for r in plan.of_type(type_) if r.region == region and r.name.endswith(suffix)]
    assert len(found) == 1, (type_, region, suffix, [r.name for r in found])
    return found[0]


ROLES = ["arn:aws:iam::123456789012:role/b", "arn:aws:iam::123456789012:role/d"]


def test_backup_key_policy_lets_eventbridge_alert_and_the_roles_encrypt() -> None:
    admin, service, use, grant = json.loads(backup.backup_key_policy("aws", "123456789012", ROLES))["Statement"]
    assert admin["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert service["Principal"] == {"Service": "events.amazonaws.com"}
    assert service["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert use["Principal"] == grant["Principal"] == {"AWS": ROLES}
    assert set(use["Action"]) == set(backup.KEY_USE) and "kms:*" not in use["Action"] + service["Action"]
    assert grant["Action"] == "kms:CreateGrant"
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_every_backup_key_lets_the_stacks_backup_and_dlm_roles_write_copies(plan_of) -> None:
    plan = plan_of("prod")
    [roles] = plan.of_type("mercur:backup:BackupRoles")
    role_arns = sorted(f"arn:aws:iam::{plan.account}:role/{r.id}" for r in plan.children(roles)
                       if r.type == "aws:iam/role:Role")
    keys = [k for k in plan.of_type("aws:kms/key:Key") if k.name.endswith("-backup-key")]
    assert len(keys) == 2 and len(role_arns) == 2
    for key in keys:
        statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
        assert sorted(statements["BackupRolesUseTheKey"]["Principal"]["AWS"]) == role_arns


def test_each_vault_is_encrypted_with_its_own_regions_key(stack_plan) -> None:
    for vault in stack_plan.of_type("aws:backup/vault:Vault"):
        key = stack_plan.by_id(vault.inputs["kmsKeyArn"].rsplit("/", 1)[1])
        assert key.name.endswith("-backup-key") and key.region == vault.region
        assert key.inputs["enableKeyRotation"] is True


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_plans_copy_to_the_other_regions_vault(plan_of, stack) -> None:
    plan = plan_of(stack)
    vaults = {v.region: v for v in plan.of_type("aws:backup/vault:Vault")}
    for region, peer in (("us-west-1", "us-east-1"), ("us-east-1", "us-west-1")):
        [rule] = _one(plan, "aws:backup/plan:Plan", region, "-snapshots").inputs["rules"]
        [copy] = rule["copyActions"]
        assert copy["destinationVaultArn"] == f"arn:aws:backup:{peer}:{plan.account}:backup-vault:{vaults[peer].id}"
        assert rule["targetVaultName"] == vaults[region].inputs["name"]


def test_schedule_and_retention_come_from_the_objectives(plan_of) -> None:
    plan, dr = plan_of("prod"), config.load_file(ROOT, "prod").dr
    [rule] = _one(plan, "aws:backup/plan:Plan", "us-west-1", "-snapshots").inputs["rules"]
    assert rule["schedule"] == "cron(0 0/2 * * ? *)" == dr.schedule.cron
    assert rule["lifecycle"]["deleteAfter"] == 35 and rule["copyActions"][0]["lifecycle"]["deleteAfter"] == 35
    assert rule["startWindow"] == 60 and rule["completionWindow"] >= rule["startWindow"] + 60


def test_continuous_backup_covers_only_the_types_that_support_it(plan_of) -> None:
    plan = plan_of("staging")
    [rule] = _one(plan, "aws:backup/plan:Plan", "us-east-1", "-continuous").inputs["rules"]
    assert rule["enableContinuousBackup"] is True and rule["lifecycle"]["deleteAfter"] <= 35
    selection = _one(plan, "aws:backup/selection:Selection", "us-east-1", "use1-continuous")
    assert selection.inputs["resources"] == list(backup.CONTINUOUS_RESOURCES)


def test_each_regions_aurora_cluster_is_selected_by_name_for_snapshots_and_point_in_time(stack_plan) -> None:
    plans = {p.id: p for p in stack_plan.of_type("aws:backup/plan:Plan")}
    for cluster in stack_plan.of_type("aws:rds/cluster:Cluster"):
        arn = f"arn:aws:rds:{cluster.region}:{stack_plan.account}:cluster:{cluster.inputs['clusterIdentifier']}"
        selections = [s for s in stack_plan.of_type("aws:backup/selection:Selection") if s.inputs.get("resources") == [arn]]
        assert {s.region for s in selections} == {cluster.region}
        continuous = sorted(bool(plans[s.inputs["planId"]].inputs["rules"][0].get("enableContinuousBackup"))
                            for s in selections)
        assert continuous == [False, True]  # snapshots on the RPO's schedule (copied) and point-in-time


def test_selection_picks_the_tagged_resources_with_the_backup_role(stack_plan) -> None:
    for selection in [s for s in stack_plan.of_type("aws:backup/selection:Selection") if s.name.endswith("-tagged")]:
        assert selection.inputs["selectionTags"] == [{"type": "STRINGEQUALS", "key": "mercur:backup", "value": "true"}]
        role = stack_plan.by_id(selection.inputs["iamRoleArn"].rsplit("/", 1)[1])
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        assert trust["Principal"] == {"Service": "backup.amazonaws.com"}
        assert stack_plan.by_urn(role.parent).type == "mercur:backup:BackupRoles"
        attached = {a.inputs["policyArn"].rsplit("/", 1)[1] for a in stack_plan.of_type(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment") if a.inputs["role"] == role.id}
        assert attached == set(backup.BACKUP_POLICIES)


def test_no_volumes_no_dlm(stack_plan) -> None:
    assert not stack_plan.of_type("aws:dlm/lifecyclePolicy:LifecyclePolicy")  # no app of any stack has one


def test_dlm_copies_encrypted_with_the_peer_regions_key(project) -> None:
    project.edit("prod", lambda v: v["mercur:apps"][1].update(volume={"sizeGb": 20, "mountPath": "/data"}))
    plan = project.synthesize("prod", shared=True)
    for region, peer in (("us-west-1", "us-east-1"), ("us-east-1", "us-west-1")):
        details = _one(plan, "aws:dlm/lifecyclePolicy:LifecyclePolicy", region).inputs["policyDetails"]
        [schedule] = details["schedules"]
        assert details["targetTags"] == {"mercur:backup": "true"} and details["resourceTypes"] == ["VOLUME"]
        assert schedule["createRule"] == {"interval": 2, "intervalUnit": "HOURS", "times": "00:00"}
        [copy] = schedule["crossRegionCopyRules"]
        key = plan.by_id(copy["cmkArn"].rsplit("/", 1)[1])
        assert copy["target"] == peer and copy["encrypted"] is True
        assert key.region == peer and key.name.endswith("-backup-key")


def test_dev_keeps_its_backups_in_its_only_region(plan_of) -> None:
    plan = plan_of("dev")
    assert all("copyActions" not in rule for p in plan.of_type("aws:backup/plan:Plan") for rule in p.inputs["rules"])
    assert plan.outputs["regions"]["us-west-1"]["backupCopiesTo"] is None


@pytest.mark.parametrize("stack, locked", [("dev", False), ("staging", False), ("prod", True)])
def test_vault_lock_only_in_prod(plan_of, stack, locked) -> None:
    locks = plan_of(stack).of_type("aws:backup/vaultLockConfiguration:VaultLockConfiguration")
    assert len(locks) == (2 if locked else 0)
    for lock in locks:
        assert lock.inputs["changeableForDays"] >= 3 and lock.protect
        assert lock.inputs["minRetentionDays"] <= 35 <= lock.inputs["maxRetentionDays"]


@pytest.mark.parametrize("stack, tested", [("dev", False), ("staging", True), ("prod", True)])
def test_restore_testing_outside_dev(plan_of, stack, tested) -> None:
    plan = plan_of(stack)
    plans = plan.of_type("aws:backup/restoreTestingPlan:RestoreTestingPlan")
    assert len(plans) == (2 if tested else 0)
    for testing in plans:
        vault = _one(plan, "aws:backup/vault:Vault", testing.region)
        assert testing.inputs["recoveryPointSelection"]["includeVaults"] == [
            f"arn:aws:backup:{testing.region}:{plan.account}:backup-vault:{vault.id}"]
        assert testing.inputs["name"].replace("_", "").isalnum()
        selection = _one(plan, "aws:backup/restoreTestingSelection:RestoreTestingSelection", testing.region)
        assert selection.inputs["restoreTestingPlanName"] == testing.inputs["name"]
        [cluster] = [c for c in plan.of_type("aws:rds/cluster:Cluster") if c.region == testing.region]
        assert selection.inputs["protectedResourceType"] == "Aurora"
        assert selection.inputs["protectedResourceArns"] == [
            f"arn:aws:rds:{testing.region}:{plan.account}:cluster:{cluster.id}"]


def test_failed_jobs_alert_through_an_encrypted_topic(plan_of) -> None:
    plan = plan_of("prod")
    for notifications in plan.of_type("aws:backup/vaultNotifications:VaultNotifications"):
        assert notifications.inputs["backupVaultEvents"] == list(backup.ALERT_EVENTS)
        topic = next(t for t in plan.of_type("aws:sns/topic:Topic")
                     if notifications.inputs["snsTopicArn"].endswith(f":{t.inputs['name']}"))
        assert topic.region == notifications.region and topic.inputs["kmsMasterKeyId"].startswith(f"arn:aws:kms:{topic.region}:")


def test_prod_protects_vaults_and_keys(plan_of) -> None:
    plan = plan_of("prod")
    for resource in plan.of_type("aws:backup/vault:Vault") + [
            k for k in plan.of_type("aws:kms/key:Key") if k.name.endswith("-backup-key")]:
        assert resource.protect and resource.retain_on_delete


def test_objectives_are_exported_for_the_plan_summary_and_per_region(plan_of) -> None:
    outputs = plan_of("staging").outputs
    rpo = outputs["objectives"]["rpoMinutes"]
    assert {kind: (p["target"], p["achievable"]) for kind, p in rpo.items()} == {
        "regionLoss": (5, 5), "corruption": (15, 5), "regionLossAndCorruption": (720, 600)}  # the first: enforced
    assert {r: d["achievableRpoMinutes"] for r, d in outputs["regions"].items()} == {"us-west-1": 600,
                                                                                     "us-east-1": 600}
    assert all(d["backupVaultArn"].startswith(f"arn:aws:backup:{r}:") for r, d in outputs["regions"].items())


def test_the_vault_lock_admits_every_rule_that_writes_into_the_vault(project) -> None:
    project.edit("prod", lambda v: v["mercur:dr"].update(retentionDays=90, copyRetentionDays=60))
    plan = project.synthesize("prod")
    written = set()
    for rules in (p.inputs["rules"] for p in plan.of_type("aws:backup/plan:Plan")):
        for rule in rules:
            written.add(rule["lifecycle"]["deleteAfter"])
            written.update(c["lifecycle"]["deleteAfter"] for c in rule.get("copyActions") or [])
    assert min(written) == 35  # continuous backups cap at 35 days
    for lock in plan.of_type("aws:backup/vaultLockConfiguration:VaultLockConfiguration"):
        assert lock.inputs["minRetentionDays"] <= min(written) and lock.inputs["maxRetentionDays"] >= max(written)


def test_failed_jobs_reach_the_on_call_through_eventbridge(plan_of) -> None:
    plan = plan_of("prod")
    assert not plan.of_type("aws:backup/vaultNotifications:VaultNotifications")  # events AWS no longer sends
    rules = [r for r in plan.of_type("aws:cloudwatch/eventRule:EventRule") if "eventPattern" in r.inputs]
    assert len(rules) == 2
    for rule in rules:
        pattern = json.loads(rule.inputs["eventPattern"])
        assert pattern["source"] == ["aws.backup"]
        # Backup and copy events carry `state`, restore events `status` (AWS Backup's EventBridge examples).
        assert {p["detail-type"][0]: p["detail"] for p in pattern["$or"]} == {
            "Backup Job State Change": {"state": ["FAILED", "ABORTED", "EXPIRED"]},
            "Copy Job State Change": {"state": ["FAILED"]},
            "Restore Job State Change": {"status": ["FAILED"]}}
        [target] = [t for t in plan.of_type("aws:cloudwatch/eventTarget:EventTarget") if t.parent == rule.parent]
        assert target.inputs["rule"] == rule.inputs["name"]


def test_every_topic_has_the_subscriptions_the_stack_file_names(plan_of) -> None:
    plan = plan_of("prod")
    alerts = config.load_file(ROOT, "prod").alerts
    for topic in plan.of_type("aws:sns/topic:Topic"):
        subscriptions = [s for s in plan.of_type("aws:sns/topicSubscription:TopicSubscription")
                         if s.parent == topic.parent]
        assert {(s.inputs["protocol"], s.inputs["endpoint"]) for s in subscriptions} == {
            ("email", alerts.email), ("https", alerts.https_endpoint)}
