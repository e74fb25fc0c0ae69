"""mercur.dr.check against moto, seeded from each stack's offline plan."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from moto.eks.models import eks_backends

from mercur.config import load_file
from mercur.dr import check, outputs
from conftest import ROOT, STACKS


def _run(world, stack: str = "prod", now: datetime | None = None, seeded=None):
    seeded = seeded or world(stack)
    return check.check(load_file(ROOT, stack), outputs.parse(seeded.outputs, "outputs.json"), seeded.client,
                       now=now), seeded


def _failing(report) -> list[tuple[str, str, str]]:
    return [(i.region, i.check, i.detail) for i in report.items if not i.ok]


@pytest.mark.parametrize("stack", STACKS)
def test_a_correctly_seeded_stack_is_ready(world, stack) -> None:
    report, _ = _run(world, stack)
    assert report.ready, report.table()
    checks = {i.check for i in report.items}
    assert {"cluster", "database snapshots"} <= checks and "snapshots" not in checks  # no app has a volume
    assert ("global database" in checks) == (stack != "dev")
    assert ("vault lock" in checks) == (stack == "prod")
    assert ("dns records" in checks) and ("health check" in checks)


def test_stale_database_snapshots_are_named(world) -> None:
    later = datetime.now(timezone.utc) + timedelta(minutes=241)
    report, _ = _run(world, now=later)
    failing = _failing(report)
    assert {(region, item) for region, item, _ in failing} == {("us-west-1", "database snapshots"),
                                                               ("us-east-1", "database snapshots")}
    assert all("min old (RPO 240)" in detail for *_, detail in failing) and len(failing) == 4  # own + copies


def test_a_missing_database_copy_is_named(world) -> None:
    seeded = world("prod")
    rds = seeded.client("rds", "us-east-1")
    rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="awsbackup-copy-mercur-prod-usw1")
    report, _ = _run(world, seeded=seeded)
    assert _failing(report) == [("us-west-1", "database snapshots", "copies in us-east-1: none found")]


def test_a_region_missing_from_the_global_database_is_named(world) -> None:
    seeded = world("prod")
    seeded.client("rds", "us-east-1").remove_from_global_cluster(
        GlobalClusterIdentifier="mercur-prod", DbClusterIdentifier="arn:aws:rds:us-east-1:123456789012:cluster:mercur-prod-use1")
    report, _ = _run(world, seeded=seeded)
    [(region, item, detail)] = _failing(report)
    assert (region, item) == ("global", "global database") and "us-east-1 not a member" in detail


def test_volume_snapshots_are_checked_when_an_app_has_volumes(project, world) -> None:
    project.edit("prod", lambda v: v["mercur:apps"][1].update(volume={"sizeGb": 20, "mountPath": "/data"}))
    seeded = world("prod", project=project)
    ec2 = seeded.client("ec2", "us-east-1")
    for snapshot in ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:mercur:source-region", "Values": ["us-west-1"]}])["Snapshots"]:
        ec2.delete_snapshot(SnapshotId=snapshot["SnapshotId"])
    report = check.check(load_file(project.path, "prod"), outputs.parse(seeded.outputs, "outputs.json"),
                         seeded.client)
    assert _failing(report) == [("us-west-1", "snapshots", "copies in us-east-1: none found")]


def test_an_unhealthy_health_check_is_named(world) -> None:
    seeded = world("prod")
    cloudwatch = seeded.client("cloudwatch", "us-east-1")
    cloudwatch.set_alarm_state(AlarmName="mercur-prod-us-east-1-unhealthy", StateValue="ALARM",
                               StateReason="drill")
    report, _ = _run(world, seeded=seeded)
    [(region, item, detail)] = _failing(report)
    assert (region, item) == ("us-east-1", "health check") and "IN ALARM" in detail


def test_a_health_check_left_inverted_is_named(world) -> None:
    seeded = world("staging")
    check_id = seeded.outputs["regions"]["us-west-1"]["healthCheckId"]
    seeded.client("route53", "us-east-1").update_health_check(HealthCheckId=check_id, Inverted=True)
    report, _ = _run(world, "staging", seeded=seeded)
    [(region, item, detail)] = _failing(report)
    assert (region, item) == ("us-west-1", "health check") and "inverted" in detail


def test_a_record_pointing_elsewhere_is_named(world) -> None:
    seeded = world("prod")
    route53 = seeded.client("route53", "us-east-1")
    primary = next(r for r in route53.list_resource_record_sets(HostedZoneId=seeded.zone_id)["ResourceRecordSets"]
                   if r.get("Failover") == "PRIMARY")
    primary["AliasTarget"]["DNSName"] = "elsewhere.elb.us-west-1.amazonaws.com"
    route53.change_resource_record_sets(HostedZoneId=seeded.zone_id, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": primary}]})
    report, _ = _run(world, seeded=seeded)
    [(region, item, detail)] = _failing(report)
    assert (region, item) == ("global", "dns records")
    assert detail.startswith("PRIMARY -> elsewhere.elb.us-west-1.amazonaws.com, expected us-west-1's")


def test_a_cluster_that_is_not_active_is_named(world) -> None:
    seeded = world("prod")
    eks_backends["123456789012"]["us-east-1"].clusters["mercur-prod-use1"].status = "UPDATING"
    report, _ = _run(world, seeded=seeded)
    [(region, item, detail)] = _failing(report)
    assert (region, item) == ("us-east-1", "cluster") and "UPDATING" in detail


def test_a_missing_vault_lock_is_named_in_prod(world) -> None:
    seeded = world("prod")
    seeded.client("backup", "us-west-1").delete_backup_vault_lock_configuration(BackupVaultName="mercur-prod-usw1")
    report, _ = _run(world, seeded=seeded)
    assert _failing(report) == [("us-west-1", "vault lock", "mercur-prod-usw1 NOT locked")]


def test_aws_errors_fail_their_item_only(world) -> None:
    seeded = world("prod")
    seeded.client("eks", "us-east-1").delete_cluster(name="mercur-prod-use1")
    report, _ = _run(world, seeded=seeded)
    failing = _failing(report)
    assert [(r, i) for r, i, _ in failing] == [("us-east-1", "cluster")]
    assert failing[0][2].startswith("AWS error:")


def test_json_report_says_ready(world) -> None:
    report, _ = _run(world, "dev")
    assert '"ready": true' in check.dumps(report)
