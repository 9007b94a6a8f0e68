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
