"""Resolving, downloading, caching and loading model handles.

`resolve(handle)` returns a local SavedModel directory for any handle
`tensorflow_hub.load` accepts; `load(handle)` loads it. Remote models are
kept in a verified cache (`cache_dir()`, `list_cache()`, `verify_cache()`,
`clear_cache()`). `resolve_facts(handle)` says what a model is: its task,
input size, labels, activation (`ModelFacts`).
"""

from imagehub.hub._cache import CacheEntry
from imagehub.hub._errors import AccessDeniedError
from imagehub.hub._errors import BundleError
from imagehub.hub._errors import CacheError
from imagehub.hub._errors import CacheLockError
from imagehub.hub._errors import CachePermissionError
from imagehub.hub._errors import DownloadError
from imagehub.hub._errors import HandleError
from imagehub.hub._errors import HubError
from imagehub.hub._errors import LockMismatchError
from imagehub.hub._errors import ModelNotFoundError
from imagehub.hub._errors import NotASavedModelError
from imagehub.hub._errors import OfflineError
from imagehub.hub._errors import UnsafeArchiveError
from imagehub.hub._facts import ModelFacts
from imagehub.hub._facts import card_of_loaded
from imagehub.hub._facts import facts_from
from imagehub.hub._facts import resolve_facts
from imagehub.hub._facts import traced_size
from imagehub.hub._maintenance import cache_dir
from imagehub.hub._maintenance import clear_cache
from imagehub.hub._maintenance import list_cache
from imagehub.hub._maintenance import verify_cache
from imagehub.hub._resolver import load
from imagehub.hub._resolver import resolve

__all__ = [
    "AccessDeniedError",
    "BundleError",
    "CacheEntry",
    "CacheError",
    "CacheLockError",
    "CachePermissionError",
    "DownloadError",
    "HandleError",
    "HubError",
    "LockMismatchError",
    "ModelFacts",
    "ModelNotFoundError",
    "NotASavedModelError",
    "OfflineError",
    "UnsafeArchiveError",
    "cache_dir",
    "card_of_loaded",
    "clear_cache",
    "facts_from",
    "list_cache",
    "load",
    "resolve",
    "resolve_facts",
    "traced_size",
    "verify_cache",
]
