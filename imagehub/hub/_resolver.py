"""`resolve` and `load`: from a handle to a local SavedModel directory."""

from __future__ import annotations

import logging
import os
from typing import Any

from imagehub.hub import _handles
from imagehub.hub._cache import SAVED_MODEL_FILES
from imagehub.hub._errors import ModelNotFoundError
from imagehub.hub._errors import NotASavedModelError

logger = logging.getLogger(__name__)


def is_saved_model_dir(path: str) -> bool:
    """True if `path` is a directory holding saved_model.pb(txt)."""
    return any(
        os.path.isfile(os.path.join(path, name)) for name in SAVED_MODEL_FILES
    )


def _check_local(handle: _handles.Handle) -> str:
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
    into the verified cache (see `imagehub.hub.cache_dir`).

    Args:
        handle: A local directory, a file:// URL, an http(s) URL of a tar
            archive, a tfhub.dev or Kaggle Models URL, a
            `kaggle:OWNER/MODEL/tensorFlow2/VARIATION/VERSION` handle, or
            a gs:// directory or archive.

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

    Example:
        >>> path = imagehub.resolve(
        ...     "https://tfhub.dev/google/imagenet/"
        ...     "mobilenet_v1_025_128/classification/4"
        ... )  # doctest: +SKIP
        >>> os.path.exists(os.path.join(path, "saved_model.pb"))  # +SKIP
        True
    """
    parsed = _handles.parse_handle(handle)
    if parsed.kind == _handles.LOCAL:
        return _check_local(parsed)
    from imagehub.hub import _fetch

    return _fetch.fetch(parsed)


def load(
    handle: str | os.PathLike[str],
    tags: Any = None,
    options: Any = None,
    *,
    trust: bool = False,
) -> Any:
    """Resolves `handle` and loads it with `tf.saved_model.load` (SPEC K1).

    Loading runs the SavedModel's graphs, so unless `trust`, it must first
    pass `imagehub.scan` (protobuf only, nothing runs).

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
        from imagehub.check import scan

        scan(path).raise_if_refused(
            f"to load {os.fspath(handle)!r}",
            "If you trust it, pass trust=True",
        )
    import tensorflow as tf

    return tf.saved_model.load(path, tags=tags, options=options)
