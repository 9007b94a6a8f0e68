"""Which version a handle without one means, and where that is recorded.

A Kaggle handle without a version means the latest version; a Hugging
Face branch or tag means the commit it points to. `pinned(handle, pin)`
turns such a handle into one naming immutable content, in this order:

1. the pin of a lock file in effect (no network at all);
2. online, the API (Kaggle's latest version, the Hub's commit), and the
   answer is recorded in the cache's `refs/` folder;
3. offline (IMAGEHUB_OFFLINE=1), the answer last recorded in `refs/`
   (by an online resolve or by `imagehub cache import`).

`refs/<name>.json` holds {"handle", "key", "resolved"}; each is written
atomically, so a reader sees the old record or the new one.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

from imagehub.hub import _config
from imagehub.hub import _handles
from imagehub.hub._cache import read_record
from imagehub.hub._errors import OfflineError

logger = logging.getLogger(__name__)

REFS_DIR = "refs"


def resolve_latest(handle: _handles.Handle) -> _handles.Handle:
    """Asks the source which content `handle` names now."""
    if handle.kind == _handles.KAGGLE:
        from imagehub.hub import _kaggle

        return _kaggle.latest_version(handle)
    from imagehub.hub import _hf

    return _hf.resolve_revision(handle)


def pinned(
    handle: _handles.Handle, pin_resolved: str | None = None
) -> _handles.Handle:
    """Returns the handle of the immutable content `handle` names.

    Args:
        handle: A parsed remote handle.
        pin_resolved: The resolved handle a lock file pins it to.

    Raises:
        OfflineError: Offline, with neither a pin nor a recorded answer.
        Everything `resolve_latest` raises.
    """
    if handle.is_pinned:
        return handle
    if pin_resolved is not None:
        return _reparse(handle, pin_resolved)
    root = _config.cache_dir()
    if _config.offline():
        recorded = read_ref(root, handle.key)
        if recorded is None:
            raise OfflineError(
                f"{_config.OFFLINE_VAR} is set and {handle.original!r} names "
                "no version, and none is recorded for it: pin it in a lock "
                f"file ({_config.LOCKFILE_VAR} or ./{_config.LOCKFILE_NAME}), "
                "import a bundle that holds it (`imagehub cache import`), or "
                "unset the variable once so it is resolved"
            )
        logger.info(
            "%s is offline; using %s, recorded %s",
            handle.original,
            recorded["resolved"],
            recorded.get("updated", "earlier"),
        )
        return _reparse(handle, recorded["resolved"])
    resolved = resolve_latest(handle)
    write_ref(root, handle, resolved_text(resolved))
    return resolved


def resolved_text(handle: _handles.Handle) -> str:
    """The handle string of a resolved (pinned) handle."""
    if handle.kind == _handles.KAGGLE and handle.revision is not None:
        return f"kaggle:{handle.repo}/{handle.revision}"
    if handle.kind == _handles.HUGGINGFACE:
        return handle.location
    return handle.original


def _reparse(handle: _handles.Handle, text: str) -> _handles.Handle:
    import dataclasses

    resolved = _handles.parse_handle(text)
    return dataclasses.replace(resolved, original=handle.original)


def _ref_path(root: str, key: str) -> str:
    name = _handles.Handle("", "", "", key).cache_name
    return os.path.join(root, REFS_DIR, name + ".json")


def read_ref(root: str, key: str) -> dict[str, Any] | None:
    """The recorded resolution of the handle with `key`, or None."""
    record = read_record(_ref_path(root, key), f"ref of {key}")
    if record is None or record.get("key") != key:
        return None
    if not isinstance(record.get("resolved"), str):
        return None
    return record


def write_ref(root: str, handle: _handles.Handle, resolved: str) -> None:
    """Records that `handle` (unpinned) resolved to `resolved`."""
    import datetime

    path = _ref_path(root, handle.key)
    record = {
        "handle": handle.original,
        "key": handle.key,
        "resolved": resolved,
        "updated": datetime.datetime.now(datetime.timezone.utc)
        .replace(microsecond=0)
        .isoformat(),
    }
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
        os.replace(tmp, path)
    except OSError as e:
        # Only offline use needs the record; resolving still worked.
        logger.warning("Cannot record %s -> %s: %s", handle.key, resolved, e)
