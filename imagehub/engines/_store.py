"""Compiled models in imagehub's model cache.

Layout under `imagehub.hub.compiled_models_dir()` (``engines/`` in the
model cache):

    <hash>/<engine>-<version>-<precision>-<H>x<W>/
        model.tflite | model.xml + model.bin    the compiled artifact
        compiled.json                          its `CompiledInfo`
    <hash>/auto-<H>x<W>-b<batch>-<precision>-<machine>.json
        what `auto` measured and chose

`<hash>` is the SavedModel's content hash (sha256 of every file's path
and bytes, first 32 hex digits), so a changed SavedModel is compiled
again and an unchanged one is found wherever it lives. An entry is built
in a temporary sibling and renamed into place after it passed parity,
`compiled.json` last: it either is complete or does not exist. The hub's
cache maintenance deletes `engines/` only with everything else
(`imagehub cache clear` without handles): entries are keyed by content,
not by handle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import uuid
from typing import Any

from imagehub.engines._base import CompiledInfo
from imagehub.engines._base import ImageSize
from imagehub.engines._base import cpu_threads

logger = logging.getLogger(__name__)

INFO_FILE = "compiled.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._]+")


def engines_root() -> str:
    from imagehub import hub

    return hub.compiled_models_dir()


def content_hash(model_dir: str) -> str:
    """sha256 of a SavedModel directory's relative paths and bytes."""
    digest = hashlib.sha256()
    files = []
    for root, dirs, names in os.walk(model_dir):
        dirs.sort()
        for name in names:
            path = os.path.join(root, name)
            files.append((os.path.relpath(path, model_dir), path))
    for rel, path in sorted(files):
        digest.update(rel.replace(os.sep, "/").encode() + b"\0")
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def model_root(digest: str) -> str:
    return os.path.join(engines_root(), digest[:32])


def entry_name(
    engine: str, version: str, precision: str, image_size: ImageSize
) -> str:
    height, width = image_size
    safe_version = _UNSAFE.sub("_", version)
    return f"{engine}-{safe_version}-{precision}-{height}x{width}"


def entry_dir(
    digest: str,
    engine: str,
    version: str,
    precision: str,
    image_size: ImageSize,
) -> str:
    name = entry_name(engine, version, precision, image_size)
    return os.path.join(model_root(digest), name)


def read_info(entry: str) -> CompiledInfo | None:
    """The entry's `CompiledInfo`, or None when it is absent or damaged."""
    try:
        with open(os.path.join(entry, INFO_FILE), encoding="utf-8") as f:
            return CompiledInfo.from_json(f.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as e:
        logger.warning("Ignoring damaged compiled model %s: %s", entry, e)
        return None


def new_staging(entry: str) -> str:
    parent = os.path.dirname(entry)
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(
        prefix=f".tmp-{os.path.basename(entry)}-{os.getpid()}-", dir=parent
    )


def publish(
    staging: str, entry: str, info: CompiledInfo, replace: bool = False
) -> str:
    """Writes `info` last and renames `staging` to `entry`.

    Returns the entry; when another process published it first, ours is
    discarded and theirs (the same model, the same engine) is used,
    unless `replace` (an int8 model calibrated on other images): then the
    entry there is moved aside and ours takes its place.
    """
    with open(os.path.join(staging, INFO_FILE), "w", encoding="utf-8") as f:
        f.write(info.to_json())
    if os.path.isdir(entry) and (replace or read_info(entry) is None):
        # A damaged or replaced entry: move it aside, take its place.
        trash = f"{entry}.trash-{uuid.uuid4().hex[:8]}"
        os.replace(entry, trash)
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.rename(staging, entry)
    except OSError:
        if read_info(entry) is None:
            raise
        shutil.rmtree(staging, ignore_errors=True)
    return entry


def machine_id() -> str:
    """The CPU this is measured on, as far as it matters to speed."""
    return _UNSAFE.sub("_", f"{platform.machine()}-{cpu_threads()}cpu")


def choice_path(
    digest: str, image_size: ImageSize, batch_size: int, precision: str
) -> str:
    height, width = image_size
    name = (
        f"auto-{height}x{width}-b{batch_size}-{precision}-{machine_id()}.json"
    )
    return os.path.join(model_root(digest), name)


def read_json(path: str) -> dict[str, Any] | None:
    """The JSON object at `path`; None when missing or damaged (warned)."""
    from imagehub import hub

    return hub.read_record(path, "engine record")


def write_json(path: str, data: dict[str, Any]) -> None:
    """Writes `data` atomically (temporary file, then rename)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
