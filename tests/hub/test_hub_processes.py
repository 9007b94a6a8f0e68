"""Several processes, crashed or stalled owners, Ctrl-C: the lock holds."""

import os
import signal
import subprocess
import sys
import time

import pytest

import imagehub
from imagehub import hub
from imagehub.hub import _config
from imagehub.hub import _handles
from imagehub.testing import cache_entries
from imagehub.testing import cache_leftovers
from imagehub.testing import same_files

PATH = "/m.tar.gz"
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(imagehub.__file__)))

# Imports the hub (no TensorFlow), says it is ready, waits for the go file
# so all processes ask at the same moment, then resolves.
_RACER = """
import os, sys, time
from imagehub import hub
ready, go, url = sys.argv[1:]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.01)
model = hub.load(url) if os.environ.get("RACER_LOAD") else None
if model is not None:
    import numpy as np
    assert model(np.zeros((1, 128, 128, 3), np.float32)).shape == (1, 1001)
print(hub.resolve(url))
"""

# Takes the entry's lock, starts staging a download, then dies by SIGKILL.
_CRASHER = """
import os, signal, sys
from imagehub.hub import _cache, _config, _handles, _lock
handle = _handles.parse_handle(sys.argv[1])
cache = _cache.Cache(_config.cache_dir())
os.makedirs(cache.root, exist_ok=True)
name = handle.cache_name
with _lock.entry_lock(cache.lock_path(name), stall_seconds=1e9,
                      done=lambda: False, label="crasher"):
    with cache.staging(name) as staging:
        with open(staging.scratch("download.tar"), "wb") as f:
            f.write(b"partial")
        os.kill(os.getpid(), signal.SIGKILL)
"""

# Takes the entry's lock, backdates its heartbeat, and hangs.
_STALLER = """
import os, sys, time
from imagehub.hub import _cache, _config, _handles, _lock
handle = _handles.parse_handle(sys.argv[1])
cache = _cache.Cache(_config.cache_dir())
os.makedirs(cache.root, exist_ok=True)
path = cache.lock_path(handle.cache_name)
with _lock.entry_lock(path, stall_seconds=1e9, done=lambda: False,
                      label="staller"):
    old = time.time() - 3600
    os.utime(path, (old, old))
    print("locked", flush=True)
    time.sleep(120)
"""


def _env(cache, **extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([_ROOT, env.get("PYTHONPATH", "")])
    env[_config.CACHE_DIR_VAR] = cache
    env.update(extra)
    return env


# A shell without job control starts background commands with SIGINT
# ignored, and Python then installs no handler for it: the Ctrl-C tests
# would fail under `make test &`. The child gets Python's handler back.
_SIGINT_HANDLER = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
)


def _start(script, *args, env):
    return subprocess.Popen(
        [sys.executable, "-c", _SIGINT_HANDLER + script, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def url(server, model_tgz, cache):
    server.add(PATH, model_tgz)
    return server.url(PATH)


def _race(server, url, cache, tmp_path, **env):
    server.set_fault(PATH, "slow")  # ~1.5 s, so the four overlap
    go = str(tmp_path / "go")
    ready = [str(tmp_path / f"ready{i}") for i in range(4)]
    procs = [_start(_RACER, r, go, url, env=_env(cache, **env)) for r in ready]
    try:
        _wait_for(lambda: all(map(os.path.exists, ready)), "4 racers")
        open(go, "w").close()
        outputs = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, f"racer failed: {err}"
    paths = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(paths) == 1, f"racers got different directories: {paths}"
    assert server.count(PATH) == 1, "the server must see one download"
    assert same_files(paths.pop())
    assert cache_leftovers(cache) == []


def test_four_processes_download_once_when_same_handle(
    server, url, cache, tmp_path
):
    # resolve() is the part of load() that races; TensorFlow then reads
    # the directory. The slow variant below runs the whole load.
    _race(server, url, cache, tmp_path)


@pytest.mark.slow
def test_four_processes_load_once_when_same_handle(
    server, url, cache, tmp_path
):
    _race(server, url, cache, tmp_path, RACER_LOAD="1")


def test_four_threads_download_once_when_same_handle(server, url, cache):
    from concurrent.futures import ThreadPoolExecutor

    server.set_fault(PATH, "slow")
    with ThreadPoolExecutor(4) as pool:
        paths = set(pool.map(lambda _: hub.resolve(url), range(4)))
    assert len(paths) == 1, paths
    assert server.count(PATH) == 1, "threads of one process must share too"
    assert cache_leftovers(cache) == []


def test_resolve_takes_over_lock_when_owner_died(server, url, cache):
    crasher = _start(_CRASHER, url, env=_env(cache))
    crasher.communicate(timeout=60)
    assert crasher.returncode == -signal.SIGKILL
    name = _handles.parse_handle(url).cache_name
    assert os.path.exists(os.path.join(cache, name + ".lock"))
    assert any(n.startswith(".tmp-") for n in cache_leftovers(cache))
    model_dir = hub.resolve(url)  # default stall time: 120 s
    assert same_files(model_dir)
    assert cache_leftovers(cache) == [], "the dead owner's debris remains"


def test_resolve_takes_over_lock_when_owner_stalled(
    server, url, cache, monkeypatch
):
    staller = _start(_STALLER, url, env=_env(cache))
    try:
        line = staller.stdout.readline()
        assert line.strip() == "locked", staller.stderr.read()
        monkeypatch.setenv(_config.LOCK_STALL_VAR, "1")
        model_dir = hub.resolve(url)
        assert same_files(model_dir)
        assert server.count(PATH) == 1
        assert staller.poll() is None, "the staller should still be alive"
    finally:
        staller.kill()
        staller.communicate()
    assert cache_leftovers(cache) == []


def test_ctrl_c_leaves_no_temp_dir_lock_or_entry(server, url, cache):
    server.set_fault(PATH, "stall")  # half the body, then nothing
    proc = _start(
        "import sys; from imagehub import hub; hub.resolve(sys.argv[1])",
        url,
        env=_env(cache),
    )
    try:
        _wait_for(
            lambda: (
                server.count(PATH) == 1
                and any(n.startswith(".tmp-") for n in cache_leftovers(cache))
            ),
            "the download to start",
        )
        time.sleep(0.3)  # let it write part of the body
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        server.release()
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err, err[-2000:]
    assert cache_entries(cache) == [], "Ctrl-C left a partial entry"
    assert cache_leftovers(cache) == [], "Ctrl-C left temp dirs or locks"
