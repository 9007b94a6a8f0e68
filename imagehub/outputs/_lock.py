"""One writer per output: an exclusive lock beside it.

`output_lock(path)` holds `flock` on ``.NAME.lock`` beside the output for
as long as a run writes it. The kernel releases an flock the moment its
owner dies (SIGKILL included), so a killed run never blocks the next; the
file itself is deleted on release. A second run waits at most `timeout`
seconds, then fails with `OutputLockedError` naming the process that holds
the output.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import time
from collections.abc import Iterator

from imagehub.outputs._errors import OutputLockedError

logger = logging.getLogger(__name__)

LOCK_WAIT_SECONDS = 3.0
_POLL_SECONDS = 0.1


def lock_path(path: str | os.PathLike[str]) -> str:
    """The lock file of the output `path`: ``.NAME.lock`` beside it."""
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    return os.path.join(parent, f".{name}.lock")


def _acquire(lock: str) -> int | None:
    """The fd of `lock`, flocked, or None if another process holds it."""
    import fcntl

    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return None
            raise
        # The previous owner may have deleted the file between our open
        # and flock: a lock on a deleted file excludes nobody, so retry.
        try:
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _owner(lock: str) -> str:
    try:
        with open(lock, encoding="utf-8") as f:
            info = json.load(f)
        return f"process {info['pid']} on {info['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def output_lock(
    path: str | os.PathLike[str], *, timeout: float = LOCK_WAIT_SECONDS
) -> Iterator[str]:
    """Holds the exclusive right to write `path` for the block.

    Args:
        path: The output (its folder must exist).
        timeout: Seconds to wait for another run to finish first.

    Yields:
        The lock file's path.

    Raises:
        OutputLockedError: Another live process still holds it after
            `timeout` seconds.
    """
    lock = lock_path(path)
    start = time.monotonic()
    fd = _acquire(lock)
    if fd is None:
        logger.info("Waiting for %s to finish writing %s", _owner(lock), path)
    while fd is None:
        waited = time.monotonic() - start
        if waited >= timeout:
            raise OutputLockedError(os.fspath(path), _owner(lock), waited)
        time.sleep(_POLL_SECONDS)
        fd = _acquire(lock)
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)
