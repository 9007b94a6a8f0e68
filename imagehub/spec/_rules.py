"""The rules of SPEC.md as data, so code, reports and docs cite them by ID."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Rule:
    """One checkable statement of the contract.

    Attributes:
        id: The rule's ID in SPEC.md, e.g. ``"R3"``.
        group: The family: R (reusable), I (input), F (feature vector),
            C (classification), K (consumption) or M (imagehub additions).
        text: The statement, in one sentence.
    """

    id: str
    group: str
    text: str


GROUPS = {
    "R": "Reusable SavedModel (any task)",
    "I": "Image input (all image tasks)",
    "F": "Image feature vector",
    "C": "Image classification",
    "K": "Consumption",
    "M": "imagehub's additions",
}

_RULE_TEXT = {
    "R1": "tf.saved_model.load(path) gives an object whose __call__ is a "
    "restored tf.function.",
    "R2": "__call__ takes exactly one positional input (one float32 tensor).",
    "R3": "training is an optional Python-bool keyword, default False; both "
    "values are traced and accept the same other arguments.",
    "R4": "Hyperparameter overrides are optional keywords with Python "
    "defaults, documented per model; every permitted combination is traced.",
    "R5": "obj.variables lists every tf.Variable any __call__ uses.",
    "R6": "obj.trainable_variables is a subset of obj.variables, each with "
    "trainable=True.",
    "R7": "obj.regularization_losses is a list of zero-argument tf.functions "
    "returning scalar float tensors.",
    "R8": "The batch dimension is undefined in every trace.",
    "R9": "tf.saved_model.save(obj, new_path) of a loaded object works.",
    "I1": "Input is a dense float32 tensor [batch, height, width, 3].",
    "I2": "Input values are RGB in [0, 1]; other scaling happens inside.",
    "I3": "Any batch size is accepted.",
    "I4": "The permitted height and width are documented; the last dimension "
    "is 3.",
    "I5": "Tensors are channels_last (NHWC) throughout.",
    "F1": "obj(images) returns one float32 tensor [batch_size, num_features].",
    "F2": "batch_size equals the input's; num_features is constant across "
    "input sizes.",
    "F3": "No dropout is applied to the output features, in training mode "
    "either.",
    "F4": "Fine-tunable feature vectors follow R3 to R7.",
    "C1": "obj(images) returns one float32 tensor of logits [batch_size, "
    "num_classes].",
    "C2": "num_classes is a constant of the model; logits[i, c] scores "
    "class c.",
    "C3": "Outputs are logits, not probabilities; the card says softmax or "
    "sigmoid and where the labels are.",
    "C4": "Fine-tunable classifiers follow R3 to R7.",
    "K1": "load(handle) = tf.saved_model.load after resolving the handle.",
    "K2": "KerasLayer(handle)(images) gives the same outputs inside Keras.",
    "K3": "KerasLayer(handle, trainable=True) fine-tunes with the model's "
    "trainable variables, regularization losses and training mode.",
    "K4": "KerasLayer(..., arguments=dict(...)) passes overrides to every "
    "call.",
    "M1": "A plain-JSON model card in the SavedModel directory: task, "
    "num_features or num_classes, input sizes, labels, activation, "
    "overrides, source, license.",
    "M2": "Serving signatures for float images and for encoded image bytes, "
    "decoding and resizing inside the graph.",
}

RULES: dict[str, Rule] = {
    rule_id: Rule(id=rule_id, group=rule_id[0], text=text)
    for rule_id, text in _RULE_TEXT.items()
}
RULE_IDS: tuple[str, ...] = tuple(RULES)

TASK_FEATURE_VECTOR = "feature_vector"
TASK_CLASSIFICATION = "classification"
TASKS: tuple[str, ...] = (TASK_FEATURE_VECTOR, TASK_CLASSIFICATION)

ACTIVATIONS: tuple[str, ...] = ("softmax", "sigmoid")
# A classifier's activation when nothing says: TF Hub's image classifiers
# (which have no model card) are softmax classifiers.
DEFAULT_ACTIVATION = "softmax"


def rules_for_task(task: str) -> tuple[str, ...]:
    """Returns the IDs of the rules a model of `task` must meet.

    Args:
        task: ``"feature_vector"`` or ``"classification"``.

    Returns:
        The rule IDs of groups R, I, M and the task's own group (F or C).

    Raises:
        ValueError: `task` is not one of `TASKS`.
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {TASKS}")
    own = "F" if task == TASK_FEATURE_VECTOR else "C"
    return tuple(r for r in RULE_IDS if r[0] in ("R", "I", own, "M"))
