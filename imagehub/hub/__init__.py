"""Resolving, downloading, caching and loading model handles.

`resolve(handle)` returns a local SavedModel directory for any handle
`tensorflow_hub.load` accepts, and for `hf://` and unversioned Kaggle
handles; `load(handle)` loads it. Remote models are kept in a verified
cache (`cache_dir()`, `list_cache()`, `verify_cache()`, `clear_cache()`).
`lock(handles)` pins their content for a lock file (`lockfile_text`);
`export_bundle` and `import_bundle` carry cached models to machines
without network. `resolve_facts(handle)` says what a model is: its task,
input size, labels, activation (`ModelFacts`).
"""

from imagehub.hub._bundle import BundleItem
from imagehub.hub._bundle import export_bundle
from imagehub.hub._bundle import import_bundle
from imagehub.hub._cache import CacheEntry
from imagehub.hub._cache import read_record
from imagehub.hub._download import download
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
from imagehub.hub._lockfile import LockFile
from imagehub.hub._lockfile import Pin
from imagehub.hub._lockfile import active as active_lockfile
from imagehub.hub._lockfile import lock
from imagehub.hub._lockfile import read as read_lockfile
from imagehub.hub._lockfile import render as lockfile_text
from imagehub.hub._maintenance import cache_dir
from imagehub.hub._maintenance import clear_cache
from imagehub.hub._maintenance import compiled_models_dir
from imagehub.hub._maintenance import list_cache
from imagehub.hub._maintenance import scan_memo_dir
from imagehub.hub._maintenance import verify_cache
from imagehub.hub._resolver import load
from imagehub.hub._resolver import resolve

__all__ = [
    "AccessDeniedError",
    "BundleError",
    "BundleItem",
    "CacheEntry",
    "CacheError",
    "CacheLockError",
    "CachePermissionError",
    "DownloadError",
    "HandleError",
    "HubError",
    "LockFile",
    "LockMismatchError",
    "ModelFacts",
    "ModelNotFoundError",
    "NotASavedModelError",
    "OfflineError",
    "Pin",
    "UnsafeArchiveError",
    "active_lockfile",
    "cache_dir",
    "card_of_loaded",
    "clear_cache",
    "compiled_models_dir",
    "download",
    "export_bundle",
    "facts_from",
    "import_bundle",
    "list_cache",
    "load",
    "lock",
    "lockfile_text",
    "read_lockfile",
    "read_record",
    "resolve",
    "scan_memo_dir",
    "resolve_facts",
    "traced_size",
    "verify_cache",
]
