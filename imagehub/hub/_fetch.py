"""Fetching a remote handle into the cache, once, under a lock."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from imagehub.hub import _cache
from imagehub.hub import _config
from imagehub.hub import _download
from imagehub.hub import _handles
from imagehub.hub import _hf
from imagehub.hub import _kaggle
from imagehub.hub import _lock
from imagehub.hub import _progress
from imagehub.hub import _tar
from imagehub.hub._errors import CacheError
from imagehub.hub._errors import CachePermissionError
from imagehub.hub._errors import DownloadError
from imagehub.hub._errors import HubError
from imagehub.hub._errors import ModelNotFoundError
from imagehub.hub._errors import NotASavedModelError
from imagehub.hub._errors import OfflineError

logger = logging.getLogger(__name__)

_ARCHIVE_FILE = "download.tar"


def fetch(handle: _handles.Handle) -> str:
    """Returns the cached model directory of `handle`, fetching if needed."""
    cache = _cache.Cache(_config.cache_dir())
    name = handle.cache_name
    problems = cache.problems(name)
    if not problems:
        logger.debug("Cache hit for %s in %s", handle.original, cache.root)
        return cache.model_dir(name)
    damaged = problems != [_cache.MISSING]
    if _config.offline():
        state = (
            f"its cache entry is damaged ({'; '.join(problems)})"
            if damaged
            else "it is not in the cache"
        )
        raise OfflineError(
            f"{_config.OFFLINE_VAR} is set and {handle.original!r} cannot be "
            f"loaded: {state} (cache: {cache.root}). Unset "
            f"{_config.OFFLINE_VAR} to download it"
        )
    label = _handles.readable_name(handle)
    _make_root(cache.root)
    try:
        with _lock.entry_lock(
            cache.lock_path(name),
            stall_seconds=_config.lock_stall_seconds(),
            done=lambda: cache.is_complete(name),
            label=handle.original,
        ) as lock:
            if lock is None or cache.is_complete(name):
                return cache.model_dir(name)
            problems = cache.problems(name)
            if problems != [_cache.MISSING]:
                logger.warning(
                    "Cache entry %s for %s is damaged (%s); downloading it "
                    "again",
                    cache.entry_dir(name),
                    handle.original,
                    "; ".join(problems[:3]),
                )
                cache.discard(name)
            cache.remove_leftovers(name)
            return _build(cache, handle, lock, label)
    except PermissionError as e:
        if isinstance(e, HubError):
            raise
        raise CachePermissionError(
            f"cannot write to the imagehub cache at {cache.root} "
            f"({e.strerror}: {e.filename}). Make it writable or point "
            f"{_config.CACHE_DIR_VAR} at a writable directory"
        ) from e


def _make_root(root: str) -> None:
    try:
        os.makedirs(root, exist_ok=True)
    except PermissionError as e:
        raise CachePermissionError(
            f"cannot create the imagehub cache directory {root} "
            f"({e.strerror}). Make its parent writable or point "
            f"{_config.CACHE_DIR_VAR} at a writable directory"
        ) from e
    except OSError as e:
        raise CacheError(
            f"cannot create the imagehub cache directory {root} "
            f"({e.strerror}: {e.filename}). Point {_config.CACHE_DIR_VAR} "
            "at a directory"
        ) from e


def _build(
    cache: _cache.Cache,
    handle: _handles.Handle,
    lock: _lock.EntryLock,
    label: str,
) -> str:
    name = handle.cache_name
    with cache.staging(name) as staging:
        extra: dict[str, Any] = {
            "kind": handle.kind,
            "revision": handle.revision,
        }
        if handle.kind == _handles.GFILE_DIR:
            files = _copy_gfile_tree(handle.location, staging.model_dir, lock)
        elif handle.kind == _handles.HUGGINGFACE:
            with _progress.reporter(label) as progress:
                files = _hf.download(
                    handle,
                    staging.model_dir,
                    staging.path,
                    progress=progress,
                    beat=lock.beat,
                )
        else:
            archive = staging.scratch(_ARCHIVE_FILE)
            with _progress.reporter(label) as progress:
                if handle.kind == _handles.GFILE_ARCHIVE:
                    size = _copy_gfile_file(
                        handle.location, archive, progress, lock.beat
                    )
                elif handle.kind == _handles.KAGGLE:
                    size = _kaggle.download(
                        handle, archive, progress=progress, beat=lock.beat
                    )
                else:
                    size = _download.download(
                        handle.location,
                        archive,
                        progress=progress,
                        beat=lock.beat,
                    )
            extra["archive_bytes"] = size
            files = _tar.safe_extract(
                archive,
                staging.model_dir,
                source=handle.location,
                beat=lock.beat,
            )
            os.remove(archive)
        _check_saved_model(handle, staging.model_dir, files)
        path = staging.commit(
            handle=handle.original,
            key=handle.key,
            source=handle.location,
            files=files,
            extra=extra,
        )
    logger.info("Cached %s in %s", handle.original, path)
    return path


def _check_saved_model(
    handle: _handles.Handle, model_dir: str, files: dict[str, _tar.FileDigest]
) -> None:
    if any(f in files for f in _cache.SAVED_MODEL_FILES):
        return
    top = sorted(os.listdir(model_dir))
    shown = ", ".join(top[:8]) + (", ..." if len(top) > 8 else "")
    hint = ""
    if len(top) == 1 and any(
        rel.startswith(top[0] + "/")
        and rel.rsplit("/", 1)[-1] in _cache.SAVED_MODEL_FILES
        for rel in files
    ):
        hint = (
            f" (the SavedModel is inside the folder {top[0]!r}; a model "
            "must have saved_model.pb at its top level)"
        )
    if "tfhub_module.pb" in files:
        hint = (
            " (it holds tfhub_module.pb: a TF1 Hub module for "
            "hub.Module, not a TF2 SavedModel; pick the model's TF2 version)"
        )
    what = "directory" if handle.kind == _handles.GFILE_DIR else "archive"
    raise NotASavedModelError(
        f"{handle.original!r} is not a SavedModel: the {what} at "
        f"{handle.location} contains neither saved_model.pb nor "
        f"saved_model.pbtxt at its top level; it holds: {shown or 'nothing'}"
        f"{hint}"
    )


def _copy_gfile_file(
    src: str,
    dest: str,
    progress: _download.Progress,
    beat: Callable[[], None],
) -> int:
    import tensorflow as tf

    done = 0
    try:
        total = tf.io.gfile.stat(src).length
        progress(0, total)
        with tf.io.gfile.GFile(src, "rb") as fin, open(dest, "wb") as fout:
            while True:
                chunk = fin.read(_download.CHUNK_BYTES)
                if not chunk:
                    break
                fout.write(chunk)
                done += len(chunk)
                progress(done, total)
                beat()
    except tf.errors.NotFoundError:
        raise ModelNotFoundError(f"no such file: {src}") from None
    except tf.errors.PermissionDeniedError as e:
        raise DownloadError(f"permission denied reading {src}: {e}") from None
    except tf.errors.OpError as e:
        raise DownloadError(f"cannot read {src}: {e.message}") from None
    return done


def _copy_gfile_tree(
    src: str, dest: str, lock: _lock.EntryLock
) -> dict[str, _tar.FileDigest]:

    import tensorflow as tf

    files: dict[str, _tar.FileDigest] = {}
    try:
        if not tf.io.gfile.isdir(src):
            raise ModelNotFoundError(f"no such directory: {src}")
        for dirpath, _, filenames in tf.io.gfile.walk(src):
            rel_dir = dirpath[len(src) :].strip("/")
            if rel_dir:
                os.makedirs(os.path.join(dest, *rel_dir.split("/")), 0o755)
            for filename in filenames:
                rel = f"{rel_dir}/{filename}" if rel_dir else filename
                target = os.path.join(dest, *rel.split("/"))
                with (
                    tf.io.gfile.GFile(f"{dirpath}/{filename}", "rb") as fin,
                    open(target, "xb") as fout,
                ):
                    files[rel] = _tar.digest_stream(fin, fout, lock.beat)
    except tf.errors.PermissionDeniedError as e:
        raise DownloadError(f"permission denied reading {src}: {e}") from None
    except tf.errors.OpError as e:
        raise DownloadError(f"cannot copy {src}: {e.message}") from None
    return files
