"""The on-disk cache of downloaded models.

Layout under the cache root (`imagehub.hub.cache_dir()`):

    <name>/model/...          the SavedModel that `resolve` returns
    <name>/manifest.json      handle, source, every file's size and sha256
    <name>.lock               present only while a process fetches <name>
    .tmp-<name>-<pid>-<rand>/ a fetch in progress (becomes <name>/)

`<name>` is derived from the handle's canonical key. An entry is built in
a temporary sibling, its manifest written last, and then renamed into
place, so `<name>/` either is complete or does not exist. A cache hit
requires the manifest and re-checks every file's size; `verify` re-checks
the hashes too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from imagehub.hub import _tar

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MODEL_DIR = "model"
MANIFEST_FORMAT = 1
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
LOCK_SUFFIX = ".lock"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
# The one problem of an entry that simply is not there yet.
MISSING = "not in the cache"
# Entry names are 32 hex digits (see Handle.cache_name). Anything else in
# the root is left alone: with TFHUB_CACHE_DIR the root may be shared with
# tensorflow_hub, whose entries are 40-digit names with their own locks.
ENTRY_NAME = re.compile(r"[0-9a-f]{32}")


def is_lock_name(filename: str) -> bool:
    """True for the name of an imagehub entry's lock file."""
    stem, suffix = os.path.splitext(filename)
    return suffix == LOCK_SUFFIX and bool(ENTRY_NAME.fullmatch(stem))


def read_record(path: str, what: str) -> dict[str, Any] | None:
    """The JSON object a cache record holds, or None when there is none.

    A missing file is no record; a damaged one (unreadable, not JSON, not
    an object) counts as none too, with a warning, since the cache can
    always rebuild it.
    """
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        logger.warning("Ignoring unreadable %s %s: %s", what, path, e)
        return None
    return record if isinstance(record, dict) else None


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """One cached model, as `list_cache` and `verify_cache` report it.

    Attributes:
        name: The entry's directory name inside the cache.
        path: The SavedModel directory `resolve` returns.
        handle: The handle the entry was first fetched with.
        source: The URL or path it was downloaded from.
        size: Total bytes of the model's files.
        num_files: Number of files in the manifest.
        created: ISO 8601 UTC time the entry was completed.
        problems: What is wrong with it; empty when it is sound.
        revision: The version (Kaggle) or commit (Hugging Face) the
            entry holds; None for other sources.
        sha256: The content digest over every file (see
            `content_digest`), what a lock file pins.
        key: The canonical key of the content it holds.
    """

    name: str
    path: str
    handle: str
    source: str
    size: int
    num_files: int
    created: str
    problems: tuple[str, ...] = ()
    revision: str | None = None
    sha256: str = ""
    key: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


class Cache:
    """The cache rooted at `root`."""

    def __init__(self, root: str) -> None:
        self.root = root

    def entry_dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def model_dir(self, name: str) -> str:
        return os.path.join(self.root, name, MODEL_DIR)

    def lock_path(self, name: str) -> str:
        return os.path.join(self.root, name + LOCK_SUFFIX)

    def read_manifest(self, name: str) -> dict[str, Any] | None:
        path = os.path.join(self.entry_dir(name), MANIFEST)
        manifest = read_record(path, "cache manifest")
        if manifest is None or not isinstance(manifest.get("files"), dict):
            return None
        return manifest

    def problems(self, name: str, *, hashes: bool = False) -> list[str]:
        """What is wrong with entry `name`; empty if it is sound.

        Args:
            name: The entry.
            hashes: Also re-hash every file (slow); otherwise sizes only.
        """
        if not os.path.isdir(self.entry_dir(name)):
            return [MISSING]
        manifest = self.read_manifest(name)
        if manifest is None:
            return [f"{MANIFEST} is missing or unreadable"]
        files = manifest["files"]
        if not any(f in files for f in SAVED_MODEL_FILES):
            return ["the manifest lists no saved_model.pb"]
        found = []
        model = self.model_dir(name)
        for rel, want in sorted(files.items()):
            parts = str(rel).split("/")
            if rel.startswith("/") or ".." in parts or "" in parts:
                # Only a hand-edited manifest can say this; never follow it.
                found.append(f"the manifest lists an unsafe path {rel!r}")
                continue
            if not isinstance(want, dict):
                found.append(f"the manifest entry for {rel} is malformed")
                continue
            path = os.path.join(model, *parts)
            try:
                if hashes:
                    got = _tar.hash_file(path)
                    size, sha = got.size, got.sha256
                else:
                    size, sha = os.stat(path).st_size, None
            except FileNotFoundError:
                found.append(f"{rel} is missing")
                continue
            except OSError as e:
                found.append(f"{rel} is unreadable ({e.strerror})")
                continue
            if size != want.get("size"):
                found.append(
                    f"{rel} has {size} bytes, expected {want.get('size')}"
                )
            elif sha is not None and sha != want.get("sha256"):
                found.append(f"{rel} has wrong sha256 {sha[:12]}...")
        return found

    def is_complete(self, name: str) -> bool:
        """The cache-hit test: manifest present and every size right."""
        return not self.problems(name)

    def describe(self, name: str, *, hashes: bool = False) -> CacheEntry:
        manifest = self.read_manifest(name) or {}
        files = manifest.get("files") or {}
        return CacheEntry(
            name=name,
            path=self.model_dir(name),
            handle=str(manifest.get("handle", "?")),
            source=str(manifest.get("source", "?")),
            size=sum(int(f.get("size", 0)) for f in files.values()),
            num_files=len(files),
            created=str(manifest.get("created", "?")),
            problems=tuple(self.problems(name, hashes=hashes)),
            revision=manifest.get("revision"),
            sha256=_digest_or_empty(files),
            key=str(manifest.get("key", "")),
        )

    def entry_names(self) -> list[str]:
        """Names of entries (complete or not), sorted."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(
            n
            for n in names
            if ENTRY_NAME.fullmatch(n)
            and os.path.isdir(os.path.join(self.root, n))
        )

    def discard(self, name: str) -> None:
        """Removes entry `name` (rename first, so it vanishes at once)."""
        path = self.entry_dir(name)
        if not os.path.lexists(path):
            return
        trash = os.path.join(
            self.root, f"{TRASH_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
        )
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def remove_leftovers(self, name: str | None = None) -> list[str]:
        """Deletes temp and trash directories of dead processes.

        Args:
            name: Only those of this entry; None for all.

        Returns:
            The paths removed.
        """
        removed: list[str] = []
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return removed
        for n in names:
            if n.startswith(TRASH_PREFIX):
                owner = None
            elif n.startswith(TMP_PREFIX):
                owner = _tmp_owner(n)
            else:
                continue
            if name is not None and not n.startswith(
                (f"{TMP_PREFIX}{name}-", f"{TRASH_PREFIX}{name}-")
            ):
                continue
            if owner is not None and _pid_alive(owner):
                continue
            path = os.path.join(self.root, n)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        return removed

    @contextlib.contextmanager
    def staging(self, name: str) -> Iterator[Staging]:
        """A temporary sibling of entry `name`, removed unless committed."""
        os.makedirs(self.root, exist_ok=True)
        tmp = os.path.join(
            self.root,
            f"{TMP_PREFIX}{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        )
        os.mkdir(tmp)
        staging = Staging(self, name, tmp)
        try:
            yield staging
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Staging:
    """An entry being built; `commit()` moves it into place."""

    def __init__(self, cache: Cache, name: str, path: str) -> None:
        self.cache = cache
        self.name = name
        self.path = path
        self.model_dir = os.path.join(path, MODEL_DIR)
        os.mkdir(self.model_dir)

    def scratch(self, filename: str) -> str:
        """A path for a scratch file (e.g. the archive) inside staging."""
        return os.path.join(self.path, filename)

    def commit(
        self,
        *,
        handle: str,
        key: str,
        source: str,
        files: dict[str, _tar.FileDigest],
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Writes the manifest last and renames staging into place.

        Returns:
            The entry's model directory.
        """
        for entry in os.listdir(self.path):
            if entry != MODEL_DIR:
                os.remove(os.path.join(self.path, entry))
        manifest = {
            "format": MANIFEST_FORMAT,
            "handle": handle,
            "key": key,
            "source": source,
            "created": datetime.datetime.now(datetime.timezone.utc)
            .replace(microsecond=0)
            .isoformat(),
            "files": {rel: d.as_dict() for rel, d in sorted(files.items())},
            "content_sha256": content_digest(
                {rel: d.as_dict() for rel, d in files.items()}
            ),
            **(extra or {}),
        }
        path = os.path.join(self.path, MANIFEST)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        target = self.cache.entry_dir(self.name)
        try:
            os.rename(self.path, target)
        except OSError:
            # A process whose lock was taken over while it stalled may find
            # the entry already built by the new owner: use that one.
            if self.cache.is_complete(self.name):
                logger.info("Entry %s was completed by another process", target)
                return self.cache.model_dir(self.name)
            raise
        return self.cache.model_dir(self.name)


def content_digest(files: dict[str, Any]) -> str:
    """The SHA-256 of a model's content: one digest over every file.

    It hashes the sorted lines `<sha256> <size> <path>` of the manifest's
    files, so it changes when any byte, name or file does, and does not
    depend on when or from where the model was fetched.

    Args:
        files: Relative path -> {"size": ..., "sha256": ...}.
    """
    digest = hashlib.sha256()
    for rel in sorted(files):
        entry = files[rel]
        digest.update(f"{entry['sha256']} {entry['size']} {rel}\n".encode())
    return digest.hexdigest()


def _digest_or_empty(files: dict[str, Any]) -> str:
    try:
        return content_digest(files) if files else ""
    except (KeyError, TypeError):
        return ""


def _tmp_owner(dirname: str) -> int | None:
    # .tmp-<name>-<pid>-<rand>
    parts = dirname[len(TMP_PREFIX) :].split("-")
    if len(parts) >= 3 and parts[-2].isdigit():
        return int(parts[-2])
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def walk_files(
    root: str, beat: Callable[[], None] | None = None
) -> Iterator[tuple[str, str]]:
    """Yields (relative path with '/', absolute path) of files under root."""
    for dirpath, _, filenames in os.walk(root):
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if beat is not None:
                beat()
            yield rel, path
