"""`python -m mercur plan STACK [--json] [--out DIR]`: the stack's offline plan, from the real program."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_POLICY = 1
EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mercur", description=__doc__)
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
    plan.add_argument("--project-dir", type=Path, default=Path.cwd(), help="where Pulumi.yaml lives (default: .)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from . import compliance, plan, synth  # after parsing: `--help` should not pay for the SDK imports
    from .config import ConfigError, load_file

    try:
        environment = load_file(args.project_dir.resolve(), args.stack).environment
        result = synth.synthesize(args.stack, args.project_dir.resolve())
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    findings = compliance.evaluate(result, environment)
    if args.out:
        plan.write(result, findings, args.out)
    print(plan.document(result, findings) if args.json else plan.summary(result, findings))
    blocking = compliance.blocking(findings)
    for finding in blocking if args.json else ():
        print(finding.line(), file=sys.stderr)
    return EXIT_POLICY if blocking else 0


if __name__ == "__main__":
    sys.exit(main())
