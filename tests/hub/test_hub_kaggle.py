"""Kaggle Models: the latest version, and private or gated models.

The server (imagehub.testing.KaggleServer) answers the Kaggle API calls
kagglehub makes (kagglesdk's JSON, HTTP basic auth) and the public
`/models/...?tf-hub-format=compressed` URL.
"""

import json
import os

import pytest

from imagehub import hub
from imagehub.testing import TFHUB_CLASSIFIER_DIR
from imagehub.testing import cache_entries
from imagehub.testing import pack_saved_model
from imagehub.testing import same_files

VARIATION = "google/mobilenet-v1/tensorFlow2/025-128-classification"
GATED = "google/gemma-vision/tensorFlow2/small"
OTHER = b"not the latest version"


@pytest.fixture(scope="module")
def archive():
    return pack_saved_model(TFHUB_CLASSIFIER_DIR)


def _manifest(model_dir):
    with open(os.path.join(os.path.dirname(model_dir), "manifest.json")) as f:
        return json.load(f)


def test_resolve_takes_latest_version_when_kaggle_handle_has_none(
    kaggle, archive
):
    kaggle.add_model(VARIATION, {1: OTHER, 2: archive})
    model_dir = hub.resolve(f"kaggle:{VARIATION}")
    assert same_files(model_dir), "expected version 2, the latest"
    assert _manifest(model_dir)["revision"] == "2", "version not recorded"
    assert kaggle.seen("GetModelInstance") == 1
    assert hub.resolve(f"kaggle:{VARIATION}/2") == model_dir, (
        "the latest and its explicit version must share one entry"
    )


def test_resolve_takes_latest_version_when_site_url_has_none(kaggle, archive):
    kaggle.add_model(VARIATION, {3: archive})
    site = "https://www.kaggle.com/models/google/mobilenet-v1/frameworks/"
    site += "tensorFlow2/variations/025-128-classification"
    model_dir = hub.resolve(site)
    assert _manifest(model_dir)["revision"] == "3"


def test_kaggle_request_matches_kagglesdk_when_asking_latest():
    from kagglesdk.models.types.model_api_service import (
        ApiGetModelInstanceRequest,
    )
    from kagglesdk.models.types.model_enums import ModelFramework

    from imagehub.hub import _handles
    from imagehub.hub import _kaggle

    theirs = ApiGetModelInstanceRequest()
    theirs.owner_slug = "google"
    theirs.model_slug = "mobilenet-v1"
    theirs.framework = ModelFramework.MODEL_FRAMEWORK_TENSOR_FLOW_2
    theirs.instance_slug = "025-128-classification"
    ours = _kaggle.instance_request(
        _handles.parse_handle(f"kaggle:{VARIATION}")
    )
    assert ours == ApiGetModelInstanceRequest.to_dict(theirs)


def test_resolve_says_set_credentials_when_gated_without_them(
    kaggle, archive, cache
):
    kaggle.add_model(GATED, {1: archive}, credentials=("ann", "k3y"))
    with pytest.raises(hub.AccessDeniedError, match="KAGGLE_USERNAME and "):
        hub.resolve(f"kaggle:{GATED}")
    with pytest.raises(hub.AccessDeniedError, match="no Kaggle credentials"):
        hub.resolve(f"kaggle:{GATED}/1")
    assert cache_entries(cache) == [], "nothing may be cached"


def test_resolve_downloads_gated_model_when_credentials_in_env(
    kaggle, archive, monkeypatch
):
    kaggle.add_model(GATED, {1: OTHER, 4: archive}, credentials=("ann", "k3y"))
    monkeypatch.setenv("KAGGLE_USERNAME", "ann")
    monkeypatch.setenv("KAGGLE_KEY", "k3y")
    model_dir = hub.resolve(f"kaggle:{GATED}")
    assert same_files(model_dir), "expected version 4, the latest"
    storage = [r for r in kaggle.requests if r.path.startswith("/storage/")]
    assert storage, "the archive must come from storage"
    assert not any(r.headers.get("authorization") for r in storage), (
        "credentials must not be sent to the storage redirect"
    )


def test_resolve_downloads_gated_model_when_credentials_in_kaggle_json(
    kaggle, archive, tmp_path
):
    kaggle.add_model(GATED, {1: archive}, credentials=("ann", "k3y"))
    folder = tmp_path / "kaggle-config"  # KAGGLE_CONFIG_DIR (conftest)
    folder.mkdir()
    (folder / "kaggle.json").write_text('{"username": "ann", "key": "k3y"}')
    assert same_files(hub.resolve(f"kaggle:{GATED}/1"))


def test_resolve_says_check_key_when_credentials_refused(
    kaggle, archive, monkeypatch
):
    kaggle.add_model(GATED, {1: archive}, credentials=("ann", "k3y"))
    monkeypatch.setenv("KAGGLE_USERNAME", "ann")
    monkeypatch.setenv("KAGGLE_KEY", "old")
    with pytest.raises(
        hub.AccessDeniedError, match=r"KAGGLE_USERNAME/KAGGLE_KEY.*401"
    ):
        hub.resolve(f"kaggle:{GATED}")


def test_resolve_says_accept_terms_when_credentials_lack_access(
    kaggle, archive, monkeypatch
):
    kaggle.add_model(
        GATED, {1: archive}, credentials=("ann", "k3y"), granted=False
    )
    monkeypatch.setenv("KAGGLE_USERNAME", "ann")
    monkeypatch.setenv("KAGGLE_KEY", "k3y")
    with pytest.raises(hub.AccessDeniedError, match="accept the model's terms"):
        hub.resolve(f"kaggle:{GATED}/1")


def test_resolve_fails_naming_model_when_variation_unknown(kaggle):
    with pytest.raises(hub.ModelNotFoundError, match="no model variation"):
        hub.resolve(f"kaggle:{VARIATION}")


def test_clear_removes_latest_entry_when_given_unversioned_handle(
    kaggle, archive, cache
):
    kaggle.add_model(VARIATION, {2: archive})
    model_dir = hub.resolve(f"kaggle:{VARIATION}")
    (entry,) = hub.list_cache()
    assert (entry.handle, entry.revision) == (f"kaggle:{VARIATION}", "2")
    assert hub.clear_cache([f"kaggle:{VARIATION}"]) == [
        os.path.dirname(model_dir)
    ]
    assert cache_entries(cache) == []


def test_kaggle_needs_kagglehub_only_for_latest_and_credentials(
    kaggle, archive, monkeypatch
):
    import sys

    kaggle.add_model(VARIATION, {2: archive})
    monkeypatch.setitem(sys.modules, "kagglehub", None)
    monkeypatch.setitem(sys.modules, "kagglehub.config", None)
    assert same_files(hub.resolve(f"kaggle:{VARIATION}/2")), (
        "a public version must load without kagglehub"
    )
    with pytest.raises(ImportError, match=r"pip install 'imagehub\[hubs\]'"):
        hub.resolve(f"kaggle:{VARIATION}")


def test_clear_all_forgets_recorded_versions(kaggle, archive, monkeypatch):
    kaggle.add_model(VARIATION, {2: archive})
    hub.resolve(f"kaggle:{VARIATION}")
    hub.clear_cache()
    monkeypatch.setenv("IMAGEHUB_OFFLINE", "1")
    with pytest.raises(hub.OfflineError, match="none is recorded"):
        hub.resolve(f"kaggle:{VARIATION}")
