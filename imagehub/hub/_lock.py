"""A per-entry inter-process lock that survives crashes and stalls.

The lock is `flock` on a file beside the entry, so the kernel frees it the
moment its owner dies (even by SIGKILL). The owner touches the file as its
work progresses; a waiter that sees no touch for `stall_seconds` breaks the
lock by renaming the file away, under a short-lived second lock so two
waiters never break each other's fresh lock. The owner deletes the file
when done, so no lock file outlives a clean exit, an exception or Ctrl-C.

Should a stalled owner wake up after its lock was broken, two processes
fetch the same entry; that only wastes a download, because an entry is
published by one atomic rename and the second finds it there.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator

from imagehub.hub._errors import CacheLockError

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2
BEAT_EVERY_SECONDS = 1.0
WAIT_LOG_EVERY_SECONDS = 15.0
_BREAK_WAIT_SECONDS = 5.0


def _try_flock(path: str) -> int | None:
    """Opens and flocks `path` without blocking; returns the fd or None.

    Returns None when someone else holds it. The file may be unlinked or
    replaced between open and flock, so the fd is kept only if it still is
    the file at `path`.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        raise CacheLockError(
            "imagehub's download cache needs POSIX file locks (fcntl), "
            "which this platform lacks; resolve local directories instead"
        ) from None
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    try:
        same = os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return _try_flock(path)
    return fd


def _release(fd: int, path: str) -> None:
    try:
        if os.path.samestat(os.fstat(fd), os.stat(path)):
            os.unlink(path)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


class EntryLock:
    """The held lock; `beat()` records progress (rate-limited)."""

    def __init__(self, fd: int, path: str) -> None:
        self._fd = fd
        self.path = path
        self._last_beat = time.monotonic()

    def beat(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= BEAT_EVERY_SECONDS:
            self._last_beat = now
            # Touch by descriptor: after a takeover the path names someone
            # else's lock, which must not be refreshed by us.
            with contextlib.suppress(OSError):
                os.utime(self._fd)

    def still_held(self) -> bool:
        """False if a waiter broke this lock because we stalled."""
        try:
            return os.path.samestat(os.fstat(self._fd), os.stat(self.path))
        except FileNotFoundError:
            return False


def _owner_info(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
        return f"process {info.get('pid')} on {info.get('host')}"
    except (OSError, ValueError):
        return "another process"


def _break_stalled(path: str, stat: os.stat_result, stall: float) -> bool:
    """Renames the stalled lock file away; True if this call did it."""
    guard = path + ".break"
    deadline = time.monotonic() + _BREAK_WAIT_SECONDS
    fd = None
    while fd is None:
        fd = _try_flock(guard)
        if fd is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_SECONDS / 4)
    try:
        try:
            now_stat = os.stat(path)
        except FileNotFoundError:
            return False
        # Someone else broke it already and a new owner holds a new file,
        # or the owner woke up and touched it: leave it alone.
        if not os.path.samestat(now_stat, stat):
            return False
        if time.time() - now_stat.st_mtime < stall:
            return False
        aside = f"{path}.stale-{uuid.uuid4().hex[:8]}"
        os.rename(path, aside)
        os.unlink(aside)
        return True
    finally:
        _release(fd, guard)


@contextlib.contextmanager
def entry_lock(
    path: str,
    *,
    stall_seconds: float,
    done: Callable[[], bool],
    label: str,
    timeout: float | None = None,
) -> Iterator[EntryLock | None]:
    """Waits for and holds the lock at `path`.

    Args:
        path: The lock file.
        stall_seconds: A held lock not touched for this long is broken.
        done: Polled while waiting; when it returns True the wait ends
            without the lock and None is yielded (another process
            finished the work).
        label: What is being locked, for log messages.
        timeout: Give up after this many seconds (None: wait while the
            owner makes progress).

    Yields:
        The held `EntryLock`, or None if `done()` became true first.

    Raises:
        CacheLockError: `timeout` passed.
    """
    start = time.monotonic()
    last_log = start
    suspect: tuple[int, int, int] | None = None
    while True:
        fd = _try_flock(path)
        if fd is not None:
            break
        if done():
            yield None
            return
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            continue
        age = time.time() - stat.st_mtime
        # A stale file must look the same on two polls before it is broken:
        # a new owner that has just taken a dead owner's old file touches
        # it within microseconds, and must not be mistaken for a stall.
        seen = (stat.st_dev, stat.st_ino, stat.st_mtime_ns)
        if age < stall_seconds:
            suspect = None
        elif suspect != seen:
            suspect = seen
        else:
            suspect = None
            logger.warning(
                "Lock %s held by %s made no progress for %.0f s; taking it "
                "over",
                path,
                _owner_info(path),
                age,
            )
            _break_stalled(path, stat, stall_seconds)
            continue
        now = time.monotonic()
        if timeout is not None and now - start > timeout:
            raise CacheLockError(
                f"gave up after {timeout:.0f} s waiting for {label}: "
                f"{_owner_info(path)} holds {path}"
            )
        if now - last_log >= WAIT_LOG_EVERY_SECONDS:
            last_log = now
            logger.info(
                "Waiting for %s, which is fetching %s", _owner_info(path), label
            )
        time.sleep(POLL_SECONDS)
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        os.utime(fd)
        yield EntryLock(fd, path)
    finally:
        _release(fd, path)


def remove_unheld_locks(root: str, is_lock: Callable[[str], bool]) -> list[str]:
    """Deletes the lock files in `root` (names passing `is_lock`) that no
    process holds."""
    removed: list[str] = []
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return removed
    for name in names:
        if not is_lock(name):
            continue
        path = os.path.join(root, name)
        fd = _try_flock(path)
        if fd is not None:
            _release(fd, path)
            removed.append(path)
    return removed
