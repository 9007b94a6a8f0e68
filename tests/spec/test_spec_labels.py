"""The labels file format: line N names class N; trailing blanks end it."""

from __future__ import annotations

import pytest

from imagehub import spec


def test_interior_blank_lines_keep_the_indices():
    assert spec.parse_labels("a\n\n c \n\n\n") == ["a", "", "c"]


def test_windows_line_endings_read_the_same():
    assert spec.parse_labels("a\r\nb\r\n") == ["a", "b"]


def test_written_labels_read_back(tmp_path):
    path = tmp_path / "labels.txt"
    spec.write_labels(path, ["daisy", "", "rose"])
    assert spec.read_labels(path) == ["daisy", "", "rose"]


@pytest.mark.parametrize("names", [["a", ""], ["a\nb"], [" a"]])
def test_names_that_would_not_read_back_are_refused(names):
    with pytest.raises(ValueError, match="Label|last label"):
        spec.format_labels(names)


def test_an_empty_labels_file_is_an_error(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        spec.read_labels(path)
