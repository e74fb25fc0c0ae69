"""Facts about the AWS commercial regions where EKS runs: one table, read by config validation and by the
offline mock engine alike.

Sources (checked 2026-11):
- Availability Zone ids: the EC2 User Guide, "AZ IDs"; `zones` lists the standard zones a new account is
  offered (Local and Wavelength Zones need an opt-in and are never listed). The zone letters beside each
  id are one account's mapping (letters map to ids differently in every account); only the offline mock
  engine uses them, to answer `get_availability_zones` as such an account would.
- EKS-unsupported zones: the EKS User Guide, "VPC and subnet requirements": EKS does not run control-plane
  network interfaces in use1-az3, usw1-az2 or cac1-az3.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class RegionFacts:
    name: str
    zones: tuple[tuple[str, str], ...]  # (zone letter in one example account, zone id), standard zones only
    eks_unsupported_zone_ids: tuple[str, ...] = ()
    # ARC Region switch: "available in all commercial AWS Regions" (ARC Developer Guide, "AWS Regions").
    region_switch: bool = True

    @property
    def zone_ids(self) -> tuple[str, ...]:
        return tuple(zone_id for _, zone_id in self.zones)

    @property
    def eks_zone_ids(self) -> tuple[str, ...]:
        """The standard zones an account is offered where EKS runs: the zones the program builds in."""
        return tuple(zone_id for zone_id in self.zone_ids if zone_id not in self.eks_unsupported_zone_ids)

    @property
    def usable_az_count(self) -> int:
        return len(self.eks_zone_ids)

    @property
    def short(self) -> str:
        """`us-west-1` -> `usw1`: keeps AWS names (clusters, roles) short and readable."""
        area, direction, number = self.name.split("-")
        return f"{area}{direction[0]}{number}"


def _standard(name: str, prefix: str, count: int = 3) -> RegionFacts:
    """A region whose letters a, b, c, ... map to <prefix>-az1, -az2, ... in the example account."""
    return RegionFacts(name, tuple((f"{name}{chr(97 + i)}", f"{prefix}-az{i + 1}") for i in range(count)))


def _mapped(name: str, pairs: str, unsupported: tuple[str, ...] = ()) -> RegionFacts:
    """A region with an irregular mapping, written `a=use1-az6 b=use1-az1 ...`."""
    zones = tuple((f"{name}{letter}", zone_id) for letter, zone_id in (p.split("=") for p in pairs.split()))
    return RegionFacts(name, zones, unsupported)


REGIONS: Mapping[str, RegionFacts] = MappingProxyType({r.name: r for r in (
    _mapped("us-east-1", "a=use1-az6 b=use1-az1 c=use1-az2 d=use1-az4 e=use1-az3 f=use1-az5",
            unsupported=("use1-az3",)),
    _standard("us-east-2", "use2"),
    # Most accounts are offered two of us-west-1's zones; usw1-az2 (older accounts only) is not in EKS.
    _mapped("us-west-1", "b=usw1-az3 c=usw1-az1", unsupported=("usw1-az2",)),
    _mapped("us-west-2", "a=usw2-az2 b=usw2-az1 c=usw2-az3 d=usw2-az4"),
    _standard("af-south-1", "afs1"),
    _standard("ap-east-1", "ape1"),
    _mapped("ap-northeast-1", "a=apne1-az4 c=apne1-az1 d=apne1-az2"),
    _standard("ap-northeast-2", "apne2", 4),
    _standard("ap-northeast-3", "apne3"),
    _standard("ap-south-1", "aps1"),
    _standard("ap-south-2", "aps2"),
    _standard("ap-southeast-1", "apse1"),
    _standard("ap-southeast-2", "apse2"),
    _standard("ap-southeast-3", "apse3"),
    _standard("ap-southeast-4", "apse4"),
    _standard("ap-southeast-5", "apse5"),
    _standard("ap-southeast-7", "apse7"),
    _mapped("ca-central-1", "a=cac1-az1 b=cac1-az2 d=cac1-az4", unsupported=("cac1-az3",)),
    _standard("ca-west-1", "caw1"),
    _standard("eu-central-1", "euc1"),
    _standard("eu-central-2", "euc2"),
    _standard("eu-north-1", "eun1"),
    _standard("eu-south-1", "eus1"),
    _standard("eu-south-2", "eus2"),
    _mapped("eu-west-1", "a=euw1-az3 b=euw1-az1 c=euw1-az2"),
    _standard("eu-west-2", "euw2"),
    _standard("eu-west-3", "euw3"),
    _standard("il-central-1", "ilc1"),
    _standard("me-central-1", "mec1"),
    _standard("me-south-1", "mes1"),
    _standard("mx-central-1", "mxc1"),
    _standard("sa-east-1", "sae1"),
)})

# Every region above is in the commercial partition: ARNs the stack files give must be in it too.
PARTITION = "aws"
