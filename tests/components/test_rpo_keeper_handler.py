"""mercur.components.rpo_keeper_handler: the bound on the writer while a peer replicates, and nowhere else.

Every call goes through botocore's Stubber, which checks each request against RDS's and CloudWatch's service
models; the answers are what those services return for the situation named."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber

from mercur.components import rpo_keeper_handler as keeper

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)
WEST = "arn:aws:rds:us-west-1:333333333333:cluster:mercur-prod-usw1"
EAST = "arn:aws:rds:us-east-1:333333333333:cluster:mercur-prod-use1"
ENV = {"CLUSTER_ARN": WEST, "GLOBAL_CLUSTER": "mercur-prod", "PARAMETER_GROUP": "mercur-prod-usw1-aurora-postgresql16",
       "RPO_SECONDS": "60", "PEERS": json.dumps([{"region": "us-east-1", "cluster": "mercur-prod-use1"}])}
GROUP = ENV["PARAMETER_GROUP"]


def _client(service: str, region: str):
    return boto3.client(service, region_name=region, aws_access_key_id="x", aws_secret_access_key="x")


class World:
    """This region's RDS and CloudWatch and the peer region's CloudWatch, stubbed; `peer_down` makes the peer's
    region fail; `silent_before` is what the keeper's own metric holds of the runs before this one."""

    def __init__(self, *, writer: str, peer_reports: bool = True, peer_down: bool = False,
                 bound: str | None = None, silent_before: list[float] = (), peer_sync: str | None = "connected",
                 moving: bool = False) -> None:
        """`peer_sync`: the peer member's SynchronizationStatus (None: no longer a member); `moving`: a
        switchover under way (the global cluster's FailoverState)."""
        self.rds, self.cloudwatch = _client("rds", "us-west-1"), _client("cloudwatch", "us-east-1")
        self.own = _client("cloudwatch", "us-west-1")
        self.rds_stub, self.cloudwatch_stub, self.own_stub = Stubber(self.rds), Stubber(self.cloudwatch), \
            Stubber(self.own)
        self.peer_down, self.peer_asked = peer_down, False
        members = [{"DBClusterArn": WEST, "IsWriter": writer == WEST, "SynchronizationStatus": "connected"}]
        if peer_sync:
            members.append({"DBClusterArn": EAST, "IsWriter": writer == EAST, "SynchronizationStatus": peer_sync})
        self.rds_stub.add_response("describe_global_clusters", {"GlobalClusters": [{
            "GlobalClusterIdentifier": "mercur-prod", "GlobalClusterMembers": members,
            **({"FailoverState": {"Status": "failing-over", "FromDbClusterArn": WEST, "ToDbClusterArn": EAST,
                                  "IsDataLossAllowed": False}} if moving else {})}]},
            {"GlobalClusterIdentifier": "mercur-prod"})
        decides = writer == WEST or moving  # a secondary, not moving, is settled at once
        if decides and peer_sync != "connected" and not moving:  # no peer is asked, no silence noted
            self._parameters(bound)
            return
        if decides and peer_sync == "connected" and not peer_down:
            self.cloudwatch_stub.add_response("get_metric_data", {"MetricDataResults": [{
                "Id": "lag", "Label": keeper.METRIC, "StatusCode": "Complete",
                "Timestamps": [NOW] if peer_reports else [], "Values": [850.0] if peer_reports else []}]},
                {"MetricDataQueries": ANY, "StartTime": NOW - keeper.FRESH, "EndTime": NOW})
        if decides:  # the keeper notes its verdict, then reads the last runs' (newest first)
            silent = 0.0 if peer_reports and not peer_down and peer_sync == "connected" else 1.0
            self.own_stub.add_response("put_metric_data", {}, {"Namespace": keeper.OWN_NAMESPACE, "MetricData": [{
                "MetricName": keeper.SILENT_METRIC, "Timestamp": NOW, "Value": silent, "Unit": "Count",
                "Dimensions": [{"Name": "DBClusterIdentifier", "Value": "mercur-prod-usw1"}]}]})
            history = [silent, *silent_before]
            self.own_stub.add_response("get_metric_data", {"MetricDataResults": [{
                "Id": "silent", "StatusCode": "Complete", "Values": history,
                "Timestamps": [NOW - timedelta(minutes=n) for n in range(len(history))]}]},
                {"MetricDataQueries": ANY, "StartTime": NOW - timedelta(minutes=keeper.SILENT_MINUTES + 1),
                 "EndTime": NOW, "ScanBy": "TimestampDescending"})
        self._parameters(bound)

    def _parameters(self, bound: str | None) -> None:
        # Two pages of what this account set in the group: the keeper reads them all.
        self.rds_stub.add_response("describe_db_cluster_parameters", {
            "Parameters": [{"ParameterName": "rds.force_ssl", "ParameterValue": "1", "Source": "user"}],
            "Marker": "page-2"}, {"DBClusterParameterGroupName": GROUP, "Source": "user"})
        self.rds_stub.add_response("describe_db_cluster_parameters", {"Parameters": [
            {"ParameterName": keeper.PARAMETER, "ParameterValue": bound, "Source": "user"}] if bound else []},
            {"DBClusterParameterGroupName": GROUP, "Source": "user", "Marker": "page-2"})

    def expect_set(self, value: str) -> None:
        self.rds_stub.add_response("modify_db_cluster_parameter_group", {"DBClusterParameterGroupName": GROUP}, {
            "DBClusterParameterGroupName": GROUP,
            "Parameters": [{"ParameterName": keeper.PARAMETER, "ParameterValue": value, "ApplyMethod": "immediate"}]})

    def expect_unset(self) -> None:
        self.rds_stub.add_response("reset_db_cluster_parameter_group", {"DBClusterParameterGroupName": GROUP}, {
            "DBClusterParameterGroupName": GROUP, "ResetAllParameters": False,
            "Parameters": [{"ParameterName": keeper.PARAMETER, "ApplyMethod": "immediate"}]})

    def cloudwatch_in(self, region: str):
        assert region == "us-east-1"  # the peer's own region, where its lag is published
        self.peer_asked = True
        if self.peer_down:
            raise EndpointConnectionError(endpoint_url="https://monitoring.us-east-1.amazonaws.com")
        return self.cloudwatch

    def keep(self) -> dict:
        with self.rds_stub, self.cloudwatch_stub, self.own_stub:
            result = keeper.keep(self.rds, self.cloudwatch_in, self.own, ENV, NOW)
            self.rds_stub.assert_no_pending_responses()
            self.cloudwatch_stub.assert_no_pending_responses()
            self.own_stub.assert_no_pending_responses()
        return result


def test_the_writer_with_a_replicating_peer_gets_the_bound() -> None:
    world = World(writer=WEST)
    world.expect_set("60")
    assert world.keep() == {"cluster": WEST, "bounded": True, "why": "the writer, a peer replicating", "was": None,
                            "change": "set rds.global_db_rpo=60"}


def test_a_bound_already_in_place_is_left_as_it_is() -> None:
    assert World(writer=WEST, bound="60").keep()["change"] is None


def test_a_changed_target_moves_the_bound() -> None:
    world = World(writer=WEST, bound="300")
    world.expect_set("60")
    assert world.keep()["change"] == "set rds.global_db_rpo=60"


@pytest.mark.parametrize("situation", [{"peer_reports": False}, {"peer_down": True}],
                         ids=["the peer reports no lag", "the peer's region does not answer"])
def test_a_writer_whose_peer_stays_silent_loses_the_bound_so_its_commits_go_on(situation) -> None:
    """A passive region gone for good: kept, the bound would hold every commit of the region still serving."""
    world = World(writer=WEST, bound="60", silent_before=[1.0] * (keeper.SILENT_MINUTES - 1), **situation)
    world.expect_unset()
    result = world.keep()
    assert result["bounded"] is False and result["change"] == "unset rds.global_db_rpo (was 60)"
    assert world.peer_asked


@pytest.mark.parametrize("before", [[], [0.0, 1.0], [1.0, 0.0, 1.0]], ids=["first", "after a good run", "gapped"])
def test_a_passing_silence_leaves_the_bound_in_place(before) -> None:
    """A network fault of a minute or two: releasing the bound then would let commits run unreplicated."""
    world = World(writer=WEST, bound="60", peer_down=True, silent_before=before)
    result = world.keep()
    assert result["bounded"] is None and result["change"] is None


def test_a_secondary_never_keeps_the_bound_and_never_asks_its_peers() -> None:
    """A region back from an outage as a secondary still has the bound it had as the writer."""
    world = World(writer=EAST, bound="60")
    world.expect_unset()
    assert world.keep()["change"] == "unset rds.global_db_rpo (was 60)"
    assert not world.peer_asked


def test_a_secondary_without_the_bound_changes_nothing() -> None:
    assert World(writer=EAST).keep() == {"cluster": WEST, "bounded": False, "why": "a secondary", "was": None,
                                         "change": None}


def test_the_handler_logs_one_line_and_returns_it(monkeypatch, capsys) -> None:
    world = World(writer=EAST)
    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: world.rds if service == "rds" else world.own)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(keeper, "datetime", type("Clock", (), {"now": staticmethod(lambda tz: NOW)}))
    with world.rds_stub:
        result = keeper.handler({}, None)
    assert json.loads(capsys.readouterr().out) == result and result["bounded"] is False


def test_a_switchover_under_way_changes_nothing_while_the_peer_replicates() -> None:
    """Mid-switch the writer flag moves; a decision then could bound the old writer or free the new one."""
    world = World(writer=WEST, bound="60", moving=True)
    assert world.keep() == {"cluster": WEST, "bounded": None, "was": "60", "change": None,
                            "why": "a switchover or failover in progress (failing-over): left as it is"}


def test_a_switchover_stuck_with_its_peer_silent_lets_commits_go_on() -> None:
    """A switchover that cannot finish because the peer's region is gone must not hold the writer's commits."""
    world = World(writer=WEST, bound="60", moving=True, peer_down=True,
                  silent_before=[1.0] * (keeper.SILENT_MINUTES - 1))
    world.expect_unset()
    result = world.keep()
    assert result["change"] == "unset rds.global_db_rpo (was 60)" and "switchover" in result["why"]


@pytest.mark.parametrize("peer_sync", ["pending-resync", None], ids=["the peer resyncs", "the peer detached"])
def test_a_writer_whose_peer_cannot_keep_up_loses_the_bound_at_once(peer_sync) -> None:
    """After a failover the old writer is rebuilt as a secondary, for hours on a large database: a bound on the
    new writer would hold its commits all that time. RDS says so from this region: no silence to wait out."""
    world = World(writer=WEST, bound="60", peer_sync=peer_sync)
    world.expect_unset()
    result = world.keep()
    assert result["change"] == "unset rds.global_db_rpo (was 60)" and "no peer in sync" in result["why"]
    assert not world.peer_asked
