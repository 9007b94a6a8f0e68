"""Classifying handles: forms, canonical keys, URL overrides, http rule."""

import pytest

from imagehub import hub
from imagehub.hub import _handles

TFHUB = (
    "https://tfhub.dev/google/imagenet/mobilenet_v1_025_128/classification/4"
)
KAGGLE = (
    "https://www.kaggle.com/models/google/mobilenet-v1/tensorFlow2/"
    "025-128-classification/4"
)
KAGGLE_SHORT = "kaggle:google/mobilenet-v1/tensorFlow2/025-128-classification/4"


def test_parse_asks_tfhub_for_compressed_archive_when_tfhub_url(monkeypatch):
    monkeypatch.delenv("IMAGEHUB_TFHUB_URL", raising=False)
    handle = _handles.parse_handle(TFHUB)
    assert handle.kind == _handles.TFHUB
    assert handle.location == TFHUB + "?tf-hub-format=compressed"


def test_parse_uses_override_base_when_tfhub_url_set(monkeypatch):
    monkeypatch.setenv("IMAGEHUB_TFHUB_URL", "http://127.0.0.1:9/hub/")
    handle = _handles.parse_handle(TFHUB + "/")
    assert handle.location == (
        "http://127.0.0.1:9/hub/google/imagenet/mobilenet_v1_025_128/"
        "classification/4?tf-hub-format=compressed"
    )
    assert handle.key == TFHUB, "the cache key must not depend on the mirror"


def test_parse_asks_mirror_for_compressed_archive_when_china_mirror():
    url = "https://hub.tensorflow.google.cn/google/imagenet/m/4"
    handle = _handles.parse_handle(url)
    assert handle.kind == _handles.TFHUB
    assert handle.location == url + "?tf-hub-format=compressed"


def test_parse_gives_same_key_when_kaggle_long_short_and_site_forms(
    monkeypatch,
):
    monkeypatch.delenv("IMAGEHUB_KAGGLE_URL", raising=False)
    site = (
        "https://www.kaggle.com/models/google/mobilenet-v1/frameworks/"
        "TensorFlow2/variations/025-128-classification/versions/4"
    )
    parsed = [_handles.parse_handle(h) for h in (KAGGLE, KAGGLE_SHORT, site)]
    assert {p.kind for p in parsed} == {_handles.KAGGLE}
    assert len({p.key for p in parsed}) == 1, [p.key for p in parsed]
    assert parsed[1].location == KAGGLE + "?tf-hub-format=compressed"


def test_parse_uses_override_base_when_kaggle_url_set(monkeypatch):
    monkeypatch.setenv("IMAGEHUB_KAGGLE_URL", "http://127.0.0.1:9")
    handle = _handles.parse_handle(KAGGLE_SHORT)
    assert handle.location.startswith(
        "http://127.0.0.1:9/models/google/mobilenet-v1/tensorFlow2/"
    )


@pytest.mark.parametrize(
    ("handle", "message"),
    [
        ("kaggle:google/mobilenet-v1/4", "OWNER/MODEL/FRAMEWORK"),
        ("kaggle:google/m/pyTorch/default/1", "framework 'pyTorch'"),
        ("kaggle:google/m/tensorFlow2/default/latest", "VERSION a number"),
        ("https://www.kaggle.com/datasets/x/y", "not a model URL"),
        ("https://example.com/model", "does not end in .tar"),
        ("https://tfhub.dev/", "names no model"),
        ("", "handle is empty"),
        ("file://otherhost/m", "only local files"),
    ],
)
def test_parse_raises_handle_error_when_malformed(handle, message):
    with pytest.raises(hub.HandleError, match=message):
        _handles.parse_handle(handle)


def test_parse_classifies_gcs_archives_and_directories():
    assert _handles.parse_handle("gs://b/m.tar.gz").kind == (
        _handles.GFILE_ARCHIVE
    )
    assert _handles.parse_handle("gs://b/m/").kind == _handles.GFILE_DIR
    assert _handles.parse_handle("gs://b/m/").location == "gs://b/m"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8/m.tar.gz",
        "http://localhost/m.tar.gz",
        "http://[::1]:8/m.tar.gz",
        "https://example.com/m.tar.gz",
    ],
)
def test_http_check_allows_url_when_loopback_or_https(url, monkeypatch):
    monkeypatch.delenv("IMAGEHUB_ALLOW_HTTP", raising=False)
    _handles.check_http_allowed(url)  # no exception


def test_resolve_refuses_plain_http_without_network_when_not_loopback(
    cache, monkeypatch
):
    with pytest.raises(hub.HandleError, match="IMAGEHUB_ALLOW_HTTP=1"):
        hub.resolve("http://example.invalid/m.tar.gz")
    monkeypatch.setenv("IMAGEHUB_ALLOW_HTTP", "1")
    _handles.check_http_allowed("http://example.invalid/m.tar.gz")
