"""The comparison report renders: headless Chromium screenshots of
report.html, for the generated comparison (default suite) and for the
bundled flowers with two MobileNet exports (slow). Skipped when Chromium
is not installed (`.ci/run` installs it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from imagehub import testing

WIDTH, HEIGHT = 1200, 1800
FLOWERS = Path(testing.__file__).parents[1] / "_default" / "flowers"
WEIGHTS = (
    Path(testing.__file__).parents[1]
    / "_default"
    / "weights"
    / "mobilenet_2_5_224_tf_no_top.h5"
)


def _screenshot(report: Path, tmp_path: Path) -> Path:
    if testing.chromium_path() is None:
        pytest.skip(
            "Chromium is not installed (/usr/bin/chromium); "
            "`apt-get install chromium` (done by .ci/run) enables this test"
        )
    png = tmp_path / "report.png"
    done = testing.screenshot_html(report, png, width=WIDTH, height=HEIGHT)
    assert png.is_file(), (
        f"Chromium wrote no screenshot (exit {done.returncode}):\n"
        f"{done.stderr[-3000:]}"
    )
    keep = os.environ.get("IMAGEHUB_KEEP_SCREENSHOT")
    if keep:  # for looking at it by eye
        shutil.copy(png, keep)
    return png


def _assert_rendered(png: Path, min_colours: int) -> None:
    distinct, share = testing.page_colours(png)
    assert distinct > min_colours, (
        f"only {distinct} colours: the page looks blank"
    )
    assert share < 0.95, f"{share:.0%} of the page is one colour"


def test_report_renders_when_generated_models_are_compared(ranked, tmp_path):
    result, _ = ranked
    png = _screenshot(Path(result.outputs["report"]), tmp_path)
    # Text, the table and the matplotlib scatter: hundreds of colours.
    _assert_rendered(png, 200)


@pytest.fixture(scope="module")
def flowers_run(tmp_path_factory):
    """`imagehub compare` on the bundled flowers with the bundled MobileNet
    V1 0.25 exported at 224 and at 128 pixels (the README's run)."""
    root = tmp_path_factory.mktemp("flowers")
    models = []
    for size in ("224", "128"):
        out = root / f"mnv1_{size}"
        done = testing.run_cli(
            "export",
            "--task",
            "feature_vector",
            "--arch",
            "MobileNet",
            "--alpha",
            "0.25",
            "--weights",
            str(WEIGHTS),
            "--image_size",
            size,
            "--out",
            str(out),
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        models += ["--model", str(out)]
    done = testing.run_cli(
        "compare",
        "--image_dir",
        str(FLOWERS),
        *models,
        "--out",
        str(root / "out"),
        "--json",
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "out", json.loads(done.stdout)


@pytest.mark.slow
def test_flowers_compare_scores_both_models_when_run(flowers_run):
    _, result = flowers_run
    assert result["num_images"] == 150 and len(result["class_names"]) == 5
    sizes = sorted(m["image_size"][0] for m in result["models"])
    assert sizes == [128, 224], result["models"]
    for model in result["models"]:
        assert model["error"] is None, model["error"]
        # Five classes: chance is 0.2; ImageNet features do far better.
        assert model["knn"]["accuracy"] > 0.4, model["knn"]
        assert model["num_features"] == 256


@pytest.mark.slow
def test_flowers_report_renders_when_run(flowers_run, tmp_path):
    out, _ = flowers_run
    png = _screenshot(out / "report.html", tmp_path)
    _assert_rendered(png, 300)
