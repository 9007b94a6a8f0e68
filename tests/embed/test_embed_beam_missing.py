"""runner='beam' without Apache Beam installed: the error names the pip
line (runs whether or not Beam is installed)."""

from __future__ import annotations

import sys

import pytest

import imagehub


def test_embed_beam_when_beam_is_missing_names_the_extra(
    models, image_folder, tmp_path, monkeypatch
):
    folder, _ = image_folder
    # A None entry is how Python marks a module as not importable.
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    with pytest.raises(ImportError, match=r"pip install 'imagehub\[beam\]'"):
        imagehub.embed(
            models["feature_vector"],
            folder,
            str(tmp_path / "out.parquet"),
            runner="beam",
        )
    assert not (tmp_path / "out.parquet").exists()
