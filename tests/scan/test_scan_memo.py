"""Remembered clean verdicts: `scan(path, memo_dir=...)`."""

import dataclasses
import json
import logging
import os
import shutil

import pytest

from imagehub.scan import LIMITS
from imagehub.scan import rules_version
from imagehub.scan import scan
from imagehub.testing import to_pbtxt
from imagehub.testing import write_broken_model
from imagehub.testing import write_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_model(str(tmp_path_factory.mktemp("memo") / "tiny"))


def _memos(memo_dir):
    return sorted(os.listdir(memo_dir)) if os.path.isdir(memo_dir) else []


def test_scan_uses_memo_when_same_bytes_scanned_again(tiny, tmp_path):
    memo_dir = str(tmp_path / "memo")
    first = scan(tiny, memo_dir=memo_dir)
    second = scan(tiny, memo_dir=memo_dir)
    assert not first.refused and not first.from_memo, first.summary()
    assert len(_memos(memo_dir)) == 1, "one memo file per clean verdict"
    assert second.from_memo, "the second scan should reuse the memo"
    assert not second.refused
    assert (second.num_functions, second.num_nodes) == (
        first.num_functions,
        first.num_nodes,
    ), "the memo should carry the first scan's counts"


def test_scan_ignores_memo_when_memo_dir_not_given(tiny, tmp_path):
    memo_dir = str(tmp_path / "memo")
    scan(tiny, memo_dir=memo_dir)
    assert not scan(tiny).from_memo, "without memo_dir, a full scan"


def test_scan_uses_no_memo_when_is_registered_custom(tiny, tmp_path):
    memo_dir = str(tmp_path / "memo")
    scan(tiny, memo_dir=memo_dir)
    result = scan(tiny, lambda op: True, memo_dir=memo_dir)
    assert not result.from_memo, "a custom registry is not in the key"


def test_scan_memo_separates_pb_and_pbtxt(tiny, tmp_path):
    memo_dir = str(tmp_path / "memo")
    scan(tiny, memo_dir=memo_dir)
    text = to_pbtxt(tiny, tmp_path / "text")
    result = scan(text, memo_dir=memo_dir)
    assert not result.from_memo and not result.refused
    assert len(_memos(memo_dir)) == 2


def test_scan_refused_when_bytes_changed_at_same_size_and_mtime(tiny, tmp_path):
    model = shutil.copytree(tiny, tmp_path / "model")
    memo_dir = str(tmp_path / "memo")
    assert not scan(model, memo_dir=memo_dir).refused
    pb = os.path.join(model, "saved_model.pb")
    before = os.stat(pb)
    with open(pb, "rb") as f:
        data = f.read()
    assert b"Identity" in data, "the tiny model should hold Identity ops"
    # An allowed op becomes a refused one; size and mtime stay the same.
    with open(pb, "wb") as f:
        f.write(data.replace(b"Identity", b"ReadFile"))
    os.utime(pb, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.path.getsize(pb) == before.st_size
    result = scan(model, memo_dir=memo_dir)
    assert result.refused and not result.from_memo, result.summary()
    assert "ReadFile" in result.ops
    assert len(_memos(memo_dir)) == 1, "a refusal is never remembered"


def test_scan_refuses_hostile_model_every_time(tmp_path):
    model = write_broken_model(str(tmp_path / "bad"), "save_outside_saver")
    memo_dir = str(tmp_path / "memo")
    for attempt in (1, 2):
        result = scan(model, memo_dir=memo_dir)
        assert result.refused and not result.from_memo, f"scan {attempt}"
    assert _memos(memo_dir) == [], "a refusal is never remembered"


@pytest.mark.parametrize(
    "damage",
    [b"", b"{not json", b'{"format": 1, "key": "other", "refused": false}'],
    ids=["empty", "garbage", "other_key"],
)
def test_scan_falls_back_to_full_scan_when_memo_corrupt(
    tiny, tmp_path, caplog, damage
):
    memo_dir = str(tmp_path / "memo")
    scan(tiny, memo_dir=memo_dir)
    (name,) = _memos(memo_dir)
    with open(os.path.join(memo_dir, name), "wb") as f:
        f.write(damage)
    with caplog.at_level(logging.DEBUG, logger="imagehub.scan"):
        result = scan(tiny, memo_dir=memo_dir)
    assert not result.from_memo and not result.refused
    assert "Ignoring scan memo" in caplog.text
    with open(os.path.join(memo_dir, name)) as f:
        assert json.load(f)["refused"] is False, "rewritten by the scan"
    assert scan(tiny, memo_dir=memo_dir).from_memo


def test_scan_falls_back_when_memo_says_refused(tiny, tmp_path):
    memo_dir = str(tmp_path / "memo")
    scan(tiny, memo_dir=memo_dir)
    (name,) = _memos(memo_dir)
    path = os.path.join(memo_dir, name)
    with open(path) as f:
        memo = json.load(f)
    memo["refused"] = True
    with open(path, "w") as f:
        json.dump(memo, f)
    assert not scan(tiny, memo_dir=memo_dir).from_memo


def test_scan_succeeds_when_memo_dir_unwritable(tiny, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    first = scan(tiny, memo_dir=str(blocker / "memo"))
    second = scan(tiny, memo_dir=str(blocker / "memo"))
    assert not first.refused and not second.refused
    assert not second.from_memo, "nothing could be remembered"


def test_scan_ignores_memo_when_memo_is_a_symlink(tiny, tmp_path):
    memo_dir = str(tmp_path / "memo")
    scan(tiny, memo_dir=memo_dir)
    (name,) = _memos(memo_dir)
    path = os.path.join(memo_dir, name)
    os.replace(path, tmp_path / "elsewhere.json")
    os.symlink(tmp_path / "elsewhere.json", path)
    assert not scan(tiny, memo_dir=memo_dir).from_memo


def test_scan_memo_invalid_when_limits_change(tiny, tmp_path, monkeypatch):
    memo_dir = str(tmp_path / "memo")
    before = rules_version()
    scan(tiny, memo_dir=memo_dir)
    small = dataclasses.replace(LIMITS, max_nodes=10)
    monkeypatch.setattr("imagehub.scan._scan.LIMITS", small)
    assert rules_version() != before
    result = scan(tiny, memo_dir=memo_dir)
    assert result.refused and not result.from_memo, result.summary()
    assert "(scan cap max_nodes)" in result.ops


def test_scan_memo_invalid_when_allowlist_changes(tiny, tmp_path, monkeypatch):
    import imagehub.scan._scan as scan_module

    memo_dir = str(tmp_path / "memo")
    scan(tiny, memo_dir=memo_dir)
    fewer = {k: v for k, v in scan_module.ALLOWED.items() if k != "Identity"}
    monkeypatch.setattr(scan_module, "ALLOWED", fewer)
    result = scan(tiny, memo_dir=memo_dir)
    assert result.refused and not result.from_memo, result.summary()
    assert "Identity" in result.ops


def test_scan_memo_folder_keeps_at_most_max_memos(tiny, tmp_path, monkeypatch):
    memo_dir = tmp_path / "memo"
    memo_dir.mkdir()
    for i in range(5):
        (memo_dir / f"{i:064x}.json").write_text("{}")
        os.utime(memo_dir / f"{i:064x}.json", (i, i))
    monkeypatch.setattr("imagehub.scan._memo.MAX_MEMOS", 3)
    scan(tiny, memo_dir=str(memo_dir))
    names = _memos(memo_dir)
    assert len(names) == 3, names
    assert f"{0:064x}.json" not in names, "the oldest go first"
    assert scan(tiny, memo_dir=str(memo_dir)).from_memo
