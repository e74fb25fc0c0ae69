"""mercur.config.reader: no stack file can break the reader. Every hostile input is ONE line naming the file,
exit 2, no traceback, nothing declared, and fast."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mercur.__main__ import main
from mercur.config import ConfigError, load, reader
from conftest import ROOT, STACKS

CORPUS = Path(__file__).resolve().parent / "corpus"
FILES = sorted(CORPUS.iterdir())


def _project(tmp_path: Path, stack: str, body: bytes) -> Path:
    for name in ["Pulumi.yaml", "__main__.py", *(f"Pulumi.{s}.yaml" for s in STACKS)]:
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / f"Pulumi.{stack}.yaml").write_bytes(body)
    return tmp_path


def _plan(project: Path, stack: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    from mercur.offline import synth
    monkeypatch.setattr(synth, "run_program", lambda *a, **k: pytest.fail("resources were declared"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["plan", stack, "--project-dir", str(project)])
    return code, out.getvalue(), err.getvalue()


def test_the_corpus_covers_every_class_several_times() -> None:
    classes: dict[str, int] = {}
    for path in FILES:
        kind = path.name.split("--")[1]
        classes[kind] = classes.get(kind, 0) + 1
    assert len(FILES) >= 150
    assert min(classes.values()) >= 3, classes
    assert {"trailing-newline", "non-ascii", "duplicate-key", "namespace", "yaml-type", "encoding", "alias", "cidr",
            "aws-limit", "secret", "mount-path", "long-value", "environment", "digest"} <= set(classes)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_corpus_file_is_one_line_and_exit_2(path: Path, tmp_path: Path, monkeypatch) -> None:
    stack = path.name.split("--")[0]
    code, out, err = _plan(_project(tmp_path, stack, path.read_bytes()), stack, monkeypatch)
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith(f"Pulumi.{stack}.yaml: ") and "Traceback" not in line and len(line) < 400


def _rejected(tmp_path: Path, stack: str, body: str | bytes) -> str:
    project = _project(tmp_path, stack, body if isinstance(body, bytes) else body.encode())
    with pytest.raises(ConfigError) as caught:
        load.load_file(project, stack)
    return str(caught.value)


def _stack_text(stack: str) -> str:
    return (ROOT / f"Pulumi.{stack}.yaml").read_text()


# One test per class, naming what the line must say.

def test_a_trailing_newline_never_reaches_an_image(tmp_path) -> None:
    image = "ghcr.io/mercur-shop/storefront:2.15.0-rc.1"
    body = _stack_text("dev").replace(f"image: {image}", f'image: "{image}\\n"')
    assert _rejected(tmp_path, "dev", body).startswith("Pulumi.dev.yaml: mercur:apps[0].image: ")


def test_non_ascii_digits_are_not_digits(tmp_path) -> None:
    body = _stack_text("dev").replace("cidr: 10.10.0.0/16", "cidr: 1٠.10.0.0/16")
    assert "mercur:regions[0].cidr" in _rejected(tmp_path, "dev", body)


def test_a_second_block_of_the_same_key_is_refused_not_merged(tmp_path) -> None:
    body = _stack_text("prod") + "  mercur:dr:\n    rpoMinutes: 1440\n    rtoMinutes: 60\n    retentionDays: 7\n"
    message = _rejected(tmp_path, "prod", body)
    assert 'key "mercur:dr" appears twice' in message and "YAML would silently use the last" in message


@pytest.mark.parametrize("key, suggestion", [("mecur:tags", "mercur:tags"), ("mercur :standby", "mercur:standby"),
                                             ("MERCUR:dr", "mercur:dr")])
def test_a_namespace_near_mercur_is_a_typo(tmp_path, key, suggestion) -> None:
    message = _rejected(tmp_path, "prod", _stack_text("prod") + f"  {key}:\n    replicas: 1\n")
    assert message.startswith(f"Pulumi.prod.yaml: {key}: ") and f"did you mean `{suggestion}`?" in message


def test_only_mercur_and_pulumis_own_namespaces_are_allowed(tmp_path) -> None:
    assert "is not read by this project" in _rejected(tmp_path, "dev", _stack_text("dev") + "  acme:x: 1\n")
    project = _project(tmp_path, "dev", (_stack_text("dev") + "  aws:region: us-west-1\n").encode())
    assert load.load_file(project, "dev").environment == "dev"


@pytest.mark.parametrize("value, words", [("2024-01-01", "as a date"), ("!!binary aGk=", "as a bytes"),
                                          ("!!set {a}", "as a set"), ("2024-13-45", "month must be in 1..12")])
def test_yaml_types_no_setting_has_are_named(tmp_path, value, words) -> None:
    body = _stack_text("dev").replace("    Owner: platform-team\n", f"    Owner: {value}\n")
    assert words in _rejected(tmp_path, "dev", body)


@pytest.mark.parametrize("encoding, words", [("utf-16", "is UTF-16 or UTF-32 encoded"),
                                             ("latin-1", "is not UTF-8")])
def test_files_that_are_not_utf8_say_so(tmp_path, encoding, words) -> None:
    body = (_stack_text("dev") + "  mercur:standby:\n    replicas: 1  # ä\n").encode(encoding)
    assert words in _rejected(tmp_path, "dev", body)


def test_recursive_aliases_are_refused(tmp_path) -> None:
    assert "is an alias of itself" in _rejected(tmp_path, "dev", _stack_text("dev") + "  mercur:standby: &a [*a]\n")


def test_an_alias_bomb_is_refused_before_it_is_walked(tmp_path) -> None:
    levels = "".join(f"  mercur:l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 10))
    message = _rejected(tmp_path, "dev", _stack_text("dev") + "  mercur:l0: &l0 [x]\n" + levels)
    assert "expands to more than 20,000 values" in message


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path, monkeypatch) -> None:
    from mercur.config import reader
    monkeypatch.setattr(reader, "_document", lambda *a: pytest.fail("a file over the limit was parsed"))
    body = _stack_text("dev") + "  mercur:standby:\n    replicas: 1\n" + "#" * (10 * 1024 * 1024) + "\n"
    assert "is larger than 256 KiB" in _rejected(tmp_path, "dev", body)


def test_ten_thousand_apps_are_rejected_in_linear_time() -> None:
    raw = load.stack_file_keys(ROOT, "prod")
    raw["apps"] = [{**raw["apps"][0], "name": f"app-{i}"} for i in range(10_000)]
    with pytest.raises(ConfigError, match=r"mercur:apps: has 10000 entries; keep at most 100"):
        load.parse(raw, stack="prod", source="Pulumi.prod.yaml")


@pytest.mark.parametrize("cidr", ["127.0.0.0/16", "169.254.0.0/16", "0.0.0.0/16", "100.64.0.0/16"])
def test_vpc_ranges_outside_rfc1918_are_refused(tmp_path, cidr) -> None:
    body = _stack_text("dev").replace("cidr: 10.10.0.0/16", f"cidr: {cidr}")
    assert f"{cidr} is not a private (RFC 1918) range" in _rejected(tmp_path, "dev", body)


@pytest.mark.parametrize("old, new, words", [
    ("    Owner: platform-team\n", "".join(f"    T{i}: x\n" for i in range(40)), "keep at most 40"),
    ("role/mercur-platform-admin", "role/" + "r" * 65, "IAM names have at most 64"),
    ("healthPath: /healthz", "healthPath: /" + "h" * 255, "Route53 health checks take at most 255"),
    ("memory: 16Gi}", "memory: 16GB}", "is not a memory size in Gi"),
    ("arn:aws:iam::111111111111", "arn:aws-cn:iam::111111111111", "is in partition aws-cn, not aws"),
])
def test_aws_limits_are_checked(tmp_path, old, new, words) -> None:
    assert words in _rejected(tmp_path, "dev", _stack_text("dev").replace(old, new, 1))


def test_plaintext_under_secret_env_is_refused(tmp_path) -> None:
    body = _stack_text("dev").replace("      env:\n        LOG_LEVEL: debug\n",
                                      "      secretEnv:\n        DB_PASSWORD: hunter2\n", 1)
    assert "mercur:apps[0].secretEnv.DB_PASSWORD: is in plaintext in secretEnv" in _rejected(tmp_path, "dev", body)


@pytest.mark.parametrize("path", ["/data/../etc", "/data/..", "/../x"])
def test_dot_dot_never_reaches_a_mount_path(tmp_path, path) -> None:
    body = _stack_text("dev").replace("      env:\n        LOG_LEVEL: debug\n",
                                      f"      volume: {{sizeGb: 10, mountPath: {path}}}\n", 1)
    assert "cannot hold the volume" in _rejected(tmp_path, "dev", body)


def test_a_huge_value_is_cut_in_the_error_line(tmp_path) -> None:
    body = _stack_text("dev").replace("image: ghcr.io/mercur-shop/storefront:2.15.0-rc.1", "image: " + "x" * 200_000)
    message = _rejected(tmp_path, "dev", body)
    assert len(message) < 300 and "..." in message


def test_a_prod_stack_cannot_declare_a_weaker_environment(tmp_path) -> None:
    message = _rejected(tmp_path, "prod", _stack_text("prod") + "  mercur:environment: dev\n")
    assert message.startswith("Pulumi.prod.yaml: mercur:environment: dev is weaker than the stack's name (prod)")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_images_are_pinned_by_digest(tmp_path, stack) -> None:
    body = _stack_text(stack).replace("@sha256:", " #", 1)
    assert "is not pinned by digest" in _rejected(tmp_path, stack, body)


def test_the_real_command_prints_one_line_without_a_traceback(tmp_path) -> None:
    project = _project(tmp_path, "dev", (CORPUS / "dev--yaml-type--set.yaml").read_bytes())
    done = subprocess.run([sys.executable, "-m", "mercur", "plan", "dev"], cwd=project, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (done.returncode, done.stdout) == (2, "") and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("Pulumi.dev.yaml: mercur:standby: YAML read")


def test_engine_values_that_are_not_json_are_text() -> None:
    values = load.stack_file_values(ROOT, "dev")
    values["mercur:environment"] = "dev"  # a plain string, as `pulumi config set` stores it
    assert load.load_engine(values, stack="dev", project_dir=ROOT).environment == "dev"
    assert json.loads(values["mercur:regions"])[0]["name"] == "us-west-1"


def test_the_reader_never_returns_what_the_file_does_not_say(tmp_path) -> None:
    project = _project(tmp_path, "dev", _stack_text("dev").encode())
    assert reader.read_config(project / "Pulumi.dev.yaml")["mercur:regions"][0]["cidr"] == "10.10.0.0/16"
