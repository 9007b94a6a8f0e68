"""Screenshots of HTML reports in headless Chromium, for tests that a
report renders (skipped by the caller when Chromium is not installed)."""

from __future__ import annotations

import os
import shutil
import subprocess

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")


def chromium_path() -> str | None:
    """The Chromium executable, or None when it is not installed."""
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def screenshot_html(
    page: str | os.PathLike[str],
    png: str | os.PathLike[str],
    *,
    width: int = 1200,
    height: int = 1800,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Renders `page` in headless Chromium into the PNG `png`.

    Raises:
        FileNotFoundError: Chromium is not installed.
        subprocess.TimeoutExpired: It did not finish within `timeout`.
    """
    browser = chromium_path()
    if browser is None:
        raise FileNotFoundError(
            "Chromium is not installed; apt-get install chromium"
        )
    png = os.path.abspath(os.fspath(png))
    profile = png + ".profile"
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
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        f"--screenshot={png}",
        f"file://{os.path.abspath(os.fspath(page))}",
    ]
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def page_colours(png: str | os.PathLike[str]) -> tuple[int, float]:
    """(distinct colours, share of the commonest colour) of a screenshot:
    a rendered report has thousands of colours, a blank page a handful."""
    from PIL import Image

    with Image.open(png) as image:
        rgb = image.convert("RGB")
        pixels = rgb.size[0] * rgb.size[1]
        colours = rgb.getcolors(maxcolors=pixels)
    assert colours is not None  # noqa: S101 - maxcolors covers every pixel
    return len(colours), max(colours)[0] / pixels
