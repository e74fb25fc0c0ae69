"""What the Region switch plan's execution role may do, as a table: every action the ARC Developer Guide lists
for plan evaluation and execution, and for each execution block the plan uses, each scoped to the resources
the plan names as narrowly as the Service Authorization Reference (SAR) allows. `policy` builds the role's
policy from the rows a plan needs; tests/components/test_switch.py holds the synthesized policy to this table.

A row says where it comes from (the guide's page title and address) and why its scope is what it is. No
row may exist without a page: a permission nobody documented is one nobody can review.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

GUIDE = "https://docs.aws.amazon.com/r53recovery/latest/dg/"
SAR = "https://docs.aws.amazon.com/service-authorization/latest/reference/"

# What a row is needed for: the plan itself (ARC evaluates it every 30 min and runs it), a plan feature, or an
# execution block type (the API's ExecutionBlockType value, so the plan's own steps select the rows).
PLAN_ITSELF = "plan evaluation and execution"
ASSOCIATED_ALARMS = "associated alarms"
TRIGGERS = "triggers"

# Resource scopes: what the plan names, rendered to ARNs by Resources.arns.
PLAN = "the plan"  # arn:...:arc-region-switch::ACCOUNT:plan/NAME:SUFFIX (the API's PlanArn pattern)
ROLE = "the execution role"
ALARMS = "the plan's associated alarms"
EKS_CLUSTERS = "the EKS clusters it scales"
EKS_ACCESS_ENTRIES = "those clusters' access entries"
GLOBAL_CLUSTER = "the Aurora global cluster"
DB_CLUSTERS = "the Aurora clusters it switches"
HOSTED_ZONE = "the hosted zone of the records"
ANY = "*"


@dataclass(frozen=True)
class Grant:
    """One action the execution role holds: on what, needed for what, and the ARC page that lists it."""

    sid: str  # the policy statement it lands in (one scope per statement)
    action: str
    scope: tuple[str, ...]
    needed_for: str
    page: str  # the ARC Developer Guide page's title
    url: str
    scope_basis: str  # why this scope: the SAR's resource types for the action, or why nothing narrower


def _page(path: str) -> str:
    return GUIDE + path


COMPLETE = ("Complete plan execution role permissions", _page("security_iam_region_switch_complete_policy.html"))
MANAGED = ("AWS managed policy: AmazonApplicationRecoveryControllerRegionSwitchPlanExecutionPolicy",
           _page("security-iam-awsmanpol-routing.html"
                 "#security-iam-awsmanpol-AmazonApplicationRecoveryControllerRegionSwitchPlanExecutionPolicy"))
HEALTH_ALARMS = ("CloudWatch alarms for application health permissions", _page("security_iam_region_switch_cloudwatch.html"))
TRUST = ("Plan execution role trust policy", _page("security_iam_region_switch_trust_policy.html"))
APPROVAL = ("Manual approval execution block sample policy", _page("security_iam_region_switch_manual_approval.html"))
EKS = ("Amazon EKS resource scaling execution block sample policy", _page("security_iam_region_switch_eks.html"))
AURORA = ("Aurora Global Database execution block sample policy", _page("security_iam_region_switch_aurora.html"))
ROUTE53 = ("Route 53 health check execution block sample policy", _page("security_iam_region_switch_route53.html"))
BLOCKS = ("Execution block permissions", _page("security_iam_region_switch_execution_blocks.html"))

_PLAN_BASIS = f"SAR {SAR}list_arc-region-switch.html: resource type plan (the guide's sample says *; ours is one plan)"
_ALARM_BASIS = f"SAR {SAR}list_amazoncloudwatch.html: resource type alarm"
_RDS_BASIS = f"SAR {SAR}list_amazonrds.html: global-cluster and cluster (the guide's sample says * for Describe*)"

GRANTS: tuple[Grant, ...] = (
    # ARC assumes the role to evaluate the plan (every 30 min) and to run it, whatever its blocks.
    Grant("ReadItsPlanAndExecutions", "arc-region-switch:GetPlan", (PLAN,), PLAN_ITSELF, *COMPLETE, _PLAN_BASIS),
    Grant("ReadItsPlanAndExecutions", "arc-region-switch:GetPlanExecution", (PLAN,), PLAN_ITSELF, *COMPLETE,
          _PLAN_BASIS),
    Grant("ReadItsPlanAndExecutions", "arc-region-switch:ListPlanExecutions", (PLAN,), PLAN_ITSELF, *COMPLETE,
          _PLAN_BASIS),
    # Evaluation simulates the role's own policy to warn of a missing permission before a switch needs it.
    Grant("CheckItsOwnPermissions", "iam:SimulatePrincipalPolicy", (ROLE,), PLAN_ITSELF, *COMPLETE,
          f"SAR {SAR}list_awsidentityandaccessmanagementiam.html: resource type role; the role itself"),
    Grant("ReadAlarmMetrics", "cloudwatch:GetMetricStatistics", (ANY,), PLAN_ITSELF, *MANAGED,
          f"SAR {SAR}list_amazoncloudwatch.html: no resource types for this action, so *"),
    # The associated alarms (application health and triggers): their state and history (recovery time).
    Grant("ReadItsAlarms", "cloudwatch:DescribeAlarms", (ALARMS,), ASSOCIATED_ALARMS, *HEALTH_ALARMS, _ALARM_BASIS),
    Grant("ReadItsAlarms", "cloudwatch:DescribeAlarmHistory", (ALARMS,), ASSOCIATED_ALARMS, *HEALTH_ALARMS,
          _ALARM_BASIS),
    # A trigger: ARC reads the trigger alarms (above) and starts the execution as the role.
    Grant("StartWhenTriggered", "arc-region-switch:StartPlanExecution", (PLAN,), TRIGGERS, *TRUST, _PLAN_BASIS),
    # Blocks. ManualApproval: the role only ARC can assume (execution_role_trust); a person approves with the
    # approval role, never with this one.
    Grant("ItsApprovalSteps", "arc-region-switch:ApprovePlanExecutionStep", (PLAN,), "ManualApproval", *APPROVAL,
          _PLAN_BASIS),
    # EKSResourceScaling: Kubernetes rights come from the access entry (cluster.REGION_SWITCH_POLICY).
    Grant("ReadTheClusters", "eks:DescribeCluster", (EKS_CLUSTERS,), "EKSResourceScaling", *EKS,
          f"SAR {SAR}list_amazonelastickubernetesservice.html: resource type cluster"),
    Grant("ReadTheirAccessEntries", "eks:ListAssociatedAccessPolicies", (EKS_ACCESS_ENTRIES,), "EKSResourceScaling",
          *EKS, f"SAR {SAR}list_amazonelastickubernetesservice.html: resource type access-entry "
                "(access-entry/CLUSTER/..., as the guide's sample)"),
    Grant("ReadTheGlobalDatabase", "rds:DescribeGlobalClusters", (GLOBAL_CLUSTER,), "AuroraGlobalDatabase", *AURORA,
          _RDS_BASIS),
    Grant("ReadItsClusters", "rds:DescribeDBClusters", (DB_CLUSTERS,), "AuroraGlobalDatabase", *AURORA, _RDS_BASIS),
    Grant("MoveTheWriter", "rds:SwitchoverGlobalCluster", (GLOBAL_CLUSTER, DB_CLUSTERS), "AuroraGlobalDatabase",
          *AURORA, _RDS_BASIS),
    Grant("MoveTheWriter", "rds:FailoverGlobalCluster", (GLOBAL_CLUSTER, DB_CLUSTERS), "AuroraGlobalDatabase",
          *AURORA, _RDS_BASIS),
    Grant("MapRecordSetsToRegions", "route53:ListResourceRecordSets", (HOSTED_ZONE,), "Route53HealthCheck",
          *ROUTE53, f"SAR {SAR}list_amazonroute53.html: resource type hostedzone"),
)

# Block types the plan may use that the guide lists no permission for ("Execution block permissions" has no
# section for them): the table knows them, so a block type it does not know fails the test instead.
WITHOUT_PERMISSIONS: dict[str, tuple[str, str]] = {"Parallel": BLOCKS}


@dataclass(frozen=True)
class Resources:
    """The ARNs the plan names, by scope: resolved values (inside an apply)."""

    partition: str
    account: str
    plan_name: str
    role_arn: str
    alarms: tuple[str, ...] = ()
    eks_clusters: tuple[str, ...] = ()
    global_cluster: str | None = None
    db_clusters: tuple[str, ...] = ()
    hosted_zone: str | None = None

    def arns(self, scope: str) -> list[str]:
        p, account = self.partition, self.account
        by_scope = {
            PLAN: [f"arn:{p}:arc-region-switch::{account}:plan/{self.plan_name}:*"],
            ROLE: [self.role_arn],
            ALARMS: list(self.alarms),
            EKS_CLUSTERS: list(self.eks_clusters),
            # arn:...:eks:REGION:ACCOUNT:cluster/NAME -> arn:...:eks:REGION:ACCOUNT:access-entry/NAME/*
            EKS_ACCESS_ENTRIES: [arn.replace(":cluster/", ":access-entry/", 1) + "/*" for arn in self.eks_clusters],
            GLOBAL_CLUSTER: [f"arn:{p}:rds::{account}:global-cluster:{self.global_cluster}"]
            if self.global_cluster else [],
            DB_CLUSTERS: list(self.db_clusters),
            HOSTED_ZONE: [f"arn:{p}:route53:::hostedzone/{self.hosted_zone}"] if self.hosted_zone else [],
            ANY: ["*"],
        }
        return by_scope[scope]


def needed(block_types: Iterable[str], associated_alarms: bool, triggers: bool) -> set[str]:
    """What the plan needs rows for: itself, its blocks, its alarms and its triggers."""
    return {PLAN_ITSELF, *block_types} | ({ASSOCIATED_ALARMS} if associated_alarms else set()) | \
        ({TRIGGERS} if triggers else set())


def grants_for(needs: set[str]) -> list[Grant]:
    unknown = needs - {g.needed_for for g in GRANTS} - set(WITHOUT_PERMISSIONS)
    if unknown:
        raise ValueError(f"no documented permissions for {sorted(unknown)}: add them to GRANTS or WITHOUT_PERMISSIONS")
    return [g for g in GRANTS if g.needed_for in needs]


def policy(needs: set[str], resources: Resources) -> dict[str, Any]:
    """The role's policy: one statement per Sid, its actions on the scope's ARNs."""
    statements: dict[str, dict[str, Any]] = {}
    for grant in grants_for(needs):
        # sorted: the policy does not change when the stack swaps the order of its regions
        arns = sorted({arn for scope in grant.scope for arn in resources.arns(scope)})
        if not arns:
            raise ValueError(f"{grant.action} is needed for {grant.needed_for} but the plan names no {grant.scope}")
        statement = statements.setdefault(grant.sid, {"Sid": grant.sid, "Effect": "Allow", "Action": [],
                                                      "Resource": arns})
        if statement["Resource"] != arns:
            raise ValueError(f"statement {grant.sid} mixes scopes")
        statement["Action"].append(grant.action)
    return {"Version": "2012-10-17", "Statement": list(statements.values())}
