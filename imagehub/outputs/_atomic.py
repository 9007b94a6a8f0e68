"""Atomic outputs: write a temporary sibling, then rename it into place.

Every file or folder imagehub writes for a user goes through here, so
every writer has the same guarantees:

- **Nothing half-written.** The output is built as a temporary sibling
  (same folder, so the same filesystem) named ``.NAME.tmp-PID-XXXX`` and
  renamed to NAME only when complete; a failure or Ctrl-C deletes it.
- **One overwrite rule.** An existing output is refused with
  `OutputExistsError` unless ``overwrite=True`` (``--overwrite``). A
  replaced folder is first renamed aside (``.NAME.old-PID-XXXX``) and put
  back if the final rename fails.
- **Normal permissions.** The published output gets the modes the umask
  gives a normally created file or folder (`publish_modes`), not the
  private ones of a temporary file.
- **No litter from killed runs.** A run killed by SIGKILL or a power cut
  cannot delete its temporary sibling; the next run on the same target
  removes it when the process named in it is gone (or, for names without
  a process id, when it is older than `STALE_SECONDS`). A folder renamed
  aside by a run killed mid-replace is put back if the target is missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator

from imagehub.outputs._errors import OutputExistsError
from imagehub.outputs._modes import publish_modes

logger = logging.getLogger(__name__)

TEMP_MARK = ".tmp-"
ASIDE_MARK = ".old-"
# Temporary siblings without a process id in their name (written by
# earlier imagehub versions) count as abandoned after this long untouched.
STALE_SECONDS = 3600.0
_OWNER = re.compile(r"(\d+)-")


def check_target(
    path: str | os.PathLike[str], overwrite: bool, *, detail: str = ""
) -> None:
    """Refuses an existing `path` unless `overwrite`.

    Args:
        path: The output.
        overwrite: Whether an existing `path` may be replaced.
        detail: Why it cannot be kept, for the message (optional).

    Raises:
        OutputExistsError: `path` exists and `overwrite` is False.
    """
    path = os.fspath(path)
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(path, detail)


def _prefix(path: str, mark: str) -> str:
    return f".{os.path.basename(path)}{mark}"


def _owner_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _abandoned(sibling: str, prefix: str) -> bool:
    """True if the process that made `sibling` is gone (see module doc)."""
    owner = _OWNER.match(os.path.basename(sibling)[len(prefix) :])
    if owner is not None:
        return _owner_gone(int(owner.group(1)))
    try:
        age = time.time() - os.lstat(sibling).st_mtime
    except FileNotFoundError:
        return False
    return age > STALE_SECONDS


def discard(path: str) -> None:
    """Deletes a file or folder if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def remove_abandoned(path: str | os.PathLike[str]) -> list[str]:
    """Removes the temporary siblings of `path` left by killed runs.

    A folder that a killed run had renamed aside to replace `path` is
    renamed back when `path` is missing (the replacement never landed),
    and deleted otherwise.

    Returns:
        The siblings removed or restored.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    temp, aside = _prefix(path, TEMP_MARK), _prefix(path, ASIDE_MARK)
    try:
        names = sorted(os.listdir(parent))
    except FileNotFoundError:
        return []
    handled = []
    for name in names:
        prefix = temp if name.startswith(temp) else aside
        if not name.startswith(prefix):
            continue
        sibling = os.path.join(parent, name)
        if not _abandoned(sibling, prefix):
            continue
        if prefix == aside and not os.path.lexists(path):
            os.replace(sibling, path)
            logger.warning("Restored %s from an interrupted replace", path)
        else:
            discard(sibling)
            logger.info("Removed %s, left by a killed run", sibling)
        handled.append(sibling)
    return handled


def temp_sibling(
    path: str | os.PathLike[str], *, directory: bool = False
) -> str:
    """Creates an empty temporary file or folder beside `path`.

    Abandoned siblings of earlier runs are removed first.

    Returns:
        Its path; `commit` publishes it, `discard` deletes it.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    remove_abandoned(path)
    prefix = f"{_prefix(path, TEMP_MARK)}{os.getpid()}-"
    if directory:
        return tempfile.mkdtemp(prefix=prefix, dir=parent)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=parent)
    os.close(fd)
    return tmp


def commit(
    tmp: str, path: str | os.PathLike[str], *, overwrite: bool = False
) -> None:
    """Publishes the temporary sibling `tmp` as `path`.

    `tmp` gets the umask's modes, then is renamed to `path`. A file
    replaces a file in one rename; a folder cannot be renamed onto a
    non-empty one, so an existing `path` is renamed aside first, put back
    if the rename fails, and deleted after.

    Raises:
        OutputExistsError: `path` exists and `overwrite` is False (checked
            again here: it may have appeared while `tmp` was written).
    """
    path = os.path.abspath(os.fspath(path))
    check_target(path, overwrite)
    publish_modes(tmp)
    both_files = not os.path.isdir(tmp) and not os.path.isdir(path)
    if both_files or not os.path.lexists(path):
        os.replace(tmp, path)
        return
    aside = tempfile.mkdtemp(
        prefix=f"{_prefix(path, ASIDE_MARK)}{os.getpid()}-",
        dir=os.path.dirname(path),
    )
    os.rmdir(aside)
    os.replace(path, aside)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(aside, path)
        raise
    discard(aside)
    logger.debug("Replaced %s", path)


@contextlib.contextmanager
def _atomic(
    path: str | os.PathLike[str], overwrite: bool, directory: bool
) -> Iterator[str]:
    check_target(path, overwrite)
    tmp = temp_sibling(path, directory=directory)
    try:
        yield tmp
        commit(tmp, path, overwrite=overwrite)
    except BaseException:
        discard(tmp)
        raise


def atomic_file(
    path: str | os.PathLike[str], *, overwrite: bool = False
) -> contextlib.AbstractContextManager[str]:
    """Yields a temporary file path that becomes `path` when the block
    ends without an error; on an error (Ctrl-C included) it is deleted.

    Raises:
        OutputExistsError: `path` exists and `overwrite` is False.

    Example:
        >>> with atomic_file("labels.txt") as tmp:
        ...     with open(tmp, "w") as f:
        ...         f.write("daisy\\n")
    """
    return _atomic(path, overwrite, directory=False)


def atomic_directory(
    path: str | os.PathLike[str], *, overwrite: bool = False
) -> contextlib.AbstractContextManager[str]:
    """Like `atomic_file`, for a folder: yields an empty temporary folder
    that becomes `path` (replacing an existing one only if `overwrite`).

    Raises:
        OutputExistsError: `path` exists and `overwrite` is False.
    """
    return _atomic(path, overwrite, directory=True)
