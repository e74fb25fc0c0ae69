"""mercur.dr.drill against moto: measured failover and restore, and everything put back, whatever happens."""

from __future__ import annotations

import itertools
from typing import Any

from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import ANY, Stubber

from mercur.config import load_file
from mercur.dr import drill, outputs
from conftest import ROOT


def _pace(lines: list[str] | None = None, step: float = 10.0, timeout: float = 600) -> drill.Pace:
    """A clock that advances `step` seconds per reading, no real sleeping."""
    ticks = itertools.count(0, step)
    return drill.Pace(timeout_seconds=timeout, poll_seconds=0, clock=lambda: next(ticks), sleep=lambda _: None,
                      progress=(lines if lines is not None else []).append)


def route53_verdict(after_polls: int = 3):
    """What Route53 computes from a health check's configuration: inverted reads as down, after a few probe
    rounds (each poll of the drill is one round here)."""
    polls: dict[str, int] = {}

    def healthy(route53: Any, check_id: str) -> bool:
        inverted = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"].get("Inverted")
        polls[check_id] = polls.get(check_id, 0) + 1 if inverted else 0
        return not (inverted and polls[check_id] >= after_polls)
    return healthy


def _setup(world, stack: str = "staging"):
    seeded = world(stack)
    return seeded, load_file(ROOT, stack), outputs.parse(seeded.outputs, "outputs.json")


def test_failover_drill_measures_detection_and_restores(world) -> None:
    seeded, stack, parsed = _setup(world)
    before = seeded.health_check("us-west-1")
    lines: list[str] = []
    result = drill.failover_drill(stack, parsed, seeded.client, _pace(lines), route53_verdict(after_polls=3))
    assert result["verdict"] == "pass" and result["restored"] is True
    assert result["detectionSeconds"] == 30  # Route53's third probe round; the clock moves 10 s a reading
    assert result["achievableRtoSeconds"] == 30 + 60 <= result["rtoTargetSeconds"]  # detection + DNS TTL
    assert seeded.health_check("us-west-1") == {**before, "HealthCheckVersion": seeded.health_check(
        "us-west-1")["HealthCheckVersion"]}
    assert any("waiting" in line for line in lines) and any("restored health check" in line for line in lines)


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("failure", [Boom("AWS went away"), KeyboardInterrupt()])
def test_an_error_mid_drill_leaves_the_health_check_exactly_as_it_was(world, failure) -> None:
    seeded, stack, parsed = _setup(world, "prod")
    before = seeded.health_check("us-west-1")["HealthCheckConfig"]
    readings = iter([True])  # the first reading works, the second fails

    def healthy(route53: Any, check_id: str) -> bool:
        assert route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]["Inverted"]
        if next(readings, None) is None:
            raise failure
        return True

    result: dict = {}
    with pytest.raises(type(failure)):
        drill.failover_drill(stack, parsed, seeded.client, _pace(), healthy, result=result)
    assert seeded.health_check("us-west-1")["HealthCheckConfig"] == before
    assert result["restored"] is True and result["verdict"] == "aborted" and type(failure).__name__ in result["error"]


def test_a_timeout_restores_and_says_so(world) -> None:
    seeded, stack, parsed = _setup(world)
    result: dict = {}
    with pytest.raises(drill.DrillTimeout):
        drill.failover_drill(stack, parsed, seeded.client, _pace(timeout=30), lambda *_: True, result=result)
    assert result["restored"] is True and seeded.health_check("us-west-1")["HealthCheckConfig"]["Inverted"] is False


def test_a_health_check_found_inverted_is_put_back_inverted(world) -> None:
    seeded, stack, parsed = _setup(world)
    check_id = seeded.outputs["regions"]["us-west-1"]["healthCheckId"]
    seeded.client("route53", "us-east-1").update_health_check(HealthCheckId=check_id, Inverted=True)
    with pytest.raises(drill.DrillTimeout):
        drill.failover_drill(stack, parsed, seeded.client, _pace(timeout=20), lambda *_: True)
    assert seeded.health_check("us-west-1")["HealthCheckConfig"]["Inverted"] is True


def test_single_region_stacks_have_nothing_to_fail_over_to(world) -> None:
    seeded, stack, parsed = _setup(world, "dev")
    with pytest.raises(ValueError, match="nothing to fail over to"):
        drill.failover_drill(stack, parsed, seeded.client, _pace())


def _drill_volumes(seeded, region: str) -> list[dict]:
    return seeded.client("ec2", region).describe_volumes(Filters=[{"Name": "tag-key", "Values": [drill.DRILL_TAG]}])[
        "Volumes"]


SNAPSHOT = {"DBClusterSnapshotIdentifier": "awsbackup-copy-mercur-prod-usw1", "DBClusterIdentifier": "mercur-prod-usw1",
            "DBClusterSnapshotArn": "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:awsbackup-copy-mercur-prod-usw1",
            "SnapshotCreateTime": datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)}


def _stubbed_rds(parsed, *, interrupted: bool = False):
    """The passive region's RDS as botocore's Stubber: moto cannot restore a copied cluster snapshot, and the
    Stubber validates every request against RDS's own service model."""
    client = boto3.client("rds", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    target = parsed.regions["us-east-1"]
    stubber.add_response("describe_db_cluster_snapshots", {"DBClusterSnapshots": [
        SNAPSHOT, {**SNAPSHOT, "DBClusterSnapshotIdentifier": "older", "SnapshotCreateTime": datetime(2026, 11, 26,
                                                                                                   tzinfo=timezone.utc)}]},
        {"DBClusterIdentifier": "mercur-prod-usw1"})
    stubber.add_response("restore_db_cluster_from_snapshot", {"DBCluster": {"DBClusterIdentifier": "drill-x"}}, {
        "DBClusterIdentifier": ANY, "SnapshotIdentifier": SNAPSHOT["DBClusterSnapshotIdentifier"],
        "Engine": "aurora-postgresql", "EngineVersion": target.database_engine_version,
        "DBSubnetGroupName": target.database_subnet_group, "VpcSecurityGroupIds": [target.database_security_group],
        "Tags": [{"Key": drill.DRILL_TAG, "Value": ANY}]})
    if not interrupted:
        stubber.add_response("describe_db_clusters", {"DBClusters": [{"DBClusterIdentifier": "drill-x",
                                                                      "Status": "available"}]},
                             {"DBClusterIdentifier": "drill-x"})
    stubber.add_response("delete_db_cluster", {"DBCluster": {"DBClusterIdentifier": "drill-x"}},
                         {"DBClusterIdentifier": "drill-x", "SkipFinalSnapshot": True})
    stubber.activate()
    return client, stubber


def _with(seeded, rds):
    return lambda service, region: rds if (service, region) == ("rds", "us-east-1") else seeded.client(service, region)


def test_restore_drill_restores_the_newest_database_copy_in_the_passive_region_and_cleans_up(world) -> None:
    seeded, stack, parsed = _setup(world, "prod")
    rds, stubber = _stubbed_rds(parsed)
    result = drill.restore_drill(stack, parsed, _with(seeded, rds), _pace())
    assert result["verdict"] == "pass" and result["cleanedUp"] is True
    assert result["region"] == "us-east-1" and result["source"] == "us-west-1"
    assert result["snapshotId"] == SNAPSHOT["DBClusterSnapshotArn"] and result["clusterId"] == "drill-x"
    stubber.assert_no_pending_responses()  # restored from the newest copy, then deleted


def test_restore_drill_restores_a_volume_when_the_stack_has_volumes(project, world) -> None:
    project.edit("prod", lambda v: (v["mercur:apps"][1].update(volume={"sizeGb": 20, "mountPath": "/data"}),
                                    v.pop("mercur:database"), v["mercur:apps"][1].pop("database"),
                                    v["mercur:dr"]["rpoMinutes"].update(regionLoss=240, corruption=240)))
    seeded = world("prod", project=project)
    stack, parsed = load_file(project.path, "prod"), outputs.parse(seeded.outputs, "outputs.json")
    result = drill.restore_drill(stack, parsed, seeded.client, _pace())
    assert result["verdict"] == "pass" and result["cleanedUp"] is True
    snapshot = seeded.client("ec2", "us-east-1").describe_snapshots(SnapshotIds=[result["snapshotId"]])["Snapshots"][0]
    assert {t["Key"]: t["Value"] for t in snapshot["Tags"]}["mercur:source-region"] == "us-west-1"
    assert result["restoreSeconds"] == 10 and not _drill_volumes(seeded, "us-east-1")  # available at first look


def test_restore_drill_deletes_its_cluster_when_interrupted(world) -> None:
    seeded, stack, parsed = _setup(world, "prod")
    rds, stubber = _stubbed_rds(parsed, interrupted=True)
    pace = _pace()
    waited = pace.wait

    def interrupted_wait(what, done):
        raise KeyboardInterrupt

    pace.wait = interrupted_wait  # type: ignore[method-assign]
    result: dict = {}
    with pytest.raises(KeyboardInterrupt):
        drill.restore_drill(stack, parsed, _with(seeded, rds), pace, result=result)
    assert waited and result["cleanedUp"] is True and result["verdict"] == "aborted"
    stubber.assert_no_pending_responses()  # the delete was called
