"""Shared fixtures: the one mock engine (mercur.offline.synth), its plans per stack, and editable project copies."""

from __future__ import annotations

import ast
import fcntl
import gc
import hashlib
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest
import yaml

if TYPE_CHECKING:
    from mercur.offline import synth


# libyaml's safe loader and dumper where the wheel has them (it does on every platform we run): 10x faster
# than the pure-Python ones, which took 1.7 s of the suite on the edited stack files alone.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "prod")


@pytest.fixture(autouse=True)
def _declarations_only_through_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without mocks the SDK fakes registrations and tests pass vacuously: refuse any resource declared
    outside `mercur.offline.synth`, loudly and at the line that declares it."""
    import pulumi
    from mercur.offline import synth
    declare = pulumi.Resource.__init__

    def guarded(self: pulumi.Resource, *args: Any, **kwargs: Any) -> None:
        if not synth.recording():
            raise RuntimeError("resources may only be declared through mercur.offline.synth (the shared mock engine)")
        declare(self, *args, **kwargs)

    monkeypatch.setattr(pulumi.Resource, "__init__", guarded)


_plans: dict[str, synth.Plan] = {}
_unpatched: list[Callable[[str, Path], synth.Plan]] = []


def _synthesize(stack: str, project_dir: Path) -> synth.Plan:
    """mercur.offline.synth.synthesize as it was before any test patched it (pytest_collection_finish binds it;
    the SDKs are imported in the workers only, not in xdist's controller)."""
    return _unpatched[0](stack, project_dir)


@pytest.fixture
def plan_of() -> Callable[[str], synth.Plan]:
    """The plan of a checked-in stack file, synthesized once per test run (see _shared_plan)."""
    def get(stack: str) -> synth.Plan:
        if stack not in _plans:
            _plans[stack] = _shared_plan(stack, ROOT)
        return _plans[stack]
    return get


def _shared_plan(stack: str, project_dir: Path, unreachable: frozenset[str] = frozenset()) -> synth.Plan:
    """A plan synthesized once per run and content: the xdist worker that asks first synthesizes it and leaves
    it pickled in the run's shared folder for the other. Keyed by every file the program reads, so only for
    tests that leave the mock engine as it is (a test that patches synth must synthesize on its own). A
    rehearsed outage (`unreachable`) is synthesized each time."""
    if unreachable:
        return _unpatched[0](stack, project_dir, unreachable)
    files = sorted(project_dir.glob("Pulumi*.yaml")) + [project_dir / "__main__.py"]
    key = hashlib.sha256(stack.encode() + b"".join(f.name.encode() + f.read_bytes() for f in files)).hexdigest()
    if key in _by_content:
        return _by_content[key]
    shared = Path(os.environ.get("MERCUR_TEST_SHARED", tempfile.gettempdir()))
    with open(shared / f"plan-{key}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits no longer than it would take to synthesize
        cached = shared / f"plan-{key}.pickle"
        if cached.exists():
            plan = pickle.loads(cached.read_bytes())
        else:
            plan = _synthesize(stack, project_dir)
            partial = cached.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(plan))
            partial.replace(cached)  # whole or absent, even if this worker dies while writing
    _by_content[key] = plan
    return plan


_by_content: dict[str, synth.Plan] = {}


def pytest_configure(config: pytest.Config) -> None:
    """One folder per run for the shared plans, made by the controller and inherited by xdist's workers."""
    if "PYTEST_XDIST_WORKER" not in os.environ and "MERCUR_TEST_SHARED" not in os.environ:
        folder = tempfile.mkdtemp(prefix="mercur-plans-")
        os.environ["MERCUR_TEST_SHARED"] = folder
        config.add_cleanup(lambda: (shutil.rmtree(folder, ignore_errors=True),
                                    os.environ.pop("MERCUR_TEST_SHARED", None)))


@pytest.fixture
def checked_in_plans(monkeypatch):
    """For tests of a command, not of the synthesis: every plan the command asks for comes from the run's
    cache (see _shared_plan), synthesized once per run for the same files."""
    from mercur.offline import synth
    monkeypatch.setattr(synth, "synthesize", _shared_plan)


@pytest.fixture(params=STACKS)
def stack_plan(request: pytest.FixtureRequest, plan_of: Callable[[str], synth.Plan]) -> synth.Plan:
    return plan_of(request.param)


def third_region(values: dict[str, Any]) -> None:
    """Edits prod's config to three serving regions: no Region switch plan (it covers two), so DNS fails over
    down the chain (us-west-1, then us-east-1, then us-east-2)."""
    values["mercur:dr"].pop("regionSwitch")
    values["mercur:dr"].pop("decisionMinutes")  # nobody starts a switch: there is none
    values["mercur:regions"].append({"name": "us-east-2", "cidr": "10.32.0.0/16"})
    values["mercur:dns"]["certificates"]["us-east-2"] = \
        "arn:aws:acm:us-east-2:333333333333:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    values["mercur:deploy"]["network"]["transitGateways"]["us-east-2"] = "tgw-0123456789abcdef0"


class Project:
    """A copy of the project whose stack files a test may edit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        for name in ["Pulumi.yaml", "__main__.py", *(f"Pulumi.{s}.yaml" for s in STACKS)]:
            shutil.copy(ROOT / name, path / name)

    def config(self, stack: str) -> dict[str, Any]:
        return yaml.load((self.path / f"Pulumi.{stack}.yaml").read_text(), Loader=YAML_LOADER)["config"]

    def edit(self, stack: str, change: Callable[[dict[str, Any]], Any]) -> "Project":
        """Apply `change` to the stack's `config:` mapping (keys like `mercur:network`)."""
        values = self.config(stack)
        change(values)
        (self.path / f"Pulumi.{stack}.yaml").write_text(yaml.dump({"config": values}, Dumper=YAML_DUMPER, sort_keys=False))
        return self

    def synthesize(self, stack: str, shared: bool = False) -> synth.Plan:
        """The edited copy's plan; `shared` for an edit other tests make too, with the mock engine untouched:
        then it is synthesized once per run (see _shared_plan)."""
        from mercur.offline import synth
        return _shared_plan(stack, self.path) if shared else synth.synthesize(stack, self.path)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def assert_rejected(project: Project, stack: str, change: Callable[[dict[str, Any]], Any], key: str,
                    words: str) -> None:
    """The edited stack file fails to load with ONE line: `Pulumi.<stack>.yaml: <key>: ...<words>...`."""
    from mercur import config
    project.edit(stack, change)
    with pytest.raises(config.ConfigError) as caught:
        config.load_file(project.path, stack)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"Pulumi.{stack}.yaml: {key}: "), message
    assert words in message.split(": ", 2)[2], message


_clients: dict[tuple[str, str], Any] = {}
_FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-west-1",
                     "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}


def aws_client(service: str, region: str) -> Any:
    """boto3 clients shared by every test: moto intercepts their requests, whichever mock_aws is active,
    and botocore loads each service model once instead of once per test."""
    if (service, region) not in _clients:
        _clients[service, region] = _session().client(service, region_name=region)
    return _clients[service, region]


_session_holder: list = []
_symmetric_private_key: list = []


def _kms_private_key(key_spec: str) -> Any:
    from moto.kms import utils as moto_kms_utils
    if key_spec not in ("SYMMETRIC_DEFAULT", "", None):
        return moto_kms_utils.generate_private_key(key_spec)
    if not _symmetric_private_key:
        _symmetric_private_key.append(moto_kms_utils.generate_private_key(key_spec))
    return _symmetric_private_key[0]


def _session() -> Any:
    import boto3
    if not _session_holder:
        _session_holder.append(boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                                     aws_session_token="testing"))
    return _session_holder[0]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    """moto's AWS for the DR tools; never real credentials."""
    from moto import mock_aws
    from moto.core import utils as moto_core_utils
    from moto.eks import utils as moto_eks_utils
    from moto.kms import models as moto_kms_models
    for name, value in _FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # moto checks every EKS role ARN's partition against a brand-new boto3 Session, which re-reads
    # botocore's endpoint data each time (about half of every DR test); the shared session answers the same.
    monkeypatch.setattr(moto_eks_utils, "Session", _session)
    # moto parses each service model again with a loader of its own (the RDS model alone is 1.5 MB of JSON):
    # the shared session's loader has it parsed already.
    monkeypatch.setattr(moto_core_utils, "create_loader", lambda: _session()._session.get_component("data_loader"))
    # moto gives every KMS key an RSA-2048 private key, symmetric ones too, where it is never used (31 ms each,
    # 2.5 s of the DR tests); symmetric keys share one. Asymmetric key specs still get a key of their own.
    monkeypatch.setattr(moto_kms_models, "generate_private_key", _kms_private_key)
    # moto's EC2 lists its regions at import, from three brand-new boto3 Sessions (about 0.4 s per process).
    if "moto.ec2.models" not in sys.modules:
        import boto3
        with monkeypatch.context() as during_import:
            during_import.setattr(boto3, "Session", lambda: _session())
            import moto.ec2.models  # noqa: F401
    with mock_aws():
        yield aws_client


@pytest.fixture
def world(aws, plan_of):
    """A seeded moto world for a stack: `world("prod")`, or from an edited copy: `world("prod", project=...)`."""
    from mercur.config import load_file
    from moto_world import World

    def seed(stack: str, project: "Project | None" = None) -> World:
        if project is None:
            return World(plan_of(stack), load_file(ROOT, stack), aws).seed()
        return World(project.synthesize(stack, shared=True), load_file(project.path, stack), aws).seed()
    return seed


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before any test: the unpatched synthesize, and the garbage-collector policy of mercur.offline.gcpolicy
    for a long-lived process."""
    from mercur.offline import gcpolicy, synth
    _unpatched[:] = [synth.synthesize]
    gcpolicy.for_test_session()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Each xdist worker exits with a large heap; frozen, interpreter shutdown does not walk it."""
    from mercur.offline import gcpolicy
    gcpolicy.before_exit()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The costliest tests first: xdist's worksteal hands each worker half of this order and lets the idle one
    steal from the other's end, so moto's AWS (about 1 s to start in a process) stays on one worker and the
    run ends on short tests instead of one worker finishing a long one alone."""
    def cost(item: pytest.Item) -> int:
        fixtures = getattr(item, "fixturenames", ())
        return 0 if "aws" in fixtures or item.get_closest_marker("costly") else 1 if "project" in fixtures else 2
    items.sort(key=cost)


def parse_python(source: str) -> ast.Module:
    """`ast.parse` with the garbage collector paused. CPython 3.11's AST constructor checks a recursion counter
    kept per interpreter: a collection inside the parse runs finalizers, threads left by Pulumi's runtime run
    meanwhile, and the parse can fail with "AST constructor recursion depth mismatch" though the source is
    fine (seen here on 3.11.7; cpython#106905 reports it under threads)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source)
    finally:
        if enabled:
            gc.enable()
