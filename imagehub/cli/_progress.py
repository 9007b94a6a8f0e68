"""A rich progress bar with images per second, for `embed` and `classify`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from collections.abc import Iterator


@contextlib.contextmanager
def image_progress(
    description: str, enabled: bool = True
) -> Iterator[Callable[[int, int], None]]:
    """Yields a `progress(done, total)` callback drawing a bar on stderr."""
    import logging

    # TensorFlow's loader logs through absl at INFO; users need the bar.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("absl").setLevel(logging.WARNING)
    if not enabled:
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn
    from rich.progress import MofNCompleteColumn
    from rich.progress import Progress
    from rich.progress import ProgressColumn
    from rich.progress import TextColumn
    from rich.progress import TimeElapsedColumn
    from rich.progress import TimeRemainingColumn
    from rich.text import Text

    class ImagesPerSecond(ProgressColumn):
        """Recent speed while running; the average over the run at the end."""

        def render(self, task) -> Text:
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
        console=Console(stderr=True),
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
