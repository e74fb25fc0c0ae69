"""mercur.components.failover: Route53 health checks, alarms in us-east-1, and PRIMARY/SECONDARY alias records."""

from __future__ import annotations

import json

import pytest

from conftest import third_region
from mercur import config
from mercur.components import failover
from mercur.offline import changes, synth
from mercur.offline.synth import Plan


def _records(plan: Plan) -> list[synth.Resource]:
    return plan.of_type("aws:route53/record:Record")


def test_alarm_topic_key_lets_only_cloudwatch_of_this_account_publish() -> None:
    _, cloudwatch, logs = json.loads(failover.alarm_topic_key_policy("aws", "123456789012"))["Statement"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].startswith(
        "arn:aws:logs:us-east-1:123456789012:log-group:")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_two_regions_get_a_well_formed_failover_pair(plan_of, stack) -> None:
    plan = plan_of(stack)
    records = _records(plan)
    assert len(records) == 2
    assert {r.inputs["name"] for r in records} == {plan.outputs["recordName"]}
    assert {r.inputs["type"] for r in records} == {"A"}
    policies = {r.inputs["failoverRoutingPolicies"][0]["type"]: r for r in records}
    assert set(policies) == {"PRIMARY", "SECONDARY"}
    regions = {"PRIMARY": "us-west-1", "SECONDARY": "us-east-1"}
    for role, record in policies.items():
        region = regions[role]
        assert record.inputs["setIdentifier"] == role.lower()
        # Traffic moves with the Region switch plan: each record answers by the health check it controls.
        assert record.inputs["healthCheckId"] == plan.outputs["regionSwitch"]["healthCheckIds"][region]
        assert record.inputs["healthCheckId"] != plan.outputs["regions"][region]["healthCheckId"]
        [alias] = record.inputs["aliases"]
        assert alias["name"] == plan.outputs["regions"][region]["endpoints"]["storefront"]
        # The alias targets the storefront's ALB in that region: its DNS name and its hosted zone, as ELB gave them.
        [balancer] = [b for b in plan.of_type("aws:lb/loadBalancer:LoadBalancer")
                      if b.region == region and b.inputs["tags"]["Application"] == "storefront"]
        assert alias["zoneId"] == synth._computed(balancer.type, balancer.name, balancer.id, region,
                                                  balancer.inputs, plan.account)["zoneId"]
        # DNS moves only with the switch, after the writer: Route53 must not leave a region by itself.
        assert alias["evaluateTargetHealth"] is False
        assert "ttl" not in record.inputs  # alias records answer with the load balancer's own TTL


def test_health_checks_probe_their_own_regions_endpoint_over_https(plan_of) -> None:
    plan = plan_of("prod")
    checks = plan.of_type("aws:route53/healthCheck:HealthCheck")
    assert len(checks) == 2
    for check in checks:
        region = check.inputs["tags"]["mercur:region"]
        assert check.region is None  # Route53 is global
        assert check.inputs["fqdn"] == plan.outputs["regions"][region]["endpoints"]["storefront"]
        assert check.inputs["fqdn"].endswith(f".{region}.elb.amazonaws.com")
        assert (check.inputs["type"], check.inputs["port"], check.inputs["resourcePath"]) == ("HTTPS", 443, "/healthz")
        assert check.inputs["requestInterval"] in (10, 30) and 1 <= check.inputs["failureThreshold"] <= 10


def test_every_health_check_has_an_alarm_in_us_east_1(stack_plan) -> None:
    checks = {c.id for c in stack_plan.of_type("aws:route53/healthCheck:HealthCheck")}
    alarms = [a for a in stack_plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if a.inputs["name"].endswith("-unhealthy")]  # (the plan's trigger alarms watch the same checks)
    providers = {p.urn: p.inputs["region"] for p in stack_plan.of_type("pulumi:providers:aws")}
    assert {a.inputs["dimensions"]["HealthCheckId"] for a in alarms} == checks
    for alarm in alarms:
        assert providers[alarm.provider] == "us-east-1" == alarm.region
        assert (alarm.inputs["namespace"], alarm.inputs.get("metricName")) == ("AWS/Route53", "HealthCheckStatus")
        assert alarm.inputs["comparisonOperator"] == "LessThanThreshold" and alarm.inputs["threshold"] == 1
        topic = next(t for t in stack_plan.of_type("aws:sns/topic:Topic")
                     if alarm.inputs["alarmActions"] == [f"arn:aws:sns:us-east-1:{stack_plan.account}:{t.inputs['name']}"])
        assert topic.inputs["kmsMasterKeyId"].startswith("arn:aws:kms:us-east-1:")


def test_dev_gets_a_plain_record_and_no_failover(plan_of) -> None:
    plan = plan_of("dev")
    [record] = _records(plan)
    assert "failoverRoutingPolicies" not in record.inputs and "setIdentifier" not in record.inputs
    [zone] = plan.of_type("aws:route53/zone:Zone")
    assert record.inputs["zoneId"] == plan.outputs["hostedZoneId"] == zone.id
    assert plan.outputs["applicationUrl"] == "http://shop.dev.mercur.example"


def test_existing_zones_are_looked_up_not_created(plan_of) -> None:
    plan = plan_of("prod")
    assert not plan.of_type("aws:route53/zone:Zone")
    assert {r.inputs["zoneId"] for r in _records(plan)} == {plan.outputs["hostedZoneId"]}
    assert plan.outputs["applicationUrl"] == "https://shop.mercur.example"


def test_three_regions_build_a_failover_chain(project) -> None:
    plan = project.edit("prod", third_region).synthesize("prod", shared=True)
    by_name: dict[str, dict[str, synth.Resource]] = {}
    for record in _records(plan):
        by_name.setdefault(record.inputs["name"], {})[record.inputs["failoverRoutingPolicies"][0]["type"]] = record
    def region(record: synth.Resource) -> str:
        return next(r for r, d in plan.outputs["regions"].items() if d.get("healthCheckId") == record.inputs[
            "healthCheckId"])

    top = by_name.pop("shop.mercur.example")
    assert region(top["PRIMARY"]) == "us-west-1"
    [nested_alias] = top["SECONDARY"].inputs["aliases"]
    nested = by_name.pop(nested_alias["name"])
    assert nested_alias["zoneId"] == plan.outputs["hostedZoneId"] and nested_alias["evaluateTargetHealth"]
    assert region(nested["PRIMARY"]) == "us-east-1" and region(nested["SECONDARY"]) == "us-east-2"
    assert not by_name
    assert len(plan.of_type("aws:route53/healthCheck:HealthCheck")) == 3


def test_outputs_are_the_dr_tools_contract(plan_of) -> None:
    outputs = plan_of("staging").outputs
    assert outputs["recordName"] == "shop.staging.mercur.example"
    assert outputs["hostedZoneId"].startswith("Z")
    assert all(details["healthCheckId"] for details in outputs["regions"].values())
    assert outputs["objectives"]["rtoMinutes"]["achievable"] <= outputs["objectives"]["rtoMinutes"]["target"]


def test_a_zone_the_stack_creates_is_signed_and_logs_its_queries(plan_of) -> None:
    plan = plan_of("dev")
    [zone] = plan.of_type("aws:route53/zone:Zone")
    [ksk] = plan.of_type("aws:route53/keySigningKey:KeySigningKey")
    [dnssec] = plan.of_type("aws:route53/hostedZoneDnsSec:HostedZoneDnsSec")
    assert ksk.inputs["hostedZoneId"] == dnssec.inputs["hostedZoneId"] == zone.id
    assert dnssec.inputs["signingStatus"] == "SIGNING" and ksk.inputs["status"] == "ACTIVE"
    signing_key = plan.by_id(ksk.inputs["keyManagementServiceArn"].rsplit("/", 1)[1])
    assert (signing_key.inputs["customerMasterKeySpec"], signing_key.inputs["keyUsage"]) == (
        "ECC_NIST_P256", "SIGN_VERIFY")
    assert json.loads(signing_key.inputs["policy"])["Statement"][1]["Principal"] == {
        "Service": "dnssec-route53.amazonaws.com"}
    [query_log] = plan.of_type("aws:route53/queryLog:QueryLog")
    [group] = [g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup") if g.name.endswith("-query-logs")]
    assert group.inputs["name"] == "/aws/route53/dev.mercur.example" and group.region == "us-east-1"
    assert query_log.inputs["zoneId"] == zone.id and query_log.inputs["cloudwatchLogGroupArn"].endswith(
        ":log-group:/aws/route53/dev.mercur.example")
    assert not plan_of("prod").of_type("aws:route53/queryLog:QueryLog")  # prod's zone exists already


def test_with_a_switch_plan_a_swap_of_the_regions_leaves_the_records_as_they_are(project, plan_of) -> None:
    """Which record answers is the plan's run-time state: the records are declared home region first."""
    before = {r.urn: r.inputs for r in _records(plan_of("prod"))}
    after = {r.urn: r.inputs for r in _records(project.edit("prod", lambda v: v["mercur:regions"].reverse())
                                               .synthesize("prod", shared=True))}
    assert len(before) == 2 and after == before


def test_without_a_plan_records_are_named_by_role_so_a_swap_only_retargets_them(project) -> None:
    before = {r.name: r for r in _records(project.edit("prod", third_region).synthesize("prod", shared=True))}
    after = {r.name: r for r in _records(project.edit("prod", lambda v: v["mercur:regions"].reverse())
                                         .synthesize("prod"))}
    assert set(before) == set(after) and len(before) == 4  # PRIMARY, SECONDARY -> a nested PRIMARY + SECONDARY
    for name, record in before.items():
        role = record.inputs["failoverRoutingPolicies"]
        assert after[name].inputs["failoverRoutingPolicies"] == role
        assert after[name].inputs["setIdentifier"] == record.inputs["setIdentifier"]
    assert before[next(n for n in before if n.endswith("dns-primary"))].inputs["aliases"] != \
        after[next(n for n in after if n.endswith("dns-primary"))].inputs["aliases"]  # only targets move
    # Without a plan, DNS is the failover: each alias also follows its load balancer's target health.
    assert all(a["evaluateTargetHealth"] for r in after.values() for a in r.inputs["aliases"])


def test_a_stack_may_opt_into_dns_only_failover_and_the_summary_says_dns_may_lead(project) -> None:
    from mercur.offline import plan as plan_output
    result = project.edit("staging", lambda v: v["mercur:dns"].update(dnsOnlyFailover=True)).synthesize("staging")
    assert all(a["evaluateTargetHealth"] for r in _records(result) for a in r.inputs["aliases"])
    assert "(DNS-only failover: it may move before the writer)" in plan_output.summary(result)


def test_the_last_serving_region_stays_a_lone_primary_while_the_other_retires(project) -> None:
    plan = project.edit("prod", lambda v: v["mercur:regions"][1].update(retiring=True)).synthesize("prod")
    [record] = _records(plan)
    assert record.name.endswith("-primary")
    assert record.inputs["failoverRoutingPolicies"] == [{"type": "PRIMARY"}]
    assert record.inputs["setIdentifier"] == "primary"


def test_the_key_signing_key_name_is_what_route53_accepts(plan_of) -> None:
    import re
    [ksk] = plan_of("dev").of_type("aws:route53/keySigningKey:KeySigningKey")
    assert re.fullmatch(r"[A-Za-z0-9_]{3,128}", ksk.inputs["name"])


def test_without_a_database_the_switch_plan_and_records_are_anchored_by_name_so_a_swap_changes_neither(
        project) -> None:
    """No home region to anchor on: the first region by name comes first, whatever the stack file's order."""
    def no_database(values: dict) -> None:
        del values["mercur:database"]
        for app in values["mercur:apps"]:
            app.pop("database", None)
        values["mercur:dr"]["rpoMinutes"].update(regionLoss=240, corruption=240)  # snapshots alone
    switched = ("aws:route53/record:Record", "aws:arcregionswitch/plan:Plan")
    before = project.edit("staging", no_database).synthesize("staging", shared=True)
    after = project.edit("staging", lambda v: v["mercur:regions"].reverse()).synthesize("staging")
    assert before.of_type("aws:arcregionswitch/plan:Plan") and not before.of_type("aws:rds/cluster:Cluster")
    assert changes.changes(before, after, switched) == []
