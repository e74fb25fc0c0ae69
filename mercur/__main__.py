"""Mercur platform command line.

  python -m mercur plan STACK [--json] [--out DIR]          the stack's offline plan (no CLI, no AWS)
  python -m mercur dr check STACK --outputs FILE [--json]   could the live stack fail over right now?
  python -m mercur dr drill STACK --outputs FILE            fail over for real, measure, put it back
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mercur", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser(
        "plan", help="show what a stack would build, offline (no CLI, no AWS)",
        description="Run the Pulumi program for Pulumi.STACK.yaml under Pulumi's mock runtime, report every "
                    "resource it declares and evaluate the policy rules. Exit 0: clean (advisory findings "
                    "allowed); 1: a mandatory policy is violated; 2: the stack file is invalid.")
    plan.add_argument("stack", help="stack name: reads Pulumi.STACK.yaml from the project directory")
    plan.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    plan.add_argument("--out", type=Path, metavar="DIR",
                      help="also write DIR/plan.json, DIR/diagram.mmd (Mermaid) and DIR/manifests/<region>/")
    _project_dir(plan)

    dr = commands.add_parser("dr", help="disaster-recovery check and drills against the live stack (boto3)")
    dr_commands = dr.add_subparsers(dest="dr_command", required=True)
    check = dr_commands.add_parser(
        "check", help="is the live stack ready to fail over?",
        description="For every region: EKS cluster ACTIVE at the configured version, snapshots younger than "
                    "the RPO with fresh copies in the peer region, the vault locked (prod), the Route53 health check healthy, not inverted, with an alarm; and "
                    "the failover records pointing at the right load balancers. Exit 0: ready; 1: not ready; "
                    "2: bad input.")
    _live_inputs(check)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    drill = dr_commands.add_parser(
        "drill", help="controlled failover and restore drills; always restores what it changed",
        description="failover: invert the primary's health check, wait until Route53 fails over, measure the "
                    "detection time against the RTO, restore the health check. restore: restore the newest "
                    "snapshot copied to the passive region, wait until usable, measure, delete it. Whatever "
                    "happens (AWS error, timeout, Ctrl-C) the original state is restored and the report says so. "
                    "Exit 0: every drill passed; 1: a drill failed or was aborted; 2: bad input.")
    _live_inputs(drill)
    drill.add_argument("--kind", choices=("failover", "restore", "all"), default="all", help="which drill(s)")
    drill.add_argument("--confirm", metavar="STACK", help="required for prod: repeat the stack name")
    drill.add_argument("--report", type=Path, help="where to write the JSON drill report "
                                                   "(default: dr-drill-STACK-<UTC time>.json)")
    drill.add_argument("--timeout", type=float, default=900, help="seconds to wait for each step (default 900)")
    drill.add_argument("--poll", type=float, default=10, help="seconds between polls (default 10)")
    return parser


def _project_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="where Pulumi.yaml lives (default: .)")


def _live_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", help="stack name: its Pulumi.STACK.yaml gives the objectives and sizes")
    parser.add_argument("--outputs", type=Path, required=True, metavar="FILE",
                        help="the stack's `pulumi stack output --json`")
    _project_dir(parser)


def _plan(args: argparse.Namespace) -> int:
    from .offline import compliance, plan, synth  # after parsing: `--help` should not pay for the SDK imports
    from .config import ConfigError

    try:
        result = synth.synthesize(args.stack, args.project_dir.resolve())
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INPUT
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    findings = compliance.evaluate(result, result.environment)
    if args.out:
        plan.write(result, findings, args.out)
    print(plan.document(result, findings) if args.json else plan.summary(result, findings))
    blocking = compliance.blocking(findings)
    for finding in blocking if args.json else ():
        print(finding.line(), file=sys.stderr)
    return EXIT_FAILED if blocking else EXIT_OK


def _dr(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_file
    from .dr import outputs as stack_outputs

    try:
        stack = load_file(args.project_dir.resolve(), args.stack)
        outputs = stack_outputs.load(args.outputs)
        if outputs.environment != stack.environment:
            raise ConfigError(args.outputs.name, "environment", f"is {outputs.environment}, but "
                              f"Pulumi.{args.stack}.yaml is {stack.environment}", "pass this stack's outputs")
        if args.dr_command == "drill" and stack.is_production and args.confirm != args.stack:
            raise ConfigError(f"Pulumi.{args.stack}.yaml", "environment", "is prod: a drill fails over real traffic",
                              f"repeat the stack name to go ahead: --confirm {args.stack}")
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INPUT
    return _check(stack, outputs, args) if args.dr_command == "check" else _drill(stack, outputs, args)


def _check(stack, outputs, args: argparse.Namespace) -> int:
    from .dr import check

    report = check.check(stack, outputs)
    print(check.dumps(report) if args.json else report.table())
    return EXIT_OK if report.ready else EXIT_FAILED


def _drill(stack, outputs, args: argparse.Namespace) -> int:
    from .dr import drill

    # SIGTERM (a cancelled CI job) unwinds like Ctrl-C, so every drill's `finally` restores its changes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    pace = drill.Pace(timeout_seconds=args.timeout, poll_seconds=args.poll)
    kinds = ("failover", "restore") if args.kind == "all" else (args.kind,)
    runs = {"failover": drill.failover_drill, "restore": drill.restore_drill}
    report = {"stack": args.stack, "environment": stack.environment, "drills": []}
    path = args.report or Path(f"dr-drill-{args.stack}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json")
    try:
        for kind in kinds:
            result: dict = {"kind": kind}
            report["drills"].append(result)
            try:
                runs[kind](stack, outputs, pace=pace, result=result)
            except Exception as error:  # recorded in the report; the next drill still runs
                result.setdefault("verdict", "aborted")
                result.setdefault("error", f"{type(error).__name__}: {error}")
    finally:
        report["verdict"] = "pass" if all(d.get("verdict") == "pass" for d in report["drills"]) else "fail"
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        print(f"drill report written to {path}", file=sys.stderr)
    return EXIT_OK if report["verdict"] == "pass" else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return _plan(args) if args.command == "plan" else _dr(args)


if __name__ == "__main__":
    from mercur.offline import gcpolicy

    # Before the SDK imports (see mercur.offline.gcpolicy); tests that call main() keep their own policy.
    gcpolicy.for_short_process()
    code = main()
    gcpolicy.before_exit()
    sys.exit(code)
