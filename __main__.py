"""Mercur's Pulumi program: the stack file's validated config in, the whole platform out."""

from pathlib import Path

import pulumi

from mercur import config
from mercur.components.platform import Platform

try:
    stack_config = config.load_from_engine(stack=pulumi.get_stack(), project_dir=Path(__file__).resolve().parent)
    platform = Platform(f"{stack_config.project}-{stack_config.stack}", stack_config)
except config.ConfigError as error:
    # RunError prints its one line without a traceback; bad config declares nothing.
    raise pulumi.RunError(str(error)) from error

for key, value in platform.exports.items():
    pulumi.export(key, value)
