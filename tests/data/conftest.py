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
