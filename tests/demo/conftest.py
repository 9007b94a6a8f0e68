"""The demo, run once in fast mode and shared by every test of this folder
(the step checks and the report screenshot)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest

from imagehub import testing


@dataclasses.dataclass(frozen=True)
class DemoRun:
    out: Path
    result: subprocess.CompletedProcess[str]

    @property
    def report(self) -> Path:
        return self.out / "report"


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> DemoRun:
    """`imagehub demo --fast --out <tmp>`, asserted to succeed."""
    out = tmp_path_factory.mktemp("demo") / "out"
    result = testing.run_cli(
        "demo", "--fast", "--out", os.fspath(out), timeout=900
    )
    assert result.returncode == 0, (
        f"imagehub demo --fast failed with exit {result.returncode}\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    )
    return DemoRun(out=out, result=result)
