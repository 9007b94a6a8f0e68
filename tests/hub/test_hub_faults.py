"""Server faults give a clear error or a good entry, never a broken one."""

import pytest

from imagehub import hub
from imagehub.testing import ConnectionCounter
from imagehub.testing import cache_entries
from imagehub.testing import cache_leftovers
from imagehub.testing import same_files

PATH = "/m.tar.gz"


@pytest.fixture
def url(server, model_tgz, cache):
    server.add(PATH, model_tgz)
    return server.url(PATH)


def _assert_nothing_cached(cache):
    assert cache_entries(cache) == [], "a failed fetch left an entry"
    assert cache_leftovers(cache) == [], "a failed fetch left temp/lock files"


def test_resolve_retries_when_connection_dropped_once(server, url, cache):
    server.set_fault(PATH, "drop", times=1)
    model_dir = hub.resolve(url)
    assert server.count(PATH) == 2, "expected one retry after the drop"
    assert same_files(model_dir)
    assert cache_leftovers(cache) == []


def test_resolve_raises_download_error_when_connection_always_drops(
    server, url, cache
):
    server.set_fault(PATH, "drop")
    with pytest.raises(hub.DownloadError, match="connection closed after"):
        hub.resolve(url)
    assert server.count(PATH) == 5, "expected 5 attempts in all"
    _assert_nothing_cached(cache)


def test_resolve_raises_download_error_when_archive_truncated(
    server, url, cache
):
    server.set_fault(PATH, "truncate")
    with pytest.raises(hub.DownloadError, match="truncated or corrupt"):
        hub.resolve(url)
    _assert_nothing_cached(cache)


def test_resolve_raises_download_error_when_archive_corrupt(server, url, cache):
    server.set_fault(PATH, "corrupt")
    with pytest.raises(hub.DownloadError, match=r"truncated or corrupt"):
        hub.resolve(url)
    _assert_nothing_cached(cache)


def test_resolve_says_not_a_tar_archive_when_server_sends_a_page(server, cache):
    server.add("/page.tar.gz", b"<html><body>Please sign in</body></html>")
    with pytest.raises(hub.DownloadError, match="did not send a tar archive"):
        hub.resolve(server.url("/page.tar.gz"))
    _assert_nothing_cached(cache)


def test_resolve_fails_at_once_naming_url_when_404(server, url, cache):
    server.set_fault(PATH, "404")
    with pytest.raises(hub.ModelNotFoundError, match=f"404.*{url}"):
        hub.resolve(url)
    assert server.count(PATH) == 1, "a 404 must not be retried"
    _assert_nothing_cached(cache)


def test_resolve_fails_at_once_naming_url_when_403(server, url, cache):
    server.set_fault(PATH, "403")
    with pytest.raises(hub.DownloadError, match=f"403.*{url}"):
        hub.resolve(url)
    assert server.count(PATH) == 1, "a 403 must not be retried"
    _assert_nothing_cached(cache)


def test_resolve_retries_with_backoff_when_500_then_success(server, url, cache):
    server.set_fault(PATH, "500", times=2)
    model_dir = hub.resolve(url)
    assert server.count(PATH) == 3, "expected two retries after two 500s"
    assert same_files(model_dir)


def test_resolve_raises_not_a_saved_model_when_archive_has_none(server, cache):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("model/saved_model.pb")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    server.add("/nested.tar.gz", buffer.getvalue())
    with pytest.raises(hub.NotASavedModelError, match="inside the folder"):
        hub.resolve(server.url("/nested.tar.gz"))
    _assert_nothing_cached(cache)


def test_resolve_names_tf1_hub_module_when_archive_holds_one(server, cache):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("tfhub_module.pb")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    server.add("/tf1.tar.gz", buffer.getvalue())
    with pytest.raises(hub.NotASavedModelError, match="TF1 Hub module"):
        hub.resolve(server.url("/tf1.tar.gz"))
    _assert_nothing_cached(cache)


def test_resolve_refuses_redirect_to_plain_http_when_not_loopback(
    server, cache
):
    server.redirect("/r.tar.gz", "http://example.invalid/m.tar.gz")
    with pytest.raises(hub.HandleError, match="refusing plain http"):
        hub.resolve(server.url("/r.tar.gz"))
    _assert_nothing_cached(cache)


@pytest.mark.timeout(60)
def test_resolve_refuses_redirect_when_target_is_ftp(server, cache):
    with ConnectionCounter() as listener:
        server.redirect("/r.tar.gz", f"ftp://{listener.address}/m.tar.gz")
        with pytest.raises(hub.HandleError, match="scheme 'ftp'"):
            hub.resolve(server.url("/r.tar.gz"))
        assert listener.count == 0, "the ftp redirect target was contacted"
    assert server.count("/r.tar.gz") == 1, "a refused redirect was retried"
    _assert_nothing_cached(cache)


def test_offline_loads_cached_handle_without_network(
    server, url, cache, monkeypatch
):
    hub.resolve(url)
    before = server.total()
    monkeypatch.setenv("IMAGEHUB_OFFLINE", "1")
    model_dir = hub.resolve(url)
    assert same_files(model_dir)
    assert server.total() == before, "offline mode touched the network"


def test_offline_refuses_uncached_handle_without_network(
    server, url, cache, monkeypatch
):
    monkeypatch.setenv("IMAGEHUB_OFFLINE", "1")
    with pytest.raises(hub.OfflineError, match="not in the cache"):
        hub.resolve(url)
    with pytest.raises(hub.OfflineError, match="IMAGEHUB_OFFLINE"):
        hub.resolve("kaggle:google/m/tensorFlow2/default/1")
    assert server.total() == 0, "offline mode touched the network"
    _assert_nothing_cached(cache)
