"""`imagehub cache list|verify|clear` on a cache filled from the server."""

import json
import os
import subprocess
import sys

import pytest

from imagehub import hub
from imagehub.testing import cache_entries
from imagehub.testing import run_cli

PATH = "/m.tar.gz"


@pytest.fixture
def filled(server, model_tgz, cache):
    server.add(PATH, model_tgz)
    url = server.url(PATH)
    return url, hub.resolve(url)


def _cli(cache, *args):
    return run_cli("cache", *args, env={"IMAGEHUB_CACHE_DIR": cache})


def test_cache_list_json_reports_entry(filled, cache):
    url, model_dir = filled
    result = _cli(cache, "list", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["cache_dir"] == cache
    (entry,) = listing["entries"]
    assert entry["handle"] == url
    assert entry["path"] == model_dir
    assert entry["ok"] is True


def test_cache_list_prints_table_and_count(filled, cache):
    url, _ = filled
    result = _cli(cache, "list")
    assert result.returncode == 0, result.stderr
    assert "1 cached model(s)" in result.stdout, result.stdout


def test_cache_verify_exits_1_when_damaged_and_fix_removes(filled, cache):
    _, model_dir = filled
    with open(os.path.join(model_dir, "saved_model.pb"), "r+b") as f:
        f.seek(100)
        f.write(b"\xff\xfe")
    result = _cli(cache, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DAMAGED" in result.stdout and "sha256" in result.stdout
    result = _cli(cache, "verify", "--fix")
    assert result.returncode == 0, result.stdout + result.stderr
    assert cache_entries(cache) == []


def test_cache_verify_exits_0_when_sound(filled, cache):
    result = _cli(cache, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All 1 entries verified" in result.stdout


def test_cache_clear_refuses_without_yes_when_not_a_terminal(filled, cache):
    result = _cli(cache, "clear")
    assert result.returncode == 2
    assert "pass --yes" in result.stderr
    assert len(cache_entries(cache)) == 1, "nothing may be deleted"


def test_cache_clear_deletes_with_yes(filled, cache):
    result = _cli(cache, "clear", "--yes")
    assert result.returncode == 0, result.stderr
    assert f"Deleted 1 cached model(s) from {cache}." in result.stdout, (
        "nothing compiled: the summary should not mention compiled models; "
        f"got {result.stdout!r}"
    )
    assert cache_entries(cache) == []


def test_cache_clear_reports_usage_error_when_handle_is_local(cache, tmp_path):
    result = _cli(cache, "clear", "--yes", str(tmp_path))
    assert result.returncode == 2
    assert "never cached" in result.stderr


def test_cache_cli_imports_no_tensorflow(cache):
    code = (
        "import sys; from imagehub.cli import main; "
        "main(['cache', 'list']); "
        "sys.exit(3 if 'tensorflow' in sys.modules else 0)"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(hub.__file__)))
    env = dict(os.environ, IMAGEHUB_CACHE_DIR=cache)
    env["PYTHONPATH"] = os.path.dirname(root)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"tensorflow imported: {result.stderr}"


def test_cache_clear_names_a_local_path_as_such_when_it_does_not_exist(cache):
    result = _cli(cache, "clear", "no_such_model", "--yes")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "'no_such_model' is a local path" in result.stderr, result.stderr
    assert "local directory" not in result.stderr, (
        f"no_such_model is not a directory: {result.stderr}"
    )
