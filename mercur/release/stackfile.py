"""Stack-file edits a release pipeline makes: one app's `image:` in `Pulumi.<stack>.yaml`, and nothing else.

The edit replaces the characters of one scalar, found through the YAML node graph (the marks of PyYAML's
`compose`: where the image's value starts and ends in the text), never by dumping YAML again: comments, blank
lines, quoting, indentation, key order and the rest of the image line (a trailing comment) stay byte for byte.
Before anything is written, the edited content is validated by the project's own loader
(`mercur.config.load_bytes`) and compared with the file as it was, value by value: only that image may differ.
The write is atomic (a temporary file in the same directory, then `os.replace`), so any failure leaves the file
as it was. Every bad input is a ConfigError: one line naming the file, the key and the fix.

    release   an app's new image, pinned by digest, into one stack file (the app's CI, to dev)
    promote   the exact image one stage runs, copied to the next: dev -> staging -> prod, nothing rebuilt
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..config import ConfigError, StackConfig, load_bytes, load_file, show, split_image, stack_file
from ..config.errors import clip
from ..config.reader import NAMESPACE, parse_config, read_bytes

DIGEST = re.compile(r"sha256:[a-f0-9]{64}", re.ASCII)
# What an image reference may hold here: no character YAML gives a meaning to in a plain scalar (` #`, quotes,
# flow indicators), so the new value never needs escaping in any of the styles the edit keeps.
_REFERENCE = re.compile(r"[a-z0-9][A-Za-z0-9._/:@-]*", re.ASCII)
STAGES = ("dev", "staging", "prod")  # promotion order: a stage takes only what ran in the one before it
APPS = f"{NAMESPACE}apps"
_UTF8_BOM = b"\xef\xbb\xbf"
_BETWEEN_KEY_AND_VALUE = re.compile(r"[ \t]*:[ \t]*")  # no anchor, tag or alias: the value is the line's own
_BY_HAND = "write it as `image: <reference>` on one line, or edit the image by hand"


@dataclass(frozen=True)
class Change:
    """One app's image in one stack file, before and after (the same when there was nothing to change)."""

    file: str
    key: str
    app: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def line(self) -> str:
        if self.changed:
            return f"{self.file}: {self.key} ({self.app}): {self.old} -> {self.new}"
        return f"{self.file}: {self.key} ({self.app}): already {self.new}; nothing changed"


def release(project_dir: Path, stack: str, app: str, image: str) -> Change:
    """Pin APP's image in `Pulumi.<stack>.yaml` to a digest; the file changes only where that image is written.

    IMAGE is either a bare digest `sha256:<64 lowercase hex>`: the app keeps its repository and its tag is
    dropped (`repository@sha256:...`), because a tag beside a new digest would name a version that digest need
    not be (the node pulls by digest and never checks the tag); when it is the digest already pinned, nothing
    changes and the tag released with it stays. Or `REPOSITORY[:TAG]@sha256:<64 lowercase hex>`, written as
    given, whose repository must be the app's current one: a typo must not deploy another repository's image
    (a move to another repository is a reviewed hand edit). A tag alone is refused: registries move tags.
    """
    config, file = _current(project_dir, stack)
    index, current = _app(config, file, app, "check the name in mercur:apps")
    key = _key(index)
    repository, _, digest = split_image(current)
    if DIGEST.fullmatch(image):
        new = current if image == digest else f"{repository}@{image}"
    else:
        given_repository, _, given_digest = split_image(image)
        if given_digest is None or not DIGEST.fullmatch(given_digest) or not _REFERENCE.fullmatch(image):
            raise ConfigError(file, key, f"{show(image)} is not a digest or an image pinned by one",
                              "pass sha256:<64 lowercase hex> or REPOSITORY[:TAG]@sha256:<64 lowercase hex> "
                              "(a tag alone can be moved by the registry)")
        if given_repository != repository:
            raise ConfigError(file, key, f"{show(given_repository)} is not {app}'s repository ({repository})",
                              f"pass an image of {repository}, or its digest alone (sha256:<64 hex>); another "
                              "repository is a hand edit for review")
        new = image
    return _set(project_dir, stack, file, index, app, current, new)


def promote(project_dir: Path, app: str, source: str, target: str) -> Change:
    """Copy APP's image, exactly as `Pulumi.<source>.yaml` pins it (repository:tag@sha256:...), into
    `Pulumi.<target>.yaml`: the same digest moves on, nothing is rebuilt. Only to the next stage (dev -> staging,
    staging -> prod), and only an image pinned by digest (a tag is not the same image twice). The copy is exact,
    repository included: what reached the source stage was reviewed there."""
    _check_order(source, target)
    config, file = _current(project_dir, source)
    index, image = _app(config, file, app, "check the name in mercur:apps")
    if split_image(image)[2] is None:
        raise ConfigError(file, _key(index), f"{show(image)} is not pinned by digest: there is nothing safe to "
                          f"promote (a registry can move a tag)", f"release a digest to {source} first: python -m "
                          f"mercur release {app} sha256:<64 hex> --stack {source}")
    target_config, target_file = _current(project_dir, target)
    target_index, current = _app(target_config, target_file, app,
                                 f"add the app to {target_file} first (promote moves an image, not an app)")
    return _set(project_dir, target, target_file, target_index, app, current, image)


def _check_order(source: str, target: str) -> None:
    for flag, stage in (("--from", source), ("--to", target)):
        if stage not in STAGES:
            raise ConfigError(f"Pulumi.{clip(stage)}.yaml", flag, f"{show(stage)} is not a stage",
                              "promote dev -> staging or staging -> prod")
    step = STAGES.index(target) - STAGES.index(source)
    if step == 1:
        return
    file = f"Pulumi.{target}.yaml"
    if step > 1:
        skipped = STAGES[STAGES.index(source) + 1:STAGES.index(target)]
        raise ConfigError(file, "--from", f"{source} -> {target} skips {', '.join(skipped)}",
                          f"promote {source} -> {skipped[0]} first, then {skipped[-1]} -> {target}: every stage "
                          "runs an image before the next one does")
    if step == 0:
        raise ConfigError(file, "--from", f"{source} -> {target} is not a promotion",
                          f"to change one stack's image use: python -m mercur release APP IMAGE --stack {target}")
    raise ConfigError(file, "--from", f"{source} -> {target} goes backwards",
                      f"to roll {target} back, release the earlier digest: python -m mercur release APP "
                      f"sha256:<64 hex> --stack {target}")


def _current(project_dir: Path, stack: str) -> tuple[StackConfig, str]:
    """The stack as the project loads it: an unknown stack, a missing, unreadable or invalid file is its line."""
    return load_file(project_dir, stack), stack_file(project_dir, stack).name


def _app(config: StackConfig, file: str, app: str, fix: str) -> tuple[int, str]:
    for index, entry in enumerate(config.apps):
        if entry.name == app:
            return index, entry.image
    names = ", ".join(entry.name for entry in config.apps) or "none"
    raise ConfigError(file, APPS, f"has no app {show(app)} (it has: {names})", fix)


def _key(index: int) -> str:
    return f"{APPS}[{index}].image"


def _set(project_dir: Path, stack: str, file: str, index: int, app: str, old: str, new: str) -> Change:
    change = Change(file, _key(index), app, old, new)
    if not change.changed:
        return change  # not even rewritten: the file keeps its bytes and its modification time
    path = stack_file(project_dir, stack)
    data = read_bytes(path)
    start, end, style = _locate(data, file, index, old)
    edited = data[:start] + _render(new, style).encode() + data[end:]
    _check(project_dir, stack, file, index, data, edited, new)
    _write(path, file, edited)
    return change


def _locate(data: bytes, file: str, index: int, old: str) -> tuple[int, int, str | None]:
    """The byte range of apps[index].image's value in the file (quotes included) and its style."""
    key = _key(index)
    bom = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    try:
        text = data[bom:].decode("utf-8")
        # The pure-Python composer: its marks count characters of `text` (libyaml's are not documented so).
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(file, key, f"the file cannot be composed for editing ({type(error).__name__})",
                          "edit the image by hand") from None
    apps = _entry(_entry(root, "config"), APPS)
    entry = apps.value[index] if isinstance(apps, SequenceNode) and index < len(apps.value) else None
    found = _pair(entry, "image")
    if found is None:
        raise ConfigError(file, key, "is not written in the app's own mapping (a merge key or an alias?)", _BY_HAND)
    name, value = found
    start, end = value.start_mark.index, value.end_mark.index
    # The value's characters are exactly the image (quotes aside) and nothing stands between `image:` and them:
    # an anchor or tag (which the marks include), an alias (marks elsewhere), an escape or a folded line is not.
    if not (isinstance(value, ScalarNode) and value.style in (None, "'", '"')
            and text[start:end] == _render(old, value.style)
            and _BETWEEN_KEY_AND_VALUE.fullmatch(text[name.end_mark.index:start])):
        raise ConfigError(file, key, "is not one plain or quoted value on its `image:` line (an alias, an anchor, "
                          "a tag, an escape or several lines)", _BY_HAND)
    return bom + len(text[:start].encode()), bom + len(text[:end].encode()), value.style


def _pair(node: Node | None, key: str) -> tuple[ScalarNode, Node] | None:
    if isinstance(node, MappingNode):
        for name, value in node.value:
            if isinstance(name, ScalarNode) and name.value == key and name.tag == "tag:yaml.org,2002:str":
                return name, value
    return None


def _entry(node: Node | None, key: str) -> Node | None:
    found = _pair(node, key)
    return found[1] if found else None


def _render(image: str, style: str | None) -> str:
    """In the style the file used: plain, 'single' or "double" quoted (a reference needs no escaping)."""
    return f"{style}{image}{style}" if style else image


def _check(project_dir: Path, stack: str, file: str, index: int, data: bytes, edited: bytes, new: str) -> None:
    """The edited content passes the project's validation, and differs from the file only in that image."""
    load_bytes(project_dir, stack, edited)
    expected = copy.deepcopy(parse_config(file, data))
    expected[APPS][index]["image"] = new
    if parse_config(file, edited) != expected:
        raise ConfigError(file, _key(index), "the edit would change more than the app's image",
                          "edit the image by hand")


def _write(path: Path, file: str, data: bytes) -> None:
    """Whole or not at all: a temporary file beside the target, then one rename (a symlink keeps its link)."""
    target = path.resolve()
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise ConfigError(file, "(file)", f"cannot be written ({error.strerror or type(error).__name__})",
                          "check the directory's permissions (the file is unchanged)") from None
