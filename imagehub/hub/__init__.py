"""Resolving, downloading, caching and loading model handles.

`resolve(handle)` returns a local SavedModel directory for any handle
`tensorflow_hub.load` accepts; `load(handle)` loads it. Remote models are
kept in a verified cache (`cache_dir()`, `list_cache()`, `verify_cache()`,
`clear_cache()`).
"""

from imagehub.hub._errors import CacheLockError
from imagehub.hub._errors import DownloadError
from imagehub.hub._errors import HandleError
from imagehub.hub._errors import HubError
from imagehub.hub._errors import ModelNotFoundError
from imagehub.hub._errors import NotASavedModelError
from imagehub.hub._errors import OfflineError
from imagehub.hub._errors import UnsafeArchiveError
from imagehub.hub._resolver import load
from imagehub.hub._resolver import resolve

__all__ = [
    "CacheLockError",
    "DownloadError",
    "HandleError",
    "HubError",
    "ModelNotFoundError",
    "NotASavedModelError",
    "OfflineError",
    "UnsafeArchiveError",
    "load",
    "resolve",
]
