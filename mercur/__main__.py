"""`python -m mercur plan STACK [--json]`: the stack's offline plan, from the real program under mocks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mercur", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="show what a stack would build, offline (no CLI, no AWS)",
                               description="Run the Pulumi program for Pulumi.STACK.yaml under Pulumi's mock "
                                           "runtime and report every resource it declares.")
    plan.add_argument("stack", help="stack name: reads Pulumi.STACK.yaml from the project directory")
    plan.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    plan.add_argument("--project-dir", type=Path, default=Path.cwd(), help="where Pulumi.yaml lives (default: .)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from . import plan, synth  # after argument parsing: `--help` should not pay for the SDK imports
    from .config import ConfigError

    try:
        result = synth.synthesize(args.stack, args.project_dir.resolve())
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    print(plan.document(result) if args.json else plan.summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
