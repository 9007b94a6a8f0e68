"""Malicious and oversized archives are refused; nothing lands outside."""

import io
import os
import tarfile

import pytest

from imagehub import hub
from imagehub.hub import _tar
from imagehub.testing import cache_entries
from imagehub.testing import cache_leftovers


def _archive(members):
    """Builds a .tar.gz from (TarInfo kwargs, data or None) pairs."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        pb = tarfile.TarInfo("saved_model.pb")
        pb.size = 4
        tar.addfile(pb, io.BytesIO(b"\x08\x01\x12\x00"))
        for fields, data in members:
            info = tarfile.TarInfo(fields.pop("name"))
            for key, value in fields.items():
                setattr(info, key, value)
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def _link(name, kind, target):
    return {"name": name, "type": kind, "linkname": target}


def _refused(server, cache, data, match):
    server.add("/evil.tar.gz", data)
    with pytest.raises(hub.UnsafeArchiveError, match=match):
        hub.resolve(server.url("/evil.tar.gz"))
    assert cache_entries(cache) == [], "a refused archive left an entry"
    assert cache_leftovers(cache) == [], "a refused archive left temp files"


def test_extract_refuses_parent_reference(server, cache, tmp_path):
    data = _archive([({"name": "../x"}, b"pwned")])
    _refused(server, cache, data, r"'\.\.'")
    assert not os.path.exists(os.path.join(cache, "x"))
    assert not os.path.exists(tmp_path / "x")


def test_extract_refuses_nested_parent_reference(server, cache, tmp_path):
    data = _archive([({"name": "variables/../../../x"}, b"pwned")])
    _refused(server, cache, data, r"'\.\.'")
    assert not os.path.exists(tmp_path / "x")


def test_extract_refuses_absolute_name(server, cache, tmp_path):
    target = tmp_path / "etc" / "x"
    data = _archive([({"name": str(target)}, b"pwned")])
    _refused(server, cache, data, "absolute member name")
    assert not target.exists(), "an absolute member was written"


def test_extract_refuses_etc_path(server, cache):
    name = f"/etc/imagehub-test-{os.getpid()}"
    data = _archive([({"name": name}, b"pwned")])
    _refused(server, cache, data, "absolute member name")
    assert not os.path.exists(name)


def test_extract_refuses_symlink_then_write_through_it(server, cache, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    data = _archive(
        [
            (_link("link", tarfile.SYMTYPE, str(outside)), None),
            ({"name": "link/pwned"}, b"pwned"),
        ]
    )
    _refused(server, cache, data, "symlink")
    assert list(outside.iterdir()) == [], "a write went through the symlink"


def test_extract_refuses_hard_link_out_of_tree(server, cache, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"original")
    data = _archive(
        [
            (_link("hl", tarfile.LNKTYPE, str(victim)), None),
            (_link("hl2", tarfile.LNKTYPE, "../victim"), None),
        ]
    )
    _refused(server, cache, data, "hard link")
    assert victim.read_bytes() == b"original"


def test_extract_refuses_device_file(server, cache):
    data = _archive([({"name": "dev", "type": tarfile.CHRTYPE}, None)])
    _refused(server, cache, data, "device file")


def test_extract_refuses_duplicate_member(server, cache):
    data = _archive([({"name": "saved_model.pb"}, b"second")])
    _refused(server, cache, data, "more than once")


def test_extract_stops_at_member_limit(server, cache, monkeypatch):
    monkeypatch.setattr(_tar, "MAX_MEMBERS", 3)
    data = _archive([({"name": f"f{i}"}, b"x") for i in range(5)])
    _refused(server, cache, data, "more than 3 members")


def test_extract_stops_at_size_limit(server, cache, monkeypatch):
    monkeypatch.setattr(_tar, "MAX_BYTES", 1000)
    data = _archive([({"name": "big"}, bytes(5000))])
    _refused(server, cache, data, "more than 1000 bytes")


def test_extract_writes_regular_tree_with_digests(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    archive.write_bytes(_archive([({"name": "./variables/v.index"}, b"index")]))
    target = tmp_path / "out"
    target.mkdir()
    digests = _tar.safe_extract(str(archive), str(target), source="test")
    assert sorted(digests) == ["saved_model.pb", "variables/v.index"]
    assert digests["variables/v.index"].size == 5
    assert (target / "variables" / "v.index").read_bytes() == b"index"


def _stored_archive(data):
    """A .tar.gz whose deflate blocks are stored: its bytes appear as is."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=0) as tar:
        info = tarfile.TarInfo("saved_model.pb")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_extract_refuses_flipped_member_bytes_when_deflate_still_decodes(
    server, cache, tmp_path
):
    payload = b"\x08\x01\x12\x00" + b"weights-of-the-model" * 8
    good = _stored_archive(payload)
    at = good.index(b"weights-of-the-model")
    bad = good[:at] + b"W" + good[at + 1 :]  # same length, CRC now wrong
    target = tmp_path / "out"
    target.mkdir()
    (tmp_path / "bad.tar.gz").write_bytes(bad)
    with pytest.raises(hub.DownloadError, match="truncated or corrupt"):
        _tar.safe_extract(
            str(tmp_path / "bad.tar.gz"), str(target), source="test"
        )
    server.add("/flipped.tar.gz", bad)
    with pytest.raises(hub.DownloadError, match="truncated or corrupt"):
        hub.resolve(server.url("/flipped.tar.gz"))
    assert cache_entries(cache) == [], "a corrupt archive left an entry"
    assert cache_leftovers(cache) == [], "a corrupt archive left temp files"
    (tmp_path / "good.tar.gz").write_bytes(good)
    good_target = tmp_path / "good"
    good_target.mkdir()
    _tar.safe_extract(
        str(tmp_path / "good.tar.gz"), str(good_target), source="test"
    )
    assert (good_target / "saved_model.pb").read_bytes() == payload
