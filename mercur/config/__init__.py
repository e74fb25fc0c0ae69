"""Stack file -> typed, frozen config. Knows nothing of Pulumi resources.

`models` declares every key once (validation, JSON Schema, reference); `reader` reads a stack file so that
no input can break it; `load` turns any failure into one line naming the file, the key and the fix;
`regions` holds the region facts; `objectives` the RPO/RTO arithmetic.
"""

from .errors import ConfigError, show
from .load import (engine_values, load_bytes, load_engine, load_file, load_from_engine, parse, stack_file_keys,
                   stack_file_values)
from .models import (CAPACITY_TYPES, EKS_STANDARD_SUPPORT_ENDS, ENVIRONMENTS, MAX_AZS, MIN_AZS,
                     PRIVATE_SUBNET_BITS, PUBLIC_SUBNET_BITS, SUPPORTED_EKS_VERSIONS, AlertsConfig, AppConfig,
                     ClusterConfig, DatabaseConfig, DeployConfig, DeployNetwork, DnsConfig, DrConfig, NatGateways, NetworkConfig,
                     NodePoolConfig, RegionConfig, RegionSwitchConfig, Resources, StackConfig, StandbyConfig, Volume, memory_bytes,
                     millicores, split_image)
from .reader import NAMESPACE, OFFLINE_SECRET, PROJECT, stack_file
from .regions import REGIONS, RegionFacts

__all__ = [
    "AlertsConfig", "DeployConfig", "DeployNetwork", "EKS_STANDARD_SUPPORT_ENDS", "CAPACITY_TYPES", "ENVIRONMENTS", "MAX_AZS", "MIN_AZS", "NAMESPACE", "OFFLINE_SECRET", "PRIVATE_SUBNET_BITS",
    "PROJECT", "PUBLIC_SUBNET_BITS", "REGIONS", "SUPPORTED_EKS_VERSIONS", "AppConfig", "ClusterConfig",
    "ConfigError", "DatabaseConfig", "DnsConfig", "DrConfig", "NatGateways", "NetworkConfig", "NodePoolConfig", "RegionConfig", "RegionSwitchConfig",
    "RegionFacts", "Resources", "StackConfig", "StandbyConfig", "Volume", "engine_values", "load_bytes", "load_engine",
    "load_file", "load_from_engine", "memory_bytes", "millicores", "parse", "show", "split_image", "stack_file",
    "stack_file_keys", "stack_file_values",
]
