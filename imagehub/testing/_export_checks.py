"""Assertions that an exported SavedModel meets SPEC R, I, F/C and M.

A compact test-side check for exporter tests; `imagehub.check` is the full
conformance checker with a report.
"""

from __future__ import annotations

import os

import numpy as np

from imagehub.spec import OUTPUT_KEYS
from imagehub.spec import SIGNATURE_BYTES
from imagehub.spec import SIGNATURE_FLOAT
from imagehub.spec import TASK_CLASSIFICATION
from imagehub.spec import read_card


def assert_reusable(
    path: str | os.PathLike[str], task: str, num_outputs: int
) -> None:
    """Asserts the reusable image API of the SavedModel at `path`.

    Checks the card (M1), both serving signatures (M2), `__call__` traced
    for training False and True with an undefined batch (R3, R8), the
    output shape (F1/C1), the variable lists (R5, R6) and the
    regularization losses (R7).
    """
    import tensorflow as tf

    path = os.fspath(path)
    card = read_card(path)
    assert card is not None, f"{path} has no model card"
    assert card.task == task, f"card task {card.task!r} != {task!r}"
    assert card.num_outputs == num_outputs, (
        f"card num_outputs {card.num_outputs} != {num_outputs}"
    )
    if task == TASK_CLASSIFICATION:
        assert card.activation in ("softmax", "sigmoid"), card.activation
    obj = tf.saved_model.load(path)
    assert set(obj.signatures) >= {SIGNATURE_FLOAT, SIGNATURE_BYTES}, list(
        obj.signatures
    )
    trainings = set()
    for fn in obj.__call__.concrete_functions:
        args, kwargs = fn.structured_input_signature
        assert args[0].shape[0] is None, f"batch defined: {args[0].shape}"
        assert args[0].shape[-1] == 3, args[0].shape
        trainings.add(args[1] if len(args) > 1 else kwargs.get("training"))
    assert trainings == {False, True}, f"training traces {trainings}"
    height, width = card.default_size
    x = np.random.default_rng(0).random((2, height, width, 3), np.float32)
    for training in (False, True):
        out = obj(tf.constant(x), training=training)
        assert out.dtype == tf.float32, out.dtype
        assert tuple(out.shape) == (2, num_outputs), out.shape
        assert np.all(np.isfinite(out.numpy())), "non-finite outputs"
    served = obj.signatures[SIGNATURE_FLOAT](images=tf.constant(x))
    np.testing.assert_allclose(
        served[OUTPUT_KEYS[task]].numpy(),
        obj(tf.constant(x)).numpy(),
        atol=1e-5,
        err_msg="serving_default != __call__",
    )
    variable_ids = {id(v) for v in obj.variables}
    assert obj.variables, "no variables"
    for v in obj.trainable_variables:
        assert id(v) in variable_ids, f"{v.name} not in variables"
        assert v.trainable, f"{v.name} in trainable_variables, not trainable"
    for fn in getattr(obj, "regularization_losses", []):
        loss = fn()
        assert loss.shape == () and loss.dtype == tf.float32, loss
