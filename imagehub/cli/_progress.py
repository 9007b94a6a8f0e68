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
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None:
                return Text("- images/s", style="progress.data.speed")
            return Text(f"{speed:.1f} images/s", style="progress.data.speed")

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        ImagesPerSecond(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(description, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress
