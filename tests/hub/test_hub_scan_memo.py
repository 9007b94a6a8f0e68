"""`imagehub.load` remembers clean scan verdicts in the cache root."""

import logging
import os
import shutil

import pytest

from imagehub import hub
from imagehub.scan import UnsafeModelError
from imagehub.testing import write_hostile_model
from imagehub.testing import write_tiny_model

REMEMBERED = "clean, remembered"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_model(str(tmp_path_factory.mktemp("load") / "tiny"))


def _load_remembered(handle, caplog) -> bool:
    """Loads `handle`; True when the scan verdict came from the memo."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="imagehub.scan"):
        hub.load(handle)
    return REMEMBERED in caplog.text


def test_load_uses_memo_when_model_loaded_again(cache, tiny, caplog):
    assert not _load_remembered(tiny, caplog), "first load scans in full"
    memos = os.listdir(hub.scan_memo_dir())
    assert len(memos) == 1, f"one memo in {hub.scan_memo_dir()}: {memos}"
    assert _load_remembered(tiny, caplog), "second load should use the memo"


def test_load_refuses_changed_bytes_after_memoized_load(
    cache, tiny, tmp_path, caplog
):
    model = str(shutil.copytree(tiny, tmp_path / "model"))
    hub.load(model)
    pb = os.path.join(model, "saved_model.pb")
    before = os.stat(pb)
    with open(pb, "rb") as f:
        data = f.read()
    with open(pb, "wb") as f:  # same size: an allowed op made a refused one
        f.write(data.replace(b"Identity", b"ReadFile"))
    os.utime(pb, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(UnsafeModelError, match="ReadFile"):
        hub.load(model)


def test_load_refuses_hostile_model_on_first_and_second_load(cache, tmp_path):
    marker = tmp_path / "marker"
    model = write_hostile_model(tmp_path / "hostile", "nested_write", marker)
    for attempt in (1, 2):
        with pytest.raises(UnsafeModelError) as info:
            hub.load(model)
        assert not info.value.scan.from_memo, f"load {attempt}"
    assert not os.path.exists(hub.scan_memo_dir()) or not os.listdir(
        hub.scan_memo_dir()
    ), "a refusal is never remembered"
    leftovers = [p for p in os.listdir(tmp_path) if p.startswith("marker")]
    assert leftovers == [], "nothing of the hostile model ran"


def test_load_trusted_writes_no_memo(cache, tiny):
    hub.load(tiny, trust=True)
    assert not os.path.exists(hub.scan_memo_dir()), "trust skips the scan"


def test_clear_cache_deletes_scan_memos(cache, tiny):
    hub.load(tiny)
    assert os.listdir(hub.scan_memo_dir())
    hub.clear_cache()
    assert not os.path.exists(hub.scan_memo_dir())


def test_scan_memo_dir_is_in_cache_root(cache):
    assert os.path.dirname(hub.scan_memo_dir()) == hub.cache_dir()
