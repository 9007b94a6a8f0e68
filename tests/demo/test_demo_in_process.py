"""The demo's steps run in its own process (`imagehub.cli._in_process`):
each gets the exit code and messages `python -m imagehub` would give, and
leaves no state behind for the next step."""

from __future__ import annotations

import logging
import os
import signal
import sys
import warnings

import pytest

from imagehub.cli import _demo
from imagehub.cli import _in_process

MISSING = "/nonexistent/imagehub-demo-model"


def test_run_command_when_version_returns_0_and_prints_it(capsys):
    from imagehub import __version__

    code = _in_process.run_command(["--version"])
    out = capsys.readouterr().out
    assert code == 0, f"expected exit 0 from --version, got {code}"
    assert f"imagehub {__version__}" in out, f"version not printed: {out!r}"


def test_run_command_when_command_unknown_returns_2_with_usage(capsys):
    code = _in_process.run_command(["no-such-command"])
    err = capsys.readouterr().err
    assert code == 2, f"expected argparse's exit 2, got {code}"
    assert "invalid choice: 'no-such-command'" in err, err


def test_run_command_when_model_missing_returns_check_exit_code(capsys):
    code = _in_process.run_command(["check", MISSING])
    out = capsys.readouterr().out
    assert code == 2, f"expected check's exit 2 for a missing model: {code}"
    assert "not found" in out and MISSING in out, out


@pytest.mark.parametrize(
    ("code", "expected", "message"),
    [(None, 0, ""), (0, 0, ""), (3, 3, ""), ("stopped: why", 1, "stopped")],
)
def test_exit_code_when_system_exit_matches_python(
    capsys, code, expected, message
):
    got = _in_process._exit_code(SystemExit(code))
    assert got == expected, f"SystemExit({code!r}): exit {got}"
    err = capsys.readouterr().err
    assert (message in err) if message else err == "", f"stderr {err!r}"


def test_run_command_when_repeated_leaves_root_handlers_as_found():
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    for _ in range(2):
        _in_process.run_command(["check", MISSING])
    assert root.handlers == before, f"handlers {root.handlers} != {before}"
    assert root.level == level, f"root level {root.level} != {level}"


def test_isolated_when_block_changes_process_state_restores_it(tmp_path):
    cwd = os.getcwd()
    filters = list(warnings.filters)
    stdout = sys.stdout
    handler = signal.getsignal(signal.SIGTERM)
    logger = logging.getLogger("imagehub.tests.in_process")
    logger.setLevel(logging.ERROR)
    root_handlers = list(logging.getLogger().handlers)
    os.environ.pop("IMAGEHUB_TEST_IN_PROCESS", None)
    with _in_process._isolated():
        os.chdir(tmp_path)
        os.environ["IMAGEHUB_TEST_IN_PROCESS"] = "1"
        warnings.filterwarnings("ignore", message="in process")
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        logger.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(logging.NullHandler())
        sys.stdout = sys.stderr
    assert os.getcwd() == cwd, f"cwd left at {os.getcwd()}"
    assert "IMAGEHUB_TEST_IN_PROCESS" not in os.environ, "env var leaked"
    assert list(warnings.filters) == filters, "warnings filter leaked"
    assert signal.getsignal(signal.SIGTERM) == handler, "SIGTERM leaked"
    assert logger.level == logging.ERROR, f"logger level {logger.level}"
    assert logging.getLogger().handlers == root_handlers, "root handler leaked"
    assert sys.stdout is stdout, "sys.stdout left replaced"


def test_isolated_when_block_builds_keras_layers_resets_names_and_ops():
    import keras
    from tensorflow.python.framework import config as tf_config

    assert not tf_config.is_op_determinism_enabled(), "on before the test"
    with _in_process._isolated():
        first = keras.layers.Dense(1).name
        keras.layers.Dense(1)
        keras.utils.set_random_seed(0)
        tf_config.enable_op_determinism()
    assert not tf_config.is_op_determinism_enabled(), "determinism leaked"
    with _in_process._isolated():
        again = keras.layers.Dense(1).name
    assert again == first, f"layer names go on counting: {first} -> {again}"


def test_demo_step_when_command_fails_stops_with_its_exit_code(capsys):
    with pytest.raises(SystemExit) as e:
        _demo._step("2. check it", ["check", MISSING])
    out = capsys.readouterr().out
    assert str(e.value.code) == (
        "demo step '2. check it' failed with exit code 2; the command above "
        "shows what ran"
    ), e.value.code
    assert f"$ imagehub check {MISSING}\n" in out, out
    assert out.rstrip().endswith("s)"), f"no step time printed: {out!r}"
