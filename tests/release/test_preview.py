"""What the reviewer approves is what the gated job applies: `python -m mercur preview summary|compare` over
documents shaped as `pulumi preview --json` writes them (the CLI's previewDigest: steps with op, urn, oldState,
newState, diffReasons, replaceReasons, detailedDiff)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mercur.__main__ import main

STACK = "urn:pulumi:prod::mercur::"
DEPLOYMENT = STACK + "mercur:components:Workloads$kubernetes:apps/v1:Deployment::storefront-us-west-1"
BUCKET = STACK + "aws:s3/bucketV2:BucketV2::reports-us-west-1"
QUEUE = STACK + "aws:sqs/queue:Queue::orders-us-east-1"
OLD_IMAGE = "ghcr.io/mercur-shop/storefront:2.14.1@sha256:" + "a" * 64
NEW_IMAGE = "ghcr.io/mercur-shop/storefront:2.15.0@sha256:" + "b" * 64


def _preview() -> dict:
    def deployment(image: str) -> dict:
        return {"type": "kubernetes:apps/v1:Deployment", "inputs": {
            "__defaults": [], "metadata": {"name": "storefront", "namespace": "storefront"},
            "spec": {"template": {"spec": {"containers": [{"name": "storefront", "image": image}]}}}}}
    return {
        "config": {"mercur:accountId": "333333333333"},
        "steps": [
            {"op": "same", "urn": STACK + "pulumi:pulumi:Stack::mercur-prod",
             "newState": {"type": "pulumi:pulumi:Stack", "outputs": {"records": 2}}},
            {"op": "update", "urn": DEPLOYMENT, "oldState": deployment(OLD_IMAGE), "newState": deployment(NEW_IMAGE),
             "diffReasons": ["spec"], "detailedDiff": {
                 "spec.template.spec.containers[0].image": {"kind": "update", "inputDiff": True}}},
            {"op": "create", "urn": BUCKET, "newState": {"type": "aws:s3/bucketV2:BucketV2", "inputs": {
                "__defaults": ["bucket"], "bucket": "04da6b54-80e4-46f7-96ec-b56ff0331ba9", "forceDestroy": False}},
             "detailedDiff": None},
        ],
        "diagnostics": [{"urn": BUCKET, "message": "mercur-platform: a finding\n", "severity": "warning"}],
        "changeSummary": {"same": 1, "update": 1, "create": 1},
    }


def _write(tmp_path: Path, name: str, document: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_the_summary_names_each_change_and_its_fingerprint(tmp_path, capsys) -> None:
    assert main(["preview", "summary", str(_write(tmp_path, "p.json", _preview())), "--stack", "prod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### `pulumi preview` of prod: 1 to create, 1 to update\n")
    assert "| update | `storefront-us-west-1` | `kubernetes:apps/v1:Deployment` | spec |" in out
    assert "| create | `reports-us-west-1` | `aws:s3/bucketV2:BucketV2` | values known at `up` |" in out
    assert "pulumi:pulumi:Stack" not in out  # unchanged resources are not the change
    assert "- warning: mercur-platform: a finding" in out
    fingerprint = out.split("Change fingerprint `", 1)[1].split("`", 1)[0]
    assert len(fingerprint) == 64


def test_nothing_to_change_says_so(tmp_path, capsys) -> None:
    document = _preview()
    document["steps"] = document["steps"][:1]
    assert main(["preview", "summary", str(_write(tmp_path, "p.json", document)), "--stack", "dev"]) == 0
    assert "of dev: no changes" in capsys.readouterr().out


def test_the_approved_change_applies(tmp_path, capsys) -> None:
    approved = _write(tmp_path, "approved.json", _preview())
    again = _preview()
    again["steps"][0]["newState"]["outputs"]["records"] = 3  # a refreshed output of an unchanged resource
    again["steps"].reverse()  # the engine's order is not the change
    assert main(["preview", "compare", str(approved), str(_write(tmp_path, "now.json", again))]) == 0
    assert "the change is the approved one" in capsys.readouterr().out


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["steps"][1]["newState"]["inputs"]["spec"]["template"]["spec"]["containers"][0].update(
        image=OLD_IMAGE.replace("a" * 64, "c" * 64)),
     f"changed since the approval: update {DEPLOYMENT} (input spec)"),
    (lambda d: d["steps"].append({"op": "delete", "urn": QUEUE, "oldState": {"type": "aws:sqs/queue:Queue"}}),
     f"not approved: delete {QUEUE}"),
    (lambda d: d["steps"].pop(2), f"approved but no longer planned: create {BUCKET}"),
    (lambda d: d["steps"][2].update(op="replace", replaceReasons=["bucket"]), f"not approved: replace {BUCKET}"),
    (lambda d: d["steps"][1].update(replaceReasons=["metadata"]),
     f"changed since the approval: update {DEPLOYMENT} (properties, replaceReasons, input metadata)"),
])
def test_any_other_change_refuses_to_apply(tmp_path, capsys, edit, expected) -> None:
    approved = _write(tmp_path, "approved.json", _preview())
    now = copy.deepcopy(_preview())
    edit(now)
    assert main(["preview", "compare", str(approved), str(_write(tmp_path, "now.json", now))]) == 1
    out = capsys.readouterr().out.splitlines()
    assert expected in out
    assert out[-1].startswith(f"{len(out) - 1} difference(s) from the approved preview: refusing to apply")


@pytest.mark.parametrize("content, problem", [
    (None, "does not exist"),
    ("{not json", "is not JSON"),
    (json.dumps({"steps": [{"op": "update"}]}), "steps: is not a preview's list of steps"),
    (json.dumps([1, 2]), "steps: is not a preview's list of steps"),
])
def test_a_file_that_is_not_a_preview_is_one_line_and_exit_2(tmp_path, capsys, content, problem) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    good = _write(tmp_path, "good.json", _preview())
    assert main(["preview", "compare", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
    assert str(bad) in captured.err and problem in captured.err and "pulumi preview --json" in captured.err
