"""Model bundles: carrying cached models to machines without network.

`export_bundle(handles, out)` resolves each handle (honouring a lock file
in effect), re-hashes its cache entry and writes one tar archive:

    imagehub-bundle.json            format, and per model: handle, key,
                                    resolved handle, entry, content sha256
    entries/<entry>/manifest.json   the entry's manifest
    entries/<entry>/model/...       its files

The archive is written beside `out` and renamed into place.

`import_bundle(path)` unpacks it with the same extractor as downloads
(`_tar.safe_extract`: no links, no absolute or `..` names, size limits)
into a temporary folder inside the cache, and checks everything before
anything is moved: each entry's name is the one its handle maps to, every
file has the size and SHA-256 its manifest lists and no file is unlisted,
each content digest is the one the index records, and, with a lock file
in effect, the one it pins. Only then is each entry renamed into the
cache under its lock, and the handles without a version are recorded as
resolved (`refs/`), so `IMAGEHUB_OFFLINE=1` loads them as written. A
bundle that fails any check imports nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tarfile
import uuid
from typing import Any

from imagehub.hub import _cache
from imagehub.hub import _config
from imagehub.hub import _handles
from imagehub.hub import _lock
from imagehub.hub import _lockfile
from imagehub.hub import _tar
from imagehub.hub import _versions
from imagehub.hub._errors import BundleError
from imagehub.hub._errors import DownloadError
from imagehub.hub._errors import HandleError
from imagehub.hub._errors import LockMismatchError

logger = logging.getLogger(__name__)

INDEX = "imagehub-bundle.json"
ENTRIES = "entries"
FORMAT = 1


@dataclasses.dataclass(frozen=True)
class BundleItem:
    """One model of a bundle.

    Attributes:
        handle: The handle as given to `export_bundle`.
        resolved: The handle of the immutable content it resolved to.
        sha256: The content digest (what a lock file pins).
        imported: After `import_bundle`: False when the cache already held
            the same content.
    """

    handle: str
    resolved: str
    sha256: str
    imported: bool = True


def export_bundle(handles: list[str], out: str) -> list[BundleItem]:
    """Writes the models of `handles` (fetched if needed) to the tar `out`.

    Raises:
        HandleError: A handle is local (local models are not cached).
        Everything `resolve` raises.
    """
    from imagehub.hub import _resolver

    lockfile = _lockfile.active()
    where = lockfile.path if lockfile is not None else ""
    cache = _cache.Cache(_config.cache_dir())
    models, seen = [], set()
    for text in handles:
        parsed = _handles.parse_cached(
            text, "a bundle carries cached models, so copy the model instead"
        )
        pin = lockfile.find(parsed) if lockfile is not None else None
        _, target = _resolver.resolve_remote(parsed, pin, where)
        files = _resolver.verified_files(target)
        models.append(
            {
                "handle": text,
                "key": parsed.key,
                "resolved": _versions.resolved_text(target),
                "entry": target.cache_name,
                "sha256": _cache.content_digest(files),
            }
        )
        seen.add(target.cache_name)
    out = os.path.abspath(out)
    tmp = f"{out}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with tarfile.open(tmp, "w:gz" if _gzipped(out) else "w") as tar:
            index = {"format": FORMAT, "models": models}
            _add_bytes(tar, INDEX, json.dumps(index, indent=1).encode())
            for name in sorted(seen):
                _add_tree(tar, cache.entry_dir(name), f"{ENTRIES}/{name}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    logger.info("Wrote %d model(s) to %s", len(models), out)
    return [BundleItem(m["handle"], m["resolved"], m["sha256"]) for m in models]


def _gzipped(path: str) -> bool:
    return path.lower().endswith((".tar.gz", ".tgz"))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_tree(tar: tarfile.TarFile, root: str, prefix: str) -> None:
    manifest = os.path.join(root, _cache.MANIFEST)
    with open(manifest, "rb") as f:
        _add_bytes(tar, f"{prefix}/{_cache.MANIFEST}", f.read())
    model = os.path.join(root, _cache.MODEL_DIR)
    for rel, path in sorted(_cache.walk_files(model)):
        info = tarfile.TarInfo(f"{prefix}/{_cache.MODEL_DIR}/{rel}")
        info.size = os.path.getsize(path)
        info.mode = 0o644
        with open(path, "rb") as f:
            tar.addfile(info, f)


def import_bundle(path: str) -> list[BundleItem]:
    """Verifies the bundle `path` and adds its models to the cache.

    Returns:
        One `BundleItem` per model; `imported` is False for those the
        cache already held.

    Raises:
        BundleError: The bundle is malformed, or a file, manifest or digest
            fails its check; nothing was imported.
        UnsafeArchiveError: A member could escape the extraction folder.
        LockMismatchError: A model differs from its lock-file pin.
    """
    from imagehub.hub import _fetch

    if not os.path.isfile(path):
        raise BundleError(f"no bundle at {path!r}")
    cache = _cache.Cache(_config.cache_dir())
    _fetch._make_root(cache.root)
    staging = os.path.join(
        cache.root,
        f"{_cache.TMP_PREFIX}import-{os.getpid()}-{uuid.uuid4().hex[:8]}",
    )
    os.mkdir(staging)
    try:
        try:
            _tar.safe_extract(path, staging, source=path)
        except DownloadError as e:
            raise BundleError(f"{path} is not a readable bundle: {e}") from e
        models = _read_index(path, staging)
        for model in models:
            _verify_entry(path, staging, model)
        _check_pins(path, models)
        fresh = _check_existing(path, cache, models)
        items = []
        for model in models:
            moved = model["entry"] in fresh and _commit(cache, staging, model)
            fresh.discard(model["entry"])
            parsed = _handles.parse_handle(model["handle"])
            if not parsed.is_pinned:
                _versions.write_ref(cache.root, parsed, model["resolved"])
            items.append(
                BundleItem(
                    model["handle"], model["resolved"], model["sha256"], moved
                )
            )
        return items
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read_index(path: str, staging: str) -> list[dict[str, Any]]:
    index_path = os.path.join(staging, INDEX)
    try:
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
    except FileNotFoundError:
        raise BundleError(
            f"{path} has no {INDEX}; it is not an imagehub bundle (write one "
            "with `imagehub cache export`)"
        ) from None
    except (OSError, ValueError) as e:
        raise BundleError(f"{path}: {INDEX} is not JSON ({e})") from None
    if not isinstance(index, dict):
        index = {}
    models = index.get("models")
    if index.get("format") != FORMAT or not isinstance(models, list):
        raise BundleError(f"{path}: {INDEX} is not of format {FORMAT}")
    fields = ("handle", "key", "resolved", "entry", "sha256")
    for model in models:
        if not isinstance(model, dict) or not all(
            isinstance(model.get(f), str) for f in fields
        ):
            raise BundleError(f"{path}: malformed model record {model!r}")
        try:
            parsed = _handles.parse_handle(model["handle"])
            resolved = _handles.parse_handle(model["resolved"])
        except HandleError as e:
            raise BundleError(f"{path}: {e}") from None
        if parsed.key != model["key"] or (
            resolved.cache_name != model["entry"]
        ):
            raise BundleError(
                f"{path}: the record of {model['handle']!r} names entry "
                f"{model['entry']!r}, not the one its handle maps to"
            )
    listed = {m["entry"] for m in models}
    entries = os.path.join(staging, ENTRIES)
    present = set(os.listdir(entries)) if os.path.isdir(entries) else set()
    extra = set(os.listdir(staging)) - {INDEX, ENTRIES}
    if present != listed or extra:
        raise BundleError(
            f"{path} holds entries or files its index does not list: "
            f"{sorted((present ^ listed) | extra)}"
        )
    return models


def _verify_entry(path: str, staging: str, model: dict[str, Any]) -> None:
    entry = os.path.join(staging, ENTRIES, model["entry"])
    handle = model["handle"]
    manifest_path = os.path.join(entry, _cache.MANIFEST)
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        files = manifest["files"]
        expected = {rel: (d["size"], d["sha256"]) for rel, d in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise BundleError(
            f"{path}: the manifest of {handle!r} is missing or malformed "
            f"({type(e).__name__}: {e})"
        ) from None
    resolved = _handles.parse_handle(model["resolved"])
    if manifest.get("key") != resolved.key:
        raise BundleError(
            f"{path}: the manifest of {handle!r} is for {manifest.get('key')!r}"
        )
    problems = [
        f"{name} is not part of a cache entry"
        for name in sorted(os.listdir(entry))
        if name not in (_cache.MANIFEST, _cache.MODEL_DIR)
    ]
    found = {}
    model_dir = os.path.join(entry, _cache.MODEL_DIR)
    for rel, file_path in _cache.walk_files(model_dir):
        digest = _tar.hash_file(file_path)
        found[rel] = (digest.size, digest.sha256)
    for rel in sorted(set(expected) | set(found)):
        if rel not in found:
            problems.append(f"{rel} is missing")
        elif rel not in expected:
            problems.append(f"{rel} is not in the manifest")
        elif found[rel] != expected[rel]:
            problems.append(f"{rel} differs from its manifest")
    if not any(f in expected for f in _cache.SAVED_MODEL_FILES):
        problems.append("the manifest lists no saved_model.pb")
    if not problems and _cache.content_digest(files) != model["sha256"]:
        problems.append("its content digest differs from the index's")
    if problems:
        raise BundleError(
            f"{path}: {handle!r} fails verification ({'; '.join(problems)}); "
            "nothing was imported"
        )


def _check_pins(path: str, models: list[dict[str, Any]]) -> None:
    lockfile = _lockfile.active()
    if lockfile is None:
        return
    for model in models:
        pin = lockfile.find(_handles.parse_handle(model["handle"]))
        if pin is not None and pin.sha256 != model["sha256"]:
            raise LockMismatchError(
                f"{path}: {model['handle']!r} in the bundle has SHA-256 "
                f"{model['sha256']}, but {lockfile.path} pins {pin.sha256}; "
                "nothing was imported"
            )


def _check_existing(
    path: str, cache: _cache.Cache, models: list[dict[str, Any]]
) -> set[str]:
    """Entries to move in; refuses a sound entry with other content."""
    fresh: set[str] = set()
    for model in models:
        name = model["entry"]
        if cache.problems(name) == [_cache.MISSING]:
            fresh.add(name)
            continue
        current = cache.describe(name)
        if current.problems:
            fresh.add(name)  # damaged: replaced under its lock
        elif current.sha256 != model["sha256"]:
            raise BundleError(
                f"{path}: the cache already holds {model['resolved']!r} with "
                f"other content (SHA-256 {current.sha256}, the bundle's is "
                f"{model['sha256']}); nothing was imported. Clear it first "
                "(`imagehub cache clear`) if the bundle's is the right one"
            )
    return fresh


def _commit(cache: _cache.Cache, staging: str, model: dict[str, Any]) -> bool:
    name = model["entry"]
    with _lock.entry_lock(
        cache.lock_path(name),
        stall_seconds=_config.lock_stall_seconds(),
        done=lambda: cache.is_complete(name),
        label=model["resolved"],
    ) as held:
        if held is None or cache.is_complete(name):
            return False
        cache.discard(name)
        os.rename(os.path.join(staging, ENTRIES, name), cache.entry_dir(name))
    logger.info("Imported %s into %s", model["handle"], cache.entry_dir(name))
    return True
