"""`imagehub.data.validate`: decode everything once, report bad files."""

from __future__ import annotations

import os

import numpy as np

from imagehub import data
from tests.data.conftest import encode
from tests.data.conftest import exif_jpeg
from tests.data.conftest import solid


def test_validate_moves_undecodable_to_skipped(write, rng):
    noise = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    jpeg, png = encode(noise, "JPEG"), encode(noise, "PNG")
    write("c/a/good.jpg", jpeg)
    write("c/a/turned.jpg", exif_jpeg(solid((0, 255, 0)), 6))
    write("c/b/cut.jpg", jpeg[: len(jpeg) // 2])  # header fine, data cut
    write("c/b/cut.png", png[: len(png) // 2])
    root = os.path.dirname(os.path.dirname(write("c/b/good.png", png)))
    index = data.scan(root)
    assert len(index) == 5, "scan reads headers only: all five look fine"
    calls = []
    checked = data.validate(index, progress=lambda d, t: calls.append((d, t)))
    names = [os.path.basename(p) for p in checked.paths]
    assert names == ["good.jpg", "turned.jpg", "good.png"], names
    assert checked.labels == [0, 0, 1], "labels must follow their files"
    reasons = {os.path.basename(p): r for p, r in checked.skipped}
    assert "truncated" in reasons["cut.jpg"], reasons
    assert "truncated" in reasons["cut.png"], reasons
    assert calls[-1] == (5, 5) and len(calls) == 5, calls
