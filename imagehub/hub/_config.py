"""Settings read from environment variables (documented in the README).

Every function reads the environment when called, not at import, so a
setting changed by a test or a long-running program takes effect on the
next `resolve`.
"""

from __future__ import annotations

import os

CACHE_DIR_VAR = "IMAGEHUB_CACHE_DIR"
TFHUB_CACHE_DIR_VAR = "TFHUB_CACHE_DIR"
OFFLINE_VAR = "IMAGEHUB_OFFLINE"
ALLOW_HTTP_VAR = "IMAGEHUB_ALLOW_HTTP"
TFHUB_URL_VAR = "IMAGEHUB_TFHUB_URL"
KAGGLE_URL_VAR = "IMAGEHUB_KAGGLE_URL"
KAGGLE_API_URL_VAR = "IMAGEHUB_KAGGLE_API_URL"
HF_ENDPOINT_VAR = "HF_ENDPOINT"
LOCKFILE_VAR = "IMAGEHUB_LOCKFILE"
# Read from the working directory when IMAGEHUB_LOCKFILE is unset.
LOCKFILE_NAME = "imagehub.lock"
LOCK_STALL_VAR = "IMAGEHUB_LOCK_STALL_SECONDS"

DEFAULT_TFHUB_URL = "https://tfhub.dev"
DEFAULT_KAGGLE_URL = "https://www.kaggle.com"
# Where kagglesdk (and so kagglehub) sends its API calls in production.
DEFAULT_KAGGLE_API_URL = "https://api.kaggle.com"
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
# A lock whose heartbeat (the owner's progress) is older than this is taken
# over even if the owner's process still exists.
DEFAULT_LOCK_STALL_SECONDS = 120.0

_TRUE = ("1", "true", "yes", "on")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def cache_dir() -> str:
    """The cache root: IMAGEHUB_CACHE_DIR, else TFHUB_CACHE_DIR, else
    `$XDG_CACHE_HOME/imagehub` or `~/.cache/imagehub`.

    Never the shared temp folder: other users and temp cleaners break
    entries there.
    """
    for name in (CACHE_DIR_VAR, TFHUB_CACHE_DIR_VAR):
        value = os.environ.get(name, "").strip()
        if value:
            return os.path.abspath(os.path.expanduser(value))
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = xdg if os.path.isabs(xdg) else os.path.expanduser("~/.cache")
    return os.path.join(base, "imagehub")


def offline() -> bool:
    """IMAGEHUB_OFFLINE=1: never touch the network."""
    return _flag(OFFLINE_VAR)


def allow_http() -> bool:
    """IMAGEHUB_ALLOW_HTTP=1: allow plain http to non-loopback hosts."""
    return _flag(ALLOW_HTTP_VAR)


def _base_url(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip() or default
    return value.rstrip("/")


def tfhub_url() -> str:
    """Base URL that https://tfhub.dev handles are fetched from."""
    return _base_url(TFHUB_URL_VAR, DEFAULT_TFHUB_URL)


def kaggle_url() -> str:
    """Base URL that Kaggle Models handles are fetched from."""
    return _base_url(KAGGLE_URL_VAR, DEFAULT_KAGGLE_URL)


def kaggle_api_url() -> str:
    """Base URL of the Kaggle API (`.../v1/models.ModelApiService/...`)."""
    return _base_url(KAGGLE_API_URL_VAR, DEFAULT_KAGGLE_API_URL)


def hf_endpoint() -> str:
    """The Hugging Face Hub: HF_ENDPOINT, as huggingface_hub reads it.

    Read here at each call because huggingface_hub reads it once, at
    import.
    """
    return _base_url(HF_ENDPOINT_VAR, DEFAULT_HF_ENDPOINT)


def lockfile() -> str | None:
    """The lock file in effect: IMAGEHUB_LOCKFILE, else ./imagehub.lock if
    it exists, else None."""
    value = os.environ.get(LOCKFILE_VAR, "").strip()
    if value:
        return os.path.abspath(os.path.expanduser(value))
    if os.path.isfile(LOCKFILE_NAME):
        return os.path.abspath(LOCKFILE_NAME)
    return None


def lock_stall_seconds() -> float:
    """Seconds without progress after which a held lock is taken over."""
    value = os.environ.get(LOCK_STALL_VAR, "").strip()
    if not value:
        return DEFAULT_LOCK_STALL_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(
            f"{LOCK_STALL_VAR}={value!r} is not a number of seconds"
        ) from None
    if seconds <= 0:
        raise ValueError(f"{LOCK_STALL_VAR}={value!r} must be positive")
    return seconds
