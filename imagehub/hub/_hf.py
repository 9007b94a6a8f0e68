"""Hugging Face Hub handles: `hf://OWNER/REPO[@REVISION][/SUBFOLDER]`.

The `huggingface_hub` library does the talking (its `HF_ENDPOINT` and
`HF_TOKEN` conventions, its redirects, Xet storage and retries); imagehub
keeps the bytes. A branch or tag is first resolved to its commit, so the
cache entry is keyed by the commit and the manifest records it. The files
of the SavedModel (the folder's own files and its `variables/`, `assets/`
and `assets.extra/`) are downloaded into the entry's staging folder, never
into huggingface_hub's cache, and each is checked against the size and
hash the Hub lists for it (the LFS sha256, or the git blob id) before the
entry is committed: one cache, one verification, one lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import posixpath
import shutil
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from imagehub.hub import _config
from imagehub.hub import _handles
from imagehub.hub import _tar
from imagehub.hub._errors import AccessDeniedError
from imagehub.hub._errors import DownloadError
from imagehub.hub._errors import ModelNotFoundError
from imagehub.hub._errors import NotASavedModelError
from imagehub.hub._errors import UnsafeArchiveError

logger = logging.getLogger(__name__)

PIP_LINE = "pip install 'imagehub[hubs]'  (or: pip install huggingface_hub)"
# The parts of a SavedModel besides the files at its top level.
SAVED_MODEL_DIRS = ("variables", "assets", "assets.extra")
TOKEN_VAR = "HF_TOKEN"
_SCRATCH = "hf-download"
_CHUNK = 1 << 20

Progress = Callable[[int, "int | None"], None]


def _library() -> Any:
    try:
        import huggingface_hub
    except ImportError as e:
        raise ImportError(
            "hf:// handles need the huggingface_hub library, which is not "
            f"installed: {PIP_LINE}"
        ) from e
    return huggingface_hub


def _api() -> Any:
    endpoint = _config.hf_endpoint()
    _handles.check_http_allowed(endpoint)
    return _library().HfApi(endpoint=endpoint)


def resolve_revision(handle: _handles.Handle) -> _handles.Handle:
    """Returns `handle` at the commit its branch or tag points to now.

    Raises:
        AccessDeniedError: The repo is private or gated and the token is
            missing or has no access.
        ModelNotFoundError: No such repo or revision.
        DownloadError: The Hub cannot be reached.
    """
    if handle.is_pinned:
        return handle
    api = _api()
    with _translated_errors(handle):
        info = api.model_info(handle.repo, revision=handle.revision)
    if not info.sha:
        raise DownloadError(
            f"{_config.hf_endpoint()} gave no commit for {handle.original!r}"
        )
    logger.info(
        "%s: %s is commit %s", handle.original, handle.revision, info.sha
    )
    return _handles.hf_revision(handle, info.sha)


def download(
    handle: _handles.Handle,
    model_dir: str,
    scratch: str,
    *,
    progress: Progress,
    beat: Callable[[], None],
) -> dict[str, _tar.FileDigest]:
    """Downloads the SavedModel `handle` names into `model_dir`.

    Args:
        handle: A pinned (commit) Hugging Face handle.
        model_dir: The empty staging folder of the entry.
        scratch: A folder that may be created and is removed after.
        progress: Called with (bytes so far, total).
        beat: Called as data arrives.

    Returns:
        Relative path -> size and sha256 of every file written.

    Raises:
        NotASavedModelError: The folder holds no saved_model.pb(txt).
        DownloadError: A file differs from what the Hub lists.
        AccessDeniedError, ModelNotFoundError: As for `resolve_revision`.
    """
    hf = _library()
    from huggingface_hub.hf_api import RepoFile

    api = _api()
    with _translated_errors(handle):
        tree = [
            entry
            for entry in api.list_repo_tree(
                handle.repo,
                path_in_repo=handle.subfolder or None,
                recursive=True,
                revision=handle.revision,
            )
            if isinstance(entry, RepoFile)
        ]
    wanted = _saved_model_files(handle, tree)
    total = sum(int(entry.size or 0) for entry in wanted.values())
    if total > _tar.MAX_BYTES or len(wanted) > _tar.MAX_MEMBERS:
        raise UnsafeArchiveError(
            f"{handle.original!r} lists {len(wanted)} files of {total} bytes, "
            f"over imagehub's limits ({_tar.MAX_MEMBERS} files, "
            f"{_tar.MAX_BYTES} bytes); refusing to download it"
        )
    done = [0]

    def advance(n: float | None) -> None:
        done[0] += int(n or 0)
        progress(done[0], total)
        beat()

    progress(0, total)
    download_dir = os.path.join(scratch, _SCRATCH)
    files: dict[str, _tar.FileDigest] = {}
    try:
        for rel, entry in sorted(wanted.items()):
            with _translated_errors(handle):
                path = hf.hf_hub_download(
                    handle.repo,
                    entry.path,
                    revision=handle.revision,
                    local_dir=download_dir,
                    # Keeps huggingface_hub's refs and locks out of its
                    # own cache: imagehub's entry is the only copy.
                    cache_dir=os.path.join(scratch, _SCRATCH + "-cache"),
                    endpoint=_config.hf_endpoint(),
                    tqdm_class=_progress_class(advance),
                )
            files[rel] = _move_verified(handle, entry, path, model_dir, rel)
    finally:
        shutil.rmtree(download_dir, ignore_errors=True)
        shutil.rmtree(download_dir + "-cache", ignore_errors=True)
    return files


def _saved_model_files(
    handle: _handles.Handle, tree: list[Any]
) -> dict[str, Any]:
    """The tree's files that make up the SavedModel, by relative path."""
    prefix = handle.subfolder + "/" if handle.subfolder else ""
    wanted: dict[str, Any] = {}
    nested: set[str] = set()
    for entry in tree:
        # The listing names where files land: the same rule as archive
        # members (no absolute names, no '..').
        source = f"the Hub's file list of {handle.repo}"
        if _tar.safe_member_path(entry.path, source) != entry.path:
            raise UnsafeArchiveError(
                f"{source} names {entry.path!r}; refusing to download it"
            )
        if not entry.path.startswith(prefix):
            continue
        rel = entry.path[len(prefix) :]
        parts = rel.split("/")
        if len(parts) == 1 or parts[0] in SAVED_MODEL_DIRS:
            wanted[rel] = entry
        elif parts[-1] in ("saved_model.pb", "saved_model.pbtxt"):
            nested.add(posixpath.dirname(rel))
    if any(name in wanted for name in ("saved_model.pb", "saved_model.pbtxt")):
        return wanted
    where = f"folder {handle.subfolder!r}" if handle.subfolder else "root"
    hint = ""
    if nested:
        base = f"hf://{handle.repo}@{handle.revision}/"
        options = ", ".join(
            base + posixpath.join(handle.subfolder, n) for n in sorted(nested)
        )
        hint = f"; SavedModels are in subfolders: {options}"
    shown = ", ".join(sorted(wanted)[:8]) or "no files"
    raise NotASavedModelError(
        f"{handle.original!r} is not a SavedModel: the {where} of "
        f"{handle.repo} at {handle.revision} has no saved_model.pb or "
        f"saved_model.pbtxt (it holds {shown}){hint}"
    )


def _move_verified(
    handle: _handles.Handle, entry: Any, path: str, model_dir: str, rel: str
) -> _tar.FileDigest:
    digest = _tar.hash_file(path)
    expected_size = entry.lfs.size if entry.lfs is not None else entry.size
    problem = None
    if expected_size is not None and digest.size != expected_size:
        problem = f"{digest.size} bytes, the Hub lists {expected_size}"
    elif entry.lfs is not None and digest.sha256 != entry.lfs.sha256:
        problem = f"sha256 {digest.sha256[:12]}..., the Hub lists "
        problem += f"{entry.lfs.sha256[:12]}..."
    elif entry.lfs is None and entry.blob_id:
        blob = _git_blob_id(path, digest.size)
        if blob != entry.blob_id:
            problem = f"git blob {blob[:12]}..., the Hub lists "
            problem += f"{entry.blob_id[:12]}..."
    if problem is not None:
        raise DownloadError(
            f"{handle.original!r}: {entry.path} arrived with {problem}; "
            "nothing was cached"
        )
    target = os.path.join(model_dir, *rel.split("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(path, target)
    return digest


def _git_blob_id(path: str, size: int) -> str:
    digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _progress_class(advance: Callable[[float | None], None]) -> type[Any]:
    """A tqdm stand-in for huggingface_hub that reports to `advance`."""

    class _Report:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            advance(kwargs.get("initial", 0))

        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def update(self, n: float | None = 1) -> None:
            advance(n)

        def __getattr__(self, name: str) -> Callable[..., None]:
            # Bar cosmetics (set_postfix_str, refresh, close, ...).
            return lambda *args, **kwargs: None

    return _Report


@contextlib.contextmanager
def _translated_errors(handle: _handles.Handle) -> Iterator[None]:
    """Turns huggingface_hub's errors into imagehub's, naming the fix."""
    try:
        yield
    except Exception as error:
        translated = _translate(handle, error)
        if translated is None:
            raise
        raise translated from error


def _translate(handle: _handles.Handle, error: Exception) -> Exception | None:
    from huggingface_hub import errors

    repo = handle.repo
    page = f"{_config.hf_endpoint()}/{repo}"
    has_token = bool(_library().get_token())
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, errors.GatedRepoError):
        if not has_token:
            return AccessDeniedError(
                f"{repo} on the Hugging Face Hub is gated and {TOKEN_VAR} is "
                f"not set: accept its terms on {page}, then set {TOKEN_VAR} "
                "to a token of that account (or run `hf auth login`)",
                status=status,
            )
        return AccessDeniedError(
            f"{repo} on the Hugging Face Hub is gated and the token in use "
            f"({TOKEN_VAR} or `hf auth login`) has not been granted access: "
            f"accept its terms on {page} with that account",
            status=status,
        )
    if isinstance(error, errors.RevisionNotFoundError):
        return ModelNotFoundError(
            f"{handle.original!r}: {repo} has no revision "
            f"{handle.revision!r} (a branch, tag or commit)"
        )
    if isinstance(error, errors.RepositoryNotFoundError) or status == 401:
        if not has_token:
            return AccessDeniedError(
                f"{repo} was not found on the Hugging Face Hub "
                f"({_config.hf_endpoint()}); if it is private, set "
                f"{TOKEN_VAR} to a token with read access (or run `hf auth "
                "login`)",
                status=status,
            )
        return AccessDeniedError(
            f"{repo} was not found on the Hugging Face Hub "
            f"({_config.hf_endpoint()}) with the token in use ({TOKEN_VAR} "
            "or `hf auth login`): check the name, or that the token is "
            "valid and can read this repo",
            status=status,
        )
    if isinstance(error, errors.RemoteEntryNotFoundError):
        return ModelNotFoundError(
            f"{handle.original!r}: a file of {repo} at {handle.revision} is "
            f"missing on the Hub ({error})"
        )
    if isinstance(error, errors.HfHubHTTPError):
        return DownloadError(f"{handle.original!r}: {error}")
    if isinstance(error, (errors.LocalEntryNotFoundError, OSError)):
        return DownloadError(
            f"{handle.original!r}: cannot reach the Hugging Face Hub at "
            f"{_config.hf_endpoint()} ({type(error).__name__}: {error})"
        )
    return _transport_error(handle, error)


def _transport_error(
    handle: _handles.Handle, error: Exception
) -> Exception | None:
    import importlib

    # huggingface_hub 1.x talks through httpx, 2.x through httpx2.
    for name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if isinstance(error, module.HTTPError):
            return DownloadError(
                f"{handle.original!r}: cannot reach the Hugging Face Hub at "
                f"{_config.hf_endpoint()} ({type(error).__name__}: {error})"
            )
    return None
