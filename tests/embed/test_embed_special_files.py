"""`embed` never blocks on a FIFO, in a folder or named as one image."""

from __future__ import annotations

import os

import pytest

import imagehub
from imagehub import testing

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo"),
]


def test_embed_reports_fifo_when_in_folder_or_named(models, tmp_path):
    folder = str(tmp_path / "images")
    good = testing.write_flat_folder(folder, 3, size=(24, 24), seed=1)
    pipe = os.path.join(folder, "pipe.jpg")
    os.mkfifo(pipe)
    for inputs in (folder, [*good, pipe]):
        result = imagehub.embed(models["feature_vector"], inputs)
        assert sorted(result.paths) == sorted(good), inputs
        reasons = dict(result.errors)
        assert pipe in reasons, f"the FIFO is not reported: {result.errors}"
        assert "FIFO" in reasons[pipe] or "regular" in reasons[pipe], reasons
