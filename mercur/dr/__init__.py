"""Tools for live environments: is a stack ready to fail over (`check`), and how fast does it (`drill`).

They read the stack's outputs (`pulumi stack output --json`, the contract in docs/contracts.md) and its stack file,
and talk to AWS with boto3. Tested against moto with resources seeded from the offline plan.
"""
