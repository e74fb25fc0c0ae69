"""mercur.components.database: an Aurora PostgreSQL global database, its access, its secrets and its bootstrap."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from mercur import config
from mercur.components import database, workloads
from mercur.offline import plan as plan_output
from mercur.offline.synth import Plan, Resource
from conftest import ROOT

CLUSTER, INSTANCE = "aws:rds/cluster:Cluster", "aws:rds/clusterInstance:ClusterInstance"


def _in(plan: Plan, type_: str, region: str | None) -> list[Resource]:
    return [r for r in plan.of_type(type_) if r.region == region]


def test_multi_region_stacks_get_one_global_database_that_stays_on_the_global_provider(plan_of) -> None:
    for stack in ("staging", "prod"):
        plan = plan_of(stack)
        [global_cluster] = plan.of_type("aws:rds/globalCluster:GlobalCluster")
        [provider] = [p for p in plan.of_type("pulumi:providers:aws") if p.name == "global"]
        assert global_cluster.provider == provider.urn and global_cluster.region is None
        assert global_cluster.inputs["engine"] == "aurora-postgresql" and global_cluster.inputs["storageEncrypted"]
        assert global_cluster.protect is (stack == "prod") and global_cluster.inputs["deletionProtection"] is (
            stack == "prod")
    assert not plan_of("dev").of_type("aws:rds/globalCluster:GlobalCluster")  # one region: one regional cluster


def test_every_region_has_a_cluster_and_the_instances_the_stack_file_asks_for(stack_plan) -> None:
    stack = config.load_file(ROOT, stack_plan.stack)
    db = stack.database
    for region in stack.regions:
        [cluster] = _in(stack_plan, CLUSTER, region.name)
        home = region.name == stack.database_home
        instances = _in(stack_plan, INSTANCE, region.name)
        assert len(instances) == db.instances  # the same everywhere: a region swap adds and removes none
        for instance in instances:
            assert instance.inputs["clusterIdentifier"] == cluster.id
            assert instance.inputs["instanceClass"] == db.instance_class
            assert instance.inputs["publiclyAccessible"] is False
            assert instance.inputs["performanceInsightsEnabled"] is True
            assert instance.inputs["performanceInsightsKmsKeyId"] == cluster.inputs["kmsKeyId"]
            assert "engineVersion" not in instance.inputs  # the cluster's, whatever an upgrade made it
        inputs = cluster.inputs
        assert inputs["engineVersion"] == db.engine_version and inputs["iamDatabaseAuthenticationEnabled"] is True
        assert inputs["storageEncrypted"] is True and inputs["kmsKeyId"].startswith(f"arn:aws:kms:{region.name}:")
        assert inputs["backupRetentionPeriod"] == db.backup_retention_days
        assert inputs["enabledCloudwatchLogsExports"] == ["postgresql"]
        assert ("globalClusterIdentifier" in inputs) is stack.replicated
        # The home cluster holds the credentials (write-only, secret); the others replicate them.
        assert ("masterUsername" in inputs) is home
        if home:
            assert "masterPasswordWo" in cluster.secrets and "masterPassword" not in inputs
        else:
            assert set(cluster.ignore_changes) >= {"masterUsername", "masterPasswordWo"}


def test_secondaries_join_after_the_primary_runs(plan_of) -> None:
    plan = plan_of("prod")
    [secondary] = _in(plan, CLUSTER, "us-east-1")
    primary_instances = {i.urn for i in _in(plan, INSTANCE, "us-west-1")}
    assert primary_instances and primary_instances <= set(secondary.dependencies)


def test_clusters_force_tls_and_sit_in_the_private_subnets(stack_plan) -> None:
    for cluster in stack_plan.of_type(CLUSTER):
        [params] = [p for p in _in(stack_plan, "aws:rds/clusterParameterGroup:ClusterParameterGroup", cluster.region)]
        assert cluster.inputs["dbClusterParameterGroupName"] == params.inputs["name"]
        assert {"name": "rds.force_ssl", "value": "1", "applyMethod": "pending-reboot"} in params.inputs["parameters"]
        assert params.inputs["family"] == f"aurora-postgresql{cluster.inputs['engineVersion'].split('.')[0]}"
        [subnets] = _in(stack_plan, "aws:rds/subnetGroup:SubnetGroup", cluster.region)
        tiers = {stack_plan.by_id(s).inputs["tags"]["mercur:tier"] for s in subnets.inputs["subnetIds"]}
        assert tiers == {"private"} and cluster.inputs["dbSubnetGroupName"] == subnets.inputs["name"]


def test_postgres_is_admitted_from_the_eks_cluster_security_group_only(stack_plan) -> None:
    for cluster in stack_plan.of_type(CLUSTER):
        [group_id] = cluster.inputs["vpcSecurityGroupIds"]
        group = stack_plan.by_id(group_id)
        assert "ingress" not in group.inputs and "egress" not in group.inputs  # rules of its own, below
        rules = [r for r in stack_plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                 if r.inputs["securityGroupId"] == group_id]
        [eks] = _in(stack_plan, "eks:index:Cluster", cluster.region)
        [node_class] = _in(stack_plan, "kubernetes:eks.amazonaws.com/v1:NodeClass", cluster.region)
        cluster_sg = node_class.inputs["spec"]["securityGroupSelectorTerms"][0]["id"]  # what every node carries
        assert [(r.inputs["fromPort"], r.inputs["toPort"], r.inputs["ipProtocol"], r.inputs[
            "referencedSecurityGroupId"]) for r in rules] == [(5432, 5432, "tcp", cluster_sg)]
        assert not any("cidrIpv4" in r.inputs for r in rules)


def test_apps_that_use_the_database_may_connect_as_their_own_user_in_every_region(stack_plan) -> None:
    stack = config.load_file(ROOT, stack_plan.stack)
    grants = stack_plan.of_type("aws:iam/rolePolicy:RolePolicy")
    for app in stack.apps:
        role = f"mercur-{stack.environment}-app-{app.name}"
        mine = [g for g in grants if g.inputs["role"] == role]
        assert sorted(g.region for g in mine) == (sorted(r.name for r in stack.regions) if app.database else [])
        resource_ids = set()
        for grant in mine:
            [statement] = json.loads(grant.inputs["policy"])["Statement"]
            assert statement["Action"] == "rds-db:connect"
            resource_id = statement["Resource"].split(":dbuser:")[1].split("/")[0]
            assert statement["Resource"] == (f"arn:aws:rds-db:{grant.region}:{stack_plan.account}:dbuser:{resource_id}/"
                                             f"{app.database_identifier}")
            resource_ids.add(resource_id)
        assert len(resource_ids) == len(mine)  # each region's grant names that region's cluster


def test_the_app_gets_the_global_writer_endpoint_and_no_password(plan_of) -> None:
    for stack in ("dev", "prod"):
        plan = plan_of(stack)
        for deployment in [d for d in plan.of_type("kubernetes:apps/v1:Deployment")
                           if d.inputs["metadata"]["name"] == "orders-api"]:
            env = {e["name"]: e.get("value") for e in deployment.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
            host = plan.outputs["database"]["globalWriterEndpoint"] if stack == "prod" else \
                plan.outputs["regions"]["us-west-1"]["database"]["endpoint"]
            assert env["DB_HOST"] == host and env["DB_USER"] == env["DB_NAME"] == "orders_api"
            assert env["DB_AUTH"] == "iam" and env["AWS_REGION"] == deployment.region
            assert not any("PASSWORD" in name for name in env)


def test_the_database_job_runs_in_every_region_and_finds_the_writer_where_it_runs(plan_of) -> None:
    """Writer-agnostic: each region's Job asks its own region's RDS where the writer is (a switch moves it
    without a deploy) and works only there, against that region's cluster endpoint."""
    plan, stack = plan_of("prod"), config.load_file(ROOT, "prod")
    jobs = {job.region: job for job in plan.of_type("kubernetes:batch/v1:Job")}
    assert set(jobs) == {"us-west-1", "us-east-1"}
    [secret] = plan.of_type("aws:secretsmanager/secret:Secret")
    role = None
    for region, job in jobs.items():
        assert job.inputs["metadata"]["namespace"] == "orders-api"
        pod = job.inputs["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "db-bootstrap" and pod["restartPolicy"] == "Never"
        [init] = pod["initContainers"]
        [main] = pod["containers"]
        assert init["command"][-1] == workloads.FIND_WRITER_AND_READ_SECRET
        assert main["command"][-1] == workloads.ROTATE_AND_BOOTSTRAP
        assert "@sha256:" in init["image"] and "@sha256:" in main["image"]
        init_env = {e["name"]: e["value"] for e in init["env"]}
        main_env = {e["name"]: e["value"] for e in main["env"]}
        assert init_env["GLOBAL_CLUSTER"] == plan.outputs["database"]["globalClusterId"]
        assert init_env["AWS_REGION"] == region and init_env["SECRET_ID"] == secret.inputs["name"]
        assert init_env["PASSWORD_VERSION"] == main_env["PASSWORD_VERSION"] == str(stack.database.password_version)
        assert main_env["DB_HOST"] == plan.outputs["regions"][region]["database"]["endpoint"]  # this region's
        assert set(main_env) == {"DB_HOST", "PASSWORD_VERSION", "PGSSLMODE", "HOME"}  # the password only via files
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["secret"]["emptyDir"]["medium"] == "Memory"
        assert {i.urn for i in _in(plan, INSTANCE, region)} <= set(job.dependencies)
        [association] = [a for a in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                         if a.inputs["serviceAccount"] == "db-bootstrap" and a.region == region]
        role = role or association.inputs["roleArn"]
        assert association.inputs["roleArn"] == role
    grants = {g.region: g for g in plan.of_type("aws:iam/rolePolicy:RolePolicy")
              if g.inputs["role"] == role.rsplit("/", 1)[1]}
    assert set(grants) == {"us-west-1", "us-east-1"}
    for region, grant in grants.items():
        find, read, decrypt = json.loads(grant.inputs["policy"])["Statement"]
        assert find["Action"] == "rds:DescribeGlobalClusters"
        assert find["Resource"] == f"arn:aws:rds::{plan.account}:global-cluster:mercur-prod"
        assert read["Resource"] == f"arn:aws:secretsmanager:{region}:{plan.account}:secret:{secret.inputs['name']}-??????"
        assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}


def test_the_jobs_aws_calls_are_ones_the_apis_take() -> None:
    """Each `aws` call of the init container, held to botocore's models (the CLI's own)."""
    import botocore.session
    session = botocore.session.get_session()
    rds = session.get_service_model("rds").operation_model("DescribeGlobalClusters")
    assert "GlobalClusterIdentifier" in rds.input_shape.members
    member = rds.output_shape.members["GlobalClusters"].member.members["GlobalClusterMembers"].member
    assert {"DBClusterArn", "IsWriter"} <= set(member.members)
    secrets = session.get_service_model("secretsmanager").operation_model("GetSecretValue")
    assert {"SecretId", "VersionStage"} <= set(secrets.input_shape.members)
    assert "SecretString" in secrets.output_shape.members
    script = workloads.FIND_WRITER_AND_READ_SECRET
    assert "describe-global-clusters --global-cluster-identifier" in script
    assert "'GlobalClusters[0].GlobalClusterMembers[?IsWriter].DBClusterArn'" in script
    assert script.count("get-secret-value --secret-id") == 2 and "--version-stage AWSPREVIOUS" in script


def _fake_aws(tmp_path: Path, writer_arn: str, current: dict | list[dict], previous: dict | None) -> dict[str, str]:
    """A stand-in `aws` (and a `sleep` that does not) answering as the RDS and Secrets Manager of the Job's
    region would: the global cluster's writer, the secret's current value (a list: what each read returns, the
    last one from then on, as a replica catching up) and its previous version."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    answers = current if isinstance(current, list) else [current]
    for number, answer in enumerate(answers):
        (tmp_path / f"current-{number}.json").write_text(json.dumps(answer))
    reads = tmp_path / "reads"
    reads.write_text("0")
    previous_answer = f"cat {tmp_path / 'previous.json'}" if previous else "exit 254"
    if previous:
        (tmp_path / "previous.json").write_text(json.dumps(previous))
    (bin_dir / "aws").write_text(f"""#!/bin/sh
case "$*" in
  *describe-global-clusters*) echo '{writer_arn}' ;;
  *AWSPREVIOUS*) {previous_answer} ;;
  *get-secret-value*) n=$(cat {reads}); echo $((n + 1)) > {reads}
                      [ "$n" -lt {len(answers) - 1} ] || n={len(answers) - 1}; cat {tmp_path}/current-$n.json ;;
  *) exit 2 ;;
esac
""")
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("aws", "sleep"):
        (bin_dir / tool).chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "GLOBAL_CLUSTER": "mercur-prod", "AWS_REGION": "us-east-1",
            "SECRET_ID": "mercur-prod/database/master", "PASSWORD_VERSION": "3"}


def _run_find_writer(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, Path]:
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    script = workloads.FIND_WRITER_AND_READ_SECRET.replace("/run/secret", str(secret_dir))
    return subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=30), secret_dir


@pytest.mark.parametrize("writer,acts", [
    ("arn:aws:rds:us-east-1:333333333333:cluster:mercur-prod-use1", True),
    ("arn:aws:rds:us-west-1:333333333333:cluster:mercur-prod-usw1", False)])
def test_the_job_acts_only_in_the_region_that_holds_the_writer(tmp_path, writer, acts) -> None:
    current = {"username": "mercur_admin", "password": "New3pass", "passwordVersion": 3}
    env = _fake_aws(tmp_path, writer, current, {"password": "Old2pass", "passwordVersion": 2})
    done, secret_dir = _run_find_writer(tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert (secret_dir / "writer-elsewhere").exists() is not acts
    if acts:
        assert json.loads((secret_dir / "current.json").read_text()) == current
        assert json.loads((secret_dir / "previous.json").read_text())["password"] == "Old2pass"


def test_mid_switchover_with_no_writer_the_job_fails_so_kubernetes_retries_it(tmp_path) -> None:
    env = _fake_aws(tmp_path, "None", {"password": "x", "passwordVersion": 3}, None)
    done, secret_dir = _run_find_writer(tmp_path, env)
    assert done.returncode == 1 and "no writer now" in done.stderr
    assert not (secret_dir / "writer-elsewhere").exists()


def test_a_secret_copy_that_never_reaches_the_version_fails_instead_of_using_an_old_password(tmp_path) -> None:
    env = _fake_aws(tmp_path, "arn:aws:rds:us-east-1:333333333333:cluster:mercur-prod-use1",
                    {"password": "Old2pass", "passwordVersion": 2}, None)
    done, _ = _run_find_writer(tmp_path, env)
    assert done.returncode == 1 and "never reached passwordVersion 3" in done.stderr


def test_a_secret_written_before_it_named_a_password_version_is_taken_as_it_is(tmp_path) -> None:
    """A stack deployed before the secret carried passwordVersion: its secret holds the password the clusters
    were created with, and the Job's first run after the upgrade uses it instead of waiting forever."""
    legacy = {"username": "mercur_admin", "password": "Orig1pass", "engine": "postgres", "port": 5432}
    env = _fake_aws(tmp_path, "arn:aws:rds:us-east-1:333333333333:cluster:mercur-prod-use1", legacy, None)
    done, secret_dir = _run_find_writer(tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert json.loads((secret_dir / "current.json").read_text()) == legacy


def test_a_replica_that_still_holds_the_value_from_before_the_version_is_read_again_before_it_is_taken(
        tmp_path) -> None:
    """The first bump of passwordVersion on a stack whose secret predates it: the Job runs after the write, but
    its region's replica may not have it yet; the Job must take the new value, not the legacy one."""
    legacy = {"username": "mercur_admin", "password": "Orig1pass", "engine": "postgres", "port": 5432}
    new = {**legacy, "password": "New3pass", "passwordVersion": 3}
    env = _fake_aws(tmp_path, "arn:aws:rds:us-east-1:333333333333:cluster:mercur-prod-use1", [legacy, new], legacy)
    done, secret_dir = _run_find_writer(tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert json.loads((secret_dir / "current.json").read_text()) == new


def test_the_job_waits_for_this_runs_write_of_the_master_secret(stack_plan) -> None:
    [version] = stack_plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    jobs = stack_plan.of_type("kubernetes:batch/v1:Job")
    assert jobs and all(version.urn in job.depends_on for job in jobs)


def test_the_master_secret_lives_in_the_home_region_and_every_other_keeps_a_replica_on_its_own_key(stack_plan) -> None:
    stack = config.load_file(ROOT, stack_plan.stack)
    [secret] = stack_plan.of_type("aws:secretsmanager/secret:Secret")
    assert secret.region == stack.database_home
    keys = {k.region: k for k in stack_plan.of_type("aws:kms/key:Key") if k.name.endswith("-db-key")}
    assert secret.inputs["kmsKeyId"] == f"arn:aws:kms:{secret.region}:{stack_plan.account}:key/{keys[secret.region].id}"
    replicas = {r["region"]: r["kmsKeyId"] for r in secret.inputs.get("replicas", [])}
    assert set(replicas) == {r.name for r in stack.regions} - {stack.database_home}
    assert all(key == f"arn:aws:kms:{region}:{stack_plan.account}:key/{keys[region].id}" for region, key in replicas.items())
    [version] = stack_plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert "secretStringWo" in version.secrets and "secretString" not in version.inputs


def test_no_secret_value_appears_in_a_stack_file_a_manifest_or_the_plan_document(plan_of, tmp_path) -> None:
    plan = plan_of("prod")
    [version] = plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    password = json.loads(version.inputs["secretStringWo"])["password"]  # what Secrets Manager generated
    assert len(password) == database.PASSWORD_LENGTH
    texts = [plan_output.document(plan), *plan_output.manifests(plan).values(),
             *((ROOT / f"Pulumi.{s}.yaml").read_text() for s in ("dev", "staging", "prod"))]
    assert not any(password in text for text in texts)


def test_a_lag_alarm_watches_every_cluster_at_the_stated_bound(plan_of) -> None:
    plan, stack = plan_of("prod"), config.load_file(ROOT, "prod")
    alarms = [a for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if a.inputs.get("metricName") == database.LAG_METRIC]
    # Whichever trails the writer reports lag; the writer reports none (not breaching): no deploy after a switch.
    assert sorted((a.region, a.inputs["dimensions"]["DBClusterIdentifier"]) for a in alarms) == sorted(
        (c.region, c.id) for c in plan.of_type(CLUSTER))
    for alarm in alarms:
        assert alarm.inputs["treatMissingData"] == "notBreaching"
        assert alarm.inputs["threshold"] == stack.database.replication_lag_bound_seconds * 1000  # milliseconds
        assert alarm.inputs["comparisonOperator"] == "GreaterThanThreshold"


POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.mark.skipif(not (POSTGRES_BIN / "initdb").exists() or not shutil.which("runuser") or os.getuid() != 0,
                    reason="needs PostgreSQL's server binaries and root (to run them as the postgres user)")
@pytest.mark.costly
def test_the_bootstrap_sql_creates_the_user_and_database_once_on_a_real_postgresql() -> None:
    """Against a real server: the first run creates the IAM-only user and its database, the second changes
    nothing and still succeeds (the Job may run again after a region swap)."""
    base = Path(tempfile.mkdtemp(prefix="mercur-pg-"))  # pytest's tmp_path is not traversable by postgres
    shutil.chown(base, "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]

    def run(*command: str) -> str:
        return subprocess.run([*as_postgres, *command], capture_output=True, text=True, check=True, timeout=30).stdout

    run(str(POSTGRES_BIN / "initdb"), "-D", str(base / "data"), "-U", "postgres", "--no-sync", "-A", "trust")
    run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(base / "data"), "-l", str(base / "log"),
        "-o", f"-k {base} -c listen_addresses=''", "-w", "start")
    try:
        psql = ["psql", "-h", str(base), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-Atq"]
        run(*psql, "-c", "CREATE ROLE rds_iam")  # Aurora's built-in role for IAM authentication
        # Aurora's master user is no superuser: it creates roles and databases (rds_superuser).
        run(*psql, "-c", f"CREATE ROLE {database.MASTER_USER} LOGIN CREATEROLE CREATEDB")
        as_master = [*psql[:4], database.MASTER_USER, *psql[5:]]
        sql = base / "bootstrap.sql"
        sql.write_text(workloads.bootstrap_sql("orders_api"))
        for _ in range(2):
            run(*as_master, "-f", str(sql))
        state = run(*psql, "-c", "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'orders_api'",
                    "-c", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'orders_api'",
                    "-c", "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                          "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'orders_api' AND r.rolname = 'rds_iam'")
        assert state.split() == ["t", "orders_api", "1"]
    finally:
        run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(not (POSTGRES_BIN / "initdb").exists() or not shutil.which("runuser") or os.getuid() != 0,
                    reason="needs PostgreSQL's server binaries and root (to run them as the postgres user)")
@pytest.mark.costly
def test_the_job_rotates_the_master_password_on_the_writer_then_bootstraps_on_a_real_postgresql() -> None:
    """passwordVersion moved on: the writer still has the previous password, so the Job logs in with it, sets
    the secret's current one (hashed by psql, never in the server's statement log) and creates the app's
    user; run again, it rotates nothing. A refusal that is no wrong password, or a secret written before it
    named a passwordVersion, never rotates."""
    base = Path(tempfile.mkdtemp(prefix="mercur-pg-"))
    shutil.chown(base, "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]

    def run(*command: str) -> str:
        return subprocess.run([*as_postgres, *command], capture_output=True, text=True, check=True, timeout=30).stdout

    (base / "pw").write_text("superuser-secret\n")
    shutil.chown(base / "pw", "postgres")
    run(str(POSTGRES_BIN / "initdb"), "-D", str(base / "data"), "-U", "postgres", "--no-sync",
        "-A", "scram-sha-256", f"--pwfile={base / 'pw'}")
    run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(base / "data"), "-l", str(base / "log"),
        "-o", f"-k {base} -p {database.PORT} -c listen_addresses='' -c log_statement=all", "-w", "start")
    try:
        env = {**os.environ, "PGPASSWORD": "superuser-secret"}
        psql = ["psql", "-h", str(base), "-p", str(database.PORT), "-U", "postgres", "-d", "postgres",
                "-v", "ON_ERROR_STOP=1", "-Atq"]
        for statement in ("CREATE ROLE rds_iam", f"CREATE ROLE {database.MASTER_USER} LOGIN CREATEROLE CREATEDB "
                                                  "PASSWORD 'Old2pass'"):
            subprocess.run([*psql, "-c", statement], env=env, check=True, capture_output=True, timeout=30)
        secret, sql = base / "secret", base / "bootstrap"
        secret.mkdir()
        sql.mkdir()

        def secrets(current: dict, previous: dict) -> None:
            (secret / "current.json").write_text(json.dumps({"username": "mercur_admin", **current}))
            (secret / "previous.json").write_text(json.dumps({"username": "mercur_admin", **previous}))
        (sql / "bootstrap.sql").write_text(workloads.bootstrap_sql("orders_api"))
        script = workloads.ROTATE_AND_BOOTSTRAP.replace("/run/secret/", f"{secret}/").replace(
            "/bootstrap/bootstrap.sql", f"{sql}/bootstrap.sql")

        def job(host: str = str(base)) -> subprocess.CompletedProcess:
            # A new session: no controlling terminal, as in the Job's container (psql then prompts on stdin).
            return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60,
                                  start_new_session=True, env={"PATH": os.environ["PATH"], "DB_HOST": host,
                                                               "PASSWORD_VERSION": "3", "HOME": str(base)})

        def logs_in(password: str) -> bool:
            return subprocess.run([*psql[:5], database.MASTER_USER, *psql[6:], "-c", "SELECT 1"], timeout=30,
                                  env={**os.environ, "PGPASSWORD": password}, capture_output=True).returncode == 0

        # A secret from before passwordVersion that the writer refuses: no rotation, the try fails.
        secrets({"password": "New3pass"}, {"password": "Old2pass"})
        legacy = job()
        assert legacy.returncode == 1 and "names no passwordVersion" in legacy.stderr
        # A refusal that is not a wrong password (here: no server there): no rotation either.
        secrets({"password": "New3pass", "passwordVersion": 3}, {"password": "Old2pass", "passwordVersion": 2})
        unreachable = job(host=str(base / "nowhere"))
        assert unreachable.returncode == 1 and "rotating" not in unreachable.stdout
        assert logs_in("Old2pass")

        outputs = [job() for _ in range(2)]
        assert [o.returncode for o in outputs] == [0, 0], outputs[0].stderr + outputs[1].stderr
        assert "rotating it to passwordVersion 3" in outputs[0].stdout
        assert "rotating" not in outputs[1].stdout  # the writer already has the current password
        assert logs_in("New3pass") and not logs_in("Old2pass")
        log = (base / "log").read_text()
        assert "ALTER" in log and "SCRAM-SHA-256$" in log and "New3pass" not in log  # hashed before it left
        state = subprocess.run([*psql, "-c", "SELECT count(*) FROM pg_database WHERE datname = 'orders_api'"],
                               env=env, capture_output=True, text=True, check=True, timeout=30).stdout
        assert state.split() == ["1"]
    finally:
        run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)
