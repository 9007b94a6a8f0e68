"""The cache: hit checks, damage, verify, list, clear, settings."""

import json
import os

import pytest

from imagehub import hub
from imagehub.hub import _config
from imagehub.testing import cache_entries
from imagehub.testing import cache_leftovers
from imagehub.testing import same_files

PATH = "/m.tar.gz"


@pytest.fixture
def url(server, model_tgz, cache):
    server.add(PATH, model_tgz)
    return server.url(PATH)


def test_entry_has_manifest_with_every_file_size_and_hash(url, cache):
    model_dir = hub.resolve(url)
    with open(os.path.join(os.path.dirname(model_dir), "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["handle"] == url
    assert set(manifest["files"]) == {
        "saved_model.pb",
        "variables/variables.index",
        "variables/variables.data-00000-of-00001",
    }
    pb = manifest["files"]["saved_model.pb"]
    size = os.path.getsize(os.path.join(model_dir, "saved_model.pb"))
    assert pb["size"] == size
    assert len(pb["sha256"]) == 64


@pytest.mark.parametrize(
    "victim",
    ["saved_model.pb", "variables/variables.data-00000-of-00001"],
)
def test_resolve_downloads_again_when_file_deleted(server, url, cache, victim):
    model_dir = hub.resolve(url)
    os.remove(os.path.join(model_dir, victim))
    assert hub.resolve(url) == model_dir
    assert server.count(PATH) == 2, f"deleting {victim} must re-download"
    assert same_files(model_dir), "the re-downloaded entry is incomplete"
    assert cache_leftovers(cache) == []


def test_resolve_downloads_again_when_file_truncated(server, url, cache):
    model_dir = hub.resolve(url)
    shard = os.path.join(model_dir, "variables/variables.index")
    with open(shard, "r+b") as f:
        f.truncate(10)
    hub.resolve(url)
    assert server.count(PATH) == 2
    assert same_files(model_dir)


def test_resolve_downloads_again_when_manifest_missing(server, url, cache):
    model_dir = hub.resolve(url)
    os.remove(os.path.join(os.path.dirname(model_dir), "manifest.json"))
    hub.resolve(url)
    assert server.count(PATH) == 2, "an entry without manifest is no hit"


def test_verify_detects_same_size_corruption_and_fix_removes_it(
    server, url, cache
):
    model_dir = hub.resolve(url)
    shard = os.path.join(model_dir, "variables/variables.data-00000-of-00001")
    with open(shard, "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 16)
    assert hub.list_cache()[0].ok, "list checks sizes only"
    (entry,) = hub.verify_cache()
    assert not entry.ok
    assert "wrong sha256" in entry.problems[0], entry.problems
    hub.verify_cache(fix=True)
    assert cache_entries(cache) == []
    hub.resolve(url)
    assert server.count(PATH) == 2
    assert same_files(model_dir)
    assert all(e.ok for e in hub.verify_cache())


def test_verify_never_reads_outside_entry_when_manifest_edited(url, cache):
    model_dir = hub.resolve(url)
    manifest_path = os.path.join(os.path.dirname(model_dir), "manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    manifest["files"]["../../../etc/passwd"] = {"size": 1, "sha256": "0"}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    (entry,) = hub.verify_cache()
    assert entry.problems == (
        "the manifest lists an unsafe path '../../../etc/passwd'",
    ), entry.problems


def test_list_reports_entries_with_handle_and_size(url, cache):
    hub.resolve(url)
    (entry,) = hub.list_cache()
    assert entry.handle == url
    assert entry.num_files == 3
    assert entry.size > 2_000_000
    assert entry.ok


def test_clear_removes_entries_and_leftovers(url, cache):
    hub.resolve(url)
    dead = "0" * 32
    os.mkdir(os.path.join(cache, f".tmp-{dead}-999999999-deadbeef"))
    open(os.path.join(cache, f"{dead}.lock"), "w").close()
    removed = hub.clear_cache()
    assert len(removed) == 1
    assert cache_entries(cache) == []
    assert cache_leftovers(cache) == [], "clear left temp dirs or locks"


def test_clear_leaves_tensorflow_hub_entries_alone_when_shared_dir(url, cache):
    # With TFHUB_CACHE_DIR the root may hold tensorflow_hub's entries.
    theirs = "a" * 40
    os.makedirs(os.path.join(cache, theirs, "variables"))
    for name in (f"{theirs}.descriptor.txt", f"{theirs}.lock"):
        open(os.path.join(cache, name), "w").close()
    hub.resolve(url)
    assert len(hub.list_cache()) == 1, "only imagehub's entries are listed"
    hub.clear_cache()
    assert sorted(os.listdir(cache)) == [
        theirs,
        f"{theirs}.descriptor.txt",
        f"{theirs}.lock",
    ]


def test_clear_removes_only_named_handle(server, model_tgz, url, cache):
    server.add("/other.tar.gz", model_tgz)
    keep = hub.resolve(server.url("/other.tar.gz"))
    hub.resolve(url)
    hub.clear_cache(url)
    assert cache_entries(cache) == [os.path.basename(os.path.dirname(keep))]


def test_cache_dir_honours_tfhub_var_when_imagehub_var_unset(
    monkeypatch, tmp_path
):
    monkeypatch.delenv(_config.CACHE_DIR_VAR, raising=False)
    monkeypatch.setenv(_config.TFHUB_CACHE_DIR_VAR, str(tmp_path / "tfhub"))
    assert hub.cache_dir() == str(tmp_path / "tfhub")
    monkeypatch.setenv(_config.CACHE_DIR_VAR, str(tmp_path / "ours"))
    assert hub.cache_dir() == str(tmp_path / "ours")


def test_cache_dir_defaults_to_user_cache_not_temp(monkeypatch, tmp_path):
    monkeypatch.delenv(_config.CACHE_DIR_VAR, raising=False)
    monkeypatch.delenv(_config.TFHUB_CACHE_DIR_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hub.cache_dir() == str(tmp_path / ".cache" / "imagehub")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.cache_dir() == str(tmp_path / "xdg" / "imagehub")


def test_resolve_fails_at_once_naming_path_when_cache_unusable(
    server, url, tmp_path, monkeypatch
):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    root = str(blocker / "cache")
    monkeypatch.setenv(_config.CACHE_DIR_VAR, root)
    with pytest.raises(hub.CacheError, match=root):
        hub.resolve(url)
    assert server.total() == 0, "nothing may be downloaded"


_TRY_RESOLVE = """
import sys
from imagehub import hub
try:
    hub.resolve(sys.argv[1])
except hub.HubError as e:
    print(type(e).__name__, e)
"""


def _resolve_without_root_powers(url, root):
    """Resolves in a subprocess that file permissions apply to.

    As root, `setpriv` drops the capabilities that bypass them.
    """
    import shutil
    import subprocess
    import sys

    command = [sys.executable, "-c", _TRY_RESOLVE, url]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv")
        command = [
            setpriv,
            "--bounding-set=-dac_override,-dac_read_search",
            *command,
        ]
    package_parent = os.path.dirname(
        os.path.dirname(os.path.dirname(hub.__file__))
    )
    env = dict(os.environ, IMAGEHUB_CACHE_DIR=root, PYTHONPATH=package_parent)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("existing", [False, True])
def test_resolve_fails_at_once_naming_path_when_cache_not_writable(
    server, url, tmp_path, existing
):
    parent = tmp_path / "ro"
    parent.mkdir()
    root = parent / "cache"
    if existing:
        root.mkdir()
        root.chmod(0o500)
    parent.chmod(0o500)
    try:
        out = _resolve_without_root_powers(url, str(root))
    finally:
        parent.chmod(0o700)
        if existing:
            root.chmod(0o700)
    assert out.startswith("CachePermissionError"), out
    assert str(root) in out, f"the message must name the cache: {out}"
    assert server.total() == 0, "nothing may be downloaded"
