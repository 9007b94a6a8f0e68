"""`resolve` and `load`: from a handle to a local SavedModel directory."""

from __future__ import annotations

import logging
import os
from typing import Any

from imagehub.hub import _cache
from imagehub.hub import _config
from imagehub.hub import _handles
from imagehub.hub import _lockfile
from imagehub.hub._cache import SAVED_MODEL_FILES
from imagehub.hub._errors import LockMismatchError
from imagehub.hub._errors import ModelNotFoundError
from imagehub.hub._errors import NotASavedModelError
from imagehub.hub._maintenance import scan_memo_dir

logger = logging.getLogger(__name__)


def is_saved_model_dir(path: str) -> bool:
    """True if `path` is a directory holding saved_model.pb(txt)."""
    return any(
        os.path.isfile(os.path.join(path, name)) for name in SAVED_MODEL_FILES
    )


def check_local(handle: _handles.Handle) -> str:
    path = handle.location
    if not os.path.exists(path):
        raise ModelNotFoundError(
            f"handle {handle.original!r}: no such directory {path!r}"
        )
    if not os.path.isdir(path):
        raise NotASavedModelError(
            f"handle {handle.original!r}: {path!r} is a file, not a "
            "SavedModel directory"
        )
    if not is_saved_model_dir(path):
        raise NotASavedModelError(
            f"handle {handle.original!r}: directory {path!r} contains "
            "neither saved_model.pb nor saved_model.pbtxt, so it is not a "
            "SavedModel"
        )
    return path


def resolve(handle: str | os.PathLike[str]) -> str:
    """Returns a local directory holding the SavedModel `handle` names.

    Local directories and file:// URLs are returned as they are (after
    checking they hold a SavedModel); remote handles are downloaded once
    into the verified cache (see `imagehub.hub.cache_dir`). A Kaggle
    handle without a version means the latest version, a Hugging Face
    branch or tag its current commit. With a lock file in effect
    (IMAGEHUB_LOCKFILE, else ./imagehub.lock), a handle it lists resolves
    to the pinned version and its files must match the pinned SHA-256.

    Args:
        handle: A local directory, a file:// URL, an http(s) URL of a tar
            archive, a tfhub.dev or Kaggle Models URL, a
            `kaggle:OWNER/MODEL/tensorFlow2/VARIATION[/VERSION]` handle,
            an `hf://OWNER/REPO[@REVISION][/SUBFOLDER]` handle, or a gs://
            directory or archive.

    Returns:
        The absolute path of the SavedModel directory.

    Raises:
        HandleError: The handle has no known form.
        ModelNotFoundError: The directory or remote object does not exist.
        NotASavedModelError: It exists but holds no saved_model.pb(txt).
        OfflineError: IMAGEHUB_OFFLINE is set and the handle is not cached.
        DownloadError: The download failed after retries.
        UnsafeArchiveError: The archive tries to write outside its target.
        CacheError: The cache directory cannot be created or written.
        AccessDeniedError: A private or gated model, and credentials
            (HF_TOKEN, KAGGLE_USERNAME/KAGGLE_KEY) missing or refused.
        LockMismatchError: The content differs from its lock-file pin.

    Example:
        >>> path = imagehub.resolve(
        ...     "https://tfhub.dev/google/imagenet/"
        ...     "mobilenet_v1_025_128/classification/4"
        ... )  # doctest: +SKIP
        >>> os.path.exists(os.path.join(path, "saved_model.pb"))  # +SKIP
        True
    """
    parsed = _handles.parse_handle(handle)
    lockfile = _lockfile.active()
    pin = lockfile.find(parsed) if lockfile is not None else None
    where = lockfile.path if lockfile is not None else ""
    if parsed.kind == _handles.LOCAL:
        path = check_local(parsed)
        if pin is not None:
            _lockfile.check(pin, _lockfile.hash_tree(path), where, path)
        return path
    path, _ = resolve_remote(parsed, pin, where)
    return path


def resolve_remote(
    parsed: _handles.Handle,
    pin: _lockfile.Pin | None = None,
    where: str = "",
) -> tuple[str, _handles.Handle]:
    """Fetches a remote handle; returns its model directory and the
    handle of the immutable content it resolved to.

    Args:
        parsed: The parsed handle.
        pin: Its pin in the lock file `where`, if any: the version to use
            and the digest the files must have.
        where: The lock file's path, for messages.
    """
    from imagehub.hub import _fetch
    from imagehub.hub import _versions

    target = _versions.pinned(parsed, pin.resolved if pin else None)
    path = _fetch.fetch(target)
    if pin is not None:
        files = verified_files(target)
        try:
            _lockfile.check(pin, files, where, path)
        except LockMismatchError:
            # Not what the lock requires: online, the next resolve
            # downloads again rather than refusing the same bytes forever.
            if not _config.offline():
                from imagehub.hub import _maintenance

                cache = _cache.Cache(_config.cache_dir())
                _maintenance.discard_entry(cache, target.cache_name, path)
            raise
    return path, target


def verified_files(target: _handles.Handle) -> dict[str, Any]:
    """Re-hashes the cached entry of `target`; returns its manifest files.

    A file changed on disk since it was cached makes the entry damaged:
    online it is downloaded again, offline it is refused.

    Raises:
        LockMismatchError: Offline, and the cached files changed.
    """
    from imagehub.hub import _fetch
    from imagehub.hub import _maintenance

    cache = _cache.Cache(_config.cache_dir())
    name = target.cache_name
    problems = cache.problems(name, hashes=True)
    if problems:
        if _config.offline():
            raise LockMismatchError(
                f"the cached files of {target.original!r} changed on disk "
                f"({'; '.join(problems[:3])}) and {_config.OFFLINE_VAR} is "
                "set, so they cannot be downloaded again: import the model "
                "again (`imagehub cache import`) or go online"
            )
        logger.warning(
            "Cached files of %s changed on disk (%s); downloading again",
            target.original,
            "; ".join(problems[:3]),
        )
        _maintenance.discard_entry(cache, name, target.original)
        _fetch.fetch(target)
        problems = cache.problems(name, hashes=True)
        if problems:
            raise LockMismatchError(
                f"{target.original!r} fails verification right after "
                f"download: {'; '.join(problems[:3])}"
            )
    manifest = cache.read_manifest(name) or {"files": {}}
    files: dict[str, Any] = manifest["files"]
    return files


def load(
    handle: str | os.PathLike[str],
    tags: Any = None,
    options: Any = None,
    *,
    trust: bool = False,
) -> Any:
    """Resolves `handle` and loads it with `tf.saved_model.load` (SPEC K1).

    Loading runs the SavedModel's graphs, so unless `trust`, it must first
    pass `imagehub.scan` (protobuf only, nothing runs). A clean verdict
    is remembered in `scan_memo_dir()` under a hash of the model's
    saved_model.pb(txt) and of the scan's rules, so loading the same
    bytes again skips the walk; a refusal is found again every time.

    Args:
        handle: Any handle `resolve` accepts.
        tags: Passed to `tf.saved_model.load` (a tag or a set of tags).
        options: A `tf.saved_model.LoadOptions`, passed on.
        trust: Load without the safety scan.

    Returns:
        The loaded object, as `tf.saved_model.load` returns it.

    Raises:
        UnsafeModelError: The scan refused the model (a ValueError naming
            each finding); nothing was loaded.
        Everything `resolve` raises.

    Example:
        >>> model = imagehub.load(
        ...     "kaggle:google/mobilenet-v1/tensorFlow2/"
        ...     "025-128-classification/4"
        ... )  # doctest: +SKIP
        >>> logits = model(images)  # doctest: +SKIP
    """
    path = resolve(handle)
    if not trust:
        from imagehub.scan import scan

        scan(path, memo_dir=scan_memo_dir()).raise_if_refused(
            f"to load {os.fspath(handle)!r}",
            "If you trust it, pass trust=True",
        )
    import tensorflow as tf

    return tf.saved_model.load(path, tags=tags, options=options)
