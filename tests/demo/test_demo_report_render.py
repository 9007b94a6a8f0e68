"""The demo's report.html renders: headless Chromium takes a screenshot of
it (skipped when Chromium is not installed; `.ci/run` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

WIDTH, HEIGHT = 1200, 1800


def _chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def screenshot(demo, tmp_path_factory):
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "Chromium is not installed (/usr/bin/chromium); "
            "`apt-get install chromium` (done by .ci/run) enables this test"
        )
    tmp = tmp_path_factory.mktemp("chromium")
    png = tmp / "report.png"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--screenshot={png}",
        (demo.report / "report.html").as_uri(),
    ]
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=180, check=False
    )
    assert png.is_file(), (
        f"Chromium wrote no screenshot (exit {result.returncode}):\n"
        f"{result.stderr[-3000:]}"
    )
    keep = os.environ.get("IMAGEHUB_KEEP_SCREENSHOT")
    if keep:  # for looking at it by eye
        shutil.copy(png, keep)
    return png


def test_report_screenshot_when_rendered_has_window_size(screenshot):
    from PIL import Image

    with Image.open(screenshot) as image:
        assert image.size == (WIDTH, HEIGHT), (
            f"expected a {WIDTH}x{HEIGHT} screenshot, got {image.size}"
        )


def test_report_screenshot_when_rendered_is_not_blank(screenshot):
    from PIL import Image

    with Image.open(screenshot) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=WIDTH * HEIGHT)
    assert colours is not None
    distinct = len(colours)
    # Text, tables, two matplotlib plots and photo thumbnails give
    # thousands of colours; a blank or error page has a handful.
    assert distinct > 500, f"only {distinct} colours: the page looks blank"
    _, commonest = max(colours)
    share = max(colours)[0] / (WIDTH * HEIGHT)
    assert share < 0.95, (
        f"{share:.0%} of the page is one colour {commonest}: nearly blank"
    )
