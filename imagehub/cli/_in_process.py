"""`run_command(argv)`: an `imagehub` command run in this process as if it
were a process of its own, through the CLI's entry point `main(argv)`.

The demo runs its six steps this way rather than as subprocesses, which
would pay Python's and TensorFlow's start-up each time.

A command gets what a fresh process would give it and leaves nothing behind
for the next (`_isolated`): the working folder, environment, `sys.argv`,
standard streams, signal handlers, warnings filters and logging
configuration are put back after it; Keras's global state (layer names,
seeds) is cleared and TensorFlow's op determinism restored; Python's,
NumPy's and TensorFlow's random generators are reseeded from the system's
entropy before it, as at a process's start. `main` sets up logging and the
quiet TensorFlow import (a no-op once TensorFlow is loaded) afresh on every
call, and output locks are context managers, released when a command ends,
failed or not. An exception or `SystemExit` ends the command with the exit
code and stderr message Python would give it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator
from typing import Any
from typing import NamedTuple


def run_command(argv: list[str]) -> int:
    """Runs `imagehub ARGV` in this process, isolated (`_isolated`).

    Args:
        argv: The command line after ``imagehub``.

    Returns:
        The exit code `python -m imagehub ARGV` would have returned; the
        message of a `SystemExit` and the traceback of an exception go to
        stderr as Python would print them.
    """
    from imagehub.cli import main

    with _isolated():
        try:
            return main(argv)
        except SystemExit as e:
            return _exit_code(e)
        except Exception:
            traceback.print_exc()
            return 1


def _exit_code(e: SystemExit) -> int:
    """What Python's interpreter makes of an uncaught `SystemExit`."""
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)
    return 1


# What a command may change that a process's next command would not see.
_SIGNALS = [
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1")
    if hasattr(signal, name)
]


@contextlib.contextmanager
def _isolated() -> Iterator[None]:
    """Gives the block a process's fresh state and puts this one's back."""
    cwd = os.getcwd()
    environ = dict(os.environ)
    argv = list(sys.argv)
    streams = (sys.stdin, sys.stdout, sys.stderr)
    main_thread = threading.current_thread() is threading.main_thread()
    handlers = {s: signal.getsignal(s) for s in _SIGNALS} if main_thread else {}
    logging_state = _logging_state()
    determinism = _op_determinism()
    _reseed()
    try:
        with warnings.catch_warnings():
            yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdin, sys.stdout, sys.stderr = streams
        sys.argv[:] = argv
        os.chdir(cwd)
        for name in set(os.environ) - set(environ):
            del os.environ[name]
        os.environ.update(environ)
        for number, handler in handlers.items():
            if handler is not None and signal.getsignal(number) != handler:
                signal.signal(number, handler)
        _restore_logging(logging_state)
        _clear_keras(determinism)


class _LoggingState(NamedTuple):
    root_level: int
    root_handlers: list[logging.Handler]
    root_filters: list[Any]
    # name -> (level, disabled, propagate)
    loggers: dict[str, tuple[int, bool, bool]]
    disable: int


def _logging_state() -> _LoggingState:
    root = logging.getLogger()
    return _LoggingState(
        root_level=root.level,
        root_handlers=list(root.handlers),
        root_filters=list(root.filters),
        loggers={
            name: (logger.level, logger.disabled, logger.propagate)
            for name, logger in logging.Logger.manager.loggerDict.items()
            if isinstance(logger, logging.Logger)
        },
        disable=logging.root.manager.disable,
    )


def _restore_logging(state: _LoggingState) -> None:
    root = logging.getLogger()
    root.setLevel(state.root_level)
    root.handlers[:] = state.root_handlers
    root.filters[:] = state.root_filters
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            # A logger the command created is left as a new one starts.
            level, disabled, propagate = state.loggers.get(
                name, (logging.NOTSET, False, True)
            )
            logger.setLevel(level)
            logger.disabled = disabled
            logger.propagate = propagate
    logging.disable(state.disable)


def _op_determinism() -> bool | None:
    """TensorFlow's op determinism, or None before TensorFlow is loaded."""
    if "tensorflow" not in sys.modules:
        return None
    from tensorflow.python.framework import config as tf_config

    return bool(tf_config.is_op_determinism_enabled())


def _reseed() -> None:
    """Unseeded random generators, as a new process starts with (a seeded
    step such as retrain seeds them itself)."""
    random.seed()
    if "numpy" in sys.modules:
        import numpy as np

        np.random.seed()
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        tf.random.set_seed(None)


def _clear_keras(determinism: bool | None) -> None:
    """Forgets the models, layer names and seed a command left in Keras."""
    if "tensorflow" in sys.modules:
        from tensorflow.python.framework import config as tf_config

        if not determinism and tf_config.is_op_determinism_enabled():
            tf_config.disable_op_determinism()
    if "keras" in sys.modules:
        import keras

        keras.backend.clear_session()
