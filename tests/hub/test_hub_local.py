"""resolve/load of local directories and file:// URLs."""

import os
import pathlib

import pytest

from imagehub import hub
from imagehub.testing import write_tiny_model


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tiny") / "model")
    write_tiny_model(path)
    return path


def test_resolve_returns_directory_when_local_path(tiny_dir):
    assert hub.resolve(tiny_dir) == os.path.abspath(tiny_dir)


def test_resolve_accepts_pathlike_when_local_path(tiny_dir):
    assert hub.resolve(pathlib.Path(tiny_dir)) == os.path.abspath(tiny_dir)


def test_resolve_returns_path_when_file_url(tiny_dir):
    url = pathlib.Path(tiny_dir).as_uri()
    assert url.startswith("file://")
    assert hub.resolve(url) == os.path.abspath(tiny_dir)


def test_resolve_raises_not_found_when_directory_missing(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(hub.ModelNotFoundError, match="no such directory"):
        hub.resolve(missing)
    with pytest.raises(FileNotFoundError):
        hub.resolve(pathlib.Path(missing).as_uri())


def test_resolve_raises_when_directory_has_no_saved_model(tmp_path):
    (tmp_path / "variables").mkdir()
    with pytest.raises(hub.NotASavedModelError, match="saved_model.pb"):
        hub.resolve(str(tmp_path))


def test_resolve_raises_handle_error_when_scheme_unknown():
    with pytest.raises(hub.HandleError, match="unsupported scheme 'ftp'"):
        hub.resolve("ftp://example.com/model.tar.gz")


def test_load_returns_callable_model_when_file_url(tiny_dir):
    import numpy as np

    model = hub.load(pathlib.Path(tiny_dir).as_uri())
    features = model(np.zeros((2, 16, 16, 3), np.float32))
    assert features.shape == (2, 8), f"expected 8 features, {features.shape}"


def test_load_passes_tags_and_options_when_given(tiny_dir):
    import tensorflow as tf

    options = tf.saved_model.LoadOptions(allow_partial_checkpoint=True)
    model = hub.load(tiny_dir, tags=["serve"], options=options)
    assert "serving_default" in model.signatures


def test_top_level_names_come_from_hub():
    import imagehub

    assert imagehub.load is hub.load
    assert imagehub.resolve is hub.resolve
