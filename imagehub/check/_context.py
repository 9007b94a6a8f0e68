"""What the probes share: the loaded model, its traces, cached calls."""

from __future__ import annotations

import dataclasses
import logging
import zlib
from typing import Any

import numpy as np

from imagehub.spec import DEFAULT_IMAGE_SIZE
from imagehub.spec import ModelCard

logger = logging.getLogger(__name__)

# Image size used when neither the card, the caller nor the traces say.
FALLBACK_SIZE = DEFAULT_IMAGE_SIZE
PROBE_BATCH = 2


@dataclasses.dataclass
class Trace:
    """One concrete function of `__call__` with its arguments by name."""

    fn: Any  # ConcreteFunction
    args: dict[str, Any]

    @property
    def name(self) -> str:
        name = self.fn.name
        return name.decode() if isinstance(name, bytes) else str(name)

    def training(self) -> Any:
        """The traced value of `training`: True, False, a spec, or MISSING."""
        return self.args.get("training", MISSING)


class _Missing:
    def __repr__(self) -> str:
        return "<not traced>"


MISSING = _Missing()


class Context:
    """The loaded model and everything the probes learn about it.

    Args:
        obj: What `tf.saved_model.load` returned.
        path: The SavedModel directory.
        card: The model card, or None.
        card_error: Why the card could not be read, or None.
    """

    def __init__(
        self,
        obj: Any,
        path: str,
        card: ModelCard | None,
        card_error: str | None,
    ):
        self.obj = obj
        self.path = path
        self.card = card
        self.card_error = card_error
        self.task: str | None = None
        self.task_source = "inferred"
        self.size: tuple[int, int] = FALLBACK_SIZE
        self.size_source = "fallback"
        self.fn = _restored_call(obj)
        self.argspec = self._argspec()
        self.traces = self._traces()
        self.batch = self._probe_batch()
        self._calls: dict[Any, Any] = {}
        # Outputs of the I4 probes by (height, width), for F2/C2.
        self.size_outputs: dict[tuple[int, int], Any] = {}

    # --- what the traces say -------------------------------------------

    def _argspec(self) -> Any:
        if self.fn is None:
            return None
        try:
            return self.fn.function_spec.fullargspec
        except AttributeError:
            return None

    def _traces(self) -> list[Trace]:
        if self.fn is None or self.argspec is None:
            return []
        names = list(self.argspec.args)
        traces: dict[str, Trace] = {}
        for fn in self.fn.concrete_functions:
            args, kwargs = fn.structured_input_signature
            bound = dict(zip(names, args, strict=False))
            bound.update(kwargs)
            trace = Trace(fn, bound)
            traces.setdefault(trace.name, trace)
        return list(traces.values())

    @property
    def input_name(self) -> str | None:
        if self.argspec is None or not self.argspec.args:
            return None
        return self.argspec.args[0]

    def input_specs(self) -> list[Any]:
        """The first argument of every trace."""
        name = self.input_name
        if name is None:
            return []
        return [t.args.get(name) for t in self.traces]

    def _probe_batch(self) -> int:
        """2, or the batch size the traces fix (R8 reports that)."""
        fixed = set()
        for spec in self.input_specs():
            shape = getattr(spec, "shape", None)
            if shape is not None and shape.rank and shape[0] is not None:
                fixed.add(int(shape[0]))
        return fixed.pop() if len(fixed) == 1 else PROBE_BATCH

    def static_size(self) -> tuple[int, int] | None:
        """(height, width) when every trace fixes both, else None."""
        sizes = set()
        for spec in self.input_specs():
            shape = getattr(spec, "shape", None)
            if shape is None or shape.rank != 4:
                return None
            if shape[1] is None or shape[2] is None:
                return None
            sizes.add((int(shape[1]), int(shape[2])))
        return sizes.pop() if len(sizes) == 1 else None

    def training_values(self) -> set[Any]:
        return {
            t.training() for t in self.traces if isinstance(t.training(), bool)
        }

    def hparams(self) -> dict[str, Any]:
        """Overrides to probe: the card's, else the numeric keywords."""
        if self.card is not None:
            return dict(self.card.hparams)
        spec = self.argspec
        if spec is None or not spec.defaults:
            return {}
        names = spec.args[len(spec.args) - len(spec.defaults) :]
        return {
            n: d
            for n, d in zip(names, spec.defaults, strict=True)
            if n != "training"
            and isinstance(d, (int, float))
            and not isinstance(d, bool)
        }

    # --- calls ---------------------------------------------------------

    def images(self, batch: int, size: tuple[int, int]) -> np.ndarray:
        """Deterministic uniform [0, 1) float32 images."""
        seed = zlib.crc32(f"{batch}x{size[0]}x{size[1]}".encode())
        rng = np.random.default_rng(seed)
        return rng.random((batch, size[0], size[1], 3), dtype=np.float32)

    def call(
        self,
        batch: int | None = None,
        size: tuple[int, int] | None = None,
        cache: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Calls the model on probe images; returns numpy (or nests of it).

        Raises whatever the model raises.
        """
        import tensorflow as tf

        batch = self.batch if batch is None else batch
        size = self.size if size is None else size
        key = (
            batch,
            size,
            tuple(sorted((k, repr(v)) for k, v in kwargs.items())),
        )
        if cache and key in self._calls:
            return self._calls[key]
        images = tf.constant(self.images(batch, size))
        if kwargs.get("training") is True:
            # Training mode may update state (batch norm statistics); put
            # it back so later probes and the re-save see the model as
            # loaded.
            saved = [(v, v.numpy()) for v in self.state()]
            try:
                out = self.obj(images, **kwargs)
            finally:
                for v, value in saved:
                    v.assign(value)
        else:
            out = self.obj(images, **kwargs)
        result = tf.nest.map_structure(_to_numpy, out)
        if cache:
            self._calls[key] = result
        return result

    def state(self) -> list[Any]:
        """Every variable the traces use."""
        found: dict[int, Any] = {}
        for t in self.traces:
            for v in t.fn.variables:
                found[id(v)] = v
        return list(found.values())

    def base_output(self) -> Any:
        """The output of the inference call at the probe batch and size."""
        return self.call()


def _to_numpy(x: Any) -> Any:
    return x.numpy() if hasattr(x, "numpy") else x


def _restored_call(obj: Any) -> Any:
    """The restored tf.function `__call__`, or None."""
    import tensorflow as tf

    fn = vars(obj).get("__call__") if hasattr(obj, "__dict__") else None
    if isinstance(fn, tf.types.experimental.PolymorphicFunction):
        return fn
    return None


def describe(x: Any) -> str:
    """A short description of an output for messages."""
    if isinstance(x, np.ndarray):
        return f"{x.dtype} tensor of shape {list(x.shape)}"
    if isinstance(x, dict):
        return "dict with keys " + ", ".join(map(repr, sorted(x)))
    if isinstance(x, (list, tuple)):
        return f"{type(x).__name__} of {len(x)}"
    return type(x).__name__
