"""Inference engines: one SavedModel, compiled for the CPU it runs on.

A `CompiledModel` runs a reusable image SavedModel's inference on float32
batches of any size. `compile_model(model, engine)` makes one for
TensorFlow (the SavedModel itself), LiteRT (XNNPACK) or OpenVINO, checks
it against TensorFlow on probe images before use (refusing a difference
above `PARITY_TOLERANCE`), and caches it in imagehub's model cache keyed
by the SavedModel's content, engine, engine version, precision and input
size; `load_compiled` reads the cache without loading the SavedModel.
`choose_engine` is `--engine auto`: the fastest engine that kept parity
here, raced once on a job's own batches (`Race`) and remembered;
`select_engine` resolves any `--engine` value for a job and says why
(`current_choice`, as a race stands). `benchmark` times every engine on
one model side by side (`imagehub bench`).

Example:
    >>> from imagehub import engines
    >>> model = engines.compile_model("mnv3_fv", "litert")
    >>> features = model(images)  # float32 (n, 224, 224, 3) in [0, 1]
"""

from imagehub.engines._auto import AUTO_MIN_IMAGES
from imagehub.engines._auto import SLOW_COMPILE_PAYBACK_S
from imagehub.engines._auto import SLOW_TO_COMPILE
from imagehub.engines._auto import EngineChoice
from imagehub.engines._auto import cached_choice
from imagehub.engines._auto import choose_engine
from imagehub.engines._auto import current_choice
from imagehub.engines._auto import race_rounds
from imagehub.engines._auto import select_engine
from imagehub.engines._base import ENGINE_CHOICES
from imagehub.engines._base import ENGINES
from imagehub.engines._base import MIN_AGREEMENT
from imagehub.engines._base import PARITY_TOLERANCE
from imagehub.engines._base import PRECISIONS
from imagehub.engines._base import CompiledInfo
from imagehub.engines._base import CompiledModel
from imagehub.engines._base import relative_difference
from imagehub.engines._bench import BENCH_BATCH_SIZE
from imagehub.engines._bench import BENCH_ROUNDS
from imagehub.engines._bench import BenchmarkResult
from imagehub.engines._bench import BenchmarkRow
from imagehub.engines._bench import benchmark
from imagehub.engines._bench import machine_line
from imagehub.engines._bench import time_engines
from imagehub.engines._compile import available_engines
from imagehub.engines._compile import compile_model
from imagehub.engines._compile import describe_check
from imagehub.engines._compile import engine_version
from imagehub.engines._compile import generated_probes
from imagehub.engines._compile import load_compiled
from imagehub.engines._compile import measure_agreement
from imagehub.engines._errors import AgreementError
from imagehub.engines._errors import EngineError
from imagehub.engines._errors import EngineUnavailableError
from imagehub.engines._errors import ParityError
from imagehub.engines._litert import LiteRTModel
from imagehub.engines._openvino import OpenVINOModel
from imagehub.engines._race import Race
from imagehub.engines._race import Standings
from imagehub.engines._store import content_hash
from imagehub.engines._store import engines_root
from imagehub.engines._tensorflow import TensorFlowModel

__all__ = [
    "AUTO_MIN_IMAGES",
    "AgreementError",
    "BENCH_BATCH_SIZE",
    "BENCH_ROUNDS",
    "BenchmarkResult",
    "BenchmarkRow",
    "CompiledInfo",
    "CompiledModel",
    "ENGINES",
    "ENGINE_CHOICES",
    "EngineChoice",
    "EngineError",
    "EngineUnavailableError",
    "LiteRTModel",
    "MIN_AGREEMENT",
    "OpenVINOModel",
    "PARITY_TOLERANCE",
    "PRECISIONS",
    "SLOW_COMPILE_PAYBACK_S",
    "SLOW_TO_COMPILE",
    "ParityError",
    "Race",
    "Standings",
    "TensorFlowModel",
    "available_engines",
    "benchmark",
    "cached_choice",
    "choose_engine",
    "current_choice",
    "compile_model",
    "content_hash",
    "describe_check",
    "engine_version",
    "engines_root",
    "generated_probes",
    "load_compiled",
    "machine_line",
    "measure_agreement",
    "relative_difference",
    "race_rounds",
    "select_engine",
    "time_engines",
]
