"""Shared fixtures: the one mock engine (mercur.offline.synth), its plans per stack, and editable project copies."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import pulumi
import pytest
import yaml

from mercur.offline import synth

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "prod")


@pytest.fixture(autouse=True)
def _declarations_only_through_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without mocks the SDK fakes registrations and tests pass vacuously: refuse any resource declared
    outside `mercur.offline.synth`, loudly and at the line that declares it."""
    declare = pulumi.Resource.__init__

    def guarded(self: pulumi.Resource, *args: Any, **kwargs: Any) -> None:
        if not synth.recording():
            raise RuntimeError("resources may only be declared through mercur.offline.synth (the shared mock engine)")
        declare(self, *args, **kwargs)

    monkeypatch.setattr(pulumi.Resource, "__init__", guarded)


_plans: dict[str, synth.Plan] = {}


@pytest.fixture
def plan_of() -> Callable[[str], synth.Plan]:
    """The plan of a checked-in stack file, synthesized once per test session."""
    def get(stack: str) -> synth.Plan:
        if stack not in _plans:
            _plans[stack] = synth.synthesize(stack, ROOT)
        return _plans[stack]
    return get


@pytest.fixture(params=STACKS)
def stack_plan(request: pytest.FixtureRequest, plan_of: Callable[[str], synth.Plan]) -> synth.Plan:
    return plan_of(request.param)


class Project:
    """A copy of the project whose stack files a test may edit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        for name in ["Pulumi.yaml", "__main__.py", *(f"Pulumi.{s}.yaml" for s in STACKS)]:
            shutil.copy(ROOT / name, path / name)

    def config(self, stack: str) -> dict[str, Any]:
        return yaml.safe_load((self.path / f"Pulumi.{stack}.yaml").read_text())["config"]

    def edit(self, stack: str, change: Callable[[dict[str, Any]], Any]) -> "Project":
        """Apply `change` to the stack's `config:` mapping (keys like `mercur:network`)."""
        values = self.config(stack)
        change(values)
        (self.path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": values}, sort_keys=False))
        return self

    def synthesize(self, stack: str) -> synth.Plan:
        return synth.synthesize(stack, self.path)


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
    for name, value in _FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # moto checks every EKS role ARN's partition against a brand-new boto3 Session, which re-reads
    # botocore's endpoint data each time (about half of every DR test); the shared session answers the same.
    monkeypatch.setattr(moto_eks_utils, "Session", _session)
    # moto parses each service model again with a loader of its own (the RDS model alone is 1.5 MB of JSON):
    # the shared session's loader has it parsed already.
    monkeypatch.setattr(moto_core_utils, "create_loader", lambda: _session()._session.get_component("data_loader"))
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
        return World(project.synthesize(stack), load_file(project.path, stack), aws).seed()
    return seed


def pytest_collection_finish(session: pytest.Session) -> None:
    """The garbage-collector policy of mercur.offline.gcpolicy, for a long-lived process."""
    from mercur.offline import gcpolicy
    gcpolicy.for_test_session()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Each xdist worker exits with a large heap; frozen, interpreter shutdown does not walk it."""
    from mercur.offline import gcpolicy
    gcpolicy.before_exit()



