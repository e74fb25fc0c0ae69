"""mercur.release.stackfile through `python -m mercur release|promote`: one app's image line changes, every other
byte of the stack file stays, the result loads with the project's own loader, and every bad input is one line on
stderr, exit 2 and the files as they were. Always on copies of the checked-in stack files (the `project` fixture)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from mercur.__main__ import main
from mercur.config import load_file

REPOSITORY = "ghcr.io/mercur-shop/storefront"
DEV_IMAGE = f"{REPOSITORY}:2.15.0-rc.1"  # dev pins a tag only
PINNED = f"{REPOSITORY}:2.14.1@sha256:94ec55fd6943317db12f1a52b0999644dc03352e7d217b0970673dc6b9ef51c3"  # staging, prod
ORDERS = "ghcr.io/mercur-shop/orders-api:3.2.0@sha256:b9af9f11a5f7872dde980c21b64021d5e53f290cb836c90ea9b6735cfa3cc99f"
NEW = "sha256:" + hashlib.sha256(b"storefront 2.16.0").hexdigest()
OTHER = "sha256:" + hashlib.sha256(b"storefront 2.16.1").hexdigest()


def _run(capsys, project, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--project-dir", str(project.path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _files(project) -> dict[str, bytes]:
    """Every file of the copy (a temporary file left behind shows up too)."""
    return {path.name: path.read_bytes() for path in sorted(project.path.iterdir()) if path.is_file()}


def _read(project, stack: str) -> bytes:
    return (project.path / f"Pulumi.{stack}.yaml").read_bytes()


def _write(project, stack: str, data: bytes) -> None:
    (project.path / f"Pulumi.{stack}.yaml").write_bytes(data)


def _changed_lines(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    """The lines that differ; the files must have the same lines otherwise, byte for byte."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new) if a != b]


def _image(project, stack: str, app: str) -> str:
    """The app's image as the project's config loader reads the edited file."""
    return next(a.image for a in load_file(project.path, stack).apps if a.name == app)


# --------------------------------------------------------------------------------------------------
# release


def test_a_digest_released_to_dev_changes_only_the_image_line(project, capsys) -> None:
    before = _read(project, "dev")
    code, out, err = _run(capsys, project, "release", "storefront", NEW, "--stack", "dev")
    assert (code, err) == (0, "")
    assert out == f"Pulumi.dev.yaml: mercur:apps[0].image (storefront): {DEV_IMAGE} -> {REPOSITORY}@{NEW}\n"
    after = _read(project, "dev")
    assert _changed_lines(before, after) == [(f"      image: {DEV_IMAGE}\n".encode(),
                                              f"      image: {REPOSITORY}@{NEW}\n".encode())]
    assert b"# Dev: one region, one NAT gateway, small nodes." in after  # comments are bytes like any other
    assert _image(project, "dev", "storefront") == f"{REPOSITORY}@{NEW}"


def test_a_digest_released_to_prod_keeps_the_repository_and_drops_the_old_tag(project, capsys) -> None:
    """The second app, in a two-region stack: the old tag would name a version the new digest need not be."""
    before = _read(project, "prod")
    code, out, _ = _run(capsys, project, "release", "orders-api", NEW, "--stack", "prod")
    assert code == 0 and out.startswith("Pulumi.prod.yaml: mercur:apps[1].image (orders-api): ")
    expected = f"ghcr.io/mercur-shop/orders-api@{NEW}"
    assert _changed_lines(before, _read(project, "prod")) == [(f"      image: {ORDERS}\n".encode(),
                                                               f"      image: {expected}\n".encode())]
    assert _image(project, "prod", "orders-api") == expected
    assert _image(project, "prod", "storefront") == PINNED


def test_a_full_reference_is_written_as_given(project, capsys) -> None:
    given = f"{REPOSITORY}:2.16.0@{NEW}"
    before = _read(project, "staging")
    code, out, _ = _run(capsys, project, "release", "storefront", given, "--stack", "staging")
    assert code == 0 and out.endswith(f"{PINNED} -> {given}\n")
    assert _changed_lines(before, _read(project, "staging")) == [(f"      image: {PINNED}\n".encode(),
                                                                  f"      image: {given}\n".encode())]
    assert _image(project, "staging", "storefront") == given


@pytest.mark.parametrize("given", [PINNED.split("@")[1], PINNED], ids=["its-digest", "its-reference"])
def test_the_image_already_pinned_writes_nothing(project, capsys, given) -> None:
    """Idempotent: the same digest again (bare: the tag released with it stays) leaves the file untouched."""
    path = project.path / "Pulumi.prod.yaml"
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))  # a rewrite would move it
    before = _files(project)
    code, out, err = _run(capsys, project, "release", "storefront", given, "--stack", "prod")
    assert (code, err) == (0, "")
    assert out == f"Pulumi.prod.yaml: mercur:apps[0].image (storefront): already {PINNED}; nothing changed\n"
    assert _files(project) == before and path.stat().st_mtime_ns == 1_000_000_000_000_000_000


@pytest.mark.parametrize("written, expected", [
    (f"image: {DEV_IMAGE}   # built by storefront's CI\n", f"image: {REPOSITORY}@{NEW}   # built by storefront's CI\n"),
    (f"image: '{DEV_IMAGE}'  # quoted\n", f"image: '{REPOSITORY}@{NEW}'  # quoted\n"),
    (f'image: "{DEV_IMAGE}"\n', f'image: "{REPOSITORY}@{NEW}"\n'),
    (f"image:    {DEV_IMAGE}#not-a-comment\n", None),  # `#` without a space before it is part of the value
], ids=["trailing-comment", "single-quoted", "double-quoted", "hash-inside-the-value"])
def test_the_rest_of_the_image_line_and_its_quoting_stay(project, capsys, written, expected) -> None:
    _write(project, "dev", _read(project, "dev").replace(f"image: {DEV_IMAGE}\n".encode(), written.encode()))
    before = _read(project, "dev")
    code, _, err = _run(capsys, project, "release", "storefront", NEW, "--stack", "dev")
    if expected is None:  # the file's value is not an image reference: the file is refused before any edit
        assert code == 2 and err.startswith("Pulumi.dev.yaml: mercur:apps[0].image: ") and err.count("\n") == 1
        assert _read(project, "dev") == before
        return
    assert (code, err) == (0, "")
    assert _changed_lines(before, _read(project, "dev")) == [(f"      {written}".encode(),
                                                              f"      {expected}".encode())]
    assert _image(project, "dev", "storefront") == f"{REPOSITORY}@{NEW}"


def test_windows_line_endings_and_a_byte_order_mark_stay(project, capsys) -> None:
    _write(project, "dev", b"\xef\xbb\xbf" + _read(project, "dev").replace(b"\n", b"\r\n"))
    before = _read(project, "dev")
    assert _run(capsys, project, "release", "storefront", NEW, "--stack", "dev")[0] == 0
    after = _read(project, "dev")
    assert after.startswith(b"\xef\xbb\xbf") and after.count(b"\r\n") == before.count(b"\r\n")
    assert _changed_lines(before, after) == [(f"      image: {DEV_IMAGE}\r\n".encode(),
                                              f"      image: {REPOSITORY}@{NEW}\r\n".encode())]


# --------------------------------------------------------------------------------------------------
# promote


def test_promotion_moves_the_same_digest_dev_to_staging_then_staging_to_prod(project, capsys) -> None:
    assert _run(capsys, project, "release", "storefront", f"{REPOSITORY}:2.16.0@{NEW}", "--stack", "dev")[0] == 0
    dev, staging, prod = (_read(project, s) for s in ("dev", "staging", "prod"))

    code, out, err = _run(capsys, project, "promote", "storefront", "--from", "dev", "--to", "staging")
    assert (code, err) == (0, "")
    assert out == f"Pulumi.staging.yaml: mercur:apps[0].image (storefront): {PINNED} -> {REPOSITORY}:2.16.0@{NEW}\n"
    released = f"{REPOSITORY}:2.16.0@{NEW}"
    assert _image(project, "staging", "storefront") == _image(project, "dev", "storefront") == released
    assert len(_changed_lines(staging, _read(project, "staging"))) == 1
    assert (_read(project, "dev"), _read(project, "prod")) == (dev, prod)

    staging = _read(project, "staging")
    assert _run(capsys, project, "promote", "storefront", "--from", "staging", "--to", "prod")[0] == 0
    assert _image(project, "prod", "storefront") == _image(project, "staging", "storefront")
    assert _changed_lines(prod, _read(project, "prod")) == [(f"      image: {PINNED}\n".encode(),
                                                             f"      image: {REPOSITORY}:2.16.0@{NEW}\n".encode())]
    assert (_read(project, "dev"), _read(project, "staging")) == (dev, staging)


def test_promoting_what_the_next_stage_already_runs_writes_nothing(project, capsys) -> None:
    before = _files(project)
    code, out, _ = _run(capsys, project, "promote", "orders-api", "--from", "staging", "--to", "prod")
    assert code == 0 and out.endswith(f"already {ORDERS}; nothing changed\n")
    assert _files(project) == before


# --------------------------------------------------------------------------------------------------
# bad input: one line, exit 2, every file as it was


def _without_staging(project) -> None:
    (project.path / "Pulumi.staging.yaml").unlink()


def _not_utf8(project) -> None:
    _write(project, "dev", _read(project, "dev").replace(b"small nodes", b"sm\xe4ll nodes"))


def _invalid_elsewhere(project) -> None:
    _write(project, "dev", _read(project, "dev").replace(b"maxAzs: 2", b"maxAzs: 9"))


def _not_yaml(project) -> None:
    _write(project, "dev", _read(project, "dev").replace(b"      port: 8080\n", b"     port: 8080\n", 1))


def _anchored(project) -> None:
    _write(project, "dev", _read(project, "dev").replace(b"image: ghcr.io/mercur-shop/storefront",
                                                         b"image: &storefront ghcr.io/mercur-shop/storefront"))


def _tagged(project) -> None:
    _write(project, "dev", _read(project, "dev").replace(b"image: ghcr.io/mercur-shop/storefront",
                                                         b"image: !!str ghcr.io/mercur-shop/storefront"))


def _on_the_next_line(project) -> None:
    _write(project, "dev", _read(project, "dev").replace(b"image: ghcr.io/mercur-shop/storefront",
                                                         b"image:\n        ghcr.io/mercur-shop/storefront"))


def _app_only_in_dev(project) -> None:
    """A new app released to dev, not yet in staging (setup only: the copy's dev file is re-dumped here)."""
    project.edit("dev", lambda v: v["mercur:apps"].append({**v["mercur:apps"][0], "name": "search", "image":
                                                           f"ghcr.io/mercur-shop/search:0.1.0@{NEW}"}))


BAD_INPUTS = {
    # id: (setup, arguments, the line's start, words of the fix)
    "unknown-stack": (None, ["release", "storefront", NEW, "--stack", "qa"],
                      "Pulumi.qa.yaml: stack: no such stack file", "use one of: dev, prod, staging"),
    "not-a-stack-name": (None, ["release", "storefront", NEW, "--stack", "../dev"],
                         "Pulumi.../dev.yaml: stack: ", "use letters, digits"),
    "missing-stack-file": (_without_staging, ["release", "storefront", NEW, "--stack", "staging"],
                           "Pulumi.staging.yaml: stack: no such stack file", "use one of: dev, prod"),
    "unknown-app": (None, ["release", "checkout", NEW, "--stack", "dev"],
                    'Pulumi.dev.yaml: mercur:apps: has no app "checkout" (it has: storefront, orders-api)',
                    "check the name"),
    "a-tag": (None, ["release", "storefront", "2.16.0", "--stack", "dev"],
              'Pulumi.dev.yaml: mercur:apps[0].image: "2.16.0" is not a digest', "pass sha256:<64 lowercase hex>"),
    "a-reference-by-tag": (None, ["release", "storefront", f"{REPOSITORY}:2.16.0", "--stack", "dev"],
                           "Pulumi.dev.yaml: mercur:apps[0].image: ", "pass sha256:<64 lowercase hex>"),
    "uppercase-digest": (None, ["release", "storefront", NEW.upper().replace("SHA256", "sha256"), "--stack", "dev"],
                         "Pulumi.dev.yaml: mercur:apps[0].image: ", "pass sha256:<64 lowercase hex>"),
    "short-digest": (None, ["release", "storefront", f"{REPOSITORY}@sha256:abc123", "--stack", "prod"],
                     "Pulumi.prod.yaml: mercur:apps[0].image: ", "pass sha256:<64 lowercase hex>"),
    "another-repository": (None, ["release", "storefront", f"ghcr.io/mercur-shop/orders-api@{NEW}", "--stack", "prod"],
                           'Pulumi.prod.yaml: mercur:apps[0].image: "ghcr.io/mercur-shop/orders-api" is not '
                           "storefront's repository", f"pass an image of {REPOSITORY}"),
    "a-typo-in-the-repository": (None, ["release", "storefront", f"ghcr.io/mercur-shop/storefrnt:2.16.0@{NEW}",
                                        "--stack", "dev"],
                                 "Pulumi.dev.yaml: mercur:apps[0].image: ", "or its digest alone"),
    "unreadable-file": (_not_utf8, ["release", "storefront", NEW, "--stack", "dev"],
                        "Pulumi.dev.yaml: line 2: byte ", "save the file as UTF-8"),
    "invalid-file": (_invalid_elsewhere, ["release", "storefront", NEW, "--stack", "dev"],
                     "Pulumi.dev.yaml: mercur:network.maxAzs: ", ""),
    "not-yaml": (_not_yaml, ["release", "storefront", NEW, "--stack", "dev"],
                 "Pulumi.dev.yaml: line ", "fix the indentation"),
    "result-fails-validation": (None, ["release", "storefront", f"{REPOSITORY}:-rc1@{NEW}", "--stack", "dev"],
                                'Pulumi.dev.yaml: mercur:apps[0].image: "ghcr.io/mercur-shop/storefront:-rc1@',
                                "write registry/repository:tag"),
    "an-anchored-image": (_anchored, ["release", "storefront", NEW, "--stack", "dev"],
                          "Pulumi.dev.yaml: mercur:apps[0].image: is not one plain or quoted value", "by hand"),
    "a-tagged-image": (_tagged, ["release", "storefront", NEW, "--stack", "dev"],
                       "Pulumi.dev.yaml: mercur:apps[0].image: is not one plain or quoted value", "by hand"),
    "an-image-on-the-next-line": (_on_the_next_line, ["release", "storefront", NEW, "--stack", "dev"],
                                  "Pulumi.dev.yaml: mercur:apps[0].image: is not one plain or quoted value", "by hand"),
    "promote-a-tag": (None, ["promote", "storefront", "--from", "dev", "--to", "staging"],
                      f'Pulumi.dev.yaml: mercur:apps[0].image: "{DEV_IMAGE}" is not pinned by digest',
                      "release a digest to dev first: python -m mercur release storefront sha256:<64 hex> --stack dev"),
    "promote-skipping-staging": (None, ["promote", "orders-api", "--from", "dev", "--to", "prod"],
                                 "Pulumi.prod.yaml: --from: dev -> prod skips staging",
                                 "promote dev -> staging first, then staging -> prod"),
    "promote-backwards": (None, ["promote", "storefront", "--from", "prod", "--to", "staging"],
                          "Pulumi.staging.yaml: --from: prod -> staging goes backwards", "release the earlier digest"),
    "promote-to-itself": (None, ["promote", "storefront", "--from", "staging", "--to", "staging"],
                          "Pulumi.staging.yaml: --from: staging -> staging is not a promotion", "mercur release"),
    "promote-from-no-stage": (None, ["promote", "storefront", "--from", "qa", "--to", "staging"],
                              'Pulumi.qa.yaml: --from: "qa" is not a stage', "dev -> staging or staging -> prod"),
    "promote-an-unknown-app": (None, ["promote", "checkout", "--from", "staging", "--to", "prod"],
                               'Pulumi.staging.yaml: mercur:apps: has no app "checkout"', "check the name"),
    "promote-an-app-the-target-lacks": (_app_only_in_dev, ["promote", "search", "--from", "dev", "--to", "staging"],
                                        'Pulumi.staging.yaml: mercur:apps: has no app "search"',
                                        "add the app to Pulumi.staging.yaml first"),
    "promote-into-a-missing-file": (_without_staging, ["promote", "storefront", "--from", "staging", "--to", "prod"],
                                    "Pulumi.staging.yaml: stack: no such stack file", "use one of: dev, prod"),
}


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_line_exit_2_and_no_file_changes(project, capsys, case) -> None:
    setup, arguments, start, fix = case
    if setup:
        setup(project)
    before = _files(project)
    code, out, err = _run(capsys, project, *arguments)
    assert (code, out) == (2, "")
    assert err.startswith(start) and err.count("\n") == 1 and err.endswith("\n"), err
    assert fix in err.split("; ", 1)[1], err
    assert _files(project) == before


def test_a_failed_write_leaves_the_file_and_no_temporary_file(project, capsys, monkeypatch) -> None:
    def refused(*args) -> None:
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(os, "replace", refused)
    before = _files(project)
    code, out, err = _run(capsys, project, "release", "storefront", NEW, "--stack", "dev")
    assert (code, out) == (2, "")
    assert err == "Pulumi.dev.yaml: (file): cannot be written (Permission denied); check the directory's " \
                  "permissions (the file is unchanged)\n"
    assert _files(project) == before


def test_an_edit_that_would_change_another_value_is_refused(project, capsys, monkeypatch) -> None:
    """The last check before writing: parsed, the edited file differs from the old one in that image only (here
    the edit is pointed at the other app's image line, which would still load)."""
    from mercur.release import stackfile
    locate = stackfile._locate
    monkeypatch.setattr(stackfile, "_locate", lambda data, file, index, old: locate(data, file, 1, ORDERS))
    before = _files(project)
    code, _, err = _run(capsys, project, "release", "storefront", NEW, "--stack", "prod")
    assert code == 2 and err == ("Pulumi.prod.yaml: mercur:apps[0].image: the edit would change more than the "
                                 "app's image; edit the image by hand\n")
    assert _files(project) == before


def test_the_command_prints_no_traceback(project) -> None:
    """As CI runs it: a process, a bad digest, one line and exit 2."""
    result = subprocess.run([sys.executable, "-m", "mercur", "release", "storefront", OTHER[:20], "--stack", "dev",
                             "--project-dir", str(project.path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("Pulumi.dev.yaml: mercur:apps[0].image: ") and result.stderr.count("\n") == 1
