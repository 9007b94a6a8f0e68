"""Lock files: `imagehub lock` pins versions and content; resolve obeys.

Models come from the local Hugging Face Hub and Kaggle servers (see
imagehub.testing); each pin's digest is checked against one computed here
from the original files.
"""

import json
import os
import shutil

import pytest

from imagehub import hub
from imagehub.hub import _cache
from imagehub.hub import _lockfile
from imagehub.testing import TFHUB_CLASSIFIER_DIR
from imagehub.testing import pack_saved_model
from imagehub.testing import read_tree
from imagehub.testing import run_cli
from imagehub.testing import same_files

VARIATION = "google/mobilenet-v1/tensorFlow2/025-128-classification"
MODEL = read_tree(TFHUB_CLASSIFIER_DIR)
INDEX = "variables/variables.index"
DIGEST = _cache.content_digest(_lockfile.hash_tree(TFHUB_CLASSIFIER_DIR))


def _flip(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    return bytes(changed)


def _write_lock(path, pins, monkeypatch):
    path.write_text(hub.lockfile_text(pins))
    monkeypatch.setenv("IMAGEHUB_LOCKFILE", str(path))


@pytest.fixture(scope="module")
def archive():
    return pack_saved_model(TFHUB_CLASSIFIER_DIR)


def test_lock_pins_latest_version_and_digest_when_kaggle_unversioned(
    kaggle, archive
):
    kaggle.add_model(VARIATION, {1: b"old", 2: archive})
    (pin,) = hub.lock([f"kaggle:{VARIATION}"])
    assert pin.resolved == f"kaggle:{VARIATION}/2"
    assert pin.revision == "2"
    assert pin.sha256 == DIGEST, "the digest must be over the model's files"
    assert (pin.files, pin.size) == (3, sum(len(d) for d in MODEL.values()))


def test_resolve_uses_pinned_version_when_newer_exists(
    kaggle, archive, tmp_path, monkeypatch
):
    kaggle.add_model(VARIATION, {2: archive})
    pinned_dir = hub.resolve(f"kaggle:{VARIATION}")
    _write_lock(
        tmp_path / "a.lock", hub.lock([f"kaggle:{VARIATION}"]), monkeypatch
    )
    kaggle.add_model(VARIATION, {2: archive, 3: b"newer"})
    asked = kaggle.seen("GetModelInstance")
    assert hub.resolve(f"kaggle:{VARIATION}") == pinned_dir
    assert kaggle.seen("GetModelInstance") == asked, (
        "a pinned handle must not ask for the latest version"
    )


def test_resolve_refuses_one_byte_change_when_pinned_and_accepts_pin(
    hf_hub, tmp_path, monkeypatch
):
    sha = hf_hub.add_repo("me/m", MODEL)
    _write_lock(tmp_path / "a.lock", hub.lock(["hf://me/m"]), monkeypatch)
    # A fresh machine, and a server that now sends other bytes for the
    # pinned commit.
    monkeypatch.setenv("IMAGEHUB_CACHE_DIR", str(tmp_path / "fresh"))
    hf_hub.tamper("me/m", sha, INDEX, _flip(MODEL[INDEX]))
    with pytest.raises(hub.LockMismatchError, match="does not match its pin"):
        hub.resolve("hf://me/m")
    hf_hub.tamper("me/m", sha, INDEX, MODEL[INDEX])
    assert same_files(hub.resolve("hf://me/m")), "the pinned bytes must load"


def test_resolve_refuses_changed_cached_file_when_pinned_offline(
    hf_hub, tmp_path, monkeypatch
):
    hf_hub.add_repo("me/m", MODEL)
    model_dir = hub.resolve("hf://me/m")
    _write_lock(tmp_path / "a.lock", hub.lock(["hf://me/m"]), monkeypatch)
    with open(os.path.join(model_dir, INDEX), "r+b") as f:
        data = f.read()
        f.seek(0)
        f.write(_flip(data))  # same size: only hashing can tell
    monkeypatch.setenv("IMAGEHUB_OFFLINE", "1")
    with pytest.raises(hub.LockMismatchError, match="changed on disk"):
        hub.resolve("hf://me/m")
    monkeypatch.delenv("IMAGEHUB_OFFLINE")
    assert same_files(hub.resolve("hf://me/m")), "online it is fetched again"


def test_resolve_refuses_changed_local_model_when_pinned(
    cache, tmp_path, monkeypatch
):
    model = tmp_path / "model"
    shutil.copytree(TFHUB_CLASSIFIER_DIR, model)
    _write_lock(tmp_path / "a.lock", hub.lock([str(model)]), monkeypatch)
    assert hub.resolve(str(model)) == str(model)
    path = model / INDEX
    path.write_bytes(_flip(path.read_bytes()))
    with pytest.raises(hub.LockMismatchError, match=DIGEST):
        hub.resolve(str(model))


def test_resolve_reads_lock_in_working_directory_when_no_variable(
    cache, tmp_path, monkeypatch
):
    model = tmp_path / "model"
    shutil.copytree(TFHUB_CLASSIFIER_DIR, model)
    pins = hub.lock([str(model)])
    path = model / INDEX
    path.write_bytes(_flip(path.read_bytes()))
    monkeypatch.chdir(tmp_path)
    assert hub.resolve(str(model)) == str(model), "no lock file yet"
    (tmp_path / "imagehub.lock").write_text(hub.lockfile_text(pins))
    with pytest.raises(hub.LockMismatchError):
        hub.resolve(str(model))


def test_resolve_names_lock_file_when_malformed(cache, tmp_path, monkeypatch):
    bad = tmp_path / "bad.lock"
    bad.write_text("")  # what `imagehub lock ... > bad.lock` leaves on error
    monkeypatch.setenv("IMAGEHUB_LOCKFILE", str(bad))
    with pytest.raises(hub.HandleError, match=f"lock file {bad}"):
        hub.resolve(TFHUB_CLASSIFIER_DIR)


def test_lock_cli_prints_lock_file_and_list_shows_pin(hf_hub, cache, tmp_path):
    sha = hf_hub.add_repo("me/m", MODEL)
    env = {
        "IMAGEHUB_CACHE_DIR": cache,
        "HF_ENDPOINT": hf_hub.base_url,
        "IMAGEHUB_LOCKFILE": "",
    }
    result = run_cli("lock", "hf://me/m", env=env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    (model,) = json.loads(result.stdout)["models"]
    assert model["resolved"] == f"hf://me/m@{sha}"
    assert model["sha256"] == DIGEST
    (tmp_path / "imagehub.lock").write_text(result.stdout)
    listing = run_cli("cache", "list", "--json", env=env, cwd=str(tmp_path))
    assert listing.returncode == 0, listing.stderr
    (entry,) = json.loads(listing.stdout)["entries"]
    assert (entry["revision"], entry["pin"]) == (sha, "pinned")


def test_lock_cli_exits_1_naming_credential_when_private(hf_hub, cache):
    hf_hub.add_repo("me/private", MODEL, token="hf_right")
    env = {
        "IMAGEHUB_CACHE_DIR": cache,
        "HF_ENDPOINT": hf_hub.base_url,
        "HF_HOME": cache + "-hf-home",  # no token saved by `hf auth login`
    }
    result = run_cli("lock", "hf://me/private", env=env)
    assert result.returncode == 1, result.stderr
    assert "HF_TOKEN" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == "", "no lock file text on failure"
