"""Parsing and classifying model handles.

A handle is what users pass to `imagehub.load`: the same strings
`tensorflow_hub.load` accepts. `parse_handle` turns one into a `Handle`
that says where to fetch from and under which key to cache it. No I/O
happens here, so classification is cheap and testable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import os
import re
import urllib.parse
import urllib.request

from imagehub.hub import _config
from imagehub.hub._errors import HandleError

LOCAL = "local"
ARCHIVE_URL = "archive_url"
TFHUB = "tfhub"
KAGGLE = "kaggle"
GFILE_DIR = "gfile_dir"
GFILE_ARCHIVE = "gfile_archive"
HUGGINGFACE = "huggingface"
KINDS = (
    LOCAL,
    ARCHIVE_URL,
    TFHUB,
    KAGGLE,
    GFILE_DIR,
    GFILE_ARCHIVE,
    HUGGINGFACE,
)
HF_PREFIX = "hf://"
HF_DEFAULT_REVISION = "main"
_HF_COMMIT = re.compile(r"[0-9a-f]{40}")
_HF_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
# Schemes read through tf.io.gfile. `ram` is TensorFlow's in-process file
# system; it lets the gfile code path be exercised without a cloud bucket.
GFILE_SCHEMES = ("gs", "s3", "hdfs", "ram")
_TFHUB_HOSTS = ("tfhub.dev", "www.tfhub.dev")
_KAGGLE_HOSTS = ("kaggle.com", "www.kaggle.com")
# Other hosts that serve TF Hub's layout (PUBLISHER/MODEL/VERSION, archive
# on ?tf-hub-format=compressed); fetched from where they are.
_HUB_MIRROR_HOSTS = ("hub.tensorflow.google.cn",)
_COMPRESSED_QUERY = ("tf-hub-format", "compressed")
# kaggle:OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]
_KAGGLE_PARTS = 5

FORMS = (
    "a local directory",
    "a file:// URL",
    "an http(s) URL of a .tar, .tar.gz or .tgz archive",
    "a https://tfhub.dev/... URL",
    "a https://www.kaggle.com/models/OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]"
    " URL",
    "kaggle:OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]",
    "a gs:// directory or archive",
    "hf://OWNER/REPO[@REVISION][/SUBFOLDER]",
)


@dataclasses.dataclass(frozen=True)
class Handle:
    """A classified handle.

    Attributes:
        original: The handle as the user wrote it.
        kind: One of `KINDS`.
        location: A local path (LOCAL), the URL to download (ARCHIVE_URL,
            TFHUB, KAGGLE, after any base-URL override) or a tf.io.gfile
            path (GFILE_*).
        key: The canonical form the cache entry is keyed by; equal for
            handles that name the same model (the Kaggle long and short
            forms, a tfhub.dev URL with or without a trailing slash).
        revision: The version asked for: a Kaggle version number, a
            Hugging Face branch, tag or commit; None for a Kaggle handle
            without a version (the latest).
        repo: The model without its version: `OWNER/MODEL/tensorFlow2/
            VARIATION` on Kaggle, `OWNER/REPO` on Hugging Face; empty for
            other kinds.
        subfolder: The SavedModel's folder inside a Hugging Face repo.
    """

    original: str
    kind: str
    location: str
    key: str
    revision: str | None = None
    repo: str = ""
    subfolder: str = ""

    @property
    def is_remote(self) -> bool:
        return self.kind != LOCAL

    @property
    def is_pinned(self) -> bool:
        """True when the handle names immutable content.

        Kaggle versions and Hugging Face commits never change; a Kaggle
        handle without a version or a Hugging Face branch or tag does.
        Other kinds are taken as they are.
        """
        if self.kind == KAGGLE:
            return self.revision is not None
        if self.kind == HUGGINGFACE:
            return bool(_HF_COMMIT.fullmatch(self.revision or ""))
        return True

    @property
    def cache_name(self) -> str:
        """The entry's directory name inside the cache."""
        return hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:32]


def _describe_forms() -> str:
    return "; ".join(FORMS)


def parse_handle(handle: str | os.PathLike[str]) -> Handle:
    """Classifies `handle`.

    Raises:
        HandleError: the handle is empty, malformed, or of no known form.
    """
    if isinstance(handle, os.PathLike):
        handle = os.fspath(handle)
    if not isinstance(handle, str):
        raise HandleError(
            f"handle must be a string or path, got {type(handle).__name__} "
            f"{handle!r}"
        )
    text = handle.strip()
    if not text:
        raise HandleError(
            f"handle is empty; expected one of: {_describe_forms()}"
        )
    if text.lower().startswith("kaggle:"):
        return _parse_kaggle_short(handle, text[len("kaggle:") :])
    if text.lower().startswith(HF_PREFIX):
        return _parse_hf(handle, text[len(HF_PREFIX) :])
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    # A Windows drive letter parses as a one-letter scheme.
    if not scheme or len(scheme) == 1:
        return Handle(handle, LOCAL, os.path.abspath(text), text)
    if scheme == "file":
        path = _file_url_to_path(handle, text)
        return Handle(handle, LOCAL, path, path)
    if scheme in ("http", "https"):
        return _parse_http(handle, text)
    if scheme in GFILE_SCHEMES:
        kind = GFILE_ARCHIVE if _is_archive_name(text) else GFILE_DIR
        return Handle(handle, kind, text.rstrip("/"), text.rstrip("/"))
    raise HandleError(
        f"handle {handle!r} has unsupported scheme {scheme!r}; expected one "
        f"of: {_describe_forms()}"
    )


def parse_cached(handle: str, fix: str) -> Handle:
    """Classifies the handle of a model the cache can hold (a remote one).

    Args:
        handle: The handle as the user gave it.
        fix: What to do instead, for the error on a local path.

    Raises:
        HandleError: `handle` is a local path (local models are never
            cached), or as for `parse_handle`.
    """
    parsed = parse_handle(handle)
    if parsed.kind == LOCAL:
        raise HandleError(
            f"handle {handle!r} is a local path, and local models are never "
            f"cached; {fix}"
        )
    return parsed


def _is_archive_name(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def _file_url_to_path(handle: str, text: str) -> str:
    parts = urllib.parse.urlsplit(text)
    if parts.netloc not in ("", "localhost"):
        raise HandleError(
            f"file URL {handle!r} names host {parts.netloc!r}; only local "
            "files are supported (file:///absolute/path)"
        )
    return os.path.abspath(urllib.request.url2pathname(parts.path))


def _parse_http(handle: str, text: str) -> Handle:
    parts = urllib.parse.urlsplit(text)
    host = (parts.hostname or "").lower()
    if not host:
        raise HandleError(f"URL {handle!r} has no host name")
    path = parts.path.rstrip("/")
    if host in _TFHUB_HOSTS:
        if not path:
            raise HandleError(
                f"tfhub.dev handle {handle!r} names no model; expected "
                "https://tfhub.dev/PUBLISHER/MODEL/VERSION"
            )
        key = "https://tfhub.dev" + path
        base = _config.tfhub_url()
        return Handle(handle, TFHUB, _compressed(base + path, parts), key)
    if host in _HUB_MIRROR_HOSTS and path:
        url = urllib.parse.urlunsplit(parts._replace(path=path, query=""))
        return Handle(handle, TFHUB, _compressed(url, parts), url)
    if host in _KAGGLE_HOSTS:
        segments = [s for s in path.split("/") if s]
        if not segments or segments[0] != "models":
            raise HandleError(
                f"Kaggle handle {handle!r} is not a model URL; expected "
                "https://www.kaggle.com/models/OWNER/MODEL/FRAMEWORK/"
                "VARIATION/VERSION"
            )
        return _kaggle_handle(handle, segments[1:], parts)
    if not _is_archive_name(path):
        raise HandleError(
            f"URL {handle!r} does not end in {', '.join(ARCHIVE_SUFFIXES)}; "
            "imagehub downloads SavedModels packed as tar archives "
            "(tfhub.dev and kaggle.com/models URLs excepted)"
        )
    return Handle(handle, ARCHIVE_URL, text, text)


def _parse_kaggle_short(handle: str, rest: str) -> Handle:
    segments = [s for s in rest.strip().strip("/").split("/") if s]
    return _kaggle_handle(handle, segments, None)


def _kaggle_handle(
    handle: str,
    segments: list[str],
    parts: urllib.parse.SplitResult | None,
) -> Handle:
    # The site's long form spells the framework, variation and version
    # positions out (.../frameworks/TensorFlow2/variations/V/versions/N);
    # fold it.
    if len(segments) in (6, 8) and segments[2].lower() == "frameworks":
        segments = [segments[i] for i in (0, 1, 3, 5, 7) if i < len(segments)]
    if len(segments) not in (_KAGGLE_PARTS - 1, _KAGGLE_PARTS) or (
        len(segments) == _KAGGLE_PARTS and not segments[4].isdigit()
    ):
        raise HandleError(
            f"Kaggle handle {handle!r} must name OWNER/MODEL/FRAMEWORK/"
            "VARIATION[/VERSION] (VERSION a number; without it, the latest "
            "version), e.g. kaggle:google/mobilenet-v2/tensorFlow2/"
            "035-128-classification/2"
        )
    owner, model, framework, variation = segments[:4]
    version = segments[4] if len(segments) == _KAGGLE_PARTS else None
    if framework.lower() != "tensorflow2":
        raise HandleError(
            f"Kaggle handle {handle!r} has framework {framework!r}; imagehub "
            "loads TF2 SavedModels, so expected 'tensorFlow2'"
        )
    repo = f"{owner}/{model}/tensorFlow2/{variation}"
    if version is None:
        # Resolved to a version (and so to a download URL) by the caller.
        return Handle(handle, KAGGLE, "", "kaggle:" + repo.lower(), None, repo)
    path = f"/models/{repo}/{version}"
    key = "kaggle:" + path[len("/models/") :].lower()
    url = _compressed(_config.kaggle_url() + path, parts)
    return Handle(handle, KAGGLE, url, key, version, repo)


def kaggle_version(handle: Handle, version: int | str) -> Handle:
    """The Kaggle handle `handle` at `version`, keeping its original."""
    versioned = parse_handle(f"kaggle:{handle.repo}/{version}")
    return dataclasses.replace(versioned, original=handle.original)


def _parse_hf(handle: str, rest: str) -> Handle:
    usage = (
        f"Hugging Face handle {handle!r} must be "
        "hf://OWNER/REPO[@REVISION][/SUBFOLDER], e.g. "
        "hf://keras-io/mobilenet-v2@main/saved_model"
    )
    segments = rest.strip().strip("/").split("/")
    if len(segments) < 2 or not all(segments):
        raise HandleError(usage)
    owner, repo = segments[0], segments[1]
    revision = HF_DEFAULT_REVISION
    if "@" in repo:
        repo, revision = repo.split("@", 1)
        if not revision:
            raise HandleError(f"{usage}: the revision after '@' is empty")
    subfolder = "/".join(segments[2:])
    for name in (owner, repo):
        if not _HF_NAME.fullmatch(name):
            raise HandleError(f"{usage}: {name!r} is not a repo name")
    if any(p in (".", "..") for p in segments[2:]) or "@" in subfolder:
        raise HandleError(f"{usage}: bad subfolder {subfolder!r}")
    repo_id = f"{owner}/{repo}"
    return hf_revision(
        Handle(handle, HUGGINGFACE, "", "", revision, repo_id, subfolder),
        revision,
    )


def hf_revision(handle: Handle, revision: str) -> Handle:
    """The Hugging Face handle `handle` at `revision` (e.g. a commit)."""
    text = f"{handle.repo}@{revision}"
    if handle.subfolder:
        text += "/" + handle.subfolder
    return dataclasses.replace(
        handle,
        location=HF_PREFIX + text,
        key="hf:" + text,
        revision=revision,
    )


def _compressed(url: str, original: urllib.parse.SplitResult | None) -> str:
    """Adds `tf-hub-format=compressed`, keeping any other query items."""
    query = urllib.parse.parse_qsl(original.query) if original else []
    query = [item for item in query if item[0] != _COMPRESSED_QUERY[0]]
    query.append(_COMPRESSED_QUERY)
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(
        parts._replace(query=urllib.parse.urlencode(query))
    )


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP addresses."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_http_allowed(url: str) -> None:
    """Refuses plain http to a non-loopback host unless allowed.

    Raises:
        HandleError: the URL is http://, not loopback, and
            IMAGEHUB_ALLOW_HTTP is not set.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "http":
        return
    if is_loopback(parts.hostname or "") or _config.allow_http():
        return
    raise HandleError(
        f"refusing plain http URL {url!r}: the download could be altered in "
        "transit. Use https, or set IMAGEHUB_ALLOW_HTTP=1 to allow it"
    )


def readable_name(handle: Handle) -> str:
    """A short human-readable label for logs and progress bars."""
    text = handle.key.split("://", 1)[-1]
    if handle.kind == HUGGINGFACE:
        text = handle.location[len(HF_PREFIX) :]
    return text if len(text) <= 60 else "..." + text[-57:]
