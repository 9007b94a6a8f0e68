"""Writing a directory atomically: temp sibling, then `os.replace`."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator

_log = logging.getLogger(__name__)


def check_target(path: str, overwrite: bool) -> None:
    """Refuses an existing `path` unless `overwrite`.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
    """
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(
            f"The export target {path} already exists; pass overwrite=True "
            "(--overwrite) to replace it, or choose another path"
        )


@contextlib.contextmanager
def atomic_directory(path: str, overwrite: bool = False) -> Iterator[str]:
    """Yields a temporary directory beside `path`; moves it to `path` when
    the block succeeds, deletes it when it raises (Ctrl-C included).

    An existing `path` is replaced only if `overwrite`; it is moved aside
    first and put back if the final rename fails.
    """
    path = os.path.abspath(os.fspath(path))
    check_target(path, overwrite)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(path)
    tmp = tempfile.mkdtemp(prefix=f".{base}.tmp-", dir=parent)
    try:
        yield tmp
        check_target(path, overwrite)
        _replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace(src: str, dst: str) -> None:
    if not os.path.lexists(dst):
        os.replace(src, dst)
        return
    parent = os.path.dirname(dst)
    aside = tempfile.mkdtemp(
        prefix=f".{os.path.basename(dst)}.old-", dir=parent
    )
    os.rmdir(aside)
    os.replace(dst, aside)
    try:
        os.replace(src, dst)
    except BaseException:
        os.replace(aside, dst)
        raise
    if os.path.isdir(aside) and not os.path.islink(aside):
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.remove(aside)
    _log.info("Replaced %s", dst)
