"""Lock files: which bytes each handle must load.

`imagehub lock HANDLE... > imagehub.lock` writes, for each handle, the
version or commit it resolved to and the SHA-256 of its content (one
digest over every file, `content_digest`). While a lock file is in effect
(IMAGEHUB_LOCKFILE, else `imagehub.lock` in the working directory),
`resolve` and `load`:

- resolve a handle without a version to its pinned version, without
  asking the network which one is latest;
- re-hash the model's files and refuse (`LockMismatchError`) content
  whose digest differs from the pin, whether it was just downloaded or
  changed on disk since.

Handles the lock file does not list resolve as usual. The file is JSON:
{"format": 1, "models": [{"handle", "resolved", "revision", "sha256",
"files", "size"}]}.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from imagehub.hub import _cache
from imagehub.hub import _config
from imagehub.hub import _handles
from imagehub.hub._errors import HandleError
from imagehub.hub._errors import LockMismatchError

FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Pin:
    """One handle's pinned content.

    Attributes:
        handle: The handle as written in the lock command.
        resolved: The handle of the immutable content it resolved to
            (e.g. `kaggle:.../3`, `hf://owner/repo@<commit>`); for a
            local directory, its absolute path.
        revision: The Kaggle version or Hugging Face commit, if any.
        sha256: The content digest (`content_digest`).
        files: Number of files.
        size: Total bytes.
    """

    handle: str
    resolved: str
    revision: str | None
    sha256: str
    files: int
    size: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class LockFile:
    """A parsed lock file."""

    path: str
    pins: tuple[Pin, ...]

    def status(self, key: str, sha256: str) -> str:
        """ "pinned", "differs from its pin" or "not pinned": how content
        with `key` and digest `sha256` stands in this lock file."""
        for pin in self.pins:
            if _key(pin.resolved) == key:
                if pin.sha256 == sha256:
                    return "pinned"
                return "differs from its pin"
        return "not pinned"

    def find(self, handle: _handles.Handle) -> Pin | None:
        """The pin of `handle`: same handle, or same resolved content."""
        for pin in self.pins:
            for text in (pin.handle, pin.resolved):
                if _key(text) == handle.key:
                    return pin
        return None


def _key(text: str) -> str | None:
    try:
        return _handles.parse_handle(text).key
    except HandleError:
        return None


def render(pins: list[Pin]) -> str:
    """The lock file's text for `pins`."""
    body = {"format": FORMAT, "models": [p.as_dict() for p in pins]}
    return json.dumps(body, indent=2) + "\n"


def read(path: str) -> LockFile:
    """Parses the lock file at `path`.

    Raises:
        HandleError: It is missing, not JSON, or not a lock file.
    """
    hint = (
        f"write it with `imagehub lock HANDLE... > {path}`, or unset "
        f"{_config.LOCKFILE_VAR}"
    )
    try:
        with open(path, encoding="utf-8") as f:
            body = json.load(f)
    except FileNotFoundError:
        raise HandleError(f"lock file {path} does not exist; {hint}") from None
    except (OSError, ValueError) as e:
        raise HandleError(
            f"lock file {path} is not readable JSON ({e}); {hint}"
        ) from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise HandleError(
            f"lock file {path} is not an imagehub lock file of format "
            f"{FORMAT}; {hint}"
        )
    pins = []
    fields = {f.name for f in dataclasses.fields(Pin)}
    for item in body.get("models") or []:
        if not isinstance(item, dict) or not fields <= set(item):
            raise HandleError(
                f"lock file {path} has a malformed entry {item!r}; {hint}"
            )
        pins.append(Pin(**{name: item[name] for name in fields}))
    return LockFile(path, tuple(pins))


def active() -> LockFile | None:
    """The lock file in effect, or None."""
    path = _config.lockfile()
    return read(path) if path is not None else None


def check(pin: Pin, files: dict[str, Any], where: str, path: str) -> None:
    """Refuses content whose digest differs from `pin`.

    Args:
        pin: The pin.
        files: The content: relative path -> {"size", "sha256"}.
        where: The lock file, for the message.
        path: The model directory, for the message.

    Raises:
        LockMismatchError: The digests differ.
    """
    got = _cache.content_digest(files)
    if got == pin.sha256:
        return
    size = sum(int(f["size"]) for f in files.values())
    raise LockMismatchError(
        f"{pin.handle!r} does not match its pin in {where}: the content of "
        f"{pin.resolved} has SHA-256 {got} ({len(files)} files, {size} "
        f"bytes) but the lock pins {pin.sha256} ({pin.files} files, "
        f"{pin.size} bytes); refusing to load {path}. If the new content "
        "is intended, run `imagehub lock` again"
    )


def hash_tree(root: str) -> dict[str, dict[str, Any]]:
    """Relative path -> {"size", "sha256"} of every file under `root`."""
    from imagehub.hub import _tar

    return {
        rel: _tar.hash_file(path).as_dict()
        for rel, path in _cache.walk_files(root)
    }


def pin_for(
    handle: str,
    resolved: str,
    revision: str | None,
    files: dict[str, Any],
) -> Pin:
    """The pin of content `files` that `handle` resolved to."""
    return Pin(
        handle=handle,
        resolved=resolved,
        revision=revision,
        sha256=_cache.content_digest(files),
        files=len(files),
        size=sum(int(f["size"]) for f in files.values()),
    )


def lock(handles: list[str] | tuple[str, ...]) -> list[Pin]:
    """Resolves and downloads `handles` and pins their content.

    Any lock file in effect is ignored: handles without a version resolve
    to the latest one, which is what a new lock should pin.

    Args:
        handles: Handles as `resolve` accepts them.

    Returns:
        One `Pin` per handle, in order; `render(pins)` is the file's text.

    Raises:
        Everything `resolve` raises.

    Example:
        >>> pins = imagehub.hub.lock(["hf://me/mobilenet"])  # +SKIP
        >>> open("imagehub.lock", "w").write(render(pins))  # +SKIP
    """
    from imagehub.hub import _resolver
    from imagehub.hub import _versions

    pins = []
    for text in handles:
        parsed = _handles.parse_handle(text)
        if parsed.kind == _handles.LOCAL:
            path = _resolver.check_local(parsed)
            pins.append(pin_for(text, path, None, hash_tree(path)))
            continue
        _, target = _resolver.resolve_remote(parsed)
        files = _resolver.verified_files(target)
        resolved = _versions.resolved_text(target)
        pins.append(pin_for(text, resolved, target.revision, files))
    return pins
