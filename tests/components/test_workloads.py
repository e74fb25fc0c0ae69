"""mercur.components.workloads: every app on every regional cluster, sized for active/passive."""

from __future__ import annotations

import copy
import json
import re

import kubernetes_schemas
import pytest

from mercur import config
from mercur.config import objectives
from mercur.components import entry, workloads
from mercur.components.tags import BACKUP_SELECTION
from mercur.offline import synth
from mercur.offline.synth import Plan, Resource
from conftest import ROOT, STACKS

PER_APP = ("kubernetes:core/v1:Namespace", "kubernetes:core/v1:ServiceAccount", "kubernetes:apps/v1:Deployment",
           "kubernetes:core/v1:Service", "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
           "kubernetes:policy/v1:PodDisruptionBudget", "kubernetes:networking.k8s.io/v1:NetworkPolicy")


def _objects(plan: Plan) -> list[Resource]:
    return [r for r in plan.resources if r.type.startswith("kubernetes:")]


def _app_objects(plan: Plan, region: str, app: str, type_: str) -> list[Resource]:
    return [r for r in plan.of_type(type_) if r.region == region and r.inputs["metadata"].get("namespace", r.inputs[
        "metadata"]["name"]) == app]


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_object_matches_the_clusters_openapi_schema(plan_of, stack) -> None:
    version = config.load_file(ROOT, stack).cluster.version
    objects = _objects(plan_of(stack))
    assert len(objects) >= 10
    for resource in objects:
        kubernetes_schemas.validate(copy.deepcopy(dict(resource.inputs)), version, strict=True)


def test_the_schema_check_catches_a_misspelled_field(plan_of) -> None:
    deployment = copy.deepcopy(dict(plan_of("dev").of_type("kubernetes:apps/v1:Deployment")[0].inputs))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_schemas.ValidationError, match="'readinessprobe' was unexpected"):
        kubernetes_schemas.validate(deployment, "1.35", strict=True)


def test_each_region_runs_every_app_with_all_its_objects(stack_plan) -> None:
    stack = config.load_file(ROOT, stack_plan.stack)
    for region in stack.regions:
        for app in stack.apps:
            counts = {t: len(_app_objects(stack_plan, region.name, app.name, t)) for t in PER_APP}
            # In every region an app with a database also gets its database Job's service account.
            bootstrap = int(app.database)
            assert counts == {**dict.fromkeys(PER_APP, 1), "kubernetes:networking.k8s.io/v1:NetworkPolicy": 2,
                              "kubernetes:core/v1:ServiceAccount": 1 + bootstrap}


def test_kubernetes_objects_go_through_their_own_regions_cluster(stack_plan) -> None:
    providers = {p.urn: p.region for p in stack_plan.of_type("pulumi:providers:kubernetes")}
    for resource in _objects(stack_plan):
        assert providers[resource.provider] == resource.region
        metadata = resource.inputs["metadata"]
        assert metadata["name"] and (metadata.get("namespace") not in (None, "default")
                                     or resource.type.endswith(("Namespace", "StorageClass", "NodeClass", "NodePool")))


def test_active_runs_the_bounds_and_passive_the_standby(plan_of) -> None:
    plan = plan_of("prod")
    stack = config.load_file(ROOT, "prod")
    for app in stack.apps:
        for region, low in (("us-west-1", app.min_replicas), ("us-east-1", stack.standby.replicas)):
            [deployment] = _app_objects(plan, region, app.name, "kubernetes:apps/v1:Deployment")
            [hpa] = _app_objects(plan, region, app.name, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
            assert deployment.inputs["spec"]["replicas"] == hpa.inputs["spec"]["minReplicas"] == low
            assert hpa.inputs["spec"]["maxReplicas"] == app.max_replicas
            assert deployment.ignore_changes == ("spec.replicas",)  # the HPA owns it after creation
            assert hpa.inputs["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                            "name": app.name}


def test_pods_are_hardened_probed_bounded_and_spread(stack_plan) -> None:
    for deployment in stack_plan.of_type("kubernetes:apps/v1:Deployment"):
        pod = deployment.inputs["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["privileged"] is False
        assert context["readOnlyRootFilesystem"] is True and context["capabilities"] == {"drop": ["ALL"]}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] == "http"
        assert set(container["resources"]) == {"requests", "limits"}
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {"topology.kubernetes.io/zone",
                                                                                "kubernetes.io/hostname"}
        assert deployment.inputs["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert ":" in container["image"] and not container["image"].endswith(":latest")


def test_probes_use_each_apps_health_path(plan_of) -> None:
    stack = config.load_file(ROOT, "prod")
    for app in stack.apps:
        for deployment in [d for d in plan_of("prod").of_type("kubernetes:apps/v1:Deployment")
                           if d.inputs["metadata"]["name"] == app.name]:
            [container] = deployment.inputs["spec"]["template"]["spec"]["containers"]
            assert container["readinessProbe"]["httpGet"]["path"] == app.health_path
            assert container["ports"] == [{"name": "http", "containerPort": app.port, "protocol": "TCP"}]


def test_each_apps_pods_are_bound_to_its_own_target_group_through_its_service(stack_plan) -> None:
    """No Service makes a load balancer: each app's ClusterIP Service names its pods to the TargetGroupBinding,
    which registers them by IP in the target group of the app's PublicEntry in the same region."""
    stack = config.load_file(ROOT, stack_plan.stack)
    services = {(s.region, s.inputs["metadata"]["name"]): s for s in stack_plan.of_type("kubernetes:core/v1:Service")
                if s.inputs["spec"].get("clusterIP") != "None"}
    bindings = stack_plan.of_type("kubernetes:eks.amazonaws.com/v1:TargetGroupBinding")
    target_groups = {synth._computed(g.type, g.name, g.id, g.region, g.inputs, stack_plan.account)["arn"]: g
                     for g in stack_plan.of_type("aws:lb/targetGroup:TargetGroup")}
    assert len(bindings) == len(services) == len(stack.apps) * len(stack.regions)
    for binding in bindings:
        app = binding.inputs["metadata"]["namespace"]
        service = services[(binding.region, app)]
        assert service.inputs["spec"]["type"] == "ClusterIP"
        [port] = service.inputs["spec"]["ports"]
        assert binding.inputs["spec"]["serviceRef"] == {"name": service.inputs["metadata"]["name"], "port": port["port"]}
        assert port["targetPort"] == "http" and binding.inputs["spec"]["targetType"] == "ip"
        target_group = target_groups[binding.inputs["spec"]["targetGroupARN"]]
        assert target_group.region == binding.region
        assert target_group.inputs["tags"]["Application"] == app
        # Named after its target group: a new group (its ARN cannot change in a binding) is a new binding; the
        # name is one Kubernetes and ELB both take.
        assert binding.inputs["metadata"]["name"] == target_group.inputs["name"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", target_group.inputs["name"])
        # ELB refuses to delete a group a listener forwards to: the new one is created first.
        assert target_group.delete_before_replace_defined and not target_group.delete_before_replace
        listeners = [r for r in stack_plan.of_type("aws:lb/listener:Listener") if r.region == binding.region
                     and r.inputs["defaultActions"][0].get("targetGroupArn") == binding.inputs["spec"]["targetGroupARN"]]
        assert listeners and all(binding.urn in listener.depends_on for listener in listeners)
        assert service.urn in binding.depends_on


def test_pods_drain_before_they_stop_and_count_once_their_target_is_healthy(stack_plan) -> None:
    """A terminating pod keeps serving while the load balancer stops sending to it, within its grace period; a
    new one counts as available (a rollout retires an old one) only after its target's first health checks."""
    workloads_ = [w for w in stack_plan.resources if w.type in ("kubernetes:apps/v1:Deployment",
                                                                 "kubernetes:apps/v1:StatefulSet")]
    assert workloads_
    for workload in workloads_:
        spec = workload.inputs["spec"]
        pod = spec["template"]["spec"]
        [container] = pod["containers"]
        drain = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert 10 <= drain < pod["terminationGracePeriodSeconds"] <= entry.DEREGISTRATION_DELAY_SECONDS
        assert spec["minReadySeconds"] > objectives.TARGET_HEALTH_INTERVAL_SECONDS * objectives.TARGET_HEALTHY_THRESHOLD


def test_disruption_budgets_and_network_policies(stack_plan) -> None:
    for pdb in stack_plan.of_type("kubernetes:policy/v1:PodDisruptionBudget"):
        assert pdb.inputs["spec"] == {"maxUnavailable": 1, "selector": pdb.inputs["spec"]["selector"]}
    policies = stack_plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    deny = [p for p in policies if p.inputs["metadata"]["name"] == "default-deny-ingress"]
    allow = [p for p in policies if p not in deny]
    assert len(deny) == len(allow) and all(p.inputs["spec"]["podSelector"] == {} and "ingress" not in p.inputs["spec"]
                                           for p in deny)
    for rule in allow:
        [ingress] = rule.inputs["spec"]["ingress"]
        assert ingress == {"ports": [{"protocol": "TCP", "port": 8080}]}


def test_each_app_gets_its_global_role_through_a_pod_identity_association_per_region(stack_plan) -> None:
    stack = config.load_file(ROOT, stack_plan.stack)
    associations = [a for a in stack_plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                    if a.inputs["serviceAccount"] != "db-bootstrap"]
    clusters = {c.region: c for c in stack_plan.of_type("eks:index:Cluster")}
    assert sorted((a.region, a.inputs["namespace"]) for a in associations) == sorted(
        (r.name, app.name) for r in stack.regions for app in stack.apps)
    for association in associations:
        app = association.inputs["namespace"]
        assert association.inputs["serviceAccount"] == app
        assert association.inputs["clusterName"] == clusters[association.region].inputs["name"]
        assert clusters[association.region].urn in association.dependencies  # the cluster exists first
        role = stack_plan.by_id(association.inputs["roleArn"].rsplit("/", 1)[1])
        assert role.region is None  # one global role, the same in every region
        [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        assert statement["Condition"]["StringEquals"] == {"aws:RequestTag/kubernetes-namespace": app,
                                                          "aws:RequestTag/kubernetes-service-account": app}
    for account in stack_plan.of_type("kubernetes:core/v1:ServiceAccount"):
        assert "annotations" not in account.inputs["metadata"]  # no IRSA annotation left behind


def test_endpoints_are_each_regions_load_balancers(plan_of) -> None:
    plan = plan_of("prod")
    for region, details in plan.outputs["regions"].items():
        assert set(details["endpoints"]) == {"storefront", "orders-api"}
        names = {b.inputs["name"]: b for b in plan.of_type("aws:lb/loadBalancer:LoadBalancer") if b.region == region}
        for app, hostname in details["endpoints"].items():
            assert hostname.endswith(f".{region}.elb.amazonaws.com")  # an ALB's DNS name
            assert hostname.split("-")[-1].split(".")[0].isdigit()
            assert names[entry.elb_name(f"mercur-prod-{config.REGIONS[region].short}", app)]


def test_storage_class_encrypts_and_tags_volumes_for_backup(stack_plan) -> None:
    for storage in stack_plan.of_type("kubernetes:storage.k8s.io/v1:StorageClass"):
        assert storage.inputs["provisioner"] == "ebs.csi.eks.amazonaws.com"
        assert storage.inputs["parameters"]["encrypted"] == "true"
        key = stack_plan.by_id(storage.inputs["parameters"]["kmsKeyId"].rsplit("/", 1)[1])
        assert key.type == "aws:kms/key:Key" and key.region == storage.region
        assert storage.inputs["parameters"]["tagSpecification_1"] == "=".join(BACKUP_SELECTION)
        assert storage.inputs["reclaimPolicy"] == ("Retain" if stack_plan.stack == "prod" else "Delete")


def test_an_app_with_a_volume_runs_as_a_statefulset_on_encrypted_storage(project) -> None:
    project.edit("dev", lambda v: v["mercur:apps"][1].update(volume={"sizeGb": 20, "mountPath": "/data"}))
    plan = project.synthesize("dev")
    [stateful] = plan.of_type("kubernetes:apps/v1:StatefulSet")
    [claim] = stateful.inputs["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == workloads.STORAGE_CLASS
    assert claim["spec"]["resources"]["requests"] == {"storage": "20Gi"}
    [hpa] = _app_objects(plan, "us-west-1", "orders-api", "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    assert hpa.inputs["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    assert len(plan.of_type("kubernetes:apps/v1:Deployment")) == 1
    for resource in _objects(plan):
        kubernetes_schemas.validate(copy.deepcopy(dict(resource.inputs)), "1.35", strict=True)


def test_secret_environment_reaches_pods_only_through_a_secret(project) -> None:
    project.edit("dev", lambda v: v["mercur:apps"][0].update(secretEnv={"DB_PASSWORD": {"secure": "v1:ciphertext"}}))
    plan = project.synthesize("dev")
    [secret] = plan.of_type("kubernetes:core/v1:Secret")
    assert "stringData" in secret.secrets and secret.document()["inputs"]["stringData"] == "[secret]"
    deployment = next(d for d in plan.of_type("kubernetes:apps/v1:Deployment")
                      if d.inputs["metadata"]["name"] == "storefront")
    env = {e["name"]: e for e in deployment.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DB_PASSWORD"] == {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "storefront-env", "key": "DB_PASSWORD"}}}


def test_a_tag_is_pulled_on_every_start_and_a_digest_once(plan_of) -> None:
    """CKV_K8S_15: a registry can move a tag, so a node must not run its stale copy; a digest never changes."""
    seen = set()
    for stack in ("dev", "prod"):
        for pod in plan_of(stack).of_type("kubernetes:apps/v1:Deployment") + plan_of(stack).of_type(
                "kubernetes:batch/v1:Job"):
            spec = pod.inputs["spec"]["template"]["spec"]
            for container in spec["containers"] + spec.get("initContainers", []):
                pinned = "@sha256:" in container["image"]
                assert container["imagePullPolicy"] == ("IfNotPresent" if pinned else "Always"), container["image"]
                seen.add(pinned)
    assert seen == {True, False}  # dev runs tags, prod digests
