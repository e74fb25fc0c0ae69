"""The run-time state contract: what AWS and Kubernetes change while the platform runs, and how the program
leaves each alone.

A Region switch moves the Aurora writer and scales the apps; Aurora rewires replication; the autoscalers
set replica counts. None of that is in the stack file, and the next `pulumi up` (or a permanent move of
the region order) must change none of it. Each entry names what changes it, the document that says so, and
how the program stays out of its way:
- IGNORED: declared at creation only (`ignore_changes`); the component reads the field list from here, and
  the `run-time-state-left-alone` policy holds every matching resource to it.
- NOT_MANAGED: the program declares nothing that could set it.
- AT_RUN_TIME: what depends on it finds it when it runs, never from the stack file's order of regions.

No Pulumi import: the policy pack reads this table too.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORED, NOT_MANAGED, AT_RUN_TIME = "ignored", "not managed", "found at run time"
AURORA_CLUSTER = "aws:rds/cluster:Cluster"
GLOBAL_MEMBERS = "every cluster of a global database"  # `globalClusterIdentifier` set


@dataclass(frozen=True)
class RunTimeState:
    resource_type: str  # the Pulumi type token
    fields: tuple[str, ...]  # the inputs, as `ignore_changes` names them (none for what is not an input)
    applies_to: str
    changed_by: str
    source: str  # the document that says it changes
    handling: str  # IGNORED, NOT_MANAGED or AT_RUN_TIME
    how: str

    def applies(self, resource_type: str, props: dict) -> bool:
        """Whether a declared resource carries this state (the policy and the tests ask)."""
        if resource_type != self.resource_type or self.handling != IGNORED:
            return False
        return self.applies_to != GLOBAL_MEMBERS or bool(props.get("globalClusterIdentifier"))


AURORA_REPLICATION = RunTimeState(
    AURORA_CLUSTER, ("replicationSourceIdentifier",), GLOBAL_MEMBERS,
    "Aurora: a switchover or failover makes the old primary a secondary replicating from the new one",
    "pulumi_aws rds.Cluster `replication_source_identifier` (\"If DB Cluster is part of a Global Cluster, use "
    "the ignoreChanges resource option\"); Aurora User Guide, \"Using switchover or failover in an Amazon "
    "Aurora global database\"",
    IGNORED, "the provider would call PromoteReadReplicaDBCluster where the value read back differs: "
             "detaching the DR copy")
AURORA_ENGINE_VERSION = RunTimeState(
    AURORA_CLUSTER, ("engineVersion",), GLOBAL_MEMBERS,
    "an upgrade of the global cluster, which upgrades every member through it",
    "pulumi_aws rds.GlobalCluster `engine_version` (\"use the lifecycle ignore_changes for engine_version on "
    "the associated rds.Cluster\"); Aurora User Guide, \"Upgrading an Amazon Aurora global database\"",
    IGNORED, "the version is changed once, on the global cluster; members follow it")
AURORA_MASTER_CREDENTIALS = RunTimeState(
    AURORA_CLUSTER, ("masterUsername", "masterPasswordWo", "masterPasswordWoVersion"), "every cluster",
    "the database Job, which rotates the master password on the writer wherever it is (ALTER ROLE)",
    "Aurora User Guide, \"Overview of Amazon Aurora global databases\" (secondary clusters are read-only: "
    "the master user's password, a database role's, changes on the writer only)",
    IGNORED, "sent once, when the cluster is created; a passwordVersion change rotates it through the Job")
AURORA_RPO_BOUND = RunTimeState(
    "aws:rds/clusterParameterGroup:ClusterParameterGroup", ("parameters",), "every cluster parameter group",
    "the RPO keeper (rpo_keeper_handler.py): rds.global_db_rpo on the writer's group while a peer replicates, "
    "unset elsewhere; the writer moves at run time",
    "Aurora User Guide, \"Managing RPOs for Aurora PostgreSQL-based global databases\" (a dynamic cluster "
    "parameter; leave it unset where a failover could leave the writer without a secondary); terraform-provider-aws "
    "internal/service/rds/cluster_parameter_group.go (reads back every parameter with Source \"user\")",
    IGNORED, "the group's parameters are declared at creation (rds.force_ssl, and on the home cluster's group the "
             "stack file's bound); from then on the keeper owns the bound")
HPA_MINIMUM = RunTimeState(
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", ("spec.minReplicas",), "every app",
    "ARC Region switch's EKS resource scaling step (its access policy may get and patch "
    "horizontalpodautoscalers)",
    "ARC Developer Guide, \"Amazon EKS resource scaling execution block\"; pulumi-kubernetes "
    "provider/pkg/await/await.go `handleSSAIgnoreFields` (an ignored field keeps its live value or its "
    "other manager)",
    IGNORED, "set by region role at creation; after a switch the serving region keeps the minimum ARC gave it")
DEPLOYMENT_REPLICAS = RunTimeState(
    "kubernetes:apps/v1:Deployment", ("spec.replicas",), "every app",
    "the HorizontalPodAutoscaler and ARC's scaling step (the scale subresource)",
    "Kubernetes, \"Horizontal Pod Autoscaling\"; ARC Developer Guide, \"Amazon EKS resource scaling execution "
    "block\" (*/scale: get, update)",
    IGNORED, "set at creation; the autoscalers own it")
STATEFUL_SET_REPLICAS = RunTimeState(
    "kubernetes:apps/v1:StatefulSet", ("spec.replicas",), "every app with a volume",
    "the HorizontalPodAutoscaler (the scale subresource)", "Kubernetes, \"Horizontal Pod Autoscaling\"",
    IGNORED, "set at creation; the autoscaler owns it")
WRITER_REGION = RunTimeState(
    "aws:rds/globalCluster:GlobalCluster", (), "the global database",
    "the Region switch's Aurora step (switchover, or failover when ungraceful)",
    "ARC Developer Guide, \"Aurora global database execution block\"; RDS API Reference, "
    "DescribeGlobalClusters (`GlobalClusterMembers[].IsWriter`)",
    AT_RUN_TIME, "apps connect through the global writer endpoint; the database Job runs in every region and "
                 "acts only where DescribeGlobalClusters says the writer is")
CONTROLLED_HEALTH_CHECKS = RunTimeState(
    "aws:arcregionswitch/plan:Plan", (), "the Region switch plan",
    "ARC: its Route 53 health check step creates the health checks and flips them",
    "ARC Developer Guide, \"Route 53 health check execution block\"",
    NOT_MANAGED, "the failover records name them by the ids ARC reports; the program declares no such check")
SERVING_REGION = RunTimeState(
    "aws:route53/record:Record", (), "the failover records",
    "Route53: which record answers follows the health checks the switch flips",
    "Route 53 Developer Guide, \"Active-passive failover\"",
    AT_RUN_TIME, "records are named by region, not role; with a switch plan they do not evaluate target health "
                 "(failover.py), so DNS moves with the switch only")

CONTRACT: tuple[RunTimeState, ...] = (AURORA_REPLICATION, AURORA_ENGINE_VERSION, AURORA_MASTER_CREDENTIALS,
                                      AURORA_RPO_BOUND, HPA_MINIMUM, DEPLOYMENT_REPLICAS, STATEFUL_SET_REPLICAS, WRITER_REGION,
                                      CONTROLLED_HEALTH_CHECKS, SERVING_REGION)


def ignored(*states: RunTimeState) -> list[str]:
    """The `ignore_changes` list for a resource that carries these states."""
    return [field for state in states for field in state.fields]


def missing(resource_type: str, props: dict, ignore_changes: list[str] | tuple[str, ...]) -> list[str]:
    """Fields of the contract this resource should leave alone but would manage."""
    return [field for state in CONTRACT if state.applies(resource_type, props)
            for field in state.fields if field not in ignore_changes]
