"""`imagehub cache export/import`: carrying models to offline machines.

Bundles are written from a cache filled from the local Hugging Face Hub
and Kaggle servers, then imported into a fresh cache with the servers
stopped and IMAGEHUB_OFFLINE=1.
"""

import io
import os
import tarfile

import pytest

from imagehub import hub
from imagehub.testing import TFHUB_CLASSIFIER_DIR
from imagehub.testing import cache_entries
from imagehub.testing import cache_leftovers
from imagehub.testing import pack_saved_model
from imagehub.testing import read_tree
from imagehub.testing import run_cli
from imagehub.testing import same_files

VARIATION = "google/mobilenet-v1/tensorFlow2/025-128-classification"
KAGGLE = f"kaggle:{VARIATION}"
HF = "hf://me/models/classifier"


@pytest.fixture
def bundle(hf_hub, kaggle, tmp_path):
    """A bundle of an hf:// handle and an unversioned Kaggle handle."""
    hf_hub.add_repo("me/models", read_tree(TFHUB_CLASSIFIER_DIR, "classifier/"))
    kaggle.add_model(VARIATION, {7: pack_saved_model(TFHUB_CLASSIFIER_DIR)})
    path = str(tmp_path / "models.tar")
    items = hub.export_bundle([HF, KAGGLE], path)
    assert [i.resolved for i in items][1] == f"{KAGGLE}/7"
    return path


@pytest.fixture
def offline_cache(tmp_path, monkeypatch, hf_hub, kaggle):
    """A fresh, empty cache on a machine without network."""
    hf_hub.stop()
    kaggle.stop()
    root = str(tmp_path / "offline-cache")
    monkeypatch.setenv("IMAGEHUB_CACHE_DIR", root)
    monkeypatch.setenv("IMAGEHUB_OFFLINE", "1")
    return root


def _rewrite(path, change):
    """Rewrites the tar at `path`, passing each (info, data) to `change`."""
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            info, data = change(info, data)
            tar.addfile(info, io.BytesIO(data))


def test_import_loads_same_handles_when_offline(bundle, offline_cache):
    items = hub.import_bundle(bundle)
    assert [i.imported for i in items] == [True, True]
    for handle in (HF, KAGGLE):
        assert same_files(hub.resolve(handle)), f"{handle} differs"
    assert cache_leftovers(offline_cache) == [], "temp files left behind"
    again = hub.import_bundle(bundle)
    assert [i.imported for i in again] == [False, False], "already cached"


def test_import_refuses_one_changed_byte_and_imports_nothing(
    bundle, offline_cache
):
    def flip(info, data):
        if info.name.endswith("variables.index"):
            data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
        return info, data

    _rewrite(bundle, flip)
    with pytest.raises(hub.BundleError, match="variables.index differs"):
        hub.import_bundle(bundle)
    assert cache_entries(offline_cache) == [], "nothing may be imported"
    assert cache_leftovers(offline_cache) == [], "temp files left behind"
    with pytest.raises(hub.OfflineError):
        hub.resolve(HF)


def test_import_refuses_added_file_not_in_manifest(bundle, offline_cache):
    def add(info, data):
        if info.name.endswith("saved_model.pb"):
            info.name = info.name.replace("saved_model.pb", "extra.bin")
        return info, data

    _rewrite(bundle, add)
    with pytest.raises(hub.BundleError, match="extra.bin is not in the"):
        hub.import_bundle(bundle)
    assert cache_entries(offline_cache) == []


@pytest.mark.parametrize("kind", ["symlink", "dotdot", "absolute"])
def test_import_refuses_hostile_member_and_imports_nothing(
    bundle, offline_cache, tmp_path, kind
):
    victim = tmp_path / "victim"

    def hostile(info, data):
        if not info.name.endswith("saved_model.pb"):
            return info, data
        if kind == "symlink":
            info.type, info.linkname, data = tarfile.SYMTYPE, str(victim), b""
            info.size = 0
        elif kind == "dotdot":
            info.name = "entries/../../victim"
        else:
            info.name = str(victim)
        return info, data

    _rewrite(bundle, hostile)
    with pytest.raises(hub.UnsafeArchiveError):
        hub.import_bundle(bundle)
    assert not victim.exists(), "the archive wrote outside its folder"
    assert cache_entries(offline_cache) == []
    assert cache_leftovers(offline_cache) == []


def test_import_refuses_entry_renamed_to_another_handle(bundle, offline_cache):
    from imagehub.hub import _handles

    # Version 7's files presented as version 8, index and all.
    seven = _handles.parse_handle(f"{KAGGLE}/7").cache_name
    eight = _handles.parse_handle(f"{KAGGLE}/8").cache_name

    def rename(info, data):
        info.name = info.name.replace(seven, eight)
        if info.name == "imagehub-bundle.json":
            data = data.replace(b"/7", b"/8")
            data = data.replace(seven.encode(), eight.encode())
        return info, data

    _rewrite(bundle, rename)
    with pytest.raises(hub.BundleError, match="manifest of"):
        hub.import_bundle(bundle)
    assert cache_entries(offline_cache) == []


def test_import_refuses_bundle_that_differs_from_lock(
    bundle, offline_cache, tmp_path, monkeypatch
):
    lock = tmp_path / "imagehub.lock"
    pin = hub.Pin(KAGGLE, f"{KAGGLE}/7", "7", "0" * 64, 3, 1)
    lock.write_text(hub.lockfile_text([pin]))
    monkeypatch.setenv("IMAGEHUB_LOCKFILE", str(lock))
    with pytest.raises(hub.LockMismatchError, match="nothing was imported"):
        hub.import_bundle(bundle)
    assert cache_entries(offline_cache) == []


def test_cache_cli_exports_and_imports_round_trip(hf_hub, cache, tmp_path):
    hf_hub.add_repo("me/models", read_tree(TFHUB_CLASSIFIER_DIR, "classifier/"))
    out = str(tmp_path / "models.tar.gz")
    env = {
        "IMAGEHUB_CACHE_DIR": cache,
        "HF_ENDPOINT": hf_hub.base_url,
        "HF_HOME": str(tmp_path / "hf-home"),
    }
    exported = run_cli("cache", "export", HF, "--out", out, env=env)
    assert exported.returncode == 0, exported.stderr
    assert tarfile.is_tarfile(out) and not os.path.exists(out + ".tmp")
    hf_hub.stop()
    fresh = str(tmp_path / "fresh")
    env.update({"IMAGEHUB_CACHE_DIR": fresh, "IMAGEHUB_OFFLINE": "1"})
    imported = run_cli("cache", "import", out, env=env)
    assert imported.returncode == 0, imported.stderr
    assert "imported" in imported.stdout, imported.stdout
    (entry,) = cache_entries(fresh)
    assert same_files(os.path.join(fresh, entry, "model"))


def test_cache_cli_import_exits_1_when_not_a_bundle(cache, tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar file at all")
    result = run_cli(
        "cache", "import", str(junk), env={"IMAGEHUB_CACHE_DIR": cache}
    )
    assert result.returncode == 1, result.stderr
    assert "not a readable bundle" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_import_refuses_file_beside_entry_manifest(bundle, offline_cache):
    with tarfile.open(bundle) as tar:
        manifest = next(
            m.name for m in tar if m.name.endswith("/manifest.json")
        )
    with tarfile.open(bundle, "a") as tar:
        info = tarfile.TarInfo(manifest.replace("manifest.json", "run-me.sh"))
        info.size = 3
        tar.addfile(info, io.BytesIO(b"rm\n"))
    with pytest.raises(hub.BundleError, match="run-me.sh is not part of"):
        hub.import_bundle(bundle)
    assert cache_entries(offline_cache) == []
