"""Mercur platform command line.

  python -m mercur plan STACK [--types] [--json] [--out DIR] the stack's offline plan (no CLI, no AWS)
  python -m mercur dr check STACK --outputs FILE [--json]   could the live stack fail over right now?
  python -m mercur dr drill STACK --outputs FILE            fail over for real, measure, put it back
  python -m mercur dr undo STACK --outputs FILE --report FILE   put back what a killed drill left changed
  python -m mercur preview summary|compare ...              a `pulumi preview --json`: its diff, or vs the approved one
  python -m mercur release APP IMAGE --stack STACK          pin an app's image to a digest (one line changes)
  python -m mercur promote APP --from STAGE --to STAGE      copy that pinned image to the next stage
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
EXIT_READER_LEFT = 128 + 13  # as a shell reports a process that SIGPIPE ended: not confused with a policy failure
PROGRESS_AFTER_SECONDS = 2.0  # a plan that takes longer says on stderr that it is still working, and how far


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mercur", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser(
        "plan", help="show what a stack would build, offline (no CLI, no AWS)",
        description="Run the Pulumi program for Pulumi.STACK.yaml under Pulumi's mock runtime, report every "
                    "resource it declares and evaluate the policy rules. Exit 0: clean (advisory findings "
                    "allowed); 1: a mandatory policy is violated; 2: the stack file is invalid; 141: the reader of the "
                    "output left early.")
    plan.add_argument("stack", help="stack name: reads Pulumi.STACK.yaml from the project directory")
    plan.add_argument("--types", action="store_true", help="add each region's resource counts per type")
    plan.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    plan.add_argument("--out", type=Path, metavar="DIR",
                      help="also write DIR/plan.json, DIR/diagram.mmd (Mermaid) and DIR/manifests/<region>/")
    plan.add_argument("--unreachable", action="append", default=[], metavar="REGION",
                      help="rehearse an outage: every call the program makes into REGION fails (repeatable)")
    _project_dir(plan)

    preview = commands.add_parser(
        "preview", help="a `pulumi preview --json`: its diff as Markdown, or held against the approved one",
        description="What CI shows the reviewers and what the gated job checks before `pulumi up`. Exit 0: the "
                    "summary was printed, or the previews make the same change; 1: they differ (each difference on "
                    "a line); 2: a file is missing or is not a preview.")
    preview_commands = preview.add_subparsers(dest="preview_command", required=True)
    summary = preview_commands.add_parser("summary", help="the change as Markdown (job summary, PR, alert)")
    summary.add_argument("preview", type=Path, metavar="PREVIEW.json")
    summary.add_argument("--stack", required=True, help="the stack's name, for the heading")
    compare = preview_commands.add_parser("compare", help="exit 1 unless NOW makes exactly APPROVED's change")
    compare.add_argument("approved", type=Path, metavar="APPROVED.json")
    compare.add_argument("now", type=Path, metavar="NOW.json")

    release = commands.add_parser(
        "release", help="pin one app's image in a stack file to a digest (only that image changes)",
        description="Sets APP's image in Pulumi.STACK.yaml, pinned by digest; every other byte of the file stays. "
                    "IMAGE is sha256:<64 hex> (the app keeps its repository; its tag is dropped, since it need not "
                    "name the new digest) or REPOSITORY[:TAG]@sha256:<64 hex> of the app's current repository. The "
                    "result is validated before the file is replaced. Exit 0: changed, or already that image (the "
                    "file untouched); 2: bad input, one line naming the file, the key and the fix (the file "
                    "untouched).")
    release.add_argument("app", metavar="APP", help="the app's name in mercur:apps")
    release.add_argument("image", metavar="IMAGE", help="sha256:<64 hex>, or REPOSITORY[:TAG]@sha256:<64 hex>")
    release.add_argument("--stack", required=True, help="stack name: edits Pulumi.STACK.yaml in the project directory")
    _project_dir(release)
    promote = commands.add_parser(
        "promote", help="copy one app's digest-pinned image to the next stage (dev -> staging -> prod)",
        description="Copies APP's image exactly as Pulumi.FROM.yaml pins it (repository:tag@sha256:...) into "
                    "Pulumi.TO.yaml: the same digest moves on, nothing is rebuilt. Only dev -> staging and staging "
                    "-> prod; the source image must be pinned by digest. Exit 0: changed, or already that image "
                    "(the file untouched); 2: bad input, one line naming the file, the key and the fix (the file "
                    "untouched).")
    promote.add_argument("app", metavar="APP", help="the app's name in mercur:apps")
    promote.add_argument("--from", dest="source", required=True, metavar="STAGE", help="dev or staging")
    promote.add_argument("--to", dest="target", required=True, metavar="STAGE", help="the stage after it")
    _project_dir(promote)

    dr = commands.add_parser("dr", help="disaster-recovery check and drills against the live stack (boto3)")
    dr_commands = dr.add_subparsers(dest="dr_command", required=True)
    check = dr_commands.add_parser(
        "check", help="is the live stack ready to fail over?",
        description="The outputs held against the stack file (every region and id present); per region: the EKS "
                    "cluster ACTIVE at the configured version, the newest AWS Backup recovery point and its copy in "
                    "the peer region within the RPO, the vault locked (prod), Route53's published health "
                    "(HealthCheckStatus) with its alarm; the NodePool limits against the peak; the Aurora global "
                    "database (members, writer, replication lag against its bound); the Region switch plan (a "
                    "workflow per region, an evaluation without warnings); the failover records down the chain. "
                    "Exit 0: READY; 1: NOT READY (each FAIL line says why); 2: bad input or no AWS credentials.")
    _live_inputs(check)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    drill = dr_commands.add_parser(
        "drill", help="run the Region switch to the passive region and back, and a restore; measures RTO and RPO",
        description="Pre-flight first (`dr check` READY, no switch in progress): nothing changes until it passes. "
                    "failover: measures detection (the active endpoint's health check made to fail, then put "
                    "back), runs the Region switch plan to the passive region (graceful), measures each step, the "
                    "moment the zone's name servers answer with the passive region and the first successful "
                    "request there, then switches back. restore: restores the newest recovery point copied to the "
                    "passive region into a temporary cluster, checks it answers a query, deletes it. Whatever "
                    "happens (an AWS error, a timeout, Ctrl-C, SIGTERM) what it changed is restored, or the report "
                    "names what is left and how to undo it. Exit 0: passed, all restored; 1: failed or NOT "
                    "restored; 2: bad input; 130/143: interrupted (SIGINT/SIGTERM) and everything restored.")
    _live_inputs(drill)
    drill.add_argument("--kind", choices=("failover", "restore", "ungraceful", "all"), default="all",
                       help="which drill(s); ungraceful: an unplanned loss of the active region (staging), not in all")
    drill.add_argument("--confirm", metavar="STACK", help="required for prod: repeat the stack name")
    drill.add_argument("--approve", action="store_true",
                       help="approve the plan's approval steps as the caller (who must hold the approval role); "
                            "without it the drill waits for a person to approve, and measures that decision")
    drill.add_argument("--report", type=Path, help="where to write the JSON drill report "
                                                   "(default: dr-drill-STACK-<UTC time>.json); checked first")
    drill.add_argument("--timeout", type=str, default="900", help="seconds to wait for each step (default 900)")
    drill.add_argument("--poll", type=str, default="10", help="seconds between polls (default 10)")
    undo = dr_commands.add_parser(
        "undo", help="put back what a drill left changed (killed, or it could not restore), from its report",
        description="Reads the drill's report (written as the drill goes: every change is on disk before the call "
                    "that makes it), undoes each change not marked restored exactly as the drill would have "
                    "(newest first, three tries each, approving as the drill did) and rewrites the report. Safe "
                    "to repeat. Exit 0: everything restored, or nothing to undo; 1: something is LEFT CHANGED "
                    "(the line names the command that undoes it); 2: bad input (nothing was called).")
    _live_inputs(undo)
    undo.add_argument("--report", type=Path, required=True, metavar="FILE", help="the drill's JSON report")
    record = dr_commands.add_parser(
        "record", help="print what drills and checks measured, as mercur:dr.measured for the stack file",
        description="Reads drill reports (dr drill --report) and check reports (dr check --json) of one stack and "
                    "prints the `measured:` block to paste under mercur:dr: the plan then shows those terms as "
                    "measured, with their source. Writes nothing, calls nothing. Exit 0; 2: bad input.")
    record.add_argument("stack", help="the stack whose reports these are")
    record.add_argument("--from", dest="reports", type=Path, action="append", required=True, metavar="FILE",
                        help="a drill or check report (repeatable; later ones override earlier ones)")
    _project_dir(record)
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
    from .config import REGIONS, ConfigError

    unknown = sorted(set(args.unreachable) - set(REGIONS))
    if unknown:
        print(f"--unreachable: {unknown[0]} is not an AWS region this platform knows; name one like us-west-1",
              file=sys.stderr)
        return EXIT_INPUT
    try:
        with _progress(args.stack, synth.resources_declared):
            result = synth.synthesize(args.stack, args.project_dir.resolve(), frozenset(args.unreachable))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INPUT
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    findings = compliance.evaluate(result, result.environment)
    if args.out:
        plan.write(result, findings, args.out)
    print(plan.document(result, findings) if args.json else
          plan.summary(result, findings, types=args.types, style=plan.Style.for_stream(sys.stdout)))
    blocking = compliance.blocking(findings)
    for finding in blocking if args.json else ():
        print(finding.line(), file=sys.stderr)
    return EXIT_FAILED if blocking else EXIT_OK


@contextmanager
def _progress(stack: str, declared) -> Iterator[None]:
    """Silence for a quick plan; past PROGRESS_AFTER_SECONDS, a line on stderr every interval until it ends."""
    done = threading.Event()
    started = time.monotonic()

    def report() -> None:
        while not done.wait(PROGRESS_AFTER_SECONDS):
            print(f"planning {stack}: {declared()} resources declared, {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)

    reporter = threading.Thread(target=report, name="plan-progress", daemon=True)
    reporter.start()
    try:
        yield
    finally:
        done.set()
        reporter.join()


def _preview(args: argparse.Namespace) -> int:
    from .config import ConfigError
    from .release import preview

    try:
        if args.preview_command == "summary":
            print(preview.markdown(preview.load(args.preview), args.stack), end="")
            return EXIT_OK
        approved, now = preview.load(args.approved), preview.load(args.now)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INPUT
    differences = preview.differences(approved, now)
    for line in differences:
        print(line)
    print(f"{len(differences)} difference(s) from the approved preview: refusing to apply; re-run the deploy to "
          "preview and approve again" if differences else
          f"the change is the approved one (fingerprint {preview.fingerprint(now)})")
    return EXIT_FAILED if differences else EXIT_OK


def _release(args: argparse.Namespace) -> int:
    from .config import ConfigError
    from .release import stackfile

    try:
        if args.command == "release":
            change = stackfile.release(args.project_dir.resolve(), args.stack, args.app, args.image)
        else:
            change = stackfile.promote(args.project_dir.resolve(), args.app, args.source, args.target)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INPUT
    print(change.line())
    return EXIT_OK


def _dr(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_file
    from .dr import outputs as stack_outputs
    from .dr.aws import NoCredentials, require_credentials

    try:
        stack = load_file(args.project_dir.resolve(), args.stack)
        if args.dr_command == "record":
            from .dr import record
            print(record.main(args.stack, args.reports), end="")
            return EXIT_OK
        outputs = stack_outputs.load(args.outputs, stack)
        if outputs.environment != stack.environment:
            raise ConfigError(str(args.outputs), "environment", f"is {outputs.environment}, but "
                              f"Pulumi.{args.stack}.yaml is {stack.environment}", "pass this stack's outputs")
        if args.dr_command == "drill":
            from .dr import drill
            options = drill.Options.from_args(args, stack)  # every flag and the report path, before any change
        if args.dr_command == "undo":
            from .dr import undo
            return undo.main(stack, outputs, args.report, undo.load(args.report, stack))  # credentials if needed
        require_credentials()
        if args.dr_command == "check":
            return _check(stack, outputs, args)
        return drill.main(stack, outputs, options)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INPUT
    except NoCredentials as error:
        print(f"dr {args.dr_command}: {error}", file=sys.stderr)
        return EXIT_INPUT


def _check(stack, outputs, args: argparse.Namespace) -> int:
    from .dr import check

    report = check.check(stack, outputs)
    print(check.dumps(report) if args.json else report.table())
    return EXIT_OK if report.ready else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return {"plan": _plan, "preview": _preview, "release": _release, "promote": _release}.get(args.command, _dr)(args)


def run() -> int:
    """`main()` as a process runs it: a reader that leaves early (`plan prod | head`) ends it quietly."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's own flush must not fail too
        code = EXIT_READER_LEFT
    return code


if __name__ == "__main__":
    from mercur.offline import gcpolicy

    # Before the SDK imports (see mercur.offline.gcpolicy); tests that call main() keep their own policy.
    gcpolicy.for_short_process()
    code = run()
    gcpolicy.before_exit()
    sys.exit(code)
