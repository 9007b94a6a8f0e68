"""Deliberately broken tiny SavedModels, one per rule the checker can fail.

Each `write_broken_model(path, kind)` writes a small hand-built model that
follows the contract except for one thing; `BROKEN_KINDS[kind]` is the set
of rule IDs `imagehub.check` must FAIL for it (empty when the scan must
refuse it instead). Also here: other tools' output (Keras 3
`Model.export()`), a contract-following `tf.Module`, a model that writes a
file when loaded, and a .pbtxt converter.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from typing import Any

import numpy as np

from imagehub.spec import CARD_FILENAME
from imagehub.spec import INPUT_IMAGES
from imagehub.spec import OUTPUT_KEYS
from imagehub.spec import SIGNATURE_BYTES
from imagehub.spec import SIGNATURE_FLOAT
from imagehub.spec import TASK_CLASSIFICATION
from imagehub.spec import TASK_FEATURE_VECTOR
from imagehub.spec import card_path
from imagehub.testing._models import tiny_card

SIZE = 16
NUM_CLASSES = 3
NUM_FEATURES = 8
HPARAMS = {"dropout_rate": 0.25}


@dataclasses.dataclass(frozen=True)
class _Flaws:
    task: str = TASK_FEATURE_VECTOR
    softmax: bool = False
    output_dropout: bool = False
    batch: int | None = None
    nchw: bool = False
    trace_training: tuple[bool, ...] = (False, True)
    loss_takes_arg: bool = False
    stray_trainable: bool = False
    flatten: bool = False
    int_output: bool = False
    residual_dropout: bool = False
    manual_softmax: bool = False
    # A host op hidden in the graph: "function", "dataset", "serialized"
    # (ReadFile) or "save" (SaveV2 outside the saver).
    read_file: str | None = None
    # R2: __call__ requires a second positional input (`scale`).
    second_input: bool = False
    # R5: b2 is used by __call__ but left out of `variables` (and of
    # `trainable_variables`, so R6 still holds).
    unlisted_variable: bool = False
    # I1: also traced for this input dtype (cast to float32 inside).
    extra_input_dtype: str | None = None
    # R4: when False, `dropout_rate` is traced only as a Python float.
    hparam_as_tensor: bool = True
    # I4: VALID convolutions, so inputs below 5x5 fail (the card says 3x3).
    valid_padding: bool = False
    # D1: uniform noise added to the output when training=False.
    noisy_inference: bool = False
    # Card fields that differ from what the model does: (name, value) pairs.
    card: tuple[tuple[str, Any], ...] = ()


# kind -> (the rule ID `imagehub.check` must FAIL for it, or None when the
# scan must refuse it; its one flaw).
_KINDS: dict[str, tuple[str | None, _Flaws]] = {
    "softmax_output": ("C3", _Flaws(task=TASK_CLASSIFICATION, softmax=True)),
    "dropout_on_output": ("F3", _Flaws(output_dropout=True)),
    "fixed_batch": ("R8", _Flaws(batch=2)),
    "nchw": ("I5", _Flaws(nchw=True)),
    "no_training_trace": ("R3", _Flaws(trace_training=(False,))),
    "loss_takes_argument": ("R7", _Flaws(loss_takes_arg=True)),
    "trainable_not_in_variables": ("R6", _Flaws(stray_trainable=True)),
    "features_change_with_size": ("F2", _Flaws(flatten=True)),
    "integer_output": ("F1", _Flaws(int_output=True)),
    "classes_change_with_size": (
        "C2",
        _Flaws(task=TASK_CLASSIFICATION, flatten=True),
    ),
    "integer_logits": ("C1", _Flaws(task=TASK_CLASSIFICATION, int_output=True)),
    "two_positional_inputs": ("R2", _Flaws(second_input=True)),
    "variable_not_listed": ("R5", _Flaws(unlisted_variable=True)),
    "uint8_input_trace": ("I1", _Flaws(extra_input_dtype="uint8")),
    "hparam_not_a_tensor": ("R4", _Flaws(hparam_as_tensor=False)),
    "card_min_size_too_small": ("I4", _Flaws(valid_padding=True)),
    "card_input_range_255": (
        "I2",
        _Flaws(card=(("input_range", (0.0, 255.0)),)),
    ),
    "card_wrong_num_outputs": (
        "M1",
        _Flaws(card=(("num_outputs", NUM_FEATURES + 1),)),
    ),
    "card_lists_missing_signature": (
        "M2",
        _Flaws(card=(("signatures", (SIGNATURE_FLOAT, SIGNATURE_BYTES)),)),
    ),
    "read_file_nested_function": (None, _Flaws(read_file="function")),
    "read_file_dataset_map": (None, _Flaws(read_file="dataset")),
    "read_file_serialized_graph": (None, _Flaws(read_file="serialized")),
    "save_outside_saver": (None, _Flaws(read_file="save")),
}
BROKEN_KINDS: dict[str, frozenset[str]] = {
    kind: frozenset() if rule is None else frozenset({rule})
    for kind, (rule, _) in _KINDS.items()
}
# The path the ReadFile models would read (they are never run).
SECRET_PATH = "/etc/imagehub-check-secret"


def _net(flaws: _Flaws, seed: int = 0):  # -> AutoTrackable
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def var(shape, trainable=True, zeros=False):
        value = (
            np.zeros(shape, np.float32)
            if zeros
            else rng.normal(0.0, 0.3, size=shape).astype(np.float32)
        )
        return tf.Variable(value, trainable=trainable)

    read_file = _read_file_fn(flaws.read_file)

    class BrokenNet(tf.__internal__.tracking.AutoTrackable):
        def __init__(self):
            self.k1 = var((3, 3, 3, 4))
            self.b1 = var((4,), zeros=True)
            self.k2 = var((3, 3, 4, NUM_FEATURES))
            self.b2 = var((NUM_FEATURES,), zeros=True)
            self.head = None
            if flaws.task == TASK_CLASSIFICATION:
                self.head = var((NUM_FEATURES, NUM_CLASSES))

        def forward(self, images, training, dropout_rate):
            if images.dtype != tf.float32:
                images = tf.cast(images, tf.float32) / 255.0
            x = tf.nn.conv2d(images, self.k1, 1, padding)
            if flaws.nchw:
                x = tf.transpose(x, [0, 3, 1, 2])
                x = tf.nn.bias_add(x, self.b1, data_format="NCHW")
                x = tf.transpose(x, [0, 2, 3, 1])
            else:
                x = tf.nn.bias_add(x, self.b1)
            x = tf.nn.relu(x)
            if training:
                x = tf.nn.dropout(x, rate=dropout_rate)
            x = tf.nn.relu(tf.nn.conv2d(x, self.k2, 1, padding) + self.b2)
            if training and flaws.residual_dropout:
                # Dropout on a residual branch after the last weight layer,
                # summed with the clean shortcut (as in ViT blocks).
                x = x + tf.nn.dropout(tf.nn.relu(x - 0.5), rate=dropout_rate)
            if flaws.flatten:
                x = tf.reshape(x, [tf.shape(x)[0], -1])
            else:
                x = tf.reduce_mean(x, axis=[1, 2])
            if self.head is not None and not flaws.flatten:
                x = tf.matmul(x, self.head)
            if flaws.softmax:
                x = tf.nn.softmax(x)
            if flaws.manual_softmax:
                # Probabilities without a Softmax op: only the values tell.
                e = tf.exp(x - tf.reduce_max(x, axis=1, keepdims=True))
                x = e / tf.reduce_sum(e, axis=1, keepdims=True)
            if training and flaws.output_dropout:
                x = tf.nn.dropout(x, rate=dropout_rate)
            if read_file is not None:
                x = x + 0.0 * read_file(x)
            if flaws.int_output:
                x = tf.cast(x * 100.0, tf.int32)
            if flaws.noisy_inference and not training:
                x = x + tf.random.uniform(tf.shape(x), 0.0, 0.1)
            return x

        if flaws.second_input:

            @tf.function
            def __call__(
                self, images, scale, training=False, dropout_rate=0.25
            ):
                return scale * self.forward(images, training, dropout_rate)

        else:

            @tf.function
            def __call__(self, images, training=False, dropout_rate=0.25):
                return self.forward(images, training, dropout_rate)

    padding = "VALID" if flaws.valid_padding else "SAME"
    net = BrokenNet()
    dtypes = [tf.float32]
    if flaws.extra_input_dtype:
        dtypes.append(tf.as_dtype(flaws.extra_input_dtype))
    extra = (tf.TensorSpec([], tf.float32),) if flaws.second_input else ()
    rate = tf.TensorSpec([], tf.float32)
    for dtype in dtypes:
        spec = tf.TensorSpec([flaws.batch, None, None, 3], dtype)
        for training in flaws.trace_training:
            net.__call__.get_concrete_function(spec, *extra, training=training)
            if flaws.hparam_as_tensor:
                net.__call__.get_concrete_function(
                    spec, *extra, training=training, dropout_rate=rate
                )
    used = [net.k1, net.b1, net.k2, net.b2]
    if net.head is not None:
        used.append(net.head)
    if flaws.unlisted_variable:
        used = [v for v in used if v is not net.b2]
    net.variables = list(used)
    trainable = list(used)
    if flaws.stray_trainable:
        # Trainable but neither used by __call__ nor listed in variables.
        net.stray = var((2,))
        trainable.append(net.stray)
    net.trainable_variables = trainable
    if flaws.loss_takes_arg:
        net.regularization_losses = [
            tf.function(
                lambda scale: scale * tf.reduce_sum(tf.square(net.k1)),
                input_signature=[tf.TensorSpec([], tf.float32)],
            )
        ]
    else:
        net.regularization_losses = [
            tf.function(
                lambda: 1e-3 * tf.reduce_sum(tf.square(net.k1)),
                input_signature=[],
            )
        ]
    return net


def _read_file_fn(how: str | None):
    """A function of x whose graph reads SECRET_PATH, hidden `how`."""
    import tensorflow as tf

    if how is None:
        return None
    if how == "function":

        @tf.function
        def inner(x):
            data = tf.io.read_file(SECRET_PATH)
            return tf.cast(tf.strings.length(data), tf.float32) + x[:1, :1]

        @tf.function
        def middle(x):
            return inner(x) * 1.0

        return middle
    if how == "dataset":

        def read(x):
            ds = tf.data.Dataset.from_tensor_slices([SECRET_PATH])
            ds = ds.map(tf.io.read_file)
            total = ds.reduce(0, lambda s, c: s + tf.strings.length(c))
            return tf.cast(total, tf.float32) + 0.0 * x[:1, :1]

        return read
    if how == "serialized":
        ds = tf.data.Dataset.from_tensor_slices([SECRET_PATH]).map(
            tf.io.read_file
        )
        blob = ds._as_serialized_graph().numpy()
        element_spec = ds.element_spec

        def read_serialized(x):
            variant = tf.raw_ops.DatasetFromGraph(graph_def=tf.constant(blob))
            restored = tf.data.experimental.from_variant(variant, element_spec)
            total = restored.reduce(0, lambda s, c: s + tf.strings.length(c))
            return tf.cast(total, tf.float32) + 0.0 * x[:1, :1]

        return read_serialized
    if how == "save":

        @tf.function
        def save(x):
            # Checkpoint I/O in the model's own function, not the saver's.
            tf.raw_ops.SaveV2(
                prefix=SECRET_PATH,
                tensor_names=["x"],
                shape_and_slices=[""],
                tensors=[x],
            )
            return 0.0 * x[:1, :1]

        return save
    raise ValueError(
        f"Unknown read_file {how!r}; expected function, dataset, serialized "
        "or save"
    )


def _save(
    module,
    path: str,
    task: str,
    num_outputs: int,
    batch=None,
    hparams: dict[str, float] | None = None,
    flaws: _Flaws | None = None,
    track_card: bool = True,
) -> str:
    """Saves with a serving_default signature and a card as an asset."""
    import tensorflow as tf

    flaws = flaws or _Flaws()
    extra = (tf.constant(1.0),) if flaws.second_input else ()
    serving = tf.function(
        lambda images: {OUTPUT_KEYS[task]: module(images, *extra)},
        input_signature=[
            tf.TensorSpec([batch, SIZE, SIZE, 3], tf.float32, name=INPUT_IMAGES)
        ],
    )
    card = tiny_card(
        task,
        num_outputs,
        SIZE,
        hparams=HPARAMS if hparams is None else hparams,
        source="imagehub.testing.write_broken_model",
    )
    card = dataclasses.replace(card, **dict(flaws.card))
    card_dir = tempfile.mkdtemp(prefix="imagehub-card-")
    try:
        card_file = os.path.join(card_dir, CARD_FILENAME)
        with open(card_file, "w", encoding="utf-8") as f:
            f.write(card.to_json())
        if track_card:
            module.model_card = tf.saved_model.Asset(card_file)
        tf.saved_model.save(module, path, signatures={SIGNATURE_FLOAT: serving})
        if not track_card:
            # In assets/ but not tracked: a re-save drops it.
            os.makedirs(os.path.dirname(card_path(path)), exist_ok=True)
            shutil.copyfile(card_file, card_path(path))
    finally:
        shutil.rmtree(card_dir, ignore_errors=True)
    return path


def write_broken_model(path: str | os.PathLike[str], kind: str) -> str:
    """Writes a tiny image SavedModel with one deliberate flaw.

    Args:
        path: Target directory (must not exist yet).
        kind: One of `BROKEN_KINDS`.

    Returns:
        `path` as a string.
    """
    if kind not in _KINDS:
        raise ValueError(
            f"Unknown kind {kind!r}; expected one of {sorted(_KINDS)}"
        )
    flaws = _KINDS[kind][1]
    net = _net(flaws)
    if flaws.flatten:
        num_outputs = SIZE * SIZE * NUM_FEATURES
    elif flaws.task == TASK_CLASSIFICATION:
        num_outputs = NUM_CLASSES
    else:
        num_outputs = NUM_FEATURES
    return _save(
        net, os.fspath(path), flaws.task, num_outputs, flaws.batch, flaws=flaws
    )


def write_random_inference_model(path: str | os.PathLike[str]) -> str:
    """Writes a feature vector that adds uniform noise to its output when
    training=False: inference is not deterministic (D1 warns)."""
    net = _net(_Flaws(noisy_inference=True))
    return _save(net, os.fspath(path), TASK_FEATURE_VECTOR, NUM_FEATURES)


def write_untracked_card_model(path: str | os.PathLike[str]) -> str:
    """Writes a conforming feature vector whose card was copied into
    assets/ after saving instead of being tracked as a
    `tf.saved_model.Asset`: re-saving the loaded model drops it (R9 warns).
    """
    net = _net(_Flaws())
    path = os.fspath(path)
    return _save(net, path, TASK_FEATURE_VECTOR, NUM_FEATURES, track_card=False)


def write_residual_dropout_model(path: str | os.PathLike[str]) -> str:
    """Writes a conforming feature vector whose last op before pooling is
    a residual sum with a dropped-out branch (dropout inside, F3 passes)."""
    net = _net(_Flaws(residual_dropout=True))
    return _save(net, os.fspath(path), TASK_FEATURE_VECTOR, NUM_FEATURES)


def write_probabilities_model(path: str | os.PathLike[str]) -> str:
    """Writes a classifier that returns probabilities computed by hand
    (exp / sum, no Softmax op): C3 can only warn from the values."""
    net = _net(_Flaws(task=TASK_CLASSIFICATION, manual_softmax=True))
    return _save(net, os.fspath(path), TASK_CLASSIFICATION, NUM_CLASSES)


def write_module_model(path: str | os.PathLike[str]) -> str:
    """Writes a contract-following feature vector built on `tf.Module`.

    `tf.Module` computes `variables` and `trainable_variables` as
    properties, which are not saved; shadowing them with plain attributes
    saves the lists R5 and R6 ask for.
    """
    import tensorflow as tf

    class ContractModule(tf.Module):
        variables = None
        trainable_variables = None

        def __init__(self):
            super().__init__(name="contract_module")
            rng = np.random.default_rng(1)
            self.kernel = tf.Variable(
                rng.normal(0, 0.3, (3, 3, 3, 6)).astype(np.float32)
            )
            self.moving_mean = tf.Variable(tf.zeros([6]), trainable=False)
            self.variables = [self.kernel, self.moving_mean]
            self.trainable_variables = [self.kernel]
            self.regularization_losses = [
                tf.function(
                    lambda: 1e-4 * tf.nn.l2_loss(self.kernel),
                    input_signature=[],
                )
            ]

        @tf.function
        def __call__(self, images, training=False):
            x = tf.nn.conv2d(images, self.kernel, 2, "SAME")
            if training:
                mean = tf.reduce_mean(x, axis=[0, 1, 2])
                self.moving_mean.assign(0.9 * self.moving_mean + 0.1 * mean)
            else:
                mean = self.moving_mean
            return tf.reduce_mean(tf.nn.relu(x - mean), axis=[1, 2])

    module = ContractModule()
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    for training in (False, True):
        module.__call__.get_concrete_function(spec, training=training)
    tf.saved_model.save(module, os.fspath(path))
    return os.fspath(path)


def write_keras_wrapped(
    path: str | os.PathLike[str], output_dropout: bool
) -> str:
    """Writes a Keras 3 net (inner dropout) wrapped by hand as `__call__`.

    With `output_dropout`, a Keras Dropout layer also sits on the output
    features (F3 fails); the dropout ops are Keras 3's stateless ones.
    """
    import tensorflow as tf

    from imagehub.testing._keras import tiny_keras_model

    model = tiny_keras_model(output_dropout=0.5 if output_dropout else 0.0)

    class KerasWrapped(tf.__internal__.tracking.AutoTrackable):
        def __init__(self):
            self.model = model
            self.variables = list(model.variables)
            self.trainable_variables = list(model.trainable_variables)

        @tf.function
        def __call__(self, images, training=False):
            return self.model(images, training=training)

    net = KerasWrapped()
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    for training in (False, True):
        net.__call__.get_concrete_function(spec, training=training)
    return _save(
        net, os.fspath(path), TASK_FEATURE_VECTOR, NUM_FEATURES, hparams={}
    )


def write_keras_export(path: str | os.PathLike[str]) -> str:
    """Writes what Keras 3's `Model.export()` writes for a tiny CNN."""
    import keras

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(NUM_FEATURES)(x))
    model.export(os.fspath(path), verbose=False)
    return os.fspath(path)


def write_file_writing_model(
    path: str | os.PathLike[str], target: str | os.PathLike[str]
) -> str:
    """Writes a model whose loading writes the file `target`.

    A resource's initializer (run by `tf.saved_model.load`) calls
    `tf.io.write_file`: the scan must refuse it before anything runs.
    """
    import tensorflow as tf

    target = os.fspath(target)

    def payload():
        tf.io.write_file(target, "written when the model was loaded")

    return write_with_initializer(path, payload)


def write_with_initializer(path: str | os.PathLike[str], payload) -> str:
    """Writes a contract-following tiny net plus a resource whose
    initializer, run by `tf.saved_model.load`, runs `payload()`."""
    import tensorflow as tf

    class Payload(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(
                dtype=tf.float32,
                shape=[],
                shared_name=f"imagehub_payload_{id(self)}",
            )

        def _initialize(self):
            payload()

    net = _net(_Flaws())
    net.payload = Payload()
    return _save(net, os.fspath(path), TASK_FEATURE_VECTOR, NUM_FEATURES)


def write_tf1_model(
    path: str | os.PathLike[str], write_file: str | None = None
) -> str:
    """Writes a TF1-style SavedModel (graph, TF1 saver, one signature).

    With `write_file`, the main graph also holds a WriteFile node outside
    the saver (it never runs here).
    """
    import tensorflow as tf

    def hook(graph, w, saver):
        if write_file is not None:
            tf.io.write_file(write_file, "payload", name="hidden_write")
        return lambda builder: None

    return write_tf1_graph_model(os.fspath(path), hook)


def write_tf1_graph_model(path: str, hook) -> str:
    """A TF1 SavedModel (y = x @ w, TF1 saver, one signature); `hook(graph,
    w, saver)` adds to the graph and returns extra Builder calls."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        w = v1.get_variable("w", [4, 2])
        y = tf.matmul(x, w, name="y")
        saver = v1.train.Saver([w])
        after = hook(graph, w, saver)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(path)
            signature = v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(
                sess,
                ["serve"],
                signature_def_map={"serving_default": signature},
                saver=saver,
            )
            after(builder)
            builder.save()
    return path


def to_pbtxt(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> str:
    """Copies a SavedModel, storing its saved_model.pb as .pbtxt text."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    src, dst = os.fspath(src), os.fspath(dst)
    shutil.copytree(src, dst)
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(dst, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    with open(os.path.join(dst, "saved_model.pbtxt"), "w") as f:
        f.write(text_format.MessageToString(proto))
    os.remove(os.path.join(dst, "saved_model.pb"))
    return dst


def add_unregistered_op(
    model_dir: str | os.PathLike[str], op: str = "ImagehubNoSuchOp"
) -> str:
    """Adds a node of an op TensorFlow does not know to the first library
    function of a saved_model.pb (the model is not meant to run)."""
    from tensorflow.core.protobuf import saved_model_pb2

    pb = os.path.join(os.fspath(model_dir), "saved_model.pb")
    proto = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        proto.ParseFromString(f.read())
    fdef = proto.meta_graphs[0].graph_def.library.function[0]
    node = fdef.node_def.add()
    node.name = "injected"
    node.op = op
    with open(pb, "wb") as f:
        f.write(proto.SerializeToString())
    return fdef.signature.name
