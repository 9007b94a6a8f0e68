"""TensorFlow's start-up lines kept off the user's terminal.

TensorFlow's shared libraries write ``oneDNN custom operations are on``,
``All log messages before absl::InitializeLog() is called ...`` and the
CPU feature note from static initializers, straight to file descriptor 2,
while ``import tensorflow`` runs and before ``TF_CPP_MIN_LOG_LEVEL`` is
read (two libraries carry their own copy, so they come twice per process).

`quiet_tensorflow_import()` installs an import hook: whenever the CLI's
code first imports TensorFlow (after the cheap checks of flags and inputs,
so a usage error stays instant), descriptor 2 points at a temporary file
for the length of the import, and every captured line that is not one of
those is passed on afterwards. Python's own `sys.stderr` keeps writing to
the terminal meanwhile, so a progress display already on screen goes on
drawing and is not captured.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

# Lines TensorFlow writes while it is imported that say nothing to users.
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized to use available CPU"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT"
)


@contextlib.contextmanager
def startup_noise_filtered() -> Iterator[None]:
    """Captures descriptor 2 for the block, then writes back every line
    that is not TensorFlow start-up noise; `sys.stderr` stays on the
    original stream throughout."""
    old_stderr = sys.stderr
    old_stderr.flush()
    saved = os.dup(2)
    terminal = io.TextIOWrapper(
        io.FileIO(saved, "w", closefd=False),
        encoding=getattr(old_stderr, "encoding", None) or "utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        sys.stderr = terminal
        try:
            yield
        finally:
            terminal.flush()
            sys.stderr = old_stderr
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [
                line
                for line in text.splitlines()
                if line.strip() and not STARTUP_NOISE.search(line)
            ]
            if kept:
                old_stderr.write("\n".join(kept) + "\n")
                old_stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader of ``tensorflow`` inside the filter, then puts
    the real loader back on the module."""

    def __init__(self, loader: Any, finder: _QuietFinder) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._finder.uninstall()
        try:
            with startup_noise_filtered():
                self._loader.exec_module(module)
        finally:
            module.__loader__ = self._loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self._loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the other finders do, with `_QuietLoader`."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "tensorflow":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _QuietLoader(spec.loader, self)
                return spec
        return None

    def uninstall(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)


def quiet_tensorflow_import() -> None:
    """Filters TensorFlow's start-up lines from its first import on
    (no-op if it is imported already)."""
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
