"""Public cache operations: where it is, what is in it, verify, clear."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from collections.abc import Iterable

from imagehub.hub import _cache
from imagehub.hub import _config
from imagehub.hub import _handles
from imagehub.hub import _lock
from imagehub.hub import _versions
from imagehub.hub._cache import CacheEntry

logger = logging.getLogger(__name__)


def cache_dir() -> str:
    """Returns the cache root in effect now.

    IMAGEHUB_CACHE_DIR if set, else TFHUB_CACHE_DIR, else
    `$XDG_CACHE_HOME/imagehub` or `~/.cache/imagehub`.
    """
    return _config.cache_dir()


# The cache root's folder of compiled models (`imagehub.engines`): keyed
# by SavedModel content, not by handle, so only clearing everything
# removes them.
COMPILED_DIR = "engines"


def compiled_models_dir() -> str:
    """Where `imagehub.engines` keeps compiled models: ``engines/`` in the
    cache root, deleted with everything else by ``clear_cache()``."""
    return os.path.join(_config.cache_dir(), COMPILED_DIR)


# The cache root's folder of remembered clean scan verdicts (one small
# file per SavedModel content and scan rules; see `imagehub.scan`).
SCAN_MEMO_DIR = "scan"


def scan_memo_dir() -> str:
    """Where `load` and `KerasLayer` remember clean safety-scan verdicts:
    ``scan/`` in the cache root, deleted by ``clear_cache()``."""
    return os.path.join(_config.cache_dir(), SCAN_MEMO_DIR)


def _names(
    cache: _cache.Cache, handles: Iterable[str] | str | None
) -> list[str]:
    if handles is None:
        return cache.entry_names()
    if isinstance(handles, str):
        handles = [handles]
    names = []
    for handle in handles:
        parsed = _handles.parse_cached(
            handle,
            "pass a remote handle as `imagehub cache list` shows it "
            "(e.g. https://.../model.tar.gz)",
        )
        if not parsed.is_pinned:
            # The version it last resolved to (or none, if it never did).
            recorded = _versions.read_ref(cache.root, parsed.key)
            if recorded is not None:
                parsed = _handles.parse_handle(recorded["resolved"])
        names.append(parsed.cache_name)
    return names


def list_cache() -> list[CacheEntry]:
    """Lists cached models, checking sizes (not hashes).

    Returns:
        One `CacheEntry` per entry directory, sorted by handle; entries
        with `problems` will be downloaded again on next use.
    """
    cache = _cache.Cache(_config.cache_dir())
    entries = [cache.describe(n) for n in cache.entry_names()]
    return sorted(entries, key=lambda e: e.handle)


def verify_cache(
    handles: Iterable[str] | str | None = None,
    *,
    fix: bool = False,
    on_entry: Callable[[CacheEntry], None] | None = None,
) -> list[CacheEntry]:
    """Re-hashes every file of the cached models against their manifests.

    Args:
        handles: Only these handles (default: every entry).
        fix: Delete damaged entries, so the next `load` downloads them
            again.
        on_entry: Called with each entry's result as it is verified.

    Returns:
        The verified entries; those with `problems` are damaged.
    """
    cache = _cache.Cache(_config.cache_dir())
    results = []
    for name in _names(cache, handles):
        entry = cache.describe(name, hashes=True)
        if entry.problems and fix and os.path.isdir(cache.entry_dir(name)):
            discard_entry(cache, name, entry.handle)
            logger.info("Removed damaged cache entry %s", entry.path)
        results.append(entry)
        if on_entry is not None:
            on_entry(entry)
    return results


def discard_entry(cache: _cache.Cache, name: str, label: str) -> None:
    """Deletes entry `name` under its lock (waits for a fetch of it)."""
    with _lock.entry_lock(
        cache.lock_path(name),
        stall_seconds=_config.lock_stall_seconds(),
        done=lambda: False,
        label=label,
    ):
        cache.discard(name)


def clear_cache(handles: Iterable[str] | str | None = None) -> list[str]:
    """Deletes cached models (all, or those of `handles`).

    Waits for any process fetching an entry to finish first. Also deletes
    what crashed processes left behind (temporary directories, lock
    files nobody holds) and, when clearing everything, the compiled
    models of `imagehub.engines` (`compiled_models_dir()`; they are keyed
    by content, so a handle's own cannot be told apart) and the
    remembered scan verdicts (`scan_memo_dir()`).

    Returns:
        The entry directories removed.
    """
    cache = _cache.Cache(_config.cache_dir())
    removed = []
    for name in _names(cache, handles):
        path = cache.entry_dir(name)
        if not os.path.isdir(path):
            continue
        discard_entry(cache, name, path)
        removed.append(path)
    if handles is None:
        # What unversioned handles resolved to goes with the entries.
        shutil.rmtree(
            os.path.join(cache.root, _versions.REFS_DIR), ignore_errors=True
        )
        compiled = compiled_models_dir()
        if os.path.isdir(compiled):
            # Renamed first: it vanishes at once for readers.
            trash = os.path.join(
                cache.root, f"{_cache.TRASH_PREFIX}{COMPILED_DIR}-{os.getpid()}"
            )
            os.rename(compiled, trash)
            shutil.rmtree(trash, ignore_errors=True)
            logger.info("Deleted the compiled models in %s", compiled)
        shutil.rmtree(scan_memo_dir(), ignore_errors=True)
        cache.remove_leftovers()
        _lock.remove_unheld_locks(cache.root, _cache.is_lock_name)
    return removed
