"""Labels files: one class name a line, line N naming class N (from 0).

The one rule for blank lines, shared by every reader and writer (export,
retrain, classify): blank lines at the end of the file are not classes;
a blank line before the last name is a class with an empty name, so the
line numbers stay the class indices. Surrounding whitespace is stripped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def parse_labels(text: str) -> list[str]:
    """The class names of a labels file's text, in index order.

    Args:
        text: The file's contents.

    Returns:
        One name per line, stripped; trailing blank lines dropped.
    """
    labels = [line.strip() for line in text.splitlines()]
    while labels and not labels[-1]:
        labels.pop()
    return labels


def read_labels(path: str | os.PathLike[str]) -> list[str]:
    """Reads a labels file (see the module docstring for the rule).

    Args:
        path: The labels file.

    Returns:
        The class names, in index order.

    Raises:
        OSError: The file cannot be read.
        ValueError: It names no class.
    """
    with open(path, encoding="utf-8") as f:
        labels = parse_labels(f.read())
    if not labels:
        raise ValueError(f"Labels file {os.fspath(path)!r} is empty")
    return labels


def format_labels(names: Iterable[str]) -> str:
    """The text of a labels file that `parse_labels` reads back as `names`.

    Raises:
        ValueError: A name spans lines, has surrounding whitespace, or the
            last name is empty: none of those would read back the same.
    """
    names = [str(name) for name in names]
    for i, name in enumerate(names):
        if name != name.strip() or "\n" in name or "\r" in name:
            raise ValueError(
                f"Label {i} ({name!r}) has line breaks or surrounding "
                "whitespace; a labels file holds one stripped name a line"
            )
    if names and not names[-1]:
        raise ValueError(
            f"The last label (index {len(names) - 1}) is empty; a labels "
            "file cannot end in a blank line that is a class"
        )
    return "".join(f"{name}\n" for name in names)


def write_labels(path: str | os.PathLike[str], names: Iterable[str]) -> None:
    """Writes `names` as a labels file at `path` (UTF-8, one a line).

    The file is written in place: callers that publish atomically write
    to their staging path.

    Raises:
        ValueError: A name `format_labels` refuses.
    """
    text = format_labels(names)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
