"""Backups that survive the loss of a region.

Regions copy to each other in a ring (A -> B -> A): a region's plan needs its peer's vault and key, and
every region's key must let the peers' service roles write copies. Hence three components:

- `BackupRoles` (once per stack, before the regions; IAM is global): the AWS Backup and DLM service roles.
- `BackupVault` (inside each Region): the CMK whose policy lets those roles use it, the vault (locked in
  prod), failure alerts (EventBridge rules on job state, to a topic the on-call subscribes).
- `BackupSchedule` (declared by the Platform once all vaults exist, parented to its Region): the AWS Backup
  plans and selections copying to the peer's vault, the DLM snapshot policy copying under the peer's key,
  and restore testing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..config import AlertsConfig, DrConfig
from .failover import subscribe
from .keys import PUBLISH_ENCRYPTED, from_account, key_policy
from ..config.objectives import CONTINUOUS_MAX_RETENTION_DAYS
from .tags import BACKUP_SELECTION, SNAPSHOT_TAG, SOURCE_REGION_TAG

# Job outcomes worth waking someone for, by EventBridge detail-type: (the detail field, its values). AWS
# Backup no longer emits the BACKUP_JOB_FAILED and RESTORE_JOB_FAILED vault notifications; state-change
# events carry every outcome, in the field its API uses: `state` for backup and copy jobs, `status` for
# restore jobs (AWS Backup Developer Guide, "Monitoring AWS Backup events using Amazon EventBridge").
FAILED_JOBS = {"Backup Job State Change": ("state", ("FAILED", "ABORTED", "EXPIRED")),
               "Copy Job State Change": ("state", ("FAILED",)),
               "Restore Job State Change": ("status", ("FAILED",))}
BACKUP_POLICIES = ("AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores")
DLM_POLICY = "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"
# Resource types AWS Backup can back up continuously (point-in-time restore inside the region).
CONTINUOUS_RESOURCES = ("arn:aws:rds:*:*:db:*", "arn:aws:rds:*:*:cluster:*", "arn:aws:s3:::*")
KEY_USE = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")
VAULT_LOCK_COOLING_OFF_DAYS = 3  # AWS minimum; the lock is immutable afterwards (compliance mode)
RESTORE_TEST_SCHEDULE = "cron(0 5 ? * SAT *)"  # weekly, Saturday 05:00 UTC


def vault_lock_bounds(dr: DrConfig) -> tuple[int, int]:
    """Retention every rule writing into a region's vault keeps: its own snapshot and continuous rules and the
    peer's copies of both. A lock outside these bounds would fail those jobs, so it spans exactly them."""
    continuous = min(dr.retention_days, CONTINUOUS_MAX_RETENTION_DAYS)
    kept = (dr.retention_days, continuous, dr.copy_retention_days, min(dr.copy_retention_days, continuous))
    return min(kept), max(kept)


def backup_key_policy(partition: str, account: str, role_arns: list[str]) -> str:
    """EventBridge delivers failed-job alerts through SNS with it; the stack's backup and DLM roles (this
    region's jobs and the peer's copies) encrypt with it, and may hand it only to AWS services."""
    policy = json.loads(key_policy(partition, account, sid="EventBridgePublishesEncryptedAlerts",
                                   service="events.amazonaws.com", actions=PUBLISH_ENCRYPTED,
                                   condition=from_account(account)))
    policy["Statement"] += [
        {"Sid": "BackupRolesUseTheKey", "Effect": "Allow", "Principal": {"AWS": role_arns},
         "Action": list(KEY_USE), "Resource": "*"},
        {"Sid": "BackupRolesGrantToAwsServicesOnly", "Effect": "Allow", "Principal": {"AWS": role_arns},
         "Action": "kms:CreateGrant", "Resource": "*",
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ]
    return json.dumps(policy)


def _service_role_trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def _alphanumeric(label: str) -> str:
    """Restore testing names allow only letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]", "_", label)


class BackupRoles(pulumi.ComponentResource):
    """The service roles every region's backup jobs and snapshot policies run as (IAM is global)."""

    def __init__(self, name: str, *, label: str, partition: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:backup:BackupRoles", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.backup = aws.iam.Role(f"{name}-backup", name=f"{label}-backup",
                                   assume_role_policy=_service_role_trust("backup.amazonaws.com"), opts=child)
        self.attachments = [aws.iam.RolePolicyAttachment(
            f"{name}-backup-{policy}", role=self.backup.name, opts=child,
            policy_arn=f"arn:{partition}:iam::aws:policy/service-role/{policy}") for policy in BACKUP_POLICIES]
        self.dlm = aws.iam.Role(f"{name}-dlm", name=f"{label}-dlm",
                                assume_role_policy=_service_role_trust("dlm.amazonaws.com"), opts=child)
        self.attachments.append(aws.iam.RolePolicyAttachment(f"{name}-dlm", role=self.dlm.name,
                                                             policy_arn=DLM_POLICY, opts=child))
        self.register_outputs({"backupRoleArn": self.backup.arn, "dlmRoleArn": self.dlm.arn})


class BackupVault(pulumi.ComponentResource):
    """One region's backup vault and everything that belongs to it alone."""

    def __init__(self, name: str, *, dr: DrConfig, label: str, partition: str, account: str, roles: BackupRoles,
                 alerts: AlertsConfig | None, protect: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:backup:BackupVault", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)
        self.label, self.roles = label, roles

        # CKV_AWS_166: vaults encrypt with a customer-managed key of their own region.
        self.key = aws.kms.Key(f"{name}-backup-key", description=f"{label}: backups and backup alerts",
                               enable_key_rotation=True, deletion_window_in_days=30, opts=stateful,
                               policy=pulumi.Output.all(roles.backup.arn, roles.dlm.arn).apply(
                                   lambda arns: backup_key_policy(partition, account, list(arns))))
        aws.kms.Alias(f"{name}-backup-key", name=f"alias/{label}-backup", target_key_id=self.key.key_id, opts=child)
        self.vault = aws.backup.Vault(f"{name}-vault", name=label, kms_key_arn=self.key.arn, force_destroy=not protect,
                                      opts=stateful)
        if protect:
            # Recovery points can be neither deleted early nor kept past the maximum, even by an admin.
            low, high = vault_lock_bounds(dr)
            aws.backup.VaultLockConfiguration(
                f"{name}-vault-lock", backup_vault_name=self.vault.name,
                changeable_for_days=VAULT_LOCK_COOLING_OFF_DAYS, min_retention_days=low, max_retention_days=high,
                opts=stateful)

        self.alerts = aws.sns.Topic(f"{name}-backup-alerts", name=f"{label}-backup-alerts",
                                    kms_master_key_id=self.key.arn, opts=child)
        aws.sns.TopicPolicy(f"{name}-backup-alerts", arn=self.alerts.arn, opts=child,
                            policy=self.alerts.arn.apply(lambda arn: json.dumps({
                                "Version": "2012-10-17", "Statement": [{
                                    "Sid": "EventBridgePublishes", "Effect": "Allow",
                                    "Principal": {"Service": "events.amazonaws.com"}, "Action": "sns:Publish",
                                    "Resource": arn, "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]})))
        subscribe(f"{name}-backup-alerts", self.alerts, alerts, child)
        failed = aws.cloudwatch.EventRule(
            f"{name}-failed-backup-jobs", name=f"{label}-failed-backup-jobs", opts=child,
            description=f"{label}: backup, copy and restore jobs that did not complete",
            event_pattern=json.dumps({"source": ["aws.backup"], "$or": [
                {"detail-type": [kind], "detail": {field: list(values)}}
                for kind, (field, values) in FAILED_JOBS.items()]}))
        aws.cloudwatch.EventTarget(f"{name}-failed-backup-jobs", rule=failed.name, arn=self.alerts.arn, opts=child)
        self.register_outputs({"vaultArn": self.vault.arn, "keyArn": self.key.arn})


@dataclass(frozen=True)
class Peer:
    """Where a region's copies go: the next region in failover order, its vault and its key."""

    region: str
    vault_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]


class BackupSchedule(pulumi.ComponentResource):
    """A region's schedules: AWS Backup plans + DLM policy, both sized from the RPO, copying to the peer."""

    def __init__(self, name: str, *, dr: DrConfig, region: str, vault: BackupVault, peer: Peer | None,
                 restore_testing: bool, database_arn: pulumi.Output[str] | None, volumes: bool,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mercur:backup:BackupSchedule", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        schedule = dr.schedule
        tag_key, tag_value = BACKUP_SELECTION
        roles = vault.roles

        def copies(retention_days: int) -> list[aws.backup.PlanRuleCopyActionArgs] | None:
            if not peer:
                return None
            return [aws.backup.PlanRuleCopyActionArgs(
                destination_vault_arn=peer.vault_arn,
                lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(delete_after=retention_days))]

        tags = {"mercur:rpo-minutes": str(dr.rpo.region_loss_and_corruption)}
        self.plan = aws.backup.Plan(f"{name}-snapshots", name=f"{vault.label}-snapshots", opts=child, rules=[
            aws.backup.PlanRuleArgs(
                rule_name=f"every-{schedule.interval_hours}h", target_vault_name=vault.vault.name,
                schedule=schedule.cron, start_window=schedule.start_window_minutes,
                completion_window=schedule.completion_window_minutes,
                lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=dr.retention_days),
                copy_actions=copies(dr.copy_retention_days), recovery_point_tags=tags)])
        aws.backup.Selection(f"{name}-tagged", name=f"{vault.label}-tagged", plan_id=self.plan.id,
                             iam_role_arn=roles.backup.arn, opts=child,
                             selection_tags=[aws.backup.SelectionSelectionTagArgs(
                                 type="STRINGEQUALS", key=tag_key, value=tag_value)])
        if database_arn is not None:
            # The region's Aurora cluster by name: snapshots on the schedule, copied to the peer.
            aws.backup.Selection(f"{name}-database", name=f"{vault.label}-database", plan_id=self.plan.id,
                                 iam_role_arn=roles.backup.arn, resources=[database_arn], opts=child)

        # Point-in-time restore inside the region for the types that support it; the snapshot plan above
        # still carries them across regions.
        continuous_days = min(dr.retention_days, CONTINUOUS_MAX_RETENTION_DAYS)
        continuous = aws.backup.Plan(f"{name}-continuous", name=f"{vault.label}-continuous", opts=child, rules=[
            aws.backup.PlanRuleArgs(
                rule_name="point-in-time", target_vault_name=vault.vault.name, schedule="cron(0 3 * * ? *)",
                enable_continuous_backup=True, start_window=schedule.start_window_minutes,
                completion_window=schedule.start_window_minutes + 60 * 3,
                lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=continuous_days),
                copy_actions=copies(min(dr.copy_retention_days, continuous_days)), recovery_point_tags=tags)])
        aws.backup.Selection(f"{name}-continuous", name=f"{vault.label}-continuous", plan_id=continuous.id,
                             iam_role_arn=roles.backup.arn, resources=list(CONTINUOUS_RESOURCES), opts=child,
                             conditions=[aws.backup.SelectionConditionArgs(string_equals=[
                                 aws.backup.SelectionConditionStringEqualArgs(
                                     key=f"aws:ResourceTag/{tag_key}", value=tag_value)])])
        if database_arn is not None:
            # Point-in-time restore of the database to any second of the retention: the corruption RPO.
            aws.backup.Selection(f"{name}-database-continuous", name=f"{vault.label}-database-continuous",
                                 plan_id=continuous.id, iam_role_arn=roles.backup.arn, resources=[database_arn],
                                 opts=child)
        if volumes:
            self._volume_snapshots(name, dr, region, vault, peer, child)
        if restore_testing:
            self._restore_testing(name, vault, database_arn, volumes, child)
        self.register_outputs({"planId": self.plan.id})

    def _volume_snapshots(self, name: str, dr: DrConfig, region: str, vault: BackupVault, peer: Peer | None,
                          child: pulumi.ResourceOptions) -> None:
        """Only when an app has volumes: DLM copies their snapshots with the tags the DR check reads."""
        schedule, (tag_key, tag_value), roles = dr.schedule, BACKUP_SELECTION, vault.roles

        # The EBS volumes Kubernetes creates, snapshotted on the same interval and copied encrypted.
        cross_region = [aws.dlm.LifecyclePolicyPolicyDetailsScheduleCrossRegionCopyRuleArgs(
            target=peer.region, encrypted=True, cmk_arn=peer.key_arn, copy_tags=True,
            retain_rule=aws.dlm.LifecyclePolicyPolicyDetailsScheduleCrossRegionCopyRuleRetainRuleArgs(
                interval=dr.copy_retention_days, interval_unit="DAYS"))] if peer else None
        self.snapshots = aws.dlm.LifecyclePolicy(
            f"{name}-ebs-snapshots", description=f"{vault.label}: tagged EBS volumes every {schedule.interval_hours}h",
            execution_role_arn=roles.dlm.arn, state="ENABLED", opts=child,
            policy_details=aws.dlm.LifecyclePolicyPolicyDetailsArgs(
                policy_type="EBS_SNAPSHOT_MANAGEMENT", resource_types=["VOLUME"],
                target_tags={tag_key: tag_value},
                schedules=[aws.dlm.LifecyclePolicyPolicyDetailsScheduleArgs(
                    name=f"every-{schedule.interval_hours}h", copy_tags=True,
                    # Copies keep their tags: the DR check tells a region's own snapshots from its peer's copies.
                    tags_to_add={SNAPSHOT_TAG: "dlm", SOURCE_REGION_TAG: region},
                    create_rule=aws.dlm.LifecyclePolicyPolicyDetailsScheduleCreateRuleArgs(
                        interval=schedule.interval_hours, interval_unit="HOURS", times="00:00"),
                    retain_rule=aws.dlm.LifecyclePolicyPolicyDetailsScheduleRetainRuleArgs(
                        interval=dr.retention_days, interval_unit="DAYS"),
                    cross_region_copy_rules=cross_region)]))

    def _restore_testing(self, name: str, vault: BackupVault, database_arn: pulumi.Output[str] | None,
                         volumes: bool, child: pulumi.ResourceOptions) -> None:
        """Backups are proven restorable, not only taken: AWS Backup restores the newest recovery point weekly,
        validates it and deletes what it restored — the database's, and the volumes' when there are any."""
        tag_key, tag_value = BACKUP_SELECTION
        roles = vault.roles
        testing = aws.backup.RestoreTestingPlan(
            f"{name}-restore-testing", name=_alphanumeric(f"{vault.label}_restore_testing"), opts=child,
            schedule_expression=RESTORE_TEST_SCHEDULE, start_window_hours=24,
            recovery_point_selection=aws.backup.RestoreTestingPlanRecoveryPointSelectionArgs(
                algorithm="LATEST_WITHIN_WINDOW", include_vaults=[vault.vault.arn],
                recovery_point_types=["SNAPSHOT"], selection_window_days=7))
        if database_arn is not None:
            aws.backup.RestoreTestingSelection(
                f"{name}-restore-testing-aurora", name=_alphanumeric(f"{vault.label}_aurora"),
                restore_testing_plan_name=testing.name, protected_resource_type="Aurora",
                iam_role_arn=roles.backup.arn, protected_resource_arns=[database_arn], validation_window_hours=4,
                opts=child)
        if volumes:
            aws.backup.RestoreTestingSelection(
                f"{name}-restore-testing-ebs", name=_alphanumeric(f"{vault.label}_ebs"),
                restore_testing_plan_name=testing.name, protected_resource_type="EBS",
                iam_role_arn=roles.backup.arn, protected_resource_arns=["*"], validation_window_hours=4,
                protected_resource_conditions=aws.backup.RestoreTestingSelectionProtectedResourceConditionsArgs(
                    string_equals=[aws.backup.RestoreTestingSelectionProtectedResourceConditionsStringEqualArgs(
                        key=f"aws:ResourceTag/{tag_key}", value=tag_value)]),
                opts=child)
