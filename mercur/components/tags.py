"""Tags other components and the DR tooling discover resources by."""

# Every stateful resource (EBS volumes from the workloads' StorageClass, and anything else holding data)
# carries this tag; backup plans and snapshot policies select on it.
BACKUP_SELECTION = ("mercur:backup", "true")

# Snapshots the DLM policies take carry these (and keep them on cross-region copies).
SNAPSHOT_TAG = "mercur:snapshot"
SOURCE_REGION_TAG = "mercur:source-region"

# Workloads say which environment and failover role they serve; policies and DR tooling read these.
ENVIRONMENT_ANNOTATION = "mercur.io/environment"
ROLE_ANNOTATION = "mercur.io/role"  # active | passive
