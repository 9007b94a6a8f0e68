"""Atomic outputs: write to a temporary sibling, then `os.replace` it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator


def temp_sibling(path: str, directory: bool = False) -> str:
    """Creates and returns an empty temporary file or folder beside
    `path` (same filesystem, so the final rename is atomic)."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    prefix = f".{os.path.basename(path)}.tmp-"
    if directory:
        return tempfile.mkdtemp(prefix=prefix, dir=parent)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=parent)
    os.close(fd)
    return tmp


def remove(path: str) -> None:
    """Removes a file or folder if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def commit(tmp: str, path: str) -> None:
    """Moves `tmp` to `path`, replacing what was there.

    A folder cannot be `os.replace`d onto a non-empty folder, so an old
    folder is first renamed aside and deleted after the new one is in.
    """
    path = os.path.abspath(path)
    if os.path.isdir(tmp) and os.path.isdir(path):
        aside = temp_sibling(path, directory=True)
        os.rmdir(aside)
        os.replace(path, aside)
        try:
            os.replace(tmp, path)
        except OSError:
            os.replace(aside, path)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary file path; on success it becomes `path`."""
    tmp = temp_sibling(path)
    try:
        yield tmp
        commit(tmp, path)
    except BaseException:
        remove(tmp)
        raise
