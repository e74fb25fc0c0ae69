"""Run the real program under Pulumi's mock runtime and record every resource it declares.

The one mock engine: the offline `plan` command and every test use it. The mocks supply only what AWS,
EKS or Kubernetes would compute (ids, ARNs, AZ lists, kubeconfig, hostnames); every value under test comes
from the program itself.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import runpy
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import grpc
import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc as pulumi_rpc
from google.protobuf import struct_pb2
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.sync_await import _ensure_event_loop

from .. import config
from ..components.lookups import UNREACHABLE_VARIABLE
from . import gcpolicy

PROJECT_DIR = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"

# The zones this mock account sees: the region table's example mapping of zone letters to zone ids.
ACCOUNT_ZONES: dict[str, tuple[tuple[str, str], ...]] = {name: facts.zones for name, facts in config.REGIONS.items()}

# EC2-style ids AWS gives these types.
_ID_PREFIXES = {
    "aws:ec2/vpc:Vpc": "vpc", "aws:ec2/subnet:Subnet": "subnet", "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat", "aws:ec2/eip:Eip": "eipalloc", "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc", "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg", "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/flowLog:FlowLog": "fl",
}

_IDENTIFIED_BY = {"aws:rds/globalCluster:GlobalCluster": "globalClusterIdentifier",
                  "aws:rds/cluster:Cluster": "clusterIdentifier", "aws:rds/clusterInstance:ClusterInstance": "identifier",
                  "aws:rds/subnetGroup:SubnetGroup": "name",
                  "aws:rds/clusterParameterGroup:ClusterParameterGroup": "name"}

_recording = False
# Route53 is global whatever region its provider names; IAM and Aurora global clusters are global when created
# through the global provider (a region's own roles, like its cluster role, are listed with the region).
_GLOBAL_TYPES = ("aws:route53/",)
_GLOBAL_THROUGH_GLOBAL_PROVIDER = ("aws:iam/", "aws:rds/globalCluster:")
_SIG, _RESOURCE_SIG = pulumi_rpc._special_sig_key, pulumi_rpc._special_resource_sig
_SECRET_SIG = pulumi_rpc._special_secret_sig


def recording() -> bool:
    """True while `synthesize` runs a program: the tests' guard refuses resources declared outside it."""
    return _recording


@dataclass(frozen=True)
class Resource:
    urn: str
    id: str  # the physical id the mock cloud assigned
    type: str
    name: str
    parent: str | None
    region: str | None
    inputs: Mapping[str, Any]
    provider: str | None = None  # URN of the explicit or inherited provider
    providers: Mapping[str, str] = field(default_factory=dict)  # package -> provider URN (components)
    secrets: tuple[str, ...] = ()  # input keys the program marked secret; masked in the document
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()
    replace_on_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()  # URNs it waits for (depends_on and inputs), and is deleted before
    custom: bool = True
    depends_on: tuple[str, ...] = ()  # the explicit `depends_on` only: dependencies no input carries
    delete_before_replace: bool = False
    # The program said delete_before_replace, true or false: an explicit false overrides a provider that
    # would delete first (the bridge does for a named resource).
    delete_before_replace_defined: bool = False
    aliases: tuple[str, ...] = ()  # earlier URNs (or names) the engine treats as this resource

    def options(self) -> dict[str, Any]:
        """The resource options the engine received: what the run-time state contract and policies read."""
        return {"protect": self.protect, "retainOnDelete": self.retain_on_delete,
                "ignoreChanges": list(self.ignore_changes), "replaceOnChanges": list(self.replace_on_changes),
                "dependsOn": list(self.depends_on), "deleteBeforeReplace": self.delete_before_replace,
                "aliases": list(self.aliases)}

    def document(self) -> dict[str, Any]:
        inputs = {k: "[secret]" if k in self.secrets else v for k, v in self.inputs.items()}
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
                "region": self.region, "inputs": inputs, "options": self.options()}


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[Resource]
    outputs: dict[str, Any] = field(default_factory=dict)
    environment: str | None = None  # the stack file's, when synthesized from one
    # What the stack file allows today but not for long, and what the program warned of while it ran.
    warnings: list[str] = field(default_factory=list)
    calls: list[tuple[str, str | None]] = field(default_factory=list)  # (function, region) of every provider call
    account: str = ACCOUNT_ID  # the one the providers allow: every computed ARN is in it

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, **where: Any) -> Resource:
        found = [r for r in self.of_type(type_) if all(getattr(r, k) == v for k, v in where.items())]
        if len(found) != 1:
            raise LookupError(f"expected one {type_} where {where}, found {len(found)}")
        return found[0]

    def by_urn(self, urn: str) -> Resource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise LookupError(f"no resource has urn {urn}")

    def by_id(self, physical_id: str) -> Resource:
        for resource in self.resources:
            if resource.id == physical_id:
                return resource
        raise LookupError(f"no resource has id {physical_id}")

    def children(self, parent: Resource) -> Iterator[Resource]:
        return (r for r in self.resources if r.parent == parent.urn)

    def document(self) -> dict[str, Any]:
        return {"project": self.project, "stack": self.stack,
                "resources": [r.document() for r in self.resources], "outputs": self.outputs}


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _parent(urn: str) -> str | None:
    """Top-level resources hang off the implicit root Stack, which the document leaves out: null."""
    return None if not urn or urn.split("::")[2] == "pulumi:pulumi:Stack" else urn


def _urn(provider_reference: str | None) -> str:
    """A provider reference is `<urn>::<id>`."""
    return (provider_reference or "").rsplit("::", 1)[0]


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(_SIG) == _SECRET_SIG


UNKNOWN = "[unknown]"  # how the document shows a value the program could not know (lookups.py)


def _plain(value: Any) -> Any:
    """Engine-form inputs as JSON: protobuf numbers back to ints, secrets unwrapped, unknowns marked."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == pulumi_rpc.UNKNOWN or isinstance(value, pulumi.output.Unknown):
        return UNKNOWN
    if _is_secret(value):
        return _plain(value["value"])
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.AssetArchive):  # what the engine would upload: each file and its digest
        return {"archive": {name: _plain(asset) for name, asset in sorted(value.assets.items())}}
    if isinstance(value, pulumi.FileAsset):
        path = Path(str(value.path))
        return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return value


def _kubeconfig(cluster_name: str, endpoint: str) -> str:
    """The kubeconfig pulumi-eks generates: `aws eks get-token` without `--region` (pulumi-eks #1038)."""
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "aws",
        "clusters": [{"name": "kubernetes", "cluster": {"server": endpoint,
                                                         "certificate-authority-data": "LS0tLS1CRUdJTg=="}}],
        "contexts": [{"name": "aws", "context": {"cluster": "kubernetes", "user": "aws"}}],
        "users": [{"name": "aws", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--output", "json"]}}}],
    })


def _physical_id(type_: str, name: str, inputs: Mapping[str, Any]) -> str:
    """The id AWS would assign: EC2-style prefixed ids, key UUIDs, IAM names (given or auto-named)."""
    if type_ in _ID_PREFIXES:
        return f"{_ID_PREFIXES[type_]}-{_digest(type_, name)}"
    if type_ in ("aws:kms/key:Key", "aws:route53/healthCheck:HealthCheck"):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{type_}/{name}"))
    if type_ == "aws:route53/zone:Zone":
        return f"Z{_digest(type_, name, length=20).upper()}"
    if type_.startswith("aws:iam/") and inputs.get("name") or type_ == "aws:backup/vault:Vault":
        return str(inputs["name"])
    if type_ in _IDENTIFIED_BY:  # RDS names its resources by the identifier they are created with
        return str(inputs.get(_IDENTIFIED_BY[type_]) or f"{name}-{_digest(type_, name, length=7)}")
    return f"{name}-{_digest(type_, name, length=7)}"


def _computed(type_: str, name: str, physical_id: str, region: str | None,
              inputs: Mapping[str, Any], account: str = ACCOUNT_ID) -> dict[str, Any]:
    """Outputs the cloud would compute for a resource of this type, in `account`."""
    region = region or "us-east-1"
    if type_ == "eks:index:Cluster":
        cluster = inputs.get("name") or name
        endpoint = f"https://{_digest(cluster, 'endpoint', length=32).upper()}.gr7.{region}.eks.amazonaws.com"
        outputs = {"kubeconfigJson": _kubeconfig(cluster, endpoint),
                   "clusterSecurityGroupId": f"sg-{_digest(cluster, 'cluster-sg')}"}
        if (inputs.get("autoMode") or {}).get("enabled"):  # pulumi-eks creates the node role, auto-named
            outputs["autoModeNodeRoleName"] = f"{name}-nodeRole-{_digest(cluster, 'node-role', length=7)}"
        return outputs
    if not type_.startswith("aws:"):
        return {}
    service, kind = type_.split(":")[1].split("/")[0], type_.split(":")[2]
    kind = kind[0].lower() + kind[1:]
    if service == "iam":
        return {"name": physical_id, "arn": f"arn:aws:iam::{account}:{kind}/{physical_id}",
                "uniqueId": f"AROA{_digest(name, length=17).upper()}"}
    if type_ == "aws:kms/key:Key":
        return {"keyId": physical_id, "arn": f"arn:aws:kms:{region}:{account}:key/{physical_id}"}
    if type_ == "aws:backup/vault:Vault":
        return {"arn": f"arn:aws:backup:{region}:{account}:backup-vault:{physical_id}", "recoveryPoints": 0}
    if type_ == "aws:route53/zone:Zone":
        return {"zoneId": physical_id, "arn": f"arn:aws:route53:::hostedzone/{physical_id}",
                "nameServers": [f"ns-{n}.awsdns-{n}.org" for n in (1, 2, 3, 4)]}
    if type_ == "aws:sns/topic:Topic":
        return {"arn": f"arn:aws:sns:{region}:{account}:{inputs.get('name', physical_id)}"}
    if type_ == "aws:cloudwatch/logGroup:LogGroup":
        return {"arn": f"arn:aws:logs:{region}:{account}:log-group:{inputs.get('name', name)}"}
    if type_ == "aws:rds/globalCluster:GlobalCluster":
        identifier = inputs.get("globalClusterIdentifier", physical_id)
        return {"arn": f"arn:aws:rds::{account}:global-cluster:{identifier}",
                "globalClusterResourceId": f"cluster-{_digest(identifier, length=24)}",
                # The global writer endpoint follows the writer across regions.
                "endpoint": f"{identifier}.global-{_digest(identifier, 'global', length=10)}.global.rds.amazonaws.com"}
    if type_ == "aws:rds/cluster:Cluster":
        identifier = inputs.get("clusterIdentifier", physical_id)
        suffix = f"{_digest(account, region, length=12)}.{region}.rds.amazonaws.com"
        return {"arn": f"arn:aws:rds:{region}:{account}:cluster:{identifier}",
                "clusterResourceId": f"cluster-{_digest(identifier, region, length=26).upper()}",
                "endpoint": f"{identifier}.cluster-{suffix}", "readerEndpoint": f"{identifier}.cluster-ro-{suffix}",
                "port": 5432}
    if type_ == "aws:arcregionswitch/plan:Plan":  # plans are global: no region in their ARN
        return {"arn": f"arn:aws:arc-region-switch::{account}:plan/{inputs.get('name', name)}:"
                       f"{_digest(name, length=6)}"}
    if type_ == "aws:lambda/function:Function":
        arn = f"arn:aws:lambda:{region}:{account}:function:{inputs.get('name', physical_id)}"
        return {"arn": arn, "qualifiedArn": f"{arn}:$LATEST", "version": "$LATEST",
                "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"}
    if type_ == "aws:cloudwatch/eventRule:EventRule":  # EventBridge's, whatever the SDK module is called
        return {"arn": f"arn:aws:events:{region}:{account}:rule/{inputs.get('name', physical_id)}"}
    if type_ == "aws:cloudwatch/metricAlarm:MetricAlarm":  # CloudWatch's alarm ARNs end in the alarm's name
        return {"arn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{inputs.get('name', physical_id)}"}
    if type_ in ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup"):
        # ELB's ARNs end in <kind>/<name>/<16 hex digits>; CloudWatch's dimensions are the part after the
        # colon (the provider's `arn_suffix`). An ALB's DNS name ends in <digits>.<region>.elb.amazonaws.com;
        # its hosted zone is ELB's for the region.
        lb_name = str(inputs.get("name") or physical_id)
        path = (f"loadbalancer/app/{lb_name}" if kind == "loadBalancer" else f"targetgroup/{lb_name}") + \
            f"/{_digest(type_, name, length=16)}"
        outputs = {"arn": f"arn:aws:elasticloadbalancing:{region}:{account}:{path}", "name": lb_name,
                   "arnSuffix": path.removeprefix("loadbalancer/")}
        if kind == "loadBalancer":
            outputs |= {"dnsName": f"{lb_name}-{int(_digest(name, length=8), 16)}.{region}.elb.amazonaws.com",
                        "zoneId": f"Z{_digest(region, 'elb', length=13).upper()}"}
        return outputs
    if type_ == "aws:secretsmanager/secret:Secret":
        return {"arn": f"arn:aws:secretsmanager:{region}:{account}:secret:{inputs.get('name', name)}-"
                       f"{_digest(name, length=6)}"}
    extra: dict[str, Any] = {}
    if type_ == "aws:ec2/subnet:Subnet":  # EC2 names the zone with this account's letter for the id
        extra = {"availabilityZone": dict((i, z) for z, i in ACCOUNT_ZONES[region])[inputs["availabilityZoneId"]]}
    if type_ == "aws:ec2/eip:Eip":
        extra = {"allocationId": physical_id, "publicIp": f"198.51.100.{int(_digest(name, length=2), 16) % 254 + 1}"}
    return {"arn": f"arn:aws:{service}:{region}:{account}:{kind}/{physical_id}", **extra}


def _invoke(token: str, args: Mapping[str, Any], region: str | None) -> dict[str, Any]:
    """Answers of the provider functions the program calls (besides ARC's, which `_RecordingMonitor` reads
    from the plan it recorded): none today; synthesis asks AWS nothing it can know another way."""
    raise NotImplementedError(f"the mock cloud does not answer {token}; add it to mercur.offline.synth._invoke")


def _references_to_urns(struct) -> None:
    """Replace every resource reference inside a protobuf Struct by its URN, in place."""
    for key in list(struct.fields):
        _reference_value_to_urn(struct.fields[key])


def _reference_value_to_urn(value) -> None:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        fields = value.struct_value.fields
        if _SIG in fields and fields[_SIG].string_value == _RESOURCE_SIG:
            value.string_value = fields["urn"].string_value
        else:
            _references_to_urns(value.struct_value)
    elif kind == "list_value":
        for item in value.list_value.values:
            _reference_value_to_urn(item)


# Types whose auto-names pulumi-aws bounds (AutoName(name, maxlen) in its provider mapping): the logical name,
# a hyphen and 7 random characters must fit.
_AUTONAME_LIMITS = {"aws:lb/loadBalancer:LoadBalancer": 32, "aws:lb/targetGroup:TargetGroup": 32}


class _Unreachable(grpc.RpcError):
    """How the engine reports a provider call that failed: a gRPC error whose details carry the provider's
    message (the SDK raises it in the program as an Exception)."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self._details = details

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNKNOWN

    def details(self) -> str:
        return self._details


class _MockCloud(pulumi_mocks.Mocks):
    """The provider functions the program calls; registrations are answered by `_RecordingMonitor`."""

    def __init__(self, monitor: "_RecordingMonitor") -> None:
        self._monitor = monitor

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        raise NotImplementedError(f"the program reads {args.typ} {args.name}; the mock engine answers "
                                  "declarations only (add reads to mercur.offline.synth._RecordingMonitor)")

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list]:
        return _invoke(args.token, args.args, self._monitor.region_of_provider(args.provider)), []


class _SameThreadExecutor(concurrent.futures.ThreadPoolExecutor):
    """The SDK hands every monitor call to the event loop's default executor, a thread pool sized for gRPC
    round trips to a real engine. The recording monitor answers in microseconds without touching the event
    loop, so the hand-off to a worker thread and the wake-up back cost more than the call: run it in place."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting coroutine, as the pool would
            future.set_exception(error)
        return future


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, with every registration recorded (parent, providers, options) and answered
    with the inputs plus what the cloud would compute."""

    def __init__(self, unreachable: frozenset[str] = frozenset()) -> None:
        super().__init__(_MockCloud(self))
        self.recorded: list[Resource] = []
        self.unreachable = unreachable  # regions whose every call fails, as in a Region's outage
        self.calls: list[tuple[str, str | None]] = []  # (function, region) of every provider call the program made
        self._regions: dict[str, str | None] = {}  # every monitor call runs on the loop's thread: no lock
        self._global_providers: set[str] = set()
        self.account = ACCOUNT_ID  # the account the providers allow (the stack file's): ARNs are computed in it

    def RegisterResource(self, request):  # noqa: N802 - the gRPC method name
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        # The answer is the inputs plus what the cloud computes. The SDK's mock monitor round-trips every
        # input through Python values and back (a third of the monitor's time); copying the message does not.
        # Resource references (a `service_role` given to pulumi-eks) are kept as their URN: the record needs only that, and
        # rehydrating them inside the monitor would wait on the event loop that is calling it.
        state = struct_pb2.Struct()
        state.CopyFrom(request.object)
        _references_to_urns(state)
        inputs = pulumi_rpc.deserialize_properties(state, keep_unknowns=True)
        if request.type in _AUTONAME_LIMITS and not inputs.get("name") \
                and len(request.name) + 8 > _AUTONAME_LIMITS[request.type]:
            # What the provider's check says of an auto-name past the type's limit, at preview already.
            raise _Unreachable(f"{request.type} {request.name}: name '{request.name}' plus 7 random chars is longer "
                               f"than maximum length {_AUTONAME_LIMITS[request.type]}")
        physical_id = _physical_id(request.type, request.name, inputs)
        region = self._record(request, urn, inputs, physical_id)
        computed = _computed(request.type, request.name, physical_id, region, inputs, self.account)
        if computed:
            state.update(computed)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=physical_id, object=state)

    def Invoke(self, request):  # noqa: N802 - the gRPC method name
        # As the SDK's mock monitor does, minus its nested event loop (see _SameThreadExecutor).
        args = pulumi_rpc.deserialize_properties(request.args)
        region = self.region_of_provider(request.provider) or "us-east-1"  # global functions answer there
        self.calls.append((request.tok, region))
        if region in self.unreachable:
            raise _Unreachable(f"{request.tok}: operation error: dial tcp: lookup endpoint in {region}: "
                               "i/o timeout")
        answer = struct_pb2.Struct()
        if request.tok == "aws:arcregionswitch/getRoute53HealthChecks:getRoute53HealthChecks":
            answer.update(self._region_switch_health_checks(args["planArn"]))
        else:
            answer.update(_invoke(request.tok, args, region))
        return resource_pb2.ResourceInvokeResponse(**{"return": answer})

    def ReadResource(self, request):  # noqa: N802 - the gRPC method name
        raise NotImplementedError(f"the program reads {request.type} {request.name}; the mock engine answers "
                                  "declarations only")

    def _region_switch_health_checks(self, plan_arn: str) -> dict[str, Any]:
        """What ARC answers: the health checks its plan's Route 53 step created, one per record set it maps."""
        [plan] = [r for r in self.recorded if r.type == "aws:arcregionswitch/plan:Plan"
                  and _computed(r.type, r.name, r.id, None, r.inputs, self.account)["arn"] == plan_arn]
        checks = []
        for step in plan.inputs["workflows"][0]["steps"]:
            for step_config in step.get("route53HealthCheckConfigs") or []:
                for record_set in step_config["recordSets"]:
                    checks.append({"healthCheckId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{plan_arn}/{record_set['region']}")),
                                   "hostedZoneId": step_config["hostedZoneId"], "recordName": step_config["recordName"],
                                   "region": record_set["region"], "status": "healthy"})
        return {"id": plan_arn, "planArn": plan_arn, "healthChecks": checks}

    def region_of_provider(self, reference: str | None) -> str | None:
        return self._regions.get(_urn(reference))

    def _record(self, request, urn: str, inputs: Mapping[str, Any], physical_id: str) -> str | None:
        if urn in self._regions:  # as the engine refuses a second registration of one URN
            raise ValueError(f"Duplicate resource URN '{urn}'; try giving it a unique name")
        # A resource's own region (AWS providers, Region components, pulumi-aws 7's per-resource override)
        # wins; then its provider's; then its parent's (Kubernetes objects through their cluster's Region).
        own = inputs.get("region") if request.type.startswith(("aws:", "pulumi:providers:aws", "mercur:")) else None
        region = own or self.region_of_provider(request.provider) or self._regions.get(request.parent)
        if request.type == "pulumi:providers:aws" and _default_tags(inputs).get("Region") == "global":
            self._global_providers.add(urn)
        if request.type == "pulumi:providers:aws" and inputs.get("allowedAccountIds"):
            allowed = inputs["allowedAccountIds"]  # the engine carries provider inputs as JSON strings
            self.account = (json.loads(allowed) if isinstance(allowed, str) else allowed)[0]
        if request.type.startswith(_GLOBAL_TYPES) or (request.type.startswith(_GLOBAL_THROUGH_GLOBAL_PROVIDER)
                                                      and _urn(request.provider) in self._global_providers):
            region = None
        recorded = Resource(
            urn=urn, id=physical_id, type=request.type, name=request.name, parent=_parent(request.parent),
            region=region, inputs=_plain(inputs), provider=_urn(request.provider) or None,
            providers={package: _urn(ref) for package, ref in request.providers.items()},
            secrets=tuple(key for key, value in inputs.items() if _is_secret(value)),
            protect=bool(request.protect), retain_on_delete=bool(request.retainOnDelete),
            ignore_changes=tuple(request.ignoreChanges), replace_on_changes=tuple(request.replaceOnChanges),
            dependencies=tuple(request.dependencies), depends_on=_explicit_dependencies(request),
            delete_before_replace=bool(request.deleteBeforeReplace),
            delete_before_replace_defined=bool(request.deleteBeforeReplaceDefined), aliases=_aliases(request),
            custom=bool(request.custom))
        self._regions[urn] = region
        self.recorded.append(recorded)
        return region


def _explicit_dependencies(request) -> tuple[str, ...]:
    """The SDK sends `depends_on` and every input's dependencies as one list; what no input carries was
    asked for explicitly."""
    through_inputs = {urn for deps in request.propertyDependencies.values() for urn in deps.urns}
    return tuple(sorted(urn for urn in set(request.dependencies) - through_inputs))


def _aliases(request) -> tuple[str, ...]:
    """Aliases as the engine receives them: URNs, or a spec's name (the SDK sends specs when it can)."""
    specs = [alias.urn or alias.spec.name for alias in request.aliases]
    return tuple(sorted(str(spec) for spec in [*request.aliasURNs, *specs] if spec))


def _default_tags(provider_inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """A provider's default tags: the engine carries provider inputs as JSON strings."""
    tags = provider_inputs.get("defaultTags") or {}
    if isinstance(tags, str):
        tags = json.loads(tags)
    return tags.get("tags") or {} if isinstance(tags, Mapping) else {}


def _skip_source_positions() -> None:
    """Every registration walks and formats the Python stack for the engine's source positions; under mocks
    nobody reads them, and they cost about a tenth of a plan."""
    if hasattr(pulumi_resource, "_get_stack_trace"):
        pulumi_resource._get_stack_trace = _empty_stack_trace


def _empty_stack_trace():
    return source_pb2.StackTrace()


_live: list[_RecordingMonitor] = []  # the monitor of the synthesis under way, for resources_declared()


def resources_declared() -> int:
    """How many resources the synthesis under way has declared so far (0 when none runs): read from another
    thread for progress, a length read under the GIL."""
    live = _live[-1:]  # one read: the synthesis may end (and leave _live) between a test and an index
    return len(live[0].recorded) if live else 0


class _Warnings(logging.Handler):
    """What the program tells the engine at warning level (`pulumi.log.warn`): the plan prints it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_program(stack: str, values: Mapping[str, str], project_dir: Path = PROJECT_DIR,
                unreachable: frozenset[str] = frozenset(), declared: frozenset[str] | None = None) -> Plan:
    """Run `__main__.py` as the Pulumi engine runs an `up`, with `values` as the stack's config map; every call
    into an `unreachable` region fails. `declared`: the regions the run is told are down (the runbook's
    MERCUR_UNREACHABLE), by default the unreachable ones."""
    global _recording
    monitor = _RecordingMonitor(unreachable)
    warnings = _Warnings()
    logger = logging.getLogger(f"mercur.synth.{stack}")
    logger.propagate, logger.handlers = False, [warnings]
    _live.append(monitor)
    outputs: dict[str, Any] = {}

    def program() -> pulumi.Output:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")
        root = pulumi_settings.get_root_resource()

        async def collect() -> None:
            # Each output with its unknown parts marked, rather than an `apply` over all of them, which would
            # skip them all when one value is unknown (a lookup that went unanswered).
            for key, value in dict(root.outputs).items():
                outputs[key] = await pulumi.Output.from_input(value).future(with_unknowns=True)
        return pulumi.Output.from_input(collect())

    _recording = True
    told = os.environ.get(UNREACHABLE_VARIABLE)
    os.environ[UNREACHABLE_VARIABLE] = ",".join(sorted(unreachable if declared is None else declared))
    try:
        with gcpolicy.held_off():
            _skip_source_positions()
            pulumi_settings.ROOT.set(None)  # each run gets a fresh root Stack, as each `pulumi up` does
            pulumi.runtime.set_mocks(monitor.mocks, project=config.PROJECT, stack=stack, preview=False,
                                     logger=logger, monitor=monitor)
            pulumi.runtime.set_all_config(dict(values))
            _ensure_event_loop().set_default_executor(_SameThreadExecutor(max_workers=1))
            pulumi.runtime.test(program)()
    except pulumi.RunError as error:
        if isinstance(error.__cause__, config.ConfigError):
            raise error.__cause__ from None
        raise
    finally:
        _recording = False
        if told is None:
            os.environ.pop(UNREACHABLE_VARIABLE)
        else:
            os.environ[UNREACHABLE_VARIABLE] = told
        _live.remove(monitor)
        pulumi.runtime.set_all_config({})
    # Registrations arrive in whatever order the event loop resolves them; sorted by URN, every run's document
    # is identical.
    return Plan(config.PROJECT, stack, sorted(monitor.recorded, key=lambda r: r.urn), _plain(outputs),
                warnings=warnings.messages, calls=monitor.calls, account=monitor.account)


def synthesize(stack: str, project_dir: Path = PROJECT_DIR, unreachable: frozenset[str] = frozenset(),
               declared: frozenset[str] | None = None) -> Plan:
    """Validate `Pulumi.<stack>.yaml`, then run the program on it. Bad config raises before any resource."""
    values = config.stack_file_values(project_dir, stack)  # read once; validated as the program will read it
    stack_config = config.load_engine(values, stack=stack, project_dir=project_dir)
    plan = run_program(stack, values, project_dir, unreachable, declared)
    plan.environment, plan.warnings = stack_config.environment, [*stack_config.warnings, *plan.warnings]
    return plan
