"""hf://OWNER/REPO[@REVISION][/SUBFOLDER] against a local Hugging Face Hub.

The server (imagehub.testing.HfHubServer) answers the endpoints
huggingface_hub calls, with the Hub's JSON and error headers; LFS files
are redirected to a second server, as the Hub's CDN is another host.
"""

import json
import os

import numpy as np
import pytest

from imagehub import hub
from imagehub.testing import TFHUB_CLASSIFIER_DIR
from imagehub.testing import cache_entries
from imagehub.testing import cache_leftovers
from imagehub.testing import read_tree
from imagehub.testing import same_files

MODEL = read_tree(TFHUB_CLASSIFIER_DIR)


def _manifest(model_dir):
    with open(os.path.join(os.path.dirname(model_dir), "manifest.json")) as f:
        return json.load(f)


def _changed(files, path="variables/variables.index"):
    """`files` with one byte of `path` flipped."""
    data = bytearray(files[path])
    data[len(data) // 2] ^= 0x01
    return {**files, path: bytes(data)}


def test_resolve_caches_saved_model_when_at_repo_root(hf_hub, cache):
    sha = hf_hub.add_repo("me/mobilenet", MODEL)
    model_dir = hub.resolve("hf://me/mobilenet")
    assert model_dir.startswith(cache), f"{model_dir} not under {cache}"
    assert same_files(model_dir), "cached files differ from the repo's"
    manifest = _manifest(model_dir)
    assert manifest["revision"] == sha, "the commit must be recorded"
    assert manifest["source"] == f"hf://me/mobilenet@{sha}"
    assert cache_leftovers(cache) == [], "scratch files were left behind"


def test_load_runs_model_when_hf_handle(hf_hub, cache):
    import tensorflow as tf

    hf_hub.add_repo("me/mobilenet", MODEL)
    image = np.linspace(0, 1, 128 * 128 * 3, dtype=np.float32)
    image = image.reshape(1, 128, 128, 3)
    expected = tf.saved_model.load(TFHUB_CLASSIFIER_DIR)(image).numpy()
    got = hub.load("hf://me/mobilenet")(image).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_resolve_takes_only_the_subfolder_when_subfolder_given(hf_hub):
    files = read_tree(TFHUB_CLASSIFIER_DIR, "exports/classifier/")
    files["README.md"] = b"# two models\n"
    files["other/saved_model.pb"] = b"not this one"
    hf_hub.add_repo("me/models", files)
    model_dir = hub.resolve("hf://me/models/exports/classifier")
    assert same_files(model_dir), "expected exactly the subfolder's model"


def test_resolve_names_subfolders_when_root_has_no_saved_model(hf_hub, cache):
    files = read_tree(TFHUB_CLASSIFIER_DIR, "exports/classifier/")
    files["README.md"] = b"# a model in a folder\n"
    hf_hub.add_repo("me/models", files)
    with pytest.raises(
        hub.NotASavedModelError, match=r"hf://me/models@.*/exports/classifier"
    ):
        hub.resolve("hf://me/models")
    assert cache_entries(cache) == [], "nothing may be cached"


def test_resolve_follows_revision_when_tag_branch_or_commit(hf_hub):
    first = hf_hub.add_repo("me/m", MODEL)
    hf_hub.commit("me/m", MODEL, tag="v1")
    second = hf_hub.commit("me/m", _changed(MODEL))
    assert first != second
    tagged = hub.resolve("hf://me/m@v1")
    assert same_files(tagged), "v1 must be the original model"
    latest = hub.resolve("hf://me/m")
    assert not same_files(latest), "main must be the changed model"
    assert _manifest(latest)["revision"] == second
    downloads = hf_hub.seen("/resolve/")
    by_commit = hub.resolve(f"hf://me/m@{_manifest(tagged)['revision']}")
    assert by_commit == tagged, "a commit and its tag share one entry"
    assert hf_hub.seen("/resolve/") == downloads, "no new download expected"


def test_resolve_fails_when_revision_unknown(hf_hub):
    hf_hub.add_repo("me/m", MODEL)
    with pytest.raises(hub.ModelNotFoundError, match="no revision 'v9'"):
        hub.resolve("hf://me/m@v9")


def test_resolve_says_set_hf_token_when_private_repo_without_token(
    hf_hub, cache
):
    hf_hub.add_repo("me/private", MODEL, token="hf_right")
    with pytest.raises(hub.AccessDeniedError, match="set HF_TOKEN"):
        hub.resolve("hf://me/private")
    assert cache_entries(cache) == [], "nothing may be cached"


def test_resolve_downloads_private_repo_when_token_set(hf_hub, monkeypatch):
    hf_hub.add_repo("me/private", MODEL, token="hf_right")
    monkeypatch.setenv("HF_TOKEN", "hf_right")
    assert same_files(hub.resolve("hf://me/private"))
    sent = [r.headers.get("authorization") for r in hf_hub.requests]
    assert "Bearer hf_right" in sent, "the token must be sent to the Hub"
    cdn = [r.headers.get("authorization") for r in hf_hub.cdn.requests]
    assert cdn and not any(cdn), "the token must not go to the CDN"


def test_resolve_says_token_refused_when_wrong_token(hf_hub, monkeypatch):
    hf_hub.add_repo("me/private", MODEL, token="hf_right")
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(hub.AccessDeniedError, match="token in use"):
        hub.resolve("hf://me/private")


def test_resolve_says_accept_terms_when_gated_repo(hf_hub, monkeypatch):
    hf_hub.add_repo("me/gated", MODEL, token="hf_granted", gated=True)
    monkeypatch.setenv("HF_TOKEN", "hf_not_granted")
    with pytest.raises(hub.AccessDeniedError, match="accept its terms"):
        hub.resolve("hf://me/gated")


def test_resolve_uses_recorded_commit_when_offline(hf_hub, monkeypatch):
    hf_hub.add_repo("me/m", MODEL)
    online = hub.resolve("hf://me/m")
    hf_hub.stop()
    monkeypatch.setenv("IMAGEHUB_OFFLINE", "1")
    assert hub.resolve("hf://me/m") == online
    with pytest.raises(hub.OfflineError, match="no version"):
        hub.resolve("hf://me/m@v2")


@pytest.mark.parametrize(
    "handle",
    ["hf://me", "hf://me/m@", "hf://me/m/../x", "hf://me/m//x", "hf://m e/x"],
)
def test_parse_raises_handle_error_when_hf_handle_malformed(handle):
    with pytest.raises(hub.HandleError, match="hf://OWNER/REPO"):
        hub.resolve(handle)


def test_resolve_gives_pip_line_when_huggingface_hub_missing(
    cache, monkeypatch
):
    import sys

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ImportError, match=r"pip install 'imagehub\[hubs\]'"):
        hub.resolve("hf://me/m")


@pytest.mark.parametrize("name", ["variables/../../../evil", "/tmp/evil"])
def test_resolve_refuses_file_list_that_climbs_out(hf_hub, cache, name):
    hf_hub.add_repo("me/hostile", {**MODEL, name: b"x"})
    with pytest.raises(hub.UnsafeArchiveError, match="refusing"):
        hub.resolve("hf://me/hostile")
    assert cache_entries(cache) == [], "nothing may be cached"
