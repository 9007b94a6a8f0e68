"""Reading TensorBoard event files back as TensorBoard itself reads them
(its scalars plugin's data), for tests of ``--summaries_dir``."""

from __future__ import annotations

import os


def read_scalars(
    directory: str | os.PathLike[str],
) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value)]}`` of the scalar summaries in `directory`.

    Needs TensorBoard (a test dependency: ``pip install tensorboard``).
    """
    from tensorboard.backend.event_processing import plugin_event_accumulator
    from tensorboard.util import tensor_util

    acc = plugin_event_accumulator.EventAccumulator(os.fspath(directory))
    acc.Reload()
    return {
        tag: [
            (e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
            for e in acc.Tensors(tag)
        ]
        for tag in acc.PluginTagToContent("scalars")
    }
