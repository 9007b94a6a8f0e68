"""Defaults of `embed`, `classify` and their CLI flags (no heavy imports)."""

from __future__ import annotations

import dataclasses

from imagehub.spec import DEFAULT_RESIZE


@dataclasses.dataclass(frozen=True)
class EmbedDefaults:
    """Defaults of `embed`, `classify` and their CLI flags.

    Attributes:
        batch_size: Images per model call.
        resize: How images are fitted to the input size.
        part_size: Rows per part file: the most rows held in memory, and
            the granularity of resuming.
        top_k: Classes `classify` reports per image.
        runner: ``"local"`` or ``"beam"``.
        engine: What runs the model: ``"auto"`` (the fastest engine that
            kept parity, measured once per model and machine; TensorFlow
            for small jobs until then), ``"tensorflow"``, ``"litert"``
            or ``"openvino"`` (see `imagehub.engines`).
    """

    batch_size: int = 32
    resize: str = DEFAULT_RESIZE
    part_size: int = 1024
    top_k: int = 5
    runner: str = "local"
    engine: str = "auto"


DEFAULTS = EmbedDefaults()
