"""Download progress: log lines when stderr is not a terminal."""

import logging

from imagehub.hub import _progress


def test_reporter_logs_rate_limited_lines_when_not_a_terminal(
    caplog, monkeypatch
):
    monkeypatch.setattr(_progress, "LOG_EVERY_SECONDS", 3600.0)
    with caplog.at_level(logging.INFO, logger=_progress.__name__):
        with _progress.reporter("model") as update:
            for done in range(0, 1000001, 1000):
                update(done, 1000000)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, f"expected a start and an end line: {lines}"
    assert lines[-1].startswith("Downloading model: 1.0 MB of 1.0 MB (100%)")


def test_reporter_logs_each_interval_when_not_a_terminal(caplog, monkeypatch):
    monkeypatch.setattr(_progress, "LOG_EVERY_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger=_progress.__name__):
        with _progress.reporter("model") as update:
            for done in (1, 2, 3):
                update(done, None)
    assert len(caplog.records) == 5, [r.getMessage() for r in caplog.records]


def test_resolve_draws_rich_bar_when_stderr_is_terminal(
    server, model_tgz, cache
):
    import os
    import pty
    import subprocess
    import sys

    from imagehub import hub

    server.add("/m.tar.gz", model_tgz)
    primary, secondary = pty.openpty()
    package_parent = os.path.dirname(
        os.path.dirname(os.path.dirname(hub.__file__))
    )
    env = dict(os.environ, PYTHONPATH=package_parent, IMAGEHUB_CACHE_DIR=cache)
    env["TERM"] = "xterm"
    code = "import sys; from imagehub import hub; hub.resolve(sys.argv[1])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, server.url("/m.tar.gz")],
        env=env,
        stderr=secondary,
        stdout=subprocess.PIPE,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # EIO once the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    out, _ = proc.communicate(timeout=60)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, screen
    assert out == b"", "nothing may go to stdout"
    assert "1.8/1.8 MB" in screen, f"no progress bar drawn: {screen!r}"
