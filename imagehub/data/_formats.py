"""Recognising image files by their first bytes, not their names.

Only regular files are read: a FIFO, a device or a socket in an image
folder would block a reader forever (or stream without end), so
`open_regular` opens without blocking, checks the opened file's type and
refuses anything else with `NotRegularFileError`, naming what it is.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

# Formats imagehub decodes, by Pillow's format id.
SUPPORTED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")

# Bytes read from the start of a file to recognise it.
HEADER_BYTES = 64

# Files that operating systems leave in image folders.
_SYSTEM_FILES = {
    ".ds_store": "macOS folder metadata",
    "thumbs.db": "Windows thumbnail cache",
    "desktop.ini": "Windows folder settings",
    "ehthumbs.db": "Windows thumbnail cache",
    ".directory": "KDE folder settings",
}

# ISO base media ("ftyp") brands of image formats we recognise but do
# not decode.
_FTYP_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"hevc": "HEIC",
    b"heim": "HEIC",
    b"heis": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
}

# What a path that is not a regular file is, by stat's file type test.
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFileError(OSError):
    """A path names a FIFO, device or socket, not a regular file."""


def special_file_reason(mode: int) -> str | None:
    """Why a file of stat `mode` is not read, or None for regular files."""
    if stat.S_ISREG(mode):
        return None
    for test, kind in _SPECIAL_KINDS:
        if test(mode):
            return (
                f"{kind}, not a regular file; not read, since reading it "
                "could block forever"
            )
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    return "not a regular file; not read"


def open_regular(path: str) -> BinaryIO:
    """Opens `path` for reading only if it is a regular file.

    The open itself never blocks (O_NONBLOCK: a FIFO without a writer
    opens at once), and the type is read from the opened descriptor, so a
    file swapped for a FIFO after a check is still caught.

    Raises:
        NotRegularFileError: `path` is a FIFO, device, socket or folder;
            `strerror` says which.
        OSError: It cannot be opened (FileNotFoundError, ...).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        reason = special_file_reason(os.fstat(fd).st_mode)
        if reason is not None:
            raise NotRegularFileError(0, reason, path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_BMP_INFO_SIZES = (12, 40, 52, 56, 64, 108, 124)

# File name suffixes of image formats, supported or not.
IMAGE_SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".jpe",
    ".jfif",
    ".png",
    ".gif",
    ".bmp",
    ".dib",
    ".webp",
    ".tif",
    ".tiff",
    ".heic",
    ".heif",
    ".avif",
    ".jxl",
    ".jp2",
    ".j2k",
    ".psd",
    ".ico",
    ".svg",
)


def sniff(header: bytes) -> str | None:
    """Names the image format of a file from its first bytes.

    Args:
        header: The first bytes of the file (at least 32 to recognise
            every format).

    Returns:
        A format id: one of `SUPPORTED_FORMATS`, or the name of a
        recognised but unsupported format (``"HEIC"``, ``"AVIF"``,
        ``"JPEG XL"``, ``"JPEG 2000"``, ``"PSD"``, ``"ICO"``, ``"PDF"``,
        ``"SVG"``), or None when the bytes are not a known image.
    """
    h = bytes(header[:HEADER_BYTES])
    if h.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return "WEBP"
    if h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if (
        h[:2] == b"BM"
        and len(h) >= 18
        and int.from_bytes(h[14:18], "little") in _BMP_INFO_SIZES
    ):
        return "BMP"
    return _sniff_unsupported(h)


def _sniff_unsupported(h: bytes) -> str | None:
    if h[4:8] == b"ftyp":
        brand = _FTYP_BRANDS.get(h[8:12])
        if brand:
            return brand
    if h.startswith(b"\xff\x0a") or h.startswith(b"\x00\x00\x00\x0cJXL "):
        return "JPEG XL"
    if h.startswith(b"\x00\x00\x00\x0cjP  ") or h.startswith(
        b"\xff\x4f\xff\x51"
    ):
        return "JPEG 2000"
    if h.startswith(b"8BPS"):
        return "PSD"
    if h.startswith(b"\x00\x00\x01\x00") and len(h) > 6 and h[4] != 0:
        return "ICO"
    if h.startswith(b"%PDF"):
        return "PDF"
    text = h.lstrip().lower()
    if text.startswith(b"<svg") or (
        text.startswith(b"<?xml") and b"<svg" in text
    ):
        return "SVG"
    return None


def system_file_reason(path: str) -> str | None:
    """Returns why `path` is an operating-system file, or None."""
    name = os.path.basename(path)
    known = _SYSTEM_FILES.get(name.lower())
    if known:
        return f"system file ({known}), not an image"
    if name.startswith("._"):
        return "system file (macOS AppleDouble resource fork), not an image"
    return None


def meant_as_image(path: str, header: bytes | None = None) -> bool:
    """Whether a file that `scan` skipped was meant to be an image.

    True for a file named like an image (``.jpg``, ``.png``, ...) or whose
    first bytes are an image format's (an unsupported or damaged image):
    for a job that reads every image of a folder these are errors. False
    for operating-system files and other documents (``LICENSE.txt``,
    ``notes.csv``), which such a job passes over.

    Args:
        path: The file's path (its name is all that is used when `header`
            is given).
        header: The file's first bytes, if already read; else up to 64
            bytes are read from `path`.
    """
    if system_file_reason(path):
        return False
    if os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES:
        return True
    if header is None:
        try:
            with open_regular(path) as f:
                header = f.read(HEADER_BYTES)
        except OSError:
            return False
    return sniff(header) is not None


def unrecognised_reason(header: bytes) -> str:
    """Explains why bytes that `sniff` rejected are not a usable image."""
    fmt = sniff(header)
    if fmt is not None and fmt not in SUPPORTED_FORMATS:
        return (
            f"unsupported image format {fmt}; supported formats are "
            f"{', '.join(SUPPORTED_FORMATS)} (convert it, e.g. to JPEG)"
        )
    if not header:
        return "empty file (0 bytes)"
    if _looks_like_text(header):
        return "not an image (a text file)"
    return "not an image (unrecognised content)"


def _looks_like_text(h: bytes) -> bool:
    try:
        h.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character may be cut at the end of the header.
        try:
            h[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return b"\x00" not in h
