"""Checkov over every stack's offline plan: `make checkov`.

Each stack is planned (`plan STACK --out DIR`), then Checkov reads DIR/tfplan.json with its `terraform_plan`
framework and DIR/manifests/ with its `kubernetes` framework. Every failure must be one of ACCEPTED below,
each with the reason we keep it; anything else fails the run (exit 1), and so does an acceptance that no
longer matches a failure (it would hide the next one). Checkov is installed in a virtualenv of its own
(requirements-checkov.txt): its pins would move the program's.

    python -m mercur.offline.checkov [--checkov PATH] [STACK ...]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")
FRAMEWORKS = (("terraform_plan", "tfplan.json", "-f"), ("kubernetes", "manifests", "-d"))


@dataclass(frozen=True)
class Accepted:
    """A failure the platform keeps, and why: what the check wants, why it is not done, and what holds instead.
    Auditors read these."""
    check: str
    kind: str  # Terraform type, or Kubernetes kind
    names: tuple[str, ...]  # the resources it holds for: patterns (fnmatch) on the name after the kind
    reason: str
    stacks: tuple[str, ...] = STACKS

    def covers(self, failure: "Failure") -> bool:
        name = failure.resource.split(".", 1)[1] if "." in failure.resource else ""
        return (self.check, self.kind) == (failure.check, failure.kind) and failure.stack in self.stacks \
            and any(fnmatch.fnmatchcase(name, pattern) for pattern in self.names)


KEEPER = "*-rpo-keeper"  # the RPO keeper's function (rpo_keeper.py)
SIGNALS = "*-dr-signals"  # the DR signals' functions (dr_signals.py); any other function is checked in full

ACCEPTED = (
    Accepted("CKV_AWS_226", "aws_rds_cluster_instance", ("*-db-[0-9]*",),
             "automatic minor upgrades: Aurora applies none to a global database's members (Aurora User Guide, "
             "global database limitations), and on a lone cluster (dev) they would move it off the stack file's "
             "engineVersion, the version every stack declares and upgrades on purpose"),
    Accepted("CKV2_AWS_27", "aws_rds_cluster", ("*-db",),
             "statement logging (log_statement, log_min_duration_statement): statements carry application data, and "
             "the master password's rotation (ALTER ROLE with its SCRAM verifier) would land in CloudWatch; "
             "Performance Insights keeps normalized top SQL instead"),
    Accepted("CKV2_AWS_57", "aws_secretsmanager_secret", ("*-db-master",),
             "Secrets Manager rotation of the master secret: it is rotated by raising passwordVersion, through the "
             "database Job on the writer wherever it is (a rotation Lambda would need the writer's region)"),
    Accepted("CKV2_AWS_23", "aws_route53_record", ("*-dns-primary", "*-dns-secondary", "*-dns-record"),
             "the failover records alias the load balancers that each cluster's Kubernetes Service creates (Auto "
             "Mode), which are not Terraform resources"),
    Accepted("CKV_AWS_115", "aws_lambda_function", (KEEPER, SIGNALS),
             "reserved concurrency for the RPO keeper and the DR signals: AWS refuses it where it would leave an "
             "account fewer than 10 unreserved executions (new accounts), which would fail the first deploy; one "
             "scheduled run at a time needs none"),
    Accepted("CKV_AWS_116", "aws_lambda_function", (KEEPER, SIGNALS),
             "a dead-letter queue for the scheduled functions: their schedule calls them again minutes later, and "
             "their error alarms page"),
    Accepted("CKV_AWS_117", "aws_lambda_function", (KEEPER, SIGNALS),
             "the scheduled functions outside a VPC: they read AWS APIs (the peer region's CloudWatch, AWS Backup, "
             "ARC), which from a VPC would depend on the region's NAT gateways"),
    Accepted("CKV_AWS_173", "aws_lambda_function", (KEEPER, SIGNALS),
             "a customer key for the scheduled functions' environment: it holds identifiers only (cluster, group, "
             "vault and plan names and ARNs, the bound), encrypted at rest by Lambda's own key"),
    Accepted("CKV_AWS_272", "aws_lambda_function", (KEEPER, SIGNALS),
             "code signing for the scheduled functions: their code is this repository's handler file, pinned by "
             "its SHA-256 in the plan"),
    Accepted("CKV_AWS_50", "aws_lambda_function", (KEEPER, SIGNALS),
             "X-Ray tracing of the scheduled functions: one short run a minute or five, logged in full to their log "
             "groups"),
    Accepted("CKV_AWS_139", "aws_rds_cluster", ("*-db",),
             "deletion protection outside prod: dev and staging are torn down and rebuilt (`pulumi destroy`); prod's "
             "clusters carry it and Pulumi's protect (policy rds-protected-in-prod)", ("dev", "staging")),
    Accepted("CKV_AWS_338", "aws_cloudwatch_log_group", ("*-flow-logs", "*-control-plane-logs", "*-application", "*-dataplane", "*-host",
              "*-performance"),
             "a year of logs in dev: dev keeps its flow and control-plane logs for the stack file's retentionDays "
             "(30) to save storage; staging and prod keep a year (policy log-group-retention, advisory in dev)",
             ("dev",)),
    Accepted("CKV_AWS_39", "aws_eks_cluster", ("*-eks",),
             "a public Kubernetes API in dev: dev has no deployer network (Transit Gateway) to reach a private one; "
             "it admits the stack file's publicAccessCidrs only (CKV_AWS_38 passes), and staging and prod are "
             "private (policy eks-endpoint-private, advisory in dev)", ("dev",)),
    Accepted("CKV_K8S_43", "Deployment", ("*",),
             "images by digest in dev: dev's stack file may name a release candidate by tag until `release` pins "
             "its digest (policy k8s-image-pinned, advisory in dev, mandatory in staging and prod; tagged images "
             "are pulled on every start)", ("dev",)),
    Accepted("CKV_K8S_43", "Job", ("*.*-db-bootstrap",),
             "images by digest in dev: the database Job's client images (the Deployment's entry says why)",
             ("dev",)),
    Accepted("CKV_AWS_150", "aws_lb", ("*-entry-alb",),
             "deletion protection outside prod: dev and staging are torn down and rebuilt; prod's load balancers "
             "carry it (entry.PublicEntry)", ("dev", "staging")),
    Accepted("CKV_AWS_91", "aws_lb", ("*-entry-alb",),
             "ALB access logs: what users get is measured by the load balancers' CloudWatch metrics, the alarms "
             "and the SLOs on them; per-request logs need a log bucket per region with ELB's delivery policy, "
             "not built yet (an open item, named in the issue's closing note)"),
    Accepted("CKV2_AWS_28", "aws_lb", ("*-entry-alb",),
             "a WAF web ACL in front of the apps: which managed rules may block Mercur's traffic is a product "
             "decision not taken yet (an open item); the listeners accept only HTTP(S), the pods only the ALB"),
    Accepted("CKV_AWS_260", "aws_vpc_security_group_ingress_rule", ("*-entry-listener-80",),
             "port 80 open to the internet on the public ALBs: with a certificate its listener only redirects to "
             "HTTPS (301); dev, without one, serves plain HTTP (policy no-world-ingress allows listener ports only)"),
    Accepted("CKV_AWS_378", "aws_lb_target_group", ("*-entry-pods",),
             "HTTP from the ALB to the pods: TLS ends at the load balancer, and the hop stays inside the VPC, "
             "admitted only from the ALB's security group on the app's port; the pods hold no certificates"),
    *[Accepted(check, kind, (pattern,),
               "plain HTTP in dev: dev's stack file names no certificate (mercur:dns.certificates); staging and "
               "prod listen on HTTPS with TLS 1.2+ and redirect port 80 to it", ("dev",))
      for check, kind, pattern in (("CKV_AWS_103", "aws_lb_listener", "*-entry-http"),
                                   ("CKV_AWS_2", "aws_lb_listener", "*-entry-http"),
                                   ("CKV2_AWS_20", "aws_lb", "*-entry-alb"))],
)


@dataclass(frozen=True)
class Failure:
    stack: str
    framework: str
    check: str
    resource: str  # Checkov's name for it: `<terraform type>.<name>`, `<Kind>.<namespace>.<name>`
    title: str

    @property
    def kind(self) -> str:
        return self.resource.split(".", 1)[0]

    def line(self) -> str:
        return f"{self.stack}: {self.check} {self.resource} ({self.title})"


def failures(stack: str, framework: str, report: Any) -> tuple[list[Failure], int, int]:
    """The failed checks, the passed count and the parsing errors of one Checkov JSON report (one framework)."""
    reports = report if isinstance(report, list) else [report]
    found, passed, errors = [], 0, 0
    for part in reports:
        summary = part.get("summary", {})
        passed += summary.get("passed", 0)
        errors += summary.get("parsing_errors", 0)
        for failed in part.get("results", {}).get("failed_checks", []):
            found.append(Failure(stack, framework, failed["check_id"], failed["resource"], failed["check_name"]))
    return found, passed, errors


def acceptance(failure: Failure) -> Accepted | None:
    return next((a for a in ACCEPTED if a.covers(failure)), None)


def judge(found: Sequence[Failure], stacks: Sequence[str]) -> tuple[list[Failure], list[Accepted]]:
    """(failures not accepted, acceptances for the stacks checked that matched no failure)."""
    new = [f for f in found if acceptance(f) is None]
    used = {acceptance(f) for f in found}
    return new, [a for a in ACCEPTED if a not in used and set(a.stacks) <= set(stacks)]


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mercur.offline.checkov", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stacks", nargs="*", default=list(STACKS), metavar="STACK")
    parser.add_argument("--checkov", type=Path, default=PROJECT_DIR / ".venv-checkov" / "bin" / "checkov",
                        help="the checkov executable (default: .venv-checkov/bin/checkov, which `make checkov` fills)")
    args = parser.parse_args(argv)
    args.checkov = args.checkov.absolute()  # Checkov runs in each plan's folder
    if not args.checkov.exists():
        print(f"checkov: {args.checkov} not found; run `make checkov` (it installs requirements-checkov.txt), "
              f"or pass --checkov PATH", file=sys.stderr)
        return 2
    found: list[Failure] = []
    with tempfile.TemporaryDirectory(prefix="mercur-checkov-") as scratch:
        for stack in args.stacks:
            out = Path(scratch) / stack
            planned = _run([sys.executable, "-m", "mercur", "plan", stack, "--out", str(out)], PROJECT_DIR)
            if not (out / "tfplan.json").exists():
                print(f"checkov: `plan {stack}` wrote nothing: {planned.stderr.strip() or planned.stdout.strip()}",
                      file=sys.stderr)
                return 2
            for framework, target, flag in FRAMEWORKS:
                ran = _run([str(args.checkov), flag, target, "--framework", framework, "--skip-download",
                            "--output", "json", "--quiet", "--compact"], out)
                try:
                    report = json.loads(ran.stdout)
                except json.JSONDecodeError:
                    print(f"checkov: {framework} on {stack} gave no report (exit {ran.returncode}): "
                          f"{ran.stderr.strip()[-300:]}", file=sys.stderr)
                    return 2
                failed, passed, errors = failures(stack, framework, report)
                if errors:
                    print(f"checkov: {framework} could not parse {errors} file(s) of {stack}", file=sys.stderr)
                    return 2
                found.extend(failed)
                accepted = sum(1 for f in failed if acceptance(f) is not None)
                print(f"{stack:8s} {framework:15s} {passed:4d} passed, {len(failed):3d} failed "
                      f"({accepted} accepted)")
    new, stale = judge(found, args.stacks)
    for failure in new:
        print(f"NEW FAILURE  {failure.line()}: fix it, or add it to ACCEPTED in mercur/offline/checkov.py with "
              f"the reason")
    for kept in stale:
        print(f"STALE        {kept.check} on {kept.kind} fails nowhere in {', '.join(kept.stacks)} now: remove it "
              f"from ACCEPTED")
    print(f"checkov: {len(new)} new failure(s), {len(stale)} stale acceptance(s), "
          f"{len(found) - len(new)} accepted failure(s) across {', '.join(args.stacks)}")
    return 1 if new or stale else 0


if __name__ == "__main__":
    sys.exit(main())
