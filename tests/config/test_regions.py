"""mercur.config.regions: one table of region facts for validation and the mock engine."""

from __future__ import annotations

import re

from mercur.config import REGIONS
from mercur.offline import synth


def test_every_region_is_commercial_and_well_formed() -> None:
    assert len(REGIONS) >= 30 and {"us-west-1", "us-east-1"} <= set(REGIONS)
    for name, facts in REGIONS.items():
        assert re.fullmatch(r"[a-z]{2}-[a-z]+-[0-9]", name) and not name.startswith(("us-gov", "cn-"))
        assert len(set(facts.zone_ids)) == len(facts.zone_ids) >= 2
        prefixes = {z.split("-az")[0] for z in facts.zone_ids + facts.eks_unsupported_zone_ids}
        assert len(prefixes) == 1 and all(re.fullmatch(r"[a-z]+[0-9]-az[0-9]", z) for z in facts.zone_ids)
        assert all(letter.startswith(name) and len(letter) == len(name) + 1 for letter, _ in facts.zones)


def test_the_zones_eks_rejects_are_recorded() -> None:
    assert REGIONS["us-east-1"].eks_unsupported_zone_ids == ("use1-az3",)
    assert REGIONS["us-west-1"].eks_unsupported_zone_ids == ("usw1-az2",)
    assert REGIONS["ca-central-1"].eks_unsupported_zone_ids == ("cac1-az3",)


def test_the_mock_engine_answers_from_the_same_table() -> None:
    """EC2 names a subnet's zone with the account's letter for its id: the table's example account."""
    subnet = synth._computed("aws:ec2/subnet:Subnet", "s", "subnet-1", "eu-west-1", {"availabilityZoneId": "euw1-az3"})
    assert subnet["availabilityZone"] == dict((i, z) for z, i in REGIONS["eu-west-1"].zones)["euw1-az3"] == "eu-west-1a"


def test_the_zones_the_program_builds_in_leave_out_what_eks_refuses() -> None:
    assert REGIONS["us-east-1"].eks_zone_ids == ("use1-az6", "use1-az1", "use1-az2", "use1-az4", "use1-az5")
    assert REGIONS["us-east-1"].usable_az_count == 5 and REGIONS["us-west-1"].usable_az_count == 2
