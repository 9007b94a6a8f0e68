"""The error raised for files that cannot become an image."""

from __future__ import annotations


class ImageError(ValueError):
    """A file or byte string could not be read as an image.

    Attributes:
        source: The file path, or ``"<bytes>"`` for in-memory data.
        reason: Why it failed, in words (e.g. ``"truncated file"``).
    """

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")

    # Keeps pickling (e.g. across processes) working.
    def __reduce__(self) -> tuple[type[ImageError], tuple[str, str]]:
        return (type(self), (self.source, self.reason))
