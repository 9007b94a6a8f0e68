"""What goes into and comes out of a wrapped SavedModel.

`TensorInfo` describes one traced tensor (shape without the batch
dimension, dtype); nests of them (dicts, lists) describe a model's inputs
and outputs. `output_shape` as users give it (a shape, or a dict or list
of shapes) is normalized here, set on the outputs of each call, and written
to configs as `hub.KerasLayer` writes it. Inputs are prepared here: image
models get float32, other models what the caller passes, with Python
values made tensors and floats cast to the traced float dtype. Nothing
here imports Keras.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

FLOAT32 = "float32"


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One input or output tensor, without its batch dimension.

    Attributes:
        shape: Dimensions after the batch one (None for unknown ones), or
            None when even the rank is unknown.
        dtype: The dtype's name, such as ``"float32"`` or ``"string"``.
    """

    shape: tuple[int | None, ...] | None
    dtype: str


def is_spec(value: Any) -> bool:
    import tensorflow as tf

    return isinstance(value, tf.TensorSpec)


def info_of(structure: Any) -> Any:
    """A nest of TensorSpecs as a nest of TensorInfo (None if any leaf is
    not a batched TensorSpec)."""
    import tensorflow as tf

    leaves = tf.nest.flatten(structure)
    if not leaves or not all(is_spec(leaf) for leaf in leaves):
        return None

    def info(spec: Any) -> TensorInfo:
        rank = spec.shape.rank
        shape = None if not rank else tuple(spec.shape.as_list()[1:])
        return TensorInfo(shape, spec.dtype.name)

    return tf.nest.map_structure(info, structure)


def _is_shape(value: Any) -> bool:
    import tensorflow as tf

    if isinstance(value, tf.TensorShape):
        return True
    return isinstance(value, (list, tuple)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool))
        for d in value
    )


def normalize_output_shape(shape: Any) -> Any:
    """`output_shape` as given (a shape, or a dict/list nest of shapes,
    each without the batch dimension) as a nest of tuples.

    Raises:
        ValueError: `shape` is neither a shape nor a nest of shapes.
    """
    import tensorflow as tf

    if shape is None:
        return None
    if isinstance(shape, int) and not isinstance(shape, bool):
        return (shape,)
    if isinstance(shape, tf.TensorShape):
        return tuple(shape.as_list())
    if _is_shape(shape):
        return tuple(shape)
    if isinstance(shape, Mapping):
        return {k: normalize_output_shape(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)):
        return type(shape)(normalize_output_shape(v) for v in shape)
    raise ValueError(
        f"output_shape={shape!r}: expected a shape without the batch "
        "dimension, such as [20] or (None, 8), or a dict or list of such "
        "shapes matching the model's outputs"
    )


def _zip_shapes(shape: Any, other: Any, fn: Callable[[Any, Any], Any]) -> Any:
    """Maps `fn(shape, item)` over a nest of shapes (tuples are shapes,
    not nests) and the matching items of `other`.

    Raises:
        ValueError: `other` is not structured like `shape`.
    """
    if _is_shape(shape):
        return fn(shape, other)
    if isinstance(shape, Mapping):
        if not isinstance(other, Mapping) or set(other) != set(shape):
            raise ValueError(f"expected a dict with keys {sorted(shape)}")
        return {k: _zip_shapes(v, other[k], fn) for k, v in shape.items()}
    if not isinstance(other, (list, tuple)) or len(other) != len(shape):
        raise ValueError(f"expected a list of {len(shape)}")
    return [_zip_shapes(s, o, fn) for s, o in zip(shape, other, strict=True)]


def output_info_with_shape(shape: Any, traced: Any) -> Any:
    """The caller's `output_shape` nest, with the traced dtype wherever
    the traced outputs have a tensor in the same place (else float32)."""
    if _is_shape(shape):
        dtype = traced.dtype if isinstance(traced, TensorInfo) else FLOAT32
        return TensorInfo(tuple(shape), dtype)
    if isinstance(shape, Mapping):
        sub = traced if isinstance(traced, Mapping) else {}
        return {
            k: output_info_with_shape(v, sub.get(k)) for k, v in shape.items()
        }
    same = isinstance(traced, (list, tuple)) and len(traced) == len(shape)
    return [
        output_info_with_shape(s, traced[i] if same else None)
        for i, s in enumerate(shape)
    ]


def output_shape_config(shape: Any, sequence: type = tuple) -> Any:
    """A normalized `output_shape` as JSON-friendly nests of `sequence`."""
    if shape is None:
        return None
    if isinstance(shape, Mapping):
        return {k: output_shape_config(v, sequence) for k, v in shape.items()}
    if _is_shape(shape):
        return sequence(shape)
    return [output_shape_config(v, sequence) for v in shape]


def batch_size_of(input_shape: Any) -> int | None:
    """The batch size of a shape, or of the first of a nest of shapes."""
    import tensorflow as tf

    if isinstance(input_shape, tf.TensorShape):
        dims: list[int | None] = (
            input_shape.as_list() if input_shape.rank else [None]
        )
        return dims[0]
    if isinstance(input_shape, Mapping):
        return batch_size_of(next(iter(input_shape.values()), None))
    if isinstance(input_shape, (list, tuple)) and input_shape:
        if _is_shape(input_shape):
            batch: int | None = input_shape[0]
            return batch
        return batch_size_of(input_shape[0])
    return None


def prepare_inputs(inputs: Any, info: Any, *, image_model: bool) -> Any:
    """What the model is fed for the layer's `inputs`.

    Args:
        inputs: What the layer was called with.
        info: The traced input (`TensorInfo` or a nest), or None.
        image_model: Feed float32 images (SPEC R2).

    Returns:
        `inputs` with non-tensor values made tensors of the traced dtype
        and floating tensors cast to the traced floating dtype; strings
        and integers pass as they are.
    """
    import tensorflow as tf

    if image_model:
        return tf.cast(inputs, tf.float32)
    if isinstance(info, TensorInfo) and not isinstance(inputs, Mapping):
        # One traced tensor: a nested Python list is one value too.
        return _with_dtype(inputs, info.dtype)
    wanted: list[str | None]
    try:
        tf.nest.assert_same_structure(inputs, info, check_types=False)
        wanted = [i.dtype for i in tf.nest.flatten(info)]
    except (TypeError, ValueError):
        wanted = [None] * len(tf.nest.flatten(inputs))
    leaves = tf.nest.flatten(inputs)
    out = [_with_dtype(x, w) for x, w in zip(leaves, wanted, strict=True)]
    return tf.nest.pack_sequence_as(inputs, out)


def _with_dtype(value: Any, dtype: str | None) -> Any:
    """`value` as a tensor: of `dtype` if it is not one yet, cast to
    `dtype` if both are floats, else as it is."""
    import tensorflow as tf

    if not tf.is_tensor(value):
        return tf.convert_to_tensor(value, dtype=dtype)
    if (
        dtype is not None
        and value.dtype.is_floating
        and tf.as_dtype(dtype).is_floating
        and value.dtype != dtype
    ):
        return tf.cast(value, dtype)
    return value


def pick_output(outputs: Any, output_key: str | None, as_dict: bool) -> Any:
    """Selects what the layer returns from a call's outputs.

    Raises:
        ValueError: `output_key` is set but the outputs are not a dict or
            lack that key.
    """
    if as_dict:
        return dict(outputs)
    if output_key is None:
        return outputs
    if not isinstance(outputs, Mapping):
        raise ValueError(
            f"output_key={output_key!r} needs the model to return a dict, "
            f"but it returned {type(outputs).__name__}; drop output_key"
        )
    if output_key not in outputs:
        raise ValueError(
            f"output_key={output_key!r} is not among the model's outputs "
            f"{sorted(outputs)}"
        )
    return outputs[output_key]


def set_output_shape(outputs: Any, shape: Any, batch: Any) -> Any:
    """Sets the caller's `output_shape` (and the batch size) on `outputs`.

    Raises:
        ValueError: The outputs do not match `output_shape`.
    """
    import tensorflow as tf

    def set_shape(dims: Any, tensor: Any) -> Any:
        if not tf.is_tensor(tensor):
            raise ValueError("expected a tensor")
        tensor.set_shape(tf.TensorShape([batch, *dims]))
        return tensor

    try:
        _zip_shapes(shape, outputs, set_shape)
    except ValueError as e:
        raise ValueError(
            f"output_shape={output_shape_config(shape)!r} does not match "
            f"the model's outputs ({e})"
        ) from None
    return outputs
