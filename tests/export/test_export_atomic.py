"""The export is atomic: temp dir beside the target, verify, rename."""

import os

import pytest

from imagehub.export import _exporter
from imagehub.export import export_feature_vector
from imagehub.spec import read_card
from imagehub.testing import tiny_keras_model


@pytest.fixture(scope="module")
def model():
    return tiny_keras_model(image_size=8)


def _boom(exc):
    def verify(*args, **kwargs):
        raise exc

    return verify


@pytest.mark.parametrize(
    "exc", [RuntimeError("verification failed"), KeyboardInterrupt()]
)
def test_failed_export_leaves_no_target_and_no_temp(
    model, tmp_path, monkeypatch, exc
):
    monkeypatch.setattr(_exporter, "_verify", _boom(exc))
    target = tmp_path / "out"
    with pytest.raises(type(exc)):
        export_feature_vector(model, str(target))
    assert not target.exists(), "a failed export left its target"
    assert os.listdir(tmp_path) == [], (
        f"temp files left behind: {os.listdir(tmp_path)}"
    )


def test_existing_target_is_refused_unless_overwrite(model, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_feature_vector(model, str(target))
    assert (target / "keep.txt").read_text() == "mine"
    export_feature_vector(model, str(target), overwrite=True)
    assert not (target / "keep.txt").exists()
    assert read_card(str(target)).num_features == 8
    assert sorted(os.listdir(tmp_path)) == ["out"], os.listdir(tmp_path)


def test_failed_overwrite_keeps_the_old_target(model, tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    monkeypatch.setattr(_exporter, "_verify", _boom(RuntimeError("no")))
    with pytest.raises(RuntimeError):
        export_feature_vector(model, str(target), overwrite=True)
    assert (target / "keep.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["out"], os.listdir(tmp_path)


def test_export_when_published_has_the_umask_modes(model, tmp_path):
    target = tmp_path / "out"
    old = os.umask(0o022)
    try:
        export_feature_vector(model, str(target))
    finally:
        os.umask(old)
    private = {}
    for root, dirs, files in os.walk(target):
        for name in dirs + files:
            path = os.path.join(root, name)
            want = 0o755 if os.path.isdir(path) else 0o644
            mode = os.stat(path).st_mode & 0o777
            if mode != want:
                private[os.path.relpath(path, tmp_path)] = oct(mode)
    mode = os.stat(target).st_mode & 0o777
    assert mode == 0o755, f"the SavedModel folder is {oct(mode)}, not 0o755"
    assert not private, f"files not readable by others: {private}"


def test_export_when_a_killed_export_left_a_temp_removes_it(model, tmp_path):
    import subprocess
    import sys

    # What a SIGKILLed export of the same target leaves: a temporary
    # sibling named after its (now gone) process.
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    litter = tmp_path / f".out.tmp-{proc.pid}-k1ll3d"
    (litter / "variables").mkdir(parents=True)
    export_feature_vector(model, str(tmp_path / "out"))
    assert sorted(os.listdir(tmp_path)) == ["out"], os.listdir(tmp_path)
