"""The restore drill: the newest recovery point copied to the passive region, restored beside the real
database (its subnets and security group) into a temporary cluster that must answer a query, then deleted.

Idempotent: the temporary cluster's and instance's identifiers come from the drill's id (a retried call
after a lost response finds its own cluster), EBS volumes carry a client token; cleanup finds what to delete
by the drill's tag, not by the ids the calls returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from .aws import minutes_since, newest_recovery_point
from .check import newest_snapshot
from .drill import DRILL_TAG, Context, DrillFailed, Undo

ENGINE = "aurora-postgresql"


def run(context: Context, result: dict[str, Any]) -> None:
    outputs = context.outputs
    source = outputs.active
    target = outputs.regions.get(source.backup_copies_to or "")
    if target is None:
        raise ValueError(f"{context.stack.stack} copies no backups to another region: nothing to restore there")
    result.update(region=target.name, source=source.name,
                  targets={"rpoRegionLossAndCorruptionMinutes": context.stack.dr.rpo.region_loss_and_corruption})
    if source.database_cluster_arn:
        _database(context, source, target, result)
    else:
        _volume(context, source, target, result)
    age = result["measuredRpo"]["recoveryPointMinutes"]
    ok = result.get("answered", True) and age <= result["targets"]["rpoRegionLossAndCorruptionMinutes"]
    result["verdict"] = "pass" if ok else "fail"
    result["summary"] = (f"restore: {result['restoreSeconds']:g} s to a {'cluster answering a query' if 'answered' in result else 'usable volume'}"
                         f" in {target.name}, recovery point {age:g} min old vs "
                         f"{result['targets']['rpoRegionLossAndCorruptionMinutes']} min")


def _database(context: Context, source: Any, target: Any, result: dict[str, Any]) -> None:
    rds = context.clients("rds", target.name)
    point = newest_recovery_point(context.clients("backup", target.name), target.backup_vault_name,
                                  source.database_cluster_arn)
    if point is None:
        raise DrillFailed(f"no recovery point of {source.database_cluster_id} was copied to {target.backup_vault_name}")
    _age(point["CreationDate"], result)
    cluster_id, instance_id = context.drill_id, f"{context.drill_id}-1"
    tags = [{"Key": DRILL_TAG, "Value": context.drill_id}]
    result.update(recoveryPointArn=point["RecoveryPointArn"], clusterId=cluster_id)
    context.ledger.record(f"temporary cluster {cluster_id} in {target.name}",
                          {"kind": "temporary-cluster", "region": target.name, "drillId": context.drill_id})
    database = context.stack.database
    serverless = database.instance_class == "db.serverless"
    start = context.pace.clock()
    context.pace.progress(f"restoring {point['RecoveryPointArn']} into {cluster_id}")
    _idempotent(lambda: rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier=cluster_id, SnapshotIdentifier=point["RecoveryPointArn"], Engine=ENGINE,
        EngineVersion=target.database_engine_version, DBSubnetGroupName=target.database_subnet_group,
        VpcSecurityGroupIds=[target.database_security_group], DeletionProtection=False, Tags=tags,
        **({"ServerlessV2ScalingConfiguration": {"MinCapacity": database.serverless.min_capacity,
                                                 "MaxCapacity": database.serverless.max_capacity}}
           if serverless and database.serverless else {})), "DBClusterAlreadyExistsFault")
    _idempotent(lambda: rds.create_db_instance(
        DBInstanceIdentifier=instance_id, DBClusterIdentifier=cluster_id, Engine=ENGINE,
        DBInstanceClass=database.instance_class, Tags=tags), "DBInstanceAlreadyExists")
    cluster = context.pace.wait(f"cluster {cluster_id} and its instance available", lambda: _available(
        rds, cluster_id, instance_id))
    rds.enable_http_endpoint(ResourceArn=cluster["DBClusterArn"])
    result["answered"] = _answers(context, target, cluster["DBClusterArn"])

    result["restoreSeconds"] = round(context.pace.clock() - start, 1)
    if not result["answered"]:
        raise DrillFailed(f"{cluster_id} does not answer SELECT 1 through the Data API")


def _idempotent(call: Any, exists: str) -> None:
    """A call whose retry (after a lost response) finds its own resource already there."""
    from botocore.exceptions import ClientError
    try:
        call()
    except ClientError as error:
        if error.response["Error"]["Code"] != exists:
            raise


def _available(rds: Any, cluster_id: str, instance_id: str) -> dict | None:
    [cluster] = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
    [instance] = rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"]
    return cluster if cluster["Status"] == "available" and instance["DBInstanceStatus"] == "available" else None


def _answers(context: Context, target: Any, cluster_arn: str) -> bool:
    """SELECT 1 through the Data API, as the master user whose secret is replicated to this region."""
    secrets = context.clients("secretsmanager", target.name)
    secret_arn = secrets.describe_secret(SecretId=context.outputs.master_secret_name)["ARN"]
    data = context.clients("rds-data", target.name)
    from botocore.exceptions import ClientError

    def select_one() -> dict | None:  # the endpoint takes a while to come up after it is enabled
        try:
            return data.execute_statement(resourceArn=cluster_arn, secretArn=secret_arn, database="postgres",
                                          sql="SELECT 1")
        except ClientError as error:
            if error.response["Error"]["Code"] in ("HttpEndpointNotEnabledException", "DatabaseUnavailableException",
                                                   "DatabaseResumingException"):
                return None
            raise
    answer = context.pace.wait("the restored cluster answers SELECT 1 (Data API)", select_one)
    records = answer.get("records") or [[{}]]
    return records[0][0].get("longValue") == 1


def cleanup_databases(rds: Any, drill_id: str, pace: Any) -> None:
    """Delete every instance and cluster tagged with this drill's id; raise unless all are gone or going."""
    def tagged(operation: str, key: str) -> list[dict]:
        return [item for page in rds.get_paginator(operation).paginate() for item in page[key]
                if {"Key": DRILL_TAG, "Value": drill_id} in item.get("TagList", [])]

    def creating() -> bool:
        return any(i["DBInstanceStatus"] == "creating" for i in tagged("describe_db_instances", "DBInstances"))
    if creating():  # RDS refuses to delete what it is still creating: wait (bounded) for that to end
        pace.wait("the drill's instance created (RDS deletes nothing mid-creation)", lambda: not creating())
    for instance in tagged("describe_db_instances", "DBInstances"):
        if instance["DBInstanceStatus"] != "deleting":
            rds.delete_db_instance(DBInstanceIdentifier=instance["DBInstanceIdentifier"], SkipFinalSnapshot=True)
    for cluster in tagged("describe_db_clusters", "DBClusters"):
        if cluster["Status"] != "deleting":
            rds.delete_db_cluster(DBClusterIdentifier=cluster["DBClusterIdentifier"], SkipFinalSnapshot=True)
    left = [c["DBClusterIdentifier"] for c in tagged("describe_db_clusters", "DBClusters") if c["Status"] != "deleting"]
    if left:
        raise DrillFailed(f"still there: {', '.join(left)}")


def _volume(context: Context, source: Any, target: Any, result: dict[str, Any]) -> None:
    ec2 = context.clients("ec2", target.name)
    snapshot = newest_snapshot(ec2, source.name)
    if snapshot is None:
        raise DrillFailed(f"no snapshot copied from {source.name} exists in {target.name}")
    _age(snapshot["StartTime"], result)
    result["snapshotId"] = snapshot["SnapshotId"]
    context.ledger.record(f"drill volumes tagged {DRILL_TAG}={context.drill_id} in {target.name}",
                          {"kind": "drill-volumes", "region": target.name, "drillId": context.drill_id})
    start = context.pace.clock()
    volume_id = ec2.create_volume(
        SnapshotId=snapshot["SnapshotId"], AvailabilityZone=target.availability_zones[0], VolumeType="gp3",
        ClientToken=context.drill_id, TagSpecifications=[{"ResourceType": "volume", "Tags": [
            {"Key": DRILL_TAG, "Value": context.drill_id}]}])["VolumeId"]
    result["volumeId"] = volume_id
    context.pace.wait(f"volume {volume_id} available", lambda: ec2.describe_volumes(
        VolumeIds=[volume_id])["Volumes"][0]["State"] == "available")
    result["restoreSeconds"] = round(context.pace.clock() - start, 1)


def cleanup_volumes(ec2: Any, drill_id: str) -> None:
    """Delete every volume tagged with this drill's id (a retried create may have made two)."""
    volumes = ec2.describe_volumes(Filters=[{"Name": f"tag:{DRILL_TAG}", "Values": [drill_id]}])["Volumes"]
    for volume in volumes:
        ec2.delete_volume(VolumeId=volume["VolumeId"])
    left = ec2.describe_volumes(Filters=[{"Name": f"tag:{DRILL_TAG}", "Values": [drill_id]}])["Volumes"]
    if [v for v in left if v["State"] != "deleting"]:
        raise DrillFailed(f"still there: {', '.join(v['VolumeId'] for v in left)}")


def _age(moment: datetime, result: dict[str, Any]) -> None:
    result["measuredRpo"] = {"recoveryPointMinutes": round(minutes_since(moment), 1)}



def _databases_left(context: Context, undo: Mapping[str, str]) -> list[tuple[str, str]]:
    """The drill's instances and clusters RDS still has and is not deleting, each with its delete command."""
    rds, region, drill_id = context.clients("rds", undo["region"]), undo["region"], undo["drillId"]
    tag = {"Key": DRILL_TAG, "Value": drill_id}
    instances = [i["DBInstanceIdentifier"] for page in rds.get_paginator("describe_db_instances").paginate()
                 for i in page["DBInstances"] if tag in i.get("TagList", []) and i["DBInstanceStatus"] != "deleting"]
    clusters = [c["DBClusterIdentifier"] for page in rds.get_paginator("describe_db_clusters").paginate()
                for c in page["DBClusters"] if tag in c.get("TagList", []) and c["Status"] != "deleting"]
    return [(f"instance {name} in {region}", f"aws rds delete-db-instance --region {region} --db-instance-identifier "
             f"{name} --skip-final-snapshot") for name in instances] + \
        [(f"cluster {name} in {region}", f"aws rds delete-db-cluster --region {region} --db-cluster-identifier {name} "
          f"--skip-final-snapshot") for name in clusters]


def _volumes_left(context: Context, undo: Mapping[str, str]) -> list[tuple[str, str]]:
    ec2, region = context.clients("ec2", undo["region"]), undo["region"]
    volumes = ec2.describe_volumes(Filters=[{"Name": f"tag:{DRILL_TAG}", "Values": [undo["drillId"]]}])["Volumes"]
    return [(f"volume {v['VolumeId']} in {region}", f"aws ec2 delete-volume --region {region} --volume-id "
             f"{v['VolumeId']}") for v in volumes if v["State"] != "deleting"]


# How each change of this drill is undone, from the report's description of it (see drill.Undo). The drill's
# cluster is named by its id (`drillId`, its instance `drillId-1`); both are found by the drill's tag.
UNDO = {
    "temporary-cluster": Undo(("region", "drillId"), lambda context, undo: cleanup_databases(
        context.clients("rds", undo["region"]), undo["drillId"], context.pace), lambda undo: (
        f"aws rds delete-db-instance --region {undo['region']} --db-instance-identifier {undo['drillId']}-1 "
        f"--skip-final-snapshot; aws rds delete-db-cluster --region {undo['region']} --db-cluster-identifier "
        f"{undo['drillId']} --skip-final-snapshot"), _databases_left),
    "drill-volumes": Undo(("region", "drillId"), lambda context, undo: cleanup_volumes(
        context.clients("ec2", undo["region"]), undo["drillId"]), lambda undo: (
        f"aws ec2 describe-volumes --region {undo['region']} --filters Name=tag:{DRILL_TAG},Values={undo['drillId']}"
        " (then delete-volume each)"), _volumes_left),
}
