"""Fixtures of tests/data: generated image files, no downloads."""

from __future__ import annotations

import io

import numpy as np
import pytest


def encode(array_or_image, fmt: str, **save_args) -> bytes:
    """Encodes a uint8 array or a Pillow image with Pillow."""
    from PIL import Image

    im = (
        array_or_image
        if isinstance(array_or_image, Image.Image)
        else Image.fromarray(array_or_image)
    )
    buf = io.BytesIO()
    im.save(buf, fmt, **save_args)
    return buf.getvalue()


@pytest.fixture
def write(tmp_path):
    """Writes bytes to tmp_path/name and returns the path as str."""

    def _write(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return str(path)

    return _write


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def solid(colour, size=(16, 16)) -> np.ndarray:
    """A uint8 (H, W, 3) image of one colour."""
    h, w = size
    return np.broadcast_to(np.array(colour, np.uint8), (h, w, 3)).copy()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring a size, with a few bytes of (invalid) pixel data.

    Costs about 60 bytes however large the declared image: a decompression
    bomb that can only be refused from its header (decoding it would fail
    on the pixel data).
    """
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def exif_jpeg(array: np.ndarray, orientation: int) -> bytes:
    """A JPEG carrying an EXIF orientation tag."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(array, "JPEG", quality=95, exif=exif.tobytes())
