"""mercur.dr.check against moto, seeded from each stack's offline plan."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from moto.eks.models import eks_backends

from mercur.config import load_file
from mercur.dr import check, outputs
from conftest import ROOT, STACKS, third_region


def _run(world, stack: str = "prod", now: datetime | None = None, seeded=None):
    seeded = seeded or world(stack)
    config = load_file(ROOT, stack)
    return check.check(config, outputs.parse(seeded.outputs, "outputs.json", config), seeded.client, now=now), seeded


def _failing(report) -> list[tuple[str, str, str]]:
    return [(i.region, i.check, i.detail) for i in report.items if not i.ok]


@pytest.mark.parametrize("stack", STACKS)
def test_a_correctly_seeded_stack_is_ready(world, stack) -> None:
    report, _ = _run(world, stack)
    assert report.ready, report.table()
    checks = {i.check for i in report.items}
    assert {"outputs", "node pool", "cluster", "recovery points", "health check", "dns records", "alarms"} <= checks
    alarms = [i.detail for i in report.items if i.check == "alarms"]
    assert alarms and all(d.startswith("none of ") for d in alarms)
    assert "snapshots" not in checks  # no app has a volume
    assert ({"global database", "replication lag", "region switch"} <= checks) == (stack != "dev")
    assert ("vault lock" in checks) == (stack == "prod")


@pytest.mark.parametrize("change, gap", [
    (lambda o: o["regions"].pop("us-east-1"), "regions.us-east-1 is missing"),
    (lambda o: o["regions"]["us-east-1"].pop("healthCheckId"), "regions.us-east-1.healthCheckId is missing"),
])
def test_outputs_that_leave_something_out_are_not_ready(world, change, gap) -> None:
    seeded = world("prod")
    change(seeded.outputs)
    report, _ = _run(world, seeded=seeded)
    assert ("global", "outputs", gap) in _failing(report) and not report.ready
    assert report.table().splitlines()[-1].startswith("prod: NOT READY")


def test_node_pool_limits_deployed_below_the_peak_are_named(world) -> None:
    seeded = world("prod")
    seeded.outputs["objectives"]["capacity"]["limits"]["cpu"] = 16  # deployed before the apps grew
    report, _ = _run(world, seeded=seeded)
    [(region, item, detail)] = _failing(report)
    assert (region, item) == ("global", "node pool") and detail.startswith("deployed limits 16 vCPU, 256 GiB; the "
                                                                          "peak (20 vCPU")
    assert "needs 24 vCPU" in detail


def test_stale_recovery_points_are_named_against_the_rpo(world) -> None:
    seeded = world("prod")
    for points in seeded.recovery_points.values():
        for point in points:
            point["CreationDate"] = datetime.now(timezone.utc) - timedelta(minutes=241)
    report, _ = _run(world, seeded=seeded)
    failing = _failing(report)
    assert {(region, item) for region, item, _ in failing} == {("us-west-1", "recovery points"),
                                                               ("us-east-1", "recovery points")}
    assert all("min old (RPO 240)" in detail for *_, detail in failing) and len(failing) == 4  # own + copies


def test_a_missing_copy_in_the_peer_vault_is_named(world) -> None:
    seeded = world("prod")
    seeded.recovery_points["mercur-prod-use1"] = [p for p in seeded.recovery_points["mercur-prod-use1"]
                                                  if "usw1" not in p["ResourceArn"]]
    report, _ = _run(world, seeded=seeded)
    assert _failing(report) == [("us-west-1", "recovery points", "copy in us-east-1: none in mercur-prod-use1")]


def test_a_region_missing_from_the_global_database_is_named(world) -> None:
    seeded = world("prod")
    seeded.client("rds", "us-east-1").remove_from_global_cluster(
        GlobalClusterIdentifier="mercur-prod", DbClusterIdentifier="arn:aws:rds:us-east-1:123456789012:cluster:mercur-prod-use1")
    report, _ = _run(world, seeded=seeded)
    [(region, item, detail)] = _failing(report)
    assert (region, item) == ("global", "global database") and "us-east-1 not a member" in detail


def test_replication_lag_beyond_the_bound_is_named(world) -> None:
    seeded = world("prod")
    seeded.client("cloudwatch", "us-east-1").put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "AuroraGlobalDBReplicationLag", "Value": 45_000, "Timestamp": datetime.now(timezone.utc) - timedelta(seconds=30),
        "Dimensions": [{"Name": "DBClusterIdentifier", "Value": "mercur-prod-use1"}]}])
    report, _ = _run(world, seeded=seeded)
    assert _failing(report) == [("us-east-1", "replication lag", "mercur-prod-use1 trails the writer by 45 s "
                                                                 "(bound 30 s: the region-loss RPO)")]


def test_a_region_switch_plan_with_evaluation_warnings_is_not_ready(world) -> None:
    seeded = world("prod")
    seeded.switch["evaluation"] = {"evaluationState": "actionRequired", "region": "us-east-1", "warnings": [
        {"workflow": {"action": "activate", "name": "mercur-prod-us-east-1"}, "version": "1",
         "warningStatus": "active", "warningUpdatedTime": datetime.now(timezone.utc),
         "warningMessage": "the execution role cannot describe mercur-prod-use1"}]}
    seeded.switch["plan"]["workflows"] = seeded.switch["plan"]["workflows"][:1]
    report, _ = _run(world, seeded=seeded)
    [(region, item, detail)] = _failing(report)
    assert (region, item) == ("global", "region switch")
    assert "no workflow activates us-east-1" in detail and "cannot describe mercur-prod-use1" in detail


def test_health_is_route53s_published_verdict_not_its_checkers_last_observations(world) -> None:
    seeded = world("prod")
    check_id = seeded.outputs["regions"]["us-east-1"]["healthCheckId"]
    seeded.client("cloudwatch", "us-east-1").put_metric_data(Namespace="AWS/Route53", MetricData=[{
        "MetricName": "HealthCheckStatus", "Value": 0, "Timestamp": datetime.now(timezone.utc) - timedelta(seconds=30),
        "Dimensions": [{"Name": "HealthCheckId", "Value": check_id}]}])
    report, _ = _run(world, seeded=seeded)
    [(region, item, detail)] = _failing(report)
    assert (region, item) == ("us-east-1", "health check") and "UNHEALTHY per Route53" in detail


def test_three_regions_healthy_are_ready_down_the_whole_chain(project, world) -> None:
    project.edit("prod", third_region)
    seeded = world("prod", project=project)
    config = load_file(project.path, "prod")
    report = check.check(config, outputs.parse(seeded.outputs, "outputs.json", config), seeded.client)
    assert report.ready, report.table()
    records = [i.detail for i in report.items if i.check == "dns records"]
    assert records[0].startswith("PRIMARY ->") and "standby-1.shop.mercur.example" in records[1]
    assert any(d.startswith("SECONDARY of standby-1") and "us-east-2" in d for d in records)


def test_volume_snapshots_are_checked_when_an_app_has_volumes(project, world) -> None:
    project.edit("prod", lambda v: v["mercur:apps"][1].update(volume={"sizeGb": 20, "mountPath": "/data"}))
    seeded = world("prod", project=project)
    ec2 = seeded.client("ec2", "us-east-1")
    for snapshot in ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:mercur:source-region", "Values": ["us-west-1"]}])["Snapshots"]:
        ec2.delete_snapshot(SnapshotId=snapshot["SnapshotId"])
    config = load_file(project.path, "prod")
    report = check.check(config, outputs.parse(seeded.outputs, "outputs.json", config), seeded.client)
    assert _failing(report) == [("us-west-1", "snapshots", "copies in us-east-1: none found")]
    assert "recovery points" in {i.check for i in report.items}  # the database's still


def test_an_unhealthy_health_check_is_named(world) -> None:
    seeded = world("prod")
    cloudwatch = seeded.client("cloudwatch", "us-east-1")
    cloudwatch.set_alarm_state(AlarmName="mercur-prod-us-east-1-unhealthy", StateValue="ALARM",
                               StateReason="drill")
    report, _ = _run(world, seeded=seeded)
    [(region, item, detail)] = _failing(report)
    assert (region, item) == ("us-east-1", "health check") and "IN ALARM" in detail


def test_any_alarm_of_the_stack_in_alarm_is_named_in_its_region(world) -> None:
    """The passive region's database instance near its connection limit: a switch would land on it."""
    seeded = world("prod")
    seeded.client("cloudwatch", "us-east-1").set_alarm_state(
        AlarmName="mercur-prod-use1-0-connections", StateValue="ALARM", StateReason="drill")
    report, _ = _run(world, seeded=seeded)
    assert _failing(report) == [("us-east-1", "alarms", "IN ALARM: mercur-prod-use1-0-connections")]
    assert not report.ready


def test_a_region_whose_alarms_are_gone_is_not_ready(world) -> None:
    seeded = world("prod")
    cloudwatch = seeded.client("cloudwatch", "us-west-1")
    names = [a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix="mercur-prod-")["MetricAlarms"]]
    cloudwatch.delete_alarms(AlarmNames=names)
    report, _ = _run(world, seeded=seeded)
    assert ("us-west-1", "alarms", "NO alarm named mercur-prod-* here: `pulumi up` restores them") in _failing(report)


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


def test_after_the_permanent_move_the_records_are_checked_as_declared_home_region_first(project, world) -> None:
    """The runbook's permanent move swaps the stack file's regions; the records (and the Region switch plan)
    stay declared with the database's home region PRIMARY, and `dr check` holds them to that, not to the
    file's order."""
    project.edit("prod", lambda v: v["mercur:regions"].reverse())
    seeded = world("prod", project=project)
    config = load_file(project.path, "prod")
    parsed = outputs.parse(seeded.outputs, "outputs.json", config)
    assert parsed.failover_order[0] == "us-east-1" and parsed.record_order[0] == config.database.home_region
    report = check.check(config, parsed, seeded.client)
    records = [i for i in report.items if i.check == "dns records"]
    assert len(records) == 2 and all(i.ok for i in records), report.table()
    assert "us-west-1" in records[0].detail and records[0].detail.startswith("PRIMARY ->")


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
