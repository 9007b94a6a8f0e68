"""SavedModels built as a hostile publisher would, for the safety scan.

Each is a real SavedModel written with TensorFlow's own APIs (TF1 graphs
and `Builder`, TF2 `tf.saved_model.save`, tf.data), and each, when loaded
or called, writes files under a marker path the caller chooses or connects
to an address the caller chooses; `write_hostile_model(path, kind, marker,
address)` writes one. The scan must refuse every one of them before
anything runs; tests show the marker still absent and a loopback listener
still unconnected afterwards, and, for the kinds that can run without
hanging, that loading them with `trust=True` does write the marker (so its
absence is evidence).

Kinds (`HOSTILE_KINDS`, with what runs and when):

- ``tf1_restore_save``: a TF1 SavedModel whose saver restore op also
  depends on a `Save` op writing to the marker (runs at load).
- ``tf2_restore_deps``: a TF2 SavedModel whose `__call__` writes a
  checkpoint to the marker (SaveV2), and whose restore node was given
  control inputs on the nodes that call `__call__` and the serving
  signature, so a reachability rule counts `__call__` as the saver's
  (runs when called).
- ``cache_dataset``: an initializer runs a dataset cached in files at the
  marker (CacheDatasetV2; runs at load).
- ``data_service``: an initializer reads a tf.data service dataset from the
  address (DataServiceDatasetV4: connects, and waits forever).
- ``dataset_graph``: an initializer runs a dataset rebuilt from a
  serialized graph (DatasetFromGraph) that caches to the marker.
- ``nested_write``: an initializer calls a function that calls a function
  that writes the marker (WriteFile two calls deep; runs at load).
- ``second_meta_graph``: a TF1 SavedModel whose first MetaGraph is clean
  and whose second (tag ``train``) writes the marker in its main op.

`write_graph_bomb(path, levels)` writes the nested `DatasetFromGraph`
bomb: each level's graph reads the previous level's twice, so walking it
naively takes 2**levels steps, in a few kilobytes.
"""

from __future__ import annotations

import os
from typing import Any

from imagehub.testing._broken import write_tf1_graph_model
from imagehub.testing._broken import write_with_initializer

HOSTILE_KINDS = (
    "tf1_restore_save",
    "tf2_restore_deps",
    "cache_dataset",
    "data_service",
    "dataset_graph",
    "nested_write",
    "second_meta_graph",
)
# Kinds that run their payload at load: `trust=True` tests use them to
# show the marker is evidence. Of the others, tf2_restore_deps runs when
# called, data_service never returns, and dataset_graph's DatasetFromGraph
# of a constant is folded by TensorFlow's optimizer before it runs (its
# payload is cache_dataset's, which does run).
RUN_AT_LOAD = ("tf1_restore_save", "cache_dataset", "nested_write")


def write_hostile_model(
    path: str | os.PathLike[str],
    kind: str,
    marker: str | os.PathLike[str],
    address: str = "127.0.0.1:1",
) -> str:
    """Writes the hostile SavedModel `kind` at `path`.

    Args:
        path: The SavedModel directory to write.
        kind: One of `HOSTILE_KINDS`.
        marker: The path prefix the model writes to when it runs.
        address: ``host:port`` the ``data_service`` kind connects to.

    Returns:
        `path` as a string.

    Raises:
        ValueError: Unknown `kind`.
    """
    path, marker = os.fspath(path), os.fspath(marker)
    if kind == "tf1_restore_save":
        return _tf1_restore_save(path, marker)
    if kind == "tf2_restore_deps":
        return _tf2_restore_deps(path, marker)
    if kind == "second_meta_graph":
        return _second_meta_graph(path, marker)
    payloads = {
        "cache_dataset": _cache_payload,
        "data_service": _service_payload,
        "dataset_graph": _dataset_graph_payload,
        "nested_write": _nested_write_payload,
    }
    if kind not in payloads:
        raise ValueError(
            f"Unknown kind {kind!r}; expected one of {HOSTILE_KINDS}"
        )
    return write_with_initializer(path, payloads[kind](marker, address))


def _reduce(ds: Any) -> Any:
    import tensorflow as tf

    return ds.reduce(tf.constant(0, tf.int64), lambda s, x: s + x)


def _cache_payload(marker: str, address: str):
    import tensorflow as tf

    def payload():
        _reduce(tf.data.Dataset.range(4).cache(marker))

    return payload


def _service_payload(marker: str, address: str):
    import tensorflow as tf

    def payload():
        ds = tf.data.experimental.service.from_dataset_id(
            processing_mode="parallel_epochs",
            service=f"grpc://{address}",
            dataset_id="imagehub-hostile",
            element_spec=tf.TensorSpec([], tf.int64),
        )
        _reduce(ds.take(1))

    return payload


def _dataset_graph_payload(marker: str, address: str):
    import tensorflow as tf

    inner = tf.data.Dataset.range(4).cache(marker)
    blob = inner._as_serialized_graph().numpy()
    spec = inner.element_spec

    def payload():
        variant = tf.raw_ops.DatasetFromGraph(graph_def=tf.constant(blob))
        _reduce(tf.data.experimental.from_variant(variant, spec))

    return payload


def _nested_write_payload(marker: str, address: str):
    import tensorflow as tf

    @tf.function
    def inner():
        tf.io.write_file(marker, "written by a nested function")

    @tf.function
    def middle():
        inner()

    def payload():
        middle()

    return payload


def _tf1_restore_save(path: str, marker: str) -> str:
    import tensorflow as tf

    def hook(graph, w, saver):
        evil = tf.raw_ops.Save(
            filename=tf.constant(marker),
            tensor_names=["w"],
            data=[w.read_value()],
            name="evil_save",
        )
        restore = graph.get_operation_by_name(saver.saver_def.restore_op_name)
        restore._add_control_input(evil)
        return lambda builder: None

    return write_tf1_graph_model(path, hook)


def _second_meta_graph(path: str, marker: str) -> str:
    import tensorflow as tf

    def second(builder) -> None:
        # A graph of its own: the first MetaGraph never holds the write.
        with tf.Graph().as_default():
            tf.compat.v1.get_variable("w", [4, 2])
            write = tf.io.write_file(marker, "written by meta graph 2")
            builder.add_meta_graph(["train"], main_op=write)

    def hook(graph, w, saver):
        return second

    return write_tf1_graph_model(path, hook)


def _tf2_restore_deps(path: str, marker: str) -> str:
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(tf.ones([3, 3, 3, 4]))

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3])])
        def __call__(self, images):
            save = tf.raw_ops.SaveV2(
                prefix=marker,
                tensor_names=["kernel"],
                shape_and_slices=[""],
                tensors=[self.kernel.read_value()],
            )
            # SaveV2 gets no automatic control dependency: add one.
            with tf.control_dependencies([save]):
                x = tf.nn.conv2d(images, self.kernel, 1, "SAME")
            return tf.reduce_mean(x, axis=[1, 2])

    net = Net()
    tf.saved_model.save(net, path, signatures={"serving_default": net.__call__})
    pb = os.path.join(path, "saved_model.pb")
    proto = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        proto.ParseFromString(f.read())
    graph = proto.meta_graphs[0].graph_def
    restore = proto.meta_graphs[0].saver_def.restore_op_name.split(":")[0]
    callers = [
        n.name
        for n in graph.node
        if n.op == "StatefulPartitionedCall"
        and "traced_" not in n.attr["f"].func.name
    ]
    for node in graph.node:
        if node.name == restore:
            node.input.extend(f"^{name}" for name in callers)
    with open(pb, "wb") as out:
        out.write(proto.SerializeToString())
    return path


def write_graph_bomb(path: str | os.PathLike[str], levels: int) -> str:
    """Writes a SavedModel whose initializer reads a nested dataset graph.

    Each level is a GraphDef (built with `tf.Graph`) of two
    `DatasetFromGraph` nodes reading one constant: the previous level's
    serialized graph. The model never runs it (tests only scan it).
    """
    import tensorflow as tf

    blob = tf.data.Dataset.range(1)._as_serialized_graph().numpy()
    for _ in range(levels):
        graph = tf.Graph()
        with graph.as_default():
            inner = tf.constant(blob)
            a = tf.raw_ops.DatasetFromGraph(graph_def=inner)
            b = tf.raw_ops.DatasetFromGraph(graph_def=inner)
            tf.raw_ops.ZipDataset(
                input_datasets=[a, b],
                output_types=[tf.int64, tf.int64],
                output_shapes=[[], []],
            )
        blob = graph.as_graph_def().SerializeToString()

    def payload():
        tf.raw_ops.DatasetFromGraph(graph_def=tf.constant(blob))

    return write_with_initializer(path, payload)
