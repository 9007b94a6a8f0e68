"""imagehub.outputs: atomic publication, one overwrite rule, no litter."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time

import pytest

from imagehub import outputs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def test_atomic_file_publishes_only_when_the_block_ends(tmp_path):
    target = tmp_path / "labels.txt"
    with outputs.atomic_file(target) as tmp:
        with open(tmp, "w") as f:
            f.write("daisy\n")
        assert not target.exists(), "the target appeared before the end"
    assert target.read_text() == "daisy\n"
    assert os.listdir(tmp_path) == ["labels.txt"], os.listdir(tmp_path)


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_directory_leaves_nothing_when_the_block_raises(tmp_path, exc):
    target = tmp_path / "model"
    with pytest.raises(type(exc)):
        with outputs.atomic_directory(target) as tmp:
            (tmp_path / "model.marker").touch()
            with open(os.path.join(tmp, "saved_model.pb"), "w") as f:
                f.write("half")
            raise exc
    assert sorted(os.listdir(tmp_path)) == ["model.marker"], (
        f"a failed write left {os.listdir(tmp_path)}"
    )


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_existing_target_is_refused_with_the_one_message_when_no_overwrite(
    tmp_path, kind
):
    target = tmp_path / "out"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    writer = outputs.atomic_file if kind == "file" else outputs.atomic_directory
    with pytest.raises(outputs.OutputExistsError) as info:
        with writer(target):
            pass
    message = str(info.value)
    assert str(target) in message and "--overwrite" in message, message
    assert isinstance(info.value, FileExistsError)
    assert (target / "mine.txt").read_text() == "keep"


def test_overwrite_replaces_a_folder_and_leaves_no_sibling(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with outputs.atomic_directory(target, overwrite=True) as tmp:
        with open(os.path.join(tmp, "new.txt"), "w") as f:
            f.write("new")
    assert sorted(os.listdir(target)) == ["new.txt"]
    assert os.listdir(tmp_path) == ["out"], os.listdir(tmp_path)


def test_failed_overwrite_keeps_the_old_folder(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with outputs.atomic_directory(target, overwrite=True):
            raise RuntimeError("no")
    assert (target / "old.txt").read_text() == "old"
    assert os.listdir(tmp_path) == ["out"], os.listdir(tmp_path)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_published_outputs_get_the_umask_modes_when_made_from_temp(
    tmp_path, umask
):
    old = os.umask(umask)
    try:
        with outputs.atomic_file(tmp_path / "model.tflite") as tmp:
            with open(tmp, "wb") as f:
                f.write(b"x")
        with outputs.atomic_directory(tmp_path / "model") as tmp:
            os.makedirs(os.path.join(tmp, "variables"))
            with open(os.path.join(tmp, "variables", "v.index"), "wb") as f:
                f.write(b"x")
            os.chmod(os.path.join(tmp, "variables", "v.index"), 0o600)
    finally:
        os.umask(old)

    def mode(*parts):
        return oct(os.stat(os.path.join(tmp_path, *parts)).st_mode & 0o777)

    file_mode, dir_mode = oct(0o666 & ~umask), oct(0o777 & ~umask)
    assert mode("model.tflite") == file_mode, "a file output kept 0600"
    assert mode("model") == dir_mode, "a folder output kept 0700"
    assert mode("model", "variables") == dir_mode
    assert mode("model", "variables", "v.index") == file_mode


def test_current_umask_is_the_process_umask():
    old = os.umask(0o037)
    try:
        assert outputs.current_umask() == 0o037
    finally:
        os.umask(old)


def test_temp_sibling_of_a_dead_process_is_removed_by_the_next_run(tmp_path):
    target = tmp_path / "model"
    dead = tmp_path / f".model.tmp-{_dead_pid()}-abcd1234"
    (dead / "variables").mkdir(parents=True)
    dead_file = tmp_path / f".model.old-{_dead_pid()}-x"
    alive = tmp_path / f".model.tmp-{os.getppid()}-efgh5678"
    alive.mkdir()
    other = tmp_path / f".other.tmp-{_dead_pid()}-1"
    other.mkdir()
    target.mkdir()
    dead_file.mkdir()
    with outputs.atomic_directory(target, overwrite=True):
        pass
    left = sorted(os.listdir(tmp_path))
    assert dead.name not in left, f"a dead run's temp was kept: {left}"
    assert dead_file.name not in left, f"a dead run's aside was kept: {left}"
    assert alive.name in left, "a live process's temp was removed"
    assert other.name in left, "another target's temp was removed"


def test_temp_sibling_without_pid_is_removed_only_when_old(tmp_path):
    old = tmp_path / ".labels.txt.tmp-k2j4h5"
    new = tmp_path / ".labels.txt.tmp-q9w8e7"
    old.write_text("")
    new.write_text("")
    past = time.time() - 2 * 3600
    os.utime(old, (past, past))
    outputs.remove_abandoned(tmp_path / "labels.txt")
    left = sorted(os.listdir(tmp_path))
    assert left == [new.name], f"expected only the fresh temp, got {left}"


def test_folder_moved_aside_by_a_killed_replace_is_restored(tmp_path):
    aside = tmp_path / f".model.old-{_dead_pid()}-zz"
    aside.mkdir()
    (aside / "saved_model.pb").write_text("the old model")
    restored = outputs.remove_abandoned(tmp_path / "model")
    assert restored == [str(aside)]
    assert (tmp_path / "model" / "saved_model.pb").read_text() == (
        "the old model"
    )


KILLED_WRITER = """
import os, sys, time
from imagehub import outputs
with outputs.atomic_directory(sys.argv[1]) as tmp:
    open(os.path.join(tmp, "part"), "w").close()
    print("writing", flush=True)
    time.sleep(60)
"""


def test_temp_of_a_killed_writer_is_removed_when_the_target_is_written(
    tmp_path,
):
    target = str(tmp_path / "model")
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, target],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.kill()
        proc.wait(timeout=30)
    litter = os.listdir(tmp_path)
    assert len(litter) == 1 and litter[0].startswith(".model.tmp-"), litter
    with outputs.atomic_directory(target):
        pass
    assert os.listdir(tmp_path) == ["model"], os.listdir(tmp_path)


def test_errors_survive_pickling_with_their_message():
    for error in (
        outputs.OutputExistsError("/x/out", "made by another model"),
        outputs.OutputLockedError("/x/out", "process 1 on h", 3.0),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert str(copy) == str(error) and type(copy) is type(error)


def test_importing_outputs_imports_no_tensorflow():
    code = (
        "import sys, imagehub.outputs; "
        "print(sorted(m for m in sys.modules if m.startswith(('tensorflow', "
        "'imagehub.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=60,
        check=True,
    )
    modules = eval(out.stdout)  # noqa: S307 - our own printed list
    # imagehub._version is the root's constant, below every package.
    allowed = ("imagehub.outputs", "imagehub._version")
    assert all(m.startswith(allowed) for m in modules), modules
