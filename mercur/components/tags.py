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

# A world-open ingress rule carries this when it is a public load balancer's listener port (entry.PublicEntry);
# the no-world-ingress policy allows such a rule on the HTTP and HTTPS ports only.
PUBLIC_LISTENER_TAG = "mercur:public-listener"
PUBLIC_LISTENER_PORTS = (80, 443)

# What each serving app has an alarm on, in every region it runs in; its alarms carry the app and the signal
# (policy app-slo-alarms reads them).
APP_SIGNALS = ("not-ready", "restarts", "5xx", "latency", "target-connection-errors", "healthy-targets",
               "error-budget-burn")
APP_TAG, SIGNAL_TAG = "mercur:app", "mercur:signal"
