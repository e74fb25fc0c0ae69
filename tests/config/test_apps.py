"""mercur.config (apps): the application's config, and one clear line for every bad app setting."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from mercur import config
from conftest import ROOT, assert_rejected


def _app(index: int = 0, **changes: Any) -> Callable[[dict], None]:
    def change(values: dict) -> None:
        values["mercur:apps"][index].update(changes)
    return change


BAD_APPS = {
    "image without a tag": ("prod", _app(image="ghcr.io/mercur-shop/storefront"), "mercur:apps[0].image",
                            "pin a version tag"),
    "image on latest": ("prod", _app(image="ghcr.io/mercur-shop/storefront:latest"), "mercur:apps[0].image",
                        "pin a version tag"),
    "malformed image": ("dev", _app(image="Not An Image"), "mercur:apps[0].image", "registry/repository:tag"),
    "typo in an app key": ("prod", lambda v: v["mercur:apps"][1].update(healthpath="/x"),
                           "mercur:apps[1].healthpath", "did you mean `healthPath`"),
    "privileged port": ("staging", _app(port=80), "mercur:apps[0].port", "1024 to 65535"),
    "health path without slash": ("dev", _app(healthPath="healthz"), "mercur:apps[0].healthPath", "like /healthz"),
    "limit below request": ("prod", _app(limits={"cpu": "100m", "memory": "512Mi"}), "mercur:apps[0].limits.cpu",
                            "at or above the request"),
    "memory limit below request": ("prod", _app(limits={"cpu": "1", "memory": "128Mi"}),
                                   "mercur:apps[0].limits.memory", "at or above the request"),
    "bad quantity": ("dev", _app(requests={"cpu": "lots", "memory": "128Mi"}), "mercur:apps[0].requests.cpu",
                     "like 250m"),
    "min above max": ("prod", _app(replicas={"min": 5, "max": 4}), "mercur:apps[0].replicas.min", "1 <= min <= max"),
    "duplicate app": ("prod", _app(1, name="storefront"), "mercur:apps[1].name", "its own name"),
    "name that is no DNS label": ("dev", _app(name="Store_Front"), "mercur:apps[0].name", "lowercase"),
    "unquoted number in env": ("dev", _app(env={"WORKERS": 4}), "mercur:apps[0].env.WORKERS", 'quote it'),
    "bad env name": ("dev", _app(env={"1X": "y"}), "mercur:apps[0].env.1X", "letters, digits"),
    "variable both plain and secret": ("dev", _app(env={"TOKEN": "a"}, secretEnv={"TOKEN": {"secure": "v1:b"}}),
                                       "mercur:apps[0].secretEnv.TOKEN", "one of the two"),
    "standby above an app's minimum": ("prod", lambda v: v["mercur:standby"].update(replicas=4),
                                       "mercur:standby.replicas", "at most 3"),
    "standby of nothing": ("staging", lambda v: v["mercur:standby"].update(replicas=0), "mercur:standby.replicas",
                           "pilot light"),
    "volume on the root path": ("dev", _app(volume={"sizeGb": 10, "mountPath": "/"}),
                                "mercur:apps[0].volume.mountPath", "/data"),
    "secret outside secretEnv": ("dev", _app(env={"TOKEN": {"secure": "v1:abc"}}), "mercur:apps[0].env.TOKEN",
                                 "secretEnv"),
}


@pytest.mark.parametrize("case", BAD_APPS.values(), ids=BAD_APPS.keys())
def test_bad_app_config_is_one_line_naming_file_key_and_fix(project, case) -> None:
    assert_rejected(project, *case)


@pytest.mark.parametrize("image, parts", [
    ("ghcr.io/mercur/app:1.2.3", ("ghcr.io/mercur/app", "1.2.3", None)),
    ("registry:5000/mercur/app", ("registry:5000/mercur/app", None, None)),
    ("registry:5000/mercur/app:2", ("registry:5000/mercur/app", "2", None)),
    ("ghcr.io/m/app@sha256:" + "a" * 64, ("ghcr.io/m/app", None, "sha256:" + "a" * 64)),
])
def test_image_references_split_into_repository_tag_and_digest(image, parts) -> None:
    assert config.split_image(image) == parts


def test_digest_pins_even_a_latest_tag(project) -> None:
    project.edit("dev", _app(image="ghcr.io/mercur-shop/storefront:latest@sha256:" + "b" * 64))
    assert config.load_file(project.path, "dev").apps[0].image.endswith("b" * 64)


@pytest.mark.parametrize("quantity, value", [("250m", 250), ("0.5", 500), ("2", 2000)])
def test_cpu_quantities(quantity, value) -> None:
    assert config.millicores(quantity) == value


@pytest.mark.parametrize("quantity, value", [("256Mi", 256 * 2**20), ("1Gi", 2**30), ("1G", 10**9), ("512", 512)])
def test_memory_quantities(quantity, value) -> None:
    assert config.memory_bytes(quantity) == value


def test_checked_in_apps_are_pinned_and_bounded() -> None:
    prod = config.load_file(ROOT, "prod")
    assert [a.name for a in prod.apps] == ["storefront", "orders-api"]
    assert all(a.min_replicas >= 3 for a in prod.apps)
    assert prod.standby.replicas == 2 and prod.standby.kind == "warm standby"
    assert config.load_file(ROOT, "staging").standby.kind == "pilot light"


def test_secure_values_are_kept_out_of_the_offline_plan(project) -> None:
    project.edit("dev", _app(secretEnv={"DB_PASSWORD": {"secure": "v1:AAAAciphertext"}}))
    loaded = config.load_file(project.path, "dev")
    assert dict(loaded.apps[0].secret_env) == {"DB_PASSWORD": config.OFFLINE_SECRET}


def test_a_stack_may_run_no_apps(project) -> None:
    project.edit("dev", lambda v: (v.pop("mercur:apps"), v.pop("mercur:dns")))
    assert config.load_file(project.path, "dev").apps == ()
