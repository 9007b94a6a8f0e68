"""The demo's report.html renders: headless Chromium takes a screenshot of
it (skipped when Chromium is not installed; `.ci/run` installs it)."""

from __future__ import annotations

import os
import shutil

import pytest

from imagehub import testing

WIDTH, HEIGHT = 1200, 1800


@pytest.fixture(scope="module")
def screenshot(demo, tmp_path_factory):
    if testing.chromium_path() is None:
        pytest.skip(
            "Chromium is not installed (/usr/bin/chromium); "
            "`apt-get install chromium` (done by .ci/run) enables this test"
        )
    png = tmp_path_factory.mktemp("chromium") / "report.png"
    result = testing.screenshot_html(
        demo.report / "report.html", png, width=WIDTH, height=HEIGHT
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
