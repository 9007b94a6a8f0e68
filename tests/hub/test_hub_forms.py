"""Every handle form resolves and loads the real TF Hub classifier.

The tfhub.dev and Kaggle forms are rewritten to the local server with
IMAGEHUB_TFHUB_URL / IMAGEHUB_KAGGLE_URL; gs:// goes through tf.io.gfile,
which is exercised here with TensorFlow's in-process `ram://` file system
(a real bucket needs the network).

`load(h)` is `tf.saved_model.load(resolve(h))`, so what differs between
forms is the directory `resolve` produces: each test checks it is a
byte-for-byte copy of the published model. Loading the real model costs
seconds on a busy machine, so it is loaded and run (logits compared with
the original) through an http archive handle, and `load` of local and
file:// handles is tested in test_hub_local.py.
"""

import os

import numpy as np
import pytest

from imagehub import hub
from imagehub.testing import TFHUB_CLASSIFIER_DIR
from imagehub.testing import cache_leftovers
from imagehub.testing import pack_saved_model
from imagehub.testing import same_files

_IMAGE = np.linspace(0, 1, 128 * 128 * 3, dtype=np.float32).reshape(
    1, 128, 128, 3
)


@pytest.fixture(scope="module")
def reference_logits():
    import tensorflow as tf

    return tf.saved_model.load(TFHUB_CLASSIFIER_DIR)(_IMAGE).numpy()


def _assert_loads(handle, reference_logits):
    model = hub.load(handle)
    logits = model(_IMAGE).numpy()
    np.testing.assert_allclose(
        logits, reference_logits, atol=1e-5, err_msg=f"{handle} logits differ"
    )


@pytest.mark.parametrize(
    ("path", "compression"),
    [("/m.tar.gz", "gz"), ("/m.tgz", "gz"), ("/m.tar", "")],
)
def test_load_matches_original_when_http_archive(
    path, compression, server, cache, reference_logits
):
    server.add(path, pack_saved_model(TFHUB_CLASSIFIER_DIR, compression))
    model_dir = hub.resolve(server.url(path))
    assert model_dir.startswith(cache), f"{model_dir} not under {cache}"
    assert same_files(model_dir), "cached files differ from the original"
    assert cache_leftovers(cache) == []
    if path == "/m.tar.gz":
        _assert_loads(server.url(path), reference_logits)
    else:
        assert hub.resolve(server.url(path)) == model_dir
    assert server.count(path) == 1, "the second call must hit the cache"


def test_resolve_follows_redirects_when_tfhub_url(
    server, cache, model_tgz, monkeypatch
):
    # tfhub.dev answers with a redirect to Kaggle, which redirects to
    # storage; the local server plays all three.
    name = "/google/imagenet/mobilenet_v1_025_128/classification/4"
    kaggle = "/models/google/mobilenet-v1/tensorFlow2/025-128-classification/4"
    server.redirect("/tfhub" + name, "/kaggle" + kaggle, code=301)
    server.redirect("/kaggle" + kaggle, "/cdn" + kaggle, code=308)
    server.redirect("/cdn" + kaggle, server.url("/storage/m.tar.gz"))
    server.add("/storage/m.tar.gz", model_tgz)
    monkeypatch.setenv("IMAGEHUB_TFHUB_URL", server.url("/tfhub"))
    handle = "https://tfhub.dev" + name
    model_dir = hub.resolve(handle)
    assert same_files(model_dir)
    first = server.requests[0]
    assert first.path == "/tfhub" + name
    assert first.query == "tf-hub-format=compressed", first.query
    assert hub.resolve(handle) == model_dir
    assert server.count("/storage/m.tar.gz") == 1


def test_resolve_shares_entry_when_kaggle_url_and_short_form(
    server, cache, model_tgz, monkeypatch
):
    path = "/models/google/mobilenet-v1/tensorFlow2/025-128-classification/4"
    server.add(path, model_tgz)
    monkeypatch.setenv("IMAGEHUB_KAGGLE_URL", server.base_url)
    long_form = "https://www.kaggle.com" + path
    short = "kaggle:google/mobilenet-v1/tensorFlow2/025-128-classification/4"
    assert hub.resolve(long_form) == hub.resolve(short)
    assert server.count(path) == 1, "both forms must share one cache entry"
    assert server.requests[0].query == "tf-hub-format=compressed"
    assert same_files(hub.resolve(short))


@pytest.fixture
def ram_root():
    import tensorflow as tf

    root = f"ram://imagehub-test-{os.getpid()}-{id(object())}"
    tf.io.gfile.makedirs(root)
    yield root
    tf.io.gfile.rmtree(root)


def test_resolve_reads_through_gfile_when_remote_archive(
    ram_root, cache, model_tgz
):
    import tensorflow as tf

    handle = ram_root + "/bucket/m.tar.gz"
    with tf.io.gfile.GFile(handle, "wb") as f:
        f.write(model_tgz)
    model_dir = hub.resolve(handle)
    assert model_dir.startswith(cache)
    assert same_files(model_dir)


def test_resolve_copies_through_gfile_when_remote_directory(ram_root, cache):
    import tensorflow as tf

    handle = ram_root + "/bucket/model"
    for dirpath, _, filenames in os.walk(TFHUB_CLASSIFIER_DIR):
        rel = os.path.relpath(dirpath, TFHUB_CLASSIFIER_DIR)
        target = handle if rel == "." else f"{handle}/{rel}"
        tf.io.gfile.makedirs(target)
        for name in filenames:
            tf.io.gfile.copy(os.path.join(dirpath, name), f"{target}/{name}")
    model_dir = hub.resolve(handle)
    assert model_dir.startswith(cache)
    assert same_files(model_dir)


def test_resolve_raises_not_found_when_gfile_path_missing(ram_root, cache):
    with pytest.raises(hub.ModelNotFoundError, match="no such"):
        hub.resolve(ram_root + "/nothing/m.tar.gz")
    assert cache_leftovers(cache) == []
