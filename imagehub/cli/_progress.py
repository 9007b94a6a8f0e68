"""Progress on stderr: images per second for `embed` and `classify`, and
the stages and epochs of `retrain`.

In a terminal, a rich display with one live line per stage. Retraining
shows one line for the current epoch, rewritten as it runs, and prints a
compact history above it (every epoch up to `HISTORY_LINES` epochs, else
every k-th and the last), so the display never outgrows the terminal,
however many epochs run, and stays within 80 columns. When stderr is not
a terminal (CI logs, a pipe) it prints plain lines instead: each stage
once when done, one line per epoch, no control codes.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from imagehub.cli._console import stderr_console

HISTORY_LINES = 20

_STAGE_NAMES = {
    "validate": "checking images",
    "features": "caching features",
    "search": "choosing settings",
    "export": "writing outputs",
}


@contextlib.contextmanager
def image_progress(
    description: str, enabled: bool = True
) -> Iterator[Callable[[int, int], None]]:
    """Yields a `progress(done, total)` callback drawing a bar on stderr."""
    if not enabled:
        yield lambda done, total: None
        return
    from rich.progress import BarColumn
    from rich.progress import MofNCompleteColumn
    from rich.progress import Progress
    from rich.progress import ProgressColumn
    from rich.progress import Task
    from rich.progress import TextColumn
    from rich.progress import TimeElapsedColumn
    from rich.progress import TimeRemainingColumn
    from rich.text import Text

    class ImagesPerSecond(ProgressColumn):
        """Recent speed while running; the average over the run at the end."""

        def render(self, task: Task) -> Text:
            speed = task.speed
            if (task.finished or speed is None) and task.elapsed:
                speed = task.completed / task.elapsed
            text = "- images/s" if not speed else f"{speed:.1f} images/s"
            return Text(text, style="progress.data.speed")

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        ImagesPerSecond(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
    ) as bar:
        task = bar.add_task("loading the model", total=None)
        started = False

        def progress(done: int, total: int) -> None:
            nonlocal started
            if not started:
                # Time the images, not the TensorFlow import and model load.
                bar.reset(task, total=total, description=description)
                started = True
            bar.update(task, completed=done, total=total)

        yield progress


def epoch_metrics(logs: dict[str, Any]) -> str:
    """``loss 0.412 acc 0.861 val_loss 0.520 val_acc 0.800``: the metrics
    present in `logs`, short enough for an 80-column line."""
    names = (
        ("loss", "loss"),
        ("accuracy", "acc"),
        ("val_loss", "val_loss"),
        ("val_accuracy", "val_acc"),
    )
    return " ".join(
        f"{short} {logs[key]:.3f}" for key, short in names if key in logs
    )


def history_epochs(total: int) -> int:
    """Every how many epochs a history line is printed (the last always)."""
    return max(1, math.ceil(total / HISTORY_LINES))


def _epoch_line(epoch: int, total: int, logs: dict[str, Any]) -> str:
    width = len(str(total))
    return f"epoch {epoch:>{width}}/{total}  {epoch_metrics(logs)}"


class _PlainRetrainProgress:
    """Lines for logs: each stage once when done, one line per epoch."""

    def __init__(self, console: Any) -> None:
        self.console = console

    def __call__(self, event: Any) -> None:
        if event.stage == "epoch_end":
            line = _epoch_line(event.epoch, event.total, event.logs)
        elif event.stage in _STAGE_NAMES and event.done == event.total:
            line = f"{_STAGE_NAMES[event.stage]}: {event.done}/{event.total}"
        else:
            return
        self.console.print(line, markup=False, highlight=False)


class _LiveRetrainProgress:
    """A rich display: a line per stage, one line reused for every epoch."""

    def __init__(self, bars: Any, epochs: int | None) -> None:
        self.bars = bars
        self.epochs = epochs
        self.tasks: dict[str, Any] = {}

    def _task(self, key: str, description: str, total: int) -> Any:
        if key not in self.tasks:
            self.tasks[key] = self.bars.add_task(
                description, total=total, metrics=""
            )
        return self.tasks[key]

    def _label(self, epoch: int) -> str:
        return f"epoch {epoch}" + (f"/{self.epochs}" if self.epochs else "")

    def __call__(self, event: Any) -> None:
        stage = event.stage
        if stage in _STAGE_NAMES:
            task = self._task(stage, _STAGE_NAMES[stage], event.total)
            self.bars.update(task, completed=event.done, total=event.total)
        elif stage == "train":
            task = self._task("epoch", self._label(event.epoch), event.total)
            self.bars.update(
                task,
                description=self._label(event.epoch),
                completed=event.done,
                total=event.total,
                metrics=epoch_metrics(_pick(event.logs, "loss", "accuracy")),
            )
        elif stage == "epoch_end":
            self._epoch_end(event)

    def _epoch_end(self, event: Any) -> None:
        self.epochs = event.total
        task = self._task("epoch", self._label(event.epoch), 1)
        # The live line keeps to training's loss and accuracy (80
        # columns); the history line printed above it has them all.
        self.bars.update(
            task,
            description=self._label(event.epoch),
            completed=self.bars.tasks[task].total,
            metrics=epoch_metrics(_pick(event.logs, "loss", "accuracy")),
        )
        every = history_epochs(event.total)
        if event.epoch % every == 0 or event.epoch == event.total:
            self.bars.console.print(
                _epoch_line(event.epoch, event.total, event.logs),
                markup=False,
                highlight=False,
            )


def _pick(logs: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: logs[k] for k in keys if k in logs}


@contextlib.contextmanager
def retrain_progress(
    epochs: int | None = None, enabled: bool = True
) -> Iterator[Callable[[Any], None]]:
    """Yields a callback for `imagehub.retrain` progress events.

    Args:
        epochs: The epochs planned, shown from the first step on.
        enabled: False for no output at all.
    """
    console = stderr_console()
    if not enabled:
        yield lambda event: None
        return
    if not console.is_terminal:
        yield _PlainRetrainProgress(console)
        return
    from rich.progress import BarColumn
    from rich.progress import MofNCompleteColumn
    from rich.progress import Progress
    from rich.progress import TextColumn
    from rich.progress import TimeElapsedColumn

    columns = (
        TextColumn("{task.description}", style="progress.description"),
        BarColumn(bar_width=16),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[metrics]}", style="progress.data.speed"),
    )
    with Progress(*columns, console=console) as bars:
        yield _LiveRetrainProgress(bars, epochs)
