"""Killing `embed` half way and rerunning it writes each image once."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow.parquet as pq
import pytest

import imagehub
from imagehub import testing
from imagehub.outputs import OutputExistsError

from .conftest import model_outputs


class Interrupted(Exception):
    pass


def _stop_after(limit: int, seen: list[int]):
    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= limit:
            raise Interrupted(f"stopped after {done} of {total}")

    return progress


def _assert_each_once(out: str, paths: list[str], model: str) -> None:
    table = pq.read_table(out)
    got = table["path"].to_pylist()
    assert len(got) == len(set(got)), "no image written twice"
    assert sorted(got) == sorted(paths), "every image written"
    vectors = np.array(table["vector"].to_pylist(), np.float32)
    expected = model_outputs(model, got, (16, 16), "stretch")
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_embed_rerun_after_interruption_writes_each_image_once(
    models, image_folder, tmp_path
):
    folder, paths = image_folder
    out = str(tmp_path / "f.parquet")
    seen: list[int] = []
    with pytest.raises(Interrupted):
        imagehub.embed(
            models["feature_vector"],
            folder,
            out,
            batch_size=20,
            part_size=40,
            progress=_stop_after(150, seen),
        )
    assert not os.path.exists(out), "no output before the run finishes"
    parts = glob.glob(str(tmp_path / "f.parts" / "part-*.parquet"))
    # Stopped after the batch ending at 160: 4 full parts of 40.
    assert len(parts) == 4, f"160 rows are in parts of 40: {parts}"
    seen.clear()
    summary = imagehub.embed(
        models["feature_vector"],
        folder,
        out,
        batch_size=20,
        part_size=40,
        progress=lambda done, total: seen.append(total),
    )
    assert seen[-1] == len(paths) - 160, "the rerun skips finished parts"
    assert summary.processed == len(paths) - 160
    _assert_each_once(out, paths, models["feature_vector"])


def test_embed_rerun_after_sigkill_writes_each_image_once(
    models, image_folder, tmp_path
):
    folder, paths = image_folder
    out = str(tmp_path / "k.npy")
    # A hard kill in the middle of a run: no exception handler, no
    # `finally`, whatever file is half written stays as it is.
    script = textwrap.dedent(
        f"""
        import os, signal
        import imagehub

        def progress(done, total):
            if done >= 130:
                os.kill(os.getpid(), signal.SIGKILL)

        imagehub.embed({models["feature_vector"]!r}, {folder!r}, {out!r},
                       batch_size=10, part_size=25, progress=progress)
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.getcwd(), env.get("PYTHONPATH", "")]
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    parts = glob.glob(str(tmp_path / "k.parts" / "part-*.parquet"))
    assert len(parts) >= 4, f"parts finished before the kill: {parts}"
    assert not os.path.exists(out)
    summary = imagehub.embed(
        models["feature_vector"], folder, out, batch_size=10, part_size=25
    )
    assert summary.processed <= len(paths) - 100
    assert not glob.glob(str(tmp_path / "k.parts*")), "parts cleaned up"
    vectors = np.load(out)
    with open(str(tmp_path / "k.paths.txt"), encoding="utf-8") as f:
        listed = f.read().splitlines()
    assert len(listed) == len(set(listed)) == len(paths), "each image once"
    assert sorted(listed) == sorted(paths)
    expected = model_outputs(
        models["feature_vector"], listed, (16, 16), "stretch"
    )
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_embed_rerun_of_finished_output_adds_only_new_images(models, tmp_path):
    folder = str(tmp_path / "grow")
    first = testing.write_flat_folder(folder, 30, size=(20, 20), seed=1)
    out = str(tmp_path / "g.parquet")
    imagehub.embed(models["feature_vector"], folder, out, part_size=8)
    again = imagehub.embed(models["feature_vector"], folder, out)
    assert again.processed == 0, "nothing left to do"
    assert again.rows == 30
    extra = testing.write_flat_folder(
        str(tmp_path / "more"), 12, size=(20, 20), seed=2
    )
    moved = []
    for path in extra:
        target = os.path.join(folder, "new_" + os.path.basename(path))
        os.replace(path, target)
        moved.append(target)
    summary = imagehub.embed(models["feature_vector"], folder, out)
    assert summary.processed == 12, "only the new images are read"
    _assert_each_once(out, first + moved, models["feature_vector"])


def test_embed_resume_refuses_another_model(models, image_folder, tmp_path):
    folder, _ = image_folder
    out = str(tmp_path / "m.parquet")
    with pytest.raises(Interrupted):
        imagehub.embed(
            models["classification"],
            folder,
            out,
            part_size=20,
            progress=_stop_after(60, []),
        )
    with pytest.raises(OutputExistsError, match="made with model="):
        imagehub.embed(models["feature_vector"], folder, out, part_size=20)


def test_embed_saves_config_and_refuses_to_extend_with_other_options(
    models, tmp_path
):
    import json

    folder = str(tmp_path / "cfg")
    testing.write_flat_folder(folder, 12, size=(20, 20), seed=4)
    out = str(tmp_path / "c.parquet")
    imagehub.embed(models["feature_vector"], folder, out, resize="crop")
    with open(str(tmp_path / "c.config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert config["model"] == models["feature_vector"]
    assert (config["image_size"], config["resize"]) == ([16, 16], "crop")
    assert config["num_outputs"] == 8
    with pytest.raises(
        OutputExistsError, match="resize='crop', this run has 'pad'"
    ):
        imagehub.embed(models["feature_vector"], folder, out, resize="pad")
    assert pq.read_table(out).num_rows == 12, "the output is untouched"
