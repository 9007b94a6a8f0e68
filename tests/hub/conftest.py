"""Fixtures for the hub tests: a local model server and a private cache."""

import pytest

from imagehub.hub import _config
from imagehub.hub import _download
from imagehub.testing import TFHUB_CLASSIFIER_DIR
from imagehub.testing import HfHubServer
from imagehub.testing import KaggleServer
from imagehub.testing import ModelServer
from imagehub.testing import pack_saved_model

_HUB_VARS = (
    _config.CACHE_DIR_VAR,
    _config.TFHUB_CACHE_DIR_VAR,
    _config.OFFLINE_VAR,
    _config.ALLOW_HTTP_VAR,
    _config.TFHUB_URL_VAR,
    _config.KAGGLE_URL_VAR,
    _config.LOCK_STALL_VAR,
    _config.KAGGLE_API_URL_VAR,
    _config.LOCKFILE_VAR,
    "HF_ENDPOINT",
    "HF_TOKEN",
    "KAGGLE_USERNAME",
    "KAGGLE_KEY",
    "KAGGLE_API_TOKEN",
)


@pytest.fixture(scope="session")
def model_tgz():
    """The real TF Hub classifier packed as tfhub.dev serves it."""
    return pack_saved_model(TFHUB_CLASSIFIER_DIR)


@pytest.fixture
def server():
    with ModelServer() as running:
        yield running


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache directory in IMAGEHUB_CACHE_DIR; fast retries."""
    for name in _HUB_VARS:
        monkeypatch.delenv(name, raising=False)
    root = str(tmp_path / "cache")
    monkeypatch.setenv(_config.CACHE_DIR_VAR, root)
    monkeypatch.setattr(_download, "BACKOFF_SECONDS", 0.02)
    # Credentials of the machine's user must not leak into the tests.
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    return root


@pytest.fixture
def hf_hub(cache, monkeypatch):
    """A local Hugging Face Hub in HF_ENDPOINT."""
    from huggingface_hub import constants

    # A token saved by `hf auth login` on this machine must not be used.
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", cache + "-hf-token")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    with HfHubServer() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.base_url)
        yield running


@pytest.fixture
def kaggle(cache, monkeypatch):
    """A local Kaggle (API and site) in IMAGEHUB_KAGGLE_(API_)URL."""
    with KaggleServer() as running:
        monkeypatch.setenv(_config.KAGGLE_URL_VAR, running.base_url)
        monkeypatch.setenv(_config.KAGGLE_API_URL_VAR, running.api_url)
        yield running
