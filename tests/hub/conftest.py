"""Fixtures for the hub tests: a local model server and a private cache."""

import pytest

from imagehub.hub import _config
from imagehub.hub import _download
from imagehub.testing import TFHUB_CLASSIFIER_DIR
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
    return root
