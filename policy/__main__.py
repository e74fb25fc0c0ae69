"""CrossGuard pack: `pulumi preview --policy-pack policy` enforces exactly mercur.offline.policies' rules."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root: one copy of the rules

from pulumi_policy import PolicyPack  # noqa: E402

from mercur.offline.policies import all_policies  # noqa: E402

PolicyPack("mercur-platform", policies=all_policies())
