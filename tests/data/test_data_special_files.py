"""FIFOs and devices in image folders are skipped with a reason, never read.

Opening a FIFO that has no writer blocks forever, and a device such as
/dev/zero streams without end: without the check each of these tests
hangs (pytest-timeout ends it) or runs out of memory.
"""

from __future__ import annotations

import os

import pytest

from imagehub import data
from tests.data.conftest import encode
from tests.data.conftest import solid

JPEG = encode(solid((255, 0, 0)), "JPEG")

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo"),
]


@pytest.fixture
def fifo_folder(write, tmp_path):
    """cats/1.jpg, cats/pipe.jpg (a FIFO), dogs/2.jpg; returns the root."""
    write("cats/1.jpg", JPEG)
    write("dogs/2.jpg", JPEG)
    os.mkfifo(tmp_path / "cats" / "pipe.jpg")
    return str(tmp_path)


def _reasons(index) -> dict[str, str]:
    return {os.path.basename(p): r for p, r in index.skipped}


def test_scan_skips_fifo_with_reason_when_inside_class_folder(fifo_folder):
    index = data.scan(fifo_folder)
    assert [os.path.basename(p) for p in index.paths] == ["1.jpg", "2.jpg"]
    assert "FIFO" in _reasons(index)["pipe.jpg"], index.skipped


def test_scan_skips_fifo_with_reason_when_beside_images(write, tmp_path):
    write("1.jpg", JPEG)
    os.mkfifo(tmp_path / "pipe")
    index = data.scan(str(tmp_path))
    assert [os.path.basename(p) for p in index.paths] == ["1.jpg"]
    assert "FIFO" in _reasons(index)["pipe"], index.skipped


def test_scan_skips_fifo_when_named_by_glob_list_file_or_path(
    fifo_folder, tmp_path
):
    pipe = os.path.join(fifo_folder, "cats", "pipe.jpg")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{pipe}\n{fifo_folder}/cats/1.jpg\n")
    for source in (
        os.path.join(fifo_folder, "cats", "*.jpg"),
        str(listing),
        pipe,
    ):
        index = data.scan(source, labels=None)
        assert pipe not in index.paths, source
        assert "FIFO" in dict(index.skipped)[pipe], (source, index.skipped)


def test_load_image_refuses_fifo_and_device_when_given_as_path(fifo_folder):
    pipe = os.path.join(fifo_folder, "cats", "pipe.jpg")
    with pytest.raises(data.ImageError, match="FIFO"):
        data.load_image(pipe)
    # /dev/zero never ends: reading it would exhaust memory.
    with pytest.raises(data.ImageError, match="character device"):
        data.load_image("/dev/zero")


def test_open_regular_opens_regular_files_when_not_special(write):
    path = write("1.jpg", JPEG)
    with data.open_regular(path) as f:
        assert f.read() == JPEG


def test_dataset_drops_fifo_when_index_built_by_hand(fifo_folder):
    good = os.path.join(fifo_folder, "cats", "1.jpg")
    pipe = os.path.join(fifo_folder, "cats", "pipe.jpg")
    index = data.ImageIndex(
        paths=[good, pipe], labels=[0, 1], class_names=["a", "b"]
    )
    batches = list(data.dataset(index, (8, 8), batch_size=4))
    (images, labels) = batches[0]
    assert images.shape[0] == 1, "the FIFO was not dropped"
    assert labels.numpy().tolist() == [0], "labels stay with their images"
