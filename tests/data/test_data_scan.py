"""`imagehub.data.scan` and `split`: which files are images, and labels."""

from __future__ import annotations

import os

import numpy as np
import pytest

from imagehub import data
from tests.data.conftest import encode
from tests.data.conftest import png_header_only
from tests.data.conftest import solid

JPEG = encode(solid((255, 0, 0)), "JPEG")
PNG = encode(solid((0, 0, 255)), "PNG")


def _skipped(index) -> dict[str, str]:
    return {os.path.basename(p): r for p, r in index.skipped}


def test_scan_labels_by_subfolder_when_class_folders(write):
    write("b_dogs/1.jpg", JPEG)
    write("a_cats/2.png", PNG)
    write("a_cats/sub/3.jpg", JPEG)  # nested: still class a_cats
    root = os.path.dirname(os.path.dirname(write("b_dogs/2.jpg", JPEG)))
    index = data.scan(root)
    assert index.class_names == ["a_cats", "b_dogs"]
    names = [os.path.relpath(p, root) for p in index.paths]
    assert names == [
        "a_cats/2.png",
        "a_cats/sub/3.jpg",
        "b_dogs/1.jpg",
        "b_dogs/2.jpg",
    ], names
    assert index.labels == [0, 0, 1, 1]
    assert len(index) == 4


def test_scan_reads_every_image_unlabelled_when_labels_none(write):
    write("top.jpg", JPEG)
    write("LICENSE.txt", b"CC BY 2.0\n")
    write("2019/a.png", PNG)
    root = os.path.dirname(write("2019/summer/b.jpg", JPEG))
    root = os.path.dirname(os.path.dirname(root))
    index = data.scan(root, labels=None)
    names = [os.path.relpath(p, root) for p in index.paths]
    assert names == ["top.jpg", "2019/a.png", "2019/summer/b.jpg"], (
        f"top-level and nested images, no classes: {names}"
    )
    assert index.labels is None and index.class_names == []
    assert list(_skipped(index)) == ["LICENSE.txt"], index.skipped


def test_scan_rejects_unknown_labels_mode(tmp_path):
    with pytest.raises(ValueError, match="labels='int'.*inferred"):
        data.scan(str(tmp_path), labels="int")


@pytest.mark.parametrize(
    ("name", "content", "meant"),
    [
        ("LICENSE.txt", b"CC BY 2.0 credits\n", False),
        ("notes.csv", b"a,b\n1,2\n", False),
        (".DS_Store", b"\x00\x00\x00\x01Bud1", False),
        ("text.png", b"this is not an image\n", True),
        ("empty.JPG", b"", True),
        ("photo_without_suffix", JPEG[:40], True),
    ],
)
def test_meant_as_image_by_name_or_first_bytes(write, name, content, meant):
    path = write(name, content)
    assert data.meant_as_image(path) is meant, (
        f"{name}: expected meant_as_image={meant}"
    )


def test_scan_skips_system_files_with_reason(write):
    write("cats/.DS_Store", b"\x00\x00\x00\x01Bud1")
    write("cats/Thumbs.db", b"\xd0\xcf\x11\xe0" + bytes(60))
    write("cats/._photo.jpg", b"\x00\x05\x16\x07" + bytes(60))
    root = os.path.dirname(os.path.dirname(write("cats/photo.jpg", JPEG)))
    write(".DS_Store", b"\x00\x00\x00\x01Bud1")
    index = data.scan(root)
    skipped = _skipped(index)
    assert [os.path.basename(p) for p in index.paths] == ["photo.jpg"]
    for name in (".DS_Store", "Thumbs.db", "._photo.jpg"):
        assert "system file" in skipped.get(name, ""), (name, skipped)


def test_scan_ignores_extension_when_content_differs(write):
    write("flat/really_png.jpg", PNG)
    write("flat/really_jpeg.txt", JPEG)
    write("flat/no_extension", JPEG)
    write("flat/text.png", b"just some words\n")
    write("flat/empty.jpg", b"")
    root = os.path.dirname(
        write("flat/heic.jpg", b"\x00\x00\x00\x18ftypheic" + bytes(40))
    )
    index = data.scan(root)
    used = sorted(os.path.basename(p) for p in index.paths)
    assert used == ["no_extension", "really_jpeg.txt", "really_png.jpg"]
    skipped = _skipped(index)
    assert "text file" in skipped["text.png"]
    assert skipped["empty.jpg"] == "empty file (0 bytes)"
    assert "unsupported image format HEIC" in skipped["heic.jpg"]
    assert index.labels is None and index.class_names == []


def test_scan_skips_bomb_when_header_too_large(write):
    write("flat/ok.png", PNG)
    root = os.path.dirname(write("flat/bomb.png", png_header_only(12000, 9000)))
    index = data.scan(root)
    assert [os.path.basename(p) for p in index.paths] == ["ok.png"]
    assert "decompression bomb" in _skipped(index)["bomb.png"]
    small_cap = data.scan(root, max_pixels=100)
    assert len(small_cap) == 0 and small_cap.max_pixels == 100


def test_scan_reads_list_file_when_text_file(write, tmp_path):
    a = write("imgs/a.jpg", JPEG)
    write("imgs/b.png", PNG)
    listing = write(
        "list.txt",
        f"# my images\n{a}\n\nimgs/b.png\nimgs/missing.jpg\n".encode(),
    )
    index = data.scan(listing)
    assert index.paths == [a, str(tmp_path / "imgs" / "b.png")]
    assert _skipped(index)["missing.jpg"] == "file not found"
    assert index.labels is None


def test_scan_matches_glob_when_pattern(write, tmp_path):
    write("g/x/1.jpg", JPEG)
    write("g/y/2.jpg", JPEG)
    write("g/y/3.png", PNG)
    index = data.scan(str(tmp_path / "g" / "**" / "*.jpg"))
    assert [os.path.basename(p) for p in index.paths] == ["1.jpg", "2.jpg"]


def test_scan_raises_when_path_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.scan(tmp_path / "nothing_here")


def test_split_is_disjoint_stratified_and_seeded():
    labels = [0] * 10 + [1] * 30
    index = data.ImageIndex([f"{i}.jpg" for i in range(40)], labels, ["a", "b"])
    train, val = data.split(index, 0.2, seed=1)
    assert not set(train.paths) & set(val.paths)
    assert sorted(train.paths + val.paths) == sorted(index.paths)
    assert np.bincount(val.labels).tolist() == [2, 6], "stratified 20%"
    again = data.split(index, 0.2, seed=1)[1]
    assert again.paths == val.paths, "same seed, same split"
    other = data.split(index, 0.2, seed=2)[1]
    assert other.paths != val.paths, "another seed, another split"


def test_split_rejects_bad_fraction():
    index = data.ImageIndex(["a.jpg", "b.jpg"], None, [])
    with pytest.raises(ValueError, match="validation_split=1.5"):
        data.split(index, 1.5, seed=0)


def test_scan_reads_vendored_flowers_when_real_photos():
    import imagehub

    root = os.path.join(
        os.path.dirname(imagehub.__file__), "_default", "flowers"
    )
    index = data.scan(root)
    assert index.class_names == [
        "daisy",
        "dandelion",
        "roses",
        "sunflowers",
        "tulips",
    ]
    assert len(index) == 150, len(index)
    assert [os.path.basename(p) for p, _ in index.skipped] == ["LICENSE.txt"]
    assert np.bincount(index.labels).tolist() == [30] * 5


def test_scan_classes_reads_class_folders_when_two_or_more(write):
    write("a/1.jpg", JPEG)
    root = os.path.dirname(os.path.dirname(write("b/2.png", PNG)))
    index = data.scan_classes(root)
    assert index.class_names == ["a", "b"] and index.labels == [0, 1], (
        f"expected classes a, b labelled 0, 1; got {index}"
    )


@pytest.mark.parametrize(
    "files,found",
    [(["only/1.jpg"], 1), (["1.jpg", "2.jpg"], 0)],
    ids=["one_class_folder", "no_class_folders"],
)
def test_scan_classes_names_folder_count_when_fewer_than_two(
    write, tmp_path, files, found
):
    for name in files:
        write(name, JPEG)
    with pytest.raises(ValueError) as caught:
        data.scan_classes(tmp_path)
    message = str(caught.value)
    assert repr(str(tmp_path)) in message, message
    assert "one subfolder of images per class" in message, message
    assert f"found {found} class folders" in message, message


def test_scan_classes_raises_file_not_found_when_folder_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.scan_classes(tmp_path / "missing")
