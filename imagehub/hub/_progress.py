"""Download progress: a rich bar on a terminal, log lines otherwise.

The bar is drawn only when stderr is a terminal, so programs that pipe or
capture stderr (and tests) see rate-limited log records instead; nothing
is ever written to stdout.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator

logger = logging.getLogger(__name__)

LOG_EVERY_SECONDS = 10.0

Progress = Callable[[int, "int | None"], None]


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class _LogReporter:
    """Logs at most one line every LOG_EVERY_SECONDS, plus the last."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._start = time.monotonic()
        self._last = self._start
        self._done = 0
        self._total: int | None = None

    def __call__(self, done: int, total: int | None) -> None:
        self._done, self._total = done, total
        now = time.monotonic()
        if done and now - self._last >= LOG_EVERY_SECONDS:
            self._last = now
            self._log(now)

    def _log(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-6)
        of = ""
        if self._total:
            of = f" of {_megabytes(self._total)}"
            of += f" ({100 * self._done / self._total:.0f}%)"
        logger.info(
            "Downloading %s: %s%s at %.1f MB/s",
            self._label,
            _megabytes(self._done),
            of,
            self._done / elapsed / 1e6,
        )

    def finish(self) -> None:
        if self._done:
            self._log(time.monotonic())


@contextlib.contextmanager
def reporter(label: str) -> Iterator[Progress]:
    """Yields a progress callback for downloading `label`."""
    stream = sys.stderr
    if stream is not None and stream.isatty():
        with _rich_bar(label) as update:
            yield update
        return
    log = _LogReporter(label)
    logger.info("Downloading %s", label)
    try:
        yield log
    finally:
        log.finish()


@contextlib.contextmanager
def _rich_bar(label: str) -> Iterator[Progress]:
    from rich.console import Console
    from rich.progress import BarColumn
    from rich.progress import DownloadColumn
    from rich.progress import Progress as RichProgress
    from rich.progress import TextColumn
    from rich.progress import TimeRemainingColumn
    from rich.progress import TransferSpeedColumn

    bar = RichProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
