"""What every benchmark script shares: the machine line and the writer.

Scripts run as ``python bench/<name>.py``, so this module imports as
``_common`` (the script's directory is first on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import platform
from typing import Any

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def load_average() -> float:
    """The 1-minute load average, or NaN where the OS has none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def describe_machine(extra: str = "") -> str:
    """``platform, N cores, Python X, TF Y`` and `extra`, if any."""
    import tensorflow as tf

    text = (
        f"{platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, TF {tf.__version__}"
    )
    return f"{text}, {extra}" if extra else text


def write_results(name: str, markdown: str, data: Any, indent: int = 2) -> None:
    """Writes results/<name>.md and results/<name>.json, prints the md."""
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.md"), "w", encoding="utf-8") as f:
        f.write(markdown)
    with open(
        os.path.join(RESULTS, f"{name}.json"), "w", encoding="utf-8"
    ) as f:
        json.dump(data, f, indent=indent)
        f.write("\n")
    print(markdown)
