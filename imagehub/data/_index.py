"""Finding the images of a folder, glob or list file: `scan` and `split`."""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import warnings
from collections.abc import Iterable
from typing import IO

import numpy as np

from imagehub.data._decode import DEFAULT_MAX_PIXELS
from imagehub.data._decode import bomb_reason
from imagehub.data._decode import check_pixels
from imagehub.data._errors import ImageError
from imagehub.data._fastjpeg import plain_jpeg_size
from imagehub.data._formats import HEADER_BYTES
from imagehub.data._formats import SUPPORTED_FORMATS
from imagehub.data._formats import NotRegularFileError
from imagehub.data._formats import open_regular
from imagehub.data._formats import sniff
from imagehub.data._formats import special_file_reason
from imagehub.data._formats import system_file_reason
from imagehub.data._formats import unrecognised_reason

# (path, why it was skipped), as `ImageIndex.skipped` lists them.
Skipped = list[tuple[str, str]]
# (why a file is not usable or None, its plain-JPEG size or None).
Inspection = tuple[str | None, tuple[int, int] | None]

logger = logging.getLogger(__name__)

_GLOB_CHARS = frozenset("*?[")
_HIDDEN_FOLDERS = ("__MACOSX",)


@dataclasses.dataclass
class ImageIndex:
    """The images found by `scan`, and the files left out.

    Attributes:
        paths: Image files, in a stable order (class by class, then by
            path).
        labels: Class index of each path (into `class_names`), or None when
            the source has no classes.
        class_names: Sorted class names (subfolder names); empty when
            unlabelled.
        skipped: ``(path, reason)`` of every file that is not used.
        max_pixels: The decompression bomb cap the index was scanned with;
            `dataset` and `validate` apply it too.
        plain_jpeg: For each path, its (width, height) when it is a plain
            JPEG (RGB or gray, no EXIF rotation) that takes TensorFlow's
            fast decoding path, else None; the whole list is None when
            unknown (an index built by hand), and readers then look at the
            headers themselves.
    """

    paths: list[str]
    labels: list[int] | None
    class_names: list[str]
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    max_pixels: int = DEFAULT_MAX_PIXELS
    plain_jpeg: list[tuple[int, int] | None] | None = dataclasses.field(
        default=None, repr=False
    )

    def __post_init__(self) -> None:
        for name in ("labels", "plain_jpeg"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.paths):
                raise ValueError(
                    f"{name} has {len(values)} entries but paths has "
                    f"{len(self.paths)}; they must match"
                )

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def labelled(self) -> bool:
        """Whether the index has class labels."""
        return self.labels is not None

    def subset(self, positions: Iterable[int]) -> ImageIndex:
        """A new index of the images at `positions` (no skipped files)."""
        positions = [int(i) for i in positions]
        return ImageIndex(
            paths=[self.paths[i] for i in positions],
            labels=(
                None
                if self.labels is None
                else [self.labels[i] for i in positions]
            ),
            class_names=list(self.class_names),
            skipped=[],
            max_pixels=self.max_pixels,
            plain_jpeg=(
                None
                if self.plain_jpeg is None
                else [self.plain_jpeg[i] for i in positions]
            ),
        )


LABEL_MODES = ("inferred", None)


def scan(
    path: str | os.PathLike[str],
    *,
    labels: str | None = "inferred",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageIndex:
    """Finds the images in a folder, a glob pattern or a list file.

    Files are chosen by their content (magic bytes), never their extension:
    a JPEG named ``.png`` is used, a text file named ``.jpg`` is skipped.
    Only each file's header is read, so scanning is fast; use `validate`
    to decode everything once.

    Args:
        path: One of:
            - a folder with subfolders: labelled, one class per subfolder
              (searched recursively); files beside the subfolders are
              skipped (with ``labels=None``: every image in the folder
              and below, unlabelled);
            - a folder without subfolders: unlabelled;
            - a glob pattern (``"photos/**/*.jpg"``): unlabelled;
            - a text file with one image path per line (relative paths are
              relative to the text file; blank lines and lines starting
              with ``#`` are ignored): unlabelled;
            - a single image file.
        labels: ``"inferred"`` (as `keras.utils.image_dataset_from_directory`
            names it): a folder's subfolders are its classes. None: no
            classes; a folder is searched recursively, files at its top
            level included (what a job embedding every image wants).
        max_pixels: Images whose header declares more pixels (width *
            height) are skipped as decompression bombs.

    Returns:
        An `ImageIndex`; `skipped` lists every unused file with the reason
        (system files such as ``.DS_Store``, ``Thumbs.db`` and ``._*``, non
        images, unsupported formats, empty or oversized files).

    Raises:
        FileNotFoundError: `path` does not exist and matches no file.
        ValueError: `max_pixels` is not positive, or `labels` is unknown.
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels={max_pixels}; expected a positive int")
    if labels not in LABEL_MODES:
        raise ValueError(f"labels={labels!r}; expected one of {LABEL_MODES}")
    path = os.fspath(path)
    skipped: list[tuple[str, str]] = []
    found_labels: list[int] | None = None
    class_names: list[str] = []
    if os.path.isdir(path):
        subdirs, files = _list_dir(path, skipped)
        if subdirs and labels is None:
            candidates = list(files)
            for name in subdirs:
                candidates += _walk(os.path.join(path, name), skipped)
        elif subdirs:
            class_names = subdirs
            candidates, found_labels = [], []
            for f in files:
                reason = system_file_reason(f) or (
                    "file beside the class folders; only files inside a "
                    "class subfolder are used"
                )
                skipped.append((f, reason))
            for label, name in enumerate(class_names):
                found = _walk(os.path.join(path, name), skipped)
                candidates += found
                found_labels += [label] * len(found)
        else:
            candidates = files
    elif os.path.isfile(path):
        candidates = _list_file_or_image(path, skipped)
    elif os.path.exists(path):
        # A FIFO, device or socket: `_inspect` says so, without reading.
        candidates = [path]
    elif _GLOB_CHARS & set(path):
        candidates = sorted(
            p for p in glob.glob(path, recursive=True) if not os.path.isdir(p)
        )
        if not candidates:
            raise FileNotFoundError(
                f"path={path!r}: the pattern matches no file"
            )
    else:
        raise FileNotFoundError(
            f"path={path!r} does not exist; expected a folder, a glob "
            "pattern or a text file of image paths"
        )
    paths: list[str] = []
    kept_labels: list[int] | None = [] if found_labels is not None else None
    plain: list[tuple[int, int] | None] = []
    for i, candidate in enumerate(candidates):
        why, is_plain = _inspect(candidate, max_pixels)
        if why is not None:
            skipped.append((candidate, why))
            continue
        paths.append(candidate)
        plain.append(is_plain)
        if kept_labels is not None and found_labels is not None:
            kept_labels.append(found_labels[i])
    if skipped:
        logger.info(
            "scan %s: skipped %d %s",
            path,
            len(skipped),
            "file" if len(skipped) == 1 else "files",
        )
    return ImageIndex(
        paths, kept_labels, class_names, skipped, max_pixels, plain
    )


# Telling classes apart needs at least this many.
MIN_CLASSES = 2


def scan_classes(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ImageIndex:
    """The labelled images of a folder with one subfolder per class, and
    at least two classes: what training or scoring a classifier reads.

    Args:
        path: The folder; each subfolder's images are one class (see
            `scan`).
        max_pixels: As for `scan`.

    Returns:
        A labelled `ImageIndex` with at least two class names.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: `path` is not a folder of at least two class folders.
    """
    index = scan(path, max_pixels=max_pixels)
    if not index.labelled or len(index.class_names) < MIN_CLASSES:
        raise ValueError(
            f"path={os.fspath(path)!r} must hold one subfolder of images "
            f"per class, and at least {MIN_CLASSES} classes; found "
            f"{len(index.class_names)} class folders"
        )
    return index


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in _HIDDEN_FOLDERS


def _list_dir(folder: str, skipped: Skipped) -> tuple[list[str], list[str]]:
    """Returns (sorted subfolder names, sorted file paths) of a folder."""
    subdirs, files = [], []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_dir():
            if _hidden(entry.name):
                skipped.append((entry.path, "hidden folder; ignored"))
            else:
                subdirs.append(entry.name)
        elif entry.is_file():
            files.append(entry.path)
        else:
            reason = _special_reason(entry.path)
            if reason is not None:
                skipped.append((entry.path, reason))
    return subdirs, files


def _special_reason(path: str) -> str | None:
    try:
        return special_file_reason(os.stat(path).st_mode)
    except OSError as e:  # a dangling symlink
        return f"cannot read file: {e.strerror}"


def _walk(folder: str, skipped: Skipped) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        for d in sorted(dirs):
            if _hidden(d):
                skipped.append(
                    (os.path.join(root, d), "hidden folder; ignored")
                )
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        found += [os.path.join(root, f) for f in sorted(files)]
    return found


def _list_file_or_image(path: str, skipped: Skipped) -> list[str]:
    """A single image, or the paths listed in a text file."""
    with open(path, "rb") as f:
        header = f.read(HEADER_BYTES)
    if sniff(header) is not None or system_file_reason(path):
        return [path]
    base = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        return [path]  # not text: reported as "not an image" by the caller
    listed = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        listed.append(line if os.path.isabs(line) else os.path.join(base, line))
    return listed


def _inspect(path: str, max_pixels: int) -> Inspection:
    """(why `path` is not usable or None, plain JPEG size or None).

    Reads the name and the header only, never the pixels; the file is
    opened once.
    """
    reason = system_file_reason(path)
    if reason:
        return reason, None
    try:
        with open_regular(path) as f:
            header = f.read(HEADER_BYTES)
            fmt = sniff(header)
            if fmt not in SUPPORTED_FORMATS:
                return unrecognised_reason(header), None
            f.seek(0)
            return _inspect_header(f, path, fmt, max_pixels)
    except FileNotFoundError:
        return "file not found", None
    except NotRegularFileError as e:
        return e.strerror, None
    except IsADirectoryError:
        return "is a folder, not a file", None
    except OSError as e:
        return f"cannot read file: {e.strerror}", None


def _inspect_header(
    f: IO[bytes], path: str, fmt: str, max_pixels: int
) -> Inspection:
    """Reads the image header (no pixels) and checks the declared size."""
    from PIL import Image

    try:
        # Scans run on the caller's thread: the filter cannot race.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(f, formats=[fmt])
        check_pixels(im.size, max_pixels, path)
        return None, plain_jpeg_size(im, max_pixels)
    except ImageError as e:
        return e.reason, None
    except Image.DecompressionBombError as e:
        return bomb_reason(e), None
    except Exception as e:  # noqa: BLE001 - report, never crash a scan
        return f"corrupt {fmt} file: header not readable ({e})", None


def split(
    index: ImageIndex, validation_split: float, seed: int | None = None
) -> tuple[ImageIndex, ImageIndex]:
    """Splits an index into disjoint training and validation parts.

    The split is a deterministic function of the index and `seed` (None
    means seed 0, so separate calls agree). Labelled indexes are split per
    class (stratified) so every class with at least two images has images
    on both sides. Each part keeps the original order; `skipped` files are
    not carried over.

    Args:
        index: The index to split.
        validation_split: Fraction of images for validation, in (0, 1).
        seed: Seed of the split.

    Returns:
        ``(train_index, val_index)``; together they hold every image of
        `index` exactly once.

    Raises:
        ValueError: `validation_split` is not in (0, 1).
    """
    if not 0.0 < float(validation_split) < 1.0:
        raise ValueError(
            f"validation_split={validation_split!r}; expected a fraction "
            "strictly between 0 and 1"
        )
    rng = np.random.default_rng(0 if seed is None else seed)
    n = len(index)
    if index.labels is None:
        groups = [np.arange(n)]
    else:
        labels = np.asarray(index.labels, dtype=np.int64)
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    val: list[int] = []
    for group in groups:
        k = int(round(len(group) * validation_split))
        if len(group) >= 2:
            k = min(max(k, 1), len(group) - 1)
        val += rng.permutation(group)[:k].tolist()
    val_set = set(val)
    train = [i for i in range(n) if i not in val_set]
    return index.subset(train), index.subset(sorted(val))
