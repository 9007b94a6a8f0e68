"""The errors `imagehub.hub` raises.

Each one subclasses `HubError`, so callers can catch everything the
resolver raises with one clause, and the builtin it refines (`ValueError`,
`FileNotFoundError`, `OSError`), so code written against
`tensorflow_hub` keeps working.
"""

from __future__ import annotations


class HubError(Exception):
    """Base class of every error raised while resolving a handle."""


class HandleError(HubError, ValueError):
    """The handle is malformed or of an unsupported form."""


class ModelNotFoundError(HubError, FileNotFoundError):
    """The local path or remote object the handle names does not exist."""


class NotASavedModelError(HubError, FileNotFoundError):
    """A directory or archive holds no saved_model.pb / .pbtxt."""


class OfflineError(HubError, ConnectionError):
    """IMAGEHUB_OFFLINE is set and the handle is not in the cache."""


class DownloadError(HubError, OSError):
    """A download failed (HTTP error, dropped connection, bad archive)."""


class UnsafeArchiveError(HubError, ValueError):
    """An archive member would escape the target or is not allowed."""


class CacheLockError(HubError, TimeoutError):
    """Another live process holds the entry's lock and keeps making progress."""


class CacheError(HubError, OSError):
    """The cache directory cannot be created or written."""


class CachePermissionError(CacheError, PermissionError):
    """The cache directory is not writable by this user."""


class AccessDeniedError(DownloadError, PermissionError):
    """HTTP 401 or 403: the credentials are missing or not accepted.

    Attributes:
        status: The HTTP status (401 or 403), or None.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LockMismatchError(HubError, ValueError):
    """A model's content differs from its pin in the lock file."""


class BundleError(HubError, ValueError):
    """A model bundle is malformed or its files fail verification."""
