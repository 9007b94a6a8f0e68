"""`embed --runner beam` decodes in batches: the local runner's rows.

A folder of awkward files (every decode route of `imagehub.data`, files
that fail at different steps, a FIFO) embedded by both runners gives the
same rows and the same errors; a file that only fails in the worker's
batched decode goes to the errors file while its batch goes on.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

import imagehub
from imagehub import testing

from .conftest import write_bad_files

pytest.importorskip("apache_beam", reason="needs the [beam] extra")

pytestmark = pytest.mark.timeout(300)


def _save(path: str, array: np.ndarray, **options) -> str:
    from PIL import Image

    Image.fromarray(array).save(path, **options)
    return path


def _corrupt_body_jpeg(path: str) -> str:
    """A JPEG whose header reads as a plain JPEG but whose data stops.

    The launcher's scan (headers only) lists it as a fast-path image;
    only the worker's decode finds it broken.
    """
    buffer = io.BytesIO()
    rng = np.random.default_rng(3)
    _save(buffer, rng.integers(0, 255, (48, 64, 3), np.uint8), format="JPEG")
    data = buffer.getvalue()
    cut = data.index(b"\xff\xda") + (len(data) - data.index(b"\xff\xda")) // 2
    with open(path, "wb") as f:
        f.write(data[:cut])
    return path


def _awkward_folder(folder: str) -> tuple[list[str], list[str]]:
    """Writes every kind of awkward file; returns (good, broken) paths."""
    from PIL import Image

    rng = np.random.default_rng(0)
    good = testing.write_flat_folder(folder, 20, size=(24, 24), seed=2)

    def photo(h, w):
        return rng.integers(0, 255, (h, w, 3), np.uint8)

    good += [
        # Fast path at a reduced DCT scale (1/8 of 200x160 >= 16x16).
        _save(os.path.join(folder, "big.jpg"), photo(160, 200)),
        _save(
            os.path.join(folder, "progressive.jpg"),
            photo(40, 30),
            progressive=True,
        ),
        _save(os.path.join(folder, "grey.jpg"), photo(30, 30)[..., 0]),
        _save(os.path.join(folder, "café à.jpg"), photo(20, 28)),
        # The Pillow route: not plain JPEGs.
        _save(os.path.join(folder, "alpha.png"), photo(20, 20)),
    ]
    cmyk = Image.fromarray(photo(24, 24)).convert("CMYK")
    cmyk_path = os.path.join(folder, "cmyk.jpg")
    cmyk.save(cmyk_path)
    rotated = Image.fromarray(photo(24, 32))
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated_path = os.path.join(folder, "rotated.jpg")
    rotated.save(rotated_path, exif=exif)
    good += [cmyk_path, rotated_path]
    broken = write_bad_files(folder)
    broken.append(_corrupt_body_jpeg(os.path.join(folder, "junk_body.jpg")))
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("not an image\n")
    if hasattr(os, "mkfifo"):
        pipe = os.path.join(folder, "pipe.jpg")
        os.mkfifo(pipe)
        broken.append(pipe)
    return good, broken


def _errors(path: str) -> list[tuple[str, str]]:
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return sorted((r[0], r[1]) for r in rows[1:])


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    root = tmp_path_factory.mktemp("awkward")
    folder = str(root / "images")
    good, broken = _awkward_folder(folder)
    return root, folder, good, broken


@pytest.mark.parametrize(
    "batch_size", [4, pytest.param(32, marks=pytest.mark.slow)]
)
def test_beam_rows_and_errors_equal_local_on_awkward_files(
    models, awkward, batch_size
):
    root, folder, good, broken = awkward
    local_out = str(root / f"local-{batch_size}.parquet")
    beam_out = str(root / f"beam-{batch_size}.parquet")
    imagehub.embed(
        models["feature_vector"], folder, local_out, batch_size=batch_size
    )
    summary = imagehub.embed(
        models["feature_vector"],
        folder,
        beam_out,
        batch_size=batch_size,
        runner="beam",
    )
    local = pq.read_table(local_out).sort_by("path")
    beam = pq.read_table(beam_out).sort_by("path")
    assert local["path"].to_pylist() == sorted(good), "local embeds all good"
    assert beam["path"].to_pylist() == local["path"].to_pylist(), (
        "Beam embeds exactly the images the local runner embeds"
    )
    np.testing.assert_allclose(
        np.array(beam["vector"].to_pylist(), np.float32),
        np.array(local["vector"].to_pylist(), np.float32),
        atol=1e-5,
        err_msg="Beam's vectors differ from the local runner's",
    )
    local_errors = _errors(str(root / f"local-{batch_size}.errors.csv"))
    beam_errors = _errors(summary.errors_path)
    assert beam_errors == local_errors, (
        f"the same errors and reasons on both runners:\nbeam  {beam_errors}"
        f"\nlocal {local_errors}"
    )
    assert set(broken) <= {p for p, _ in beam_errors}, beam_errors
    assert summary.rows == len(good) and summary.errors == len(beam_errors)


def test_beam_worker_decode_failure_goes_to_errors_file(models, tmp_path):
    folder = str(tmp_path / "images")
    good = testing.write_flat_folder(folder, 6, size=(24, 24), seed=4)
    bad = _corrupt_body_jpeg(os.path.join(folder, "photo_junk.jpg"))
    out = str(tmp_path / "out.parquet")
    # One batch holds the broken file and the good ones: the batched
    # TensorFlow decode fails, and only the broken file is dropped.
    summary = imagehub.embed(
        models["feature_vector"], folder, out, batch_size=32, runner="beam"
    )
    table = pq.read_table(out)
    assert sorted(table["path"].to_pylist()) == sorted(good)
    errors = _errors(summary.errors_path)
    assert [p for p, _ in errors] == [bad], errors
    assert "JPEG" in errors[0][1] or "corrupt" in errors[0][1], errors


def test_decode_batch_equals_load_image_per_file(awkward):
    from imagehub.data import decode_batch
    from imagehub.data import load_image

    _, _, good, broken = awkward
    paths = [p for p in good + broken if not p.endswith("pipe.jpg")]
    datas = []
    for path in paths:
        with open(path, "rb") as f:
            datas.append(f.read())
    result = decode_batch(datas, (16, 16), "crop", names=paths)
    assert [paths[i] for i in result.ok] == good
    assert sorted(paths[i] for i, _ in result.errors) == sorted(
        p for p in broken if not p.endswith("pipe.jpg")
    )
    expected = np.stack([load_image(p, (16, 16), resize="crop") for p in good])
    np.testing.assert_allclose(result.images, expected, atol=1e-6)
