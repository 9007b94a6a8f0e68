"""Data-flow questions about traced graphs, answered on FunctionDef protos.

The probes need to know what an output tensor is computed from (is it the
direct result of a softmax? does a dropout mask reach it without a weight
layer in between?). The answer follows the data inputs backwards from a
function's output, into the functions it calls and out through their
arguments, so nested calls (Keras layers, TF1 hub modules wrapped as
`pruned` functions) are seen through.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

HIT = "hit"
STOP = "stop"
THROUGH = "through"

_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
_IF_OPS = frozenset({"If", "StatelessIf"})
_CASE_OPS = frozenset({"Case", "StatelessCase"})

# Ops with weights that mix features: a random mask before one of these is
# dropout inside the network, not on the output.
PARAMETRIC_OPS = frozenset(
    {
        "MatMul",
        "BatchMatMul",
        "BatchMatMulV2",
        "BatchMatMulV3",
        "Einsum",
        "Conv",
        "Conv2D",
        "Conv3D",
        "DepthwiseConv2dNative",
        "Conv2DBackpropInput",
        "FusedConv2DBiasActivation",
        "_FusedConv2D",
        "_FusedMatMul",
        "SparseMatMul",
    }
)
_RANDOM_OPS = frozenset(
    {
        "TruncatedNormal",
        "Multinomial",
        "StatelessMultinomial",
        "StatelessTruncatedNormal",
        "StatelessTruncatedNormalV2",
        "StatelessParameterizedTruncatedNormal",
    }
)
# Ops that do not change what an output "is" (for the softmax test).
PASS_THROUGH_OPS = frozenset(
    {
        "Identity",
        "IdentityN",
        "Snapshot",
        "StopGradient",
        "Reshape",
        "Squeeze",
        "ExpandDims",
        "Cast",
        "EnsureShape",
    }
)


def is_random_op(op: str) -> bool:
    """True for ops that draw random numbers (the core of dropout)."""
    return (
        op in _RANDOM_OPS
        or op.startswith("Random")
        or op.startswith("StatelessRandom")
    )


@dataclasses.dataclass
class _Summary:
    hit: str | None  # "function/node (op)" of the first hit
    args: set[int]  # argument indices the output depends on


class FunctionGraph:
    """A FunctionDef and the library it calls into.

    Args:
        function_def: The traced function (e.g. `concrete_fn.function_def`).
        library: Every FunctionDef it may call, by name.
    """

    def __init__(self, function_def: Any, library: dict[str, Any]):
        self.root = function_def.signature.name
        self.library = dict(library)
        self.library[self.root] = function_def
        self._memo: dict[tuple[Any, ...], _Summary] = {}

    @classmethod
    def from_concrete_function(cls, fn: Any) -> FunctionGraph:
        """Builds it from a (restored) tf ConcreteFunction."""
        graph_def = fn.graph.as_graph_def()
        library = {f.signature.name: f for f in graph_def.library.function}
        return cls(fn.function_def, library)

    def functions(self) -> Iterator[Any]:
        """Every FunctionDef reachable from the root."""
        seen = set()
        stack = [self.root]
        while stack:
            name = stack.pop()
            if name in seen or name not in self.library:
                continue
            seen.add(name)
            fdef = self.library[name]
            yield fdef
            for node in fdef.node_def:
                stack.extend(self._callees(node))

    def _callees(self, node: Any) -> Iterator[str]:
        if node.op in self.library:
            yield node.op
        for value in node.attr.values():
            kind = value.WhichOneof("value")
            if kind == "func":
                yield value.func.name
            elif kind == "list":
                for f in value.list.func:
                    yield f.name

    def attr_values(self, attr: str) -> Iterator[tuple[str, str, bytes]]:
        """Yields (function, node, value) for every node with string `attr`."""
        for fdef in self.functions():
            for node in fdef.node_def:
                if attr in node.attr and node.attr[attr].s:
                    yield fdef.signature.name, node.name, node.attr[attr].s

    def trace_outputs(self, classify: Callable[[Any], str]) -> str | None:
        """Follows each output of the root backwards.

        Args:
            classify: Maps a NodeDef to HIT (stop: found), STOP (do not look
                further back along this path) or THROUGH (look at its data
                inputs). Function calls are always seen through.

        Returns:
            "function/node (op)" of a node classified HIT that some output
            depends on along a path without STOP nodes, or None.
        """
        fdef = self.library[self.root]
        for i in range(len(fdef.signature.output_arg)):
            with _bounded_recursion():
                summary = self._summary(self.root, i, classify)
            if summary.hit:
                return summary.hit
        return None

    def _summary(
        self, fname: str, out_index: int, classify: Callable[[Any], str]
    ) -> _Summary:
        key = (fname, out_index, id(classify))
        if key in self._memo:
            return self._memo[key]
        # Recursion (a function calling itself) ends here conservatively.
        self._memo[key] = _Summary(None, set())
        fdef = self.library[fname]
        args = {a.name: i for i, a in enumerate(fdef.signature.input_arg)}
        body = {n.name: n for n in fdef.node_def}
        ret_name = fdef.signature.output_arg[out_index].name
        result = _Summary(None, set())
        stack = [fdef.ret[ret_name]]
        seen: set[str] = set()
        while stack and result.hit is None:
            ref = stack.pop()
            if ref.startswith("^") or ref in seen:
                continue
            seen.add(ref)
            parts = ref.split(":")
            if len(parts) == 1 and parts[0] in args:
                result.args.add(args[parts[0]])
                continue
            node = body.get(parts[0])
            if node is None:
                continue
            data_inputs = [x for x in node.input if not x.startswith("^")]
            branches = self._branches(node)
            out = _output_index(node, parts, self.library)
            if branches is None:
                verdict = classify(node)
                if verdict == HIT:
                    result.hit = f"{fname}/{node.name} ({node.op})"
                    break
                if verdict == STOP:
                    continue
            if branches is not None and out is not None:
                offset = (
                    0
                    if node.op in _CALL_OPS or (node.op in self.library)
                    else 1
                )
                for branch in branches:
                    if branch not in self.library:
                        stack.extend(data_inputs)
                        continue
                    sub = self._summary(branch, out, classify)
                    if sub.hit:
                        result.hit = sub.hit
                        break
                    for j in sub.args:
                        if j + offset < len(data_inputs):
                            stack.append(data_inputs[j + offset])
            else:
                stack.extend(data_inputs)
        self._memo[key] = result
        return result

    def _branches(self, node: Any) -> list[str] | None:
        """The functions whose output i is the node's output i, if any."""
        if node.op in self.library:
            return [node.op]
        if node.op in _CALL_OPS:
            return [node.attr["f"].func.name]
        if node.op in _IF_OPS:
            return [
                node.attr["then_branch"].func.name,
                node.attr["else_branch"].func.name,
            ]
        if node.op in _CASE_OPS:
            return [f.name for f in node.attr["branches"].list.func]
        return None


@contextlib.contextmanager
def _bounded_recursion() -> Iterator[None]:
    """Turns a RecursionError (function calls nested deeper than Python's
    stack; the scan caps them, but `trust=True` skips the scan) into a
    ValueError that says so."""
    try:
        yield
    except RecursionError:
        raise ValueError(
            "the traced functions call each other too deeply to follow "
            f"(more than Python's recursion limit, {sys.getrecursionlimit()})"
        ) from None


def _output_index(
    node: Any, parts: list[str], library: dict[str, Any]
) -> int | None:
    """The flat output index a 'node:arg:i' reference names, for calls."""
    if len(parts) != 3:
        return 0
    arg, idx = parts[1], int(parts[2])
    if node.op in library:
        names = [a.name for a in library[node.op].signature.output_arg]
        return names.index(arg) if arg in names else None
    return idx if arg == "output" else None


_MERGE_OPS = frozenset({"Add", "AddV2", "AddN"})
_IMAGES = "images"


def dropout_on_output(graph: FunctionGraph) -> str | None:
    """Where a random mask reaches the output with nothing to absorb it.

    Dropout multiplies a tensor by a random mask. The mask is absorbed by
    a weight layer (matmul, convolution) after it, and by a residual sum
    with a mask-free path from the images (stochastic depth and dropout
    inside residual blocks); anything else carries it to the output, and
    then the output features themselves are dropped out (F3). Dropout just
    before a pooling counts: it randomises the features the same way.

    Returns:
        "function/node (op)" of the random op, or None.
    """
    with _bounded_recursion():
        taints = _Taint(graph).outputs(graph.root, (frozenset({_IMAGES}),))
    for taint in taints:
        masks = sorted(t for t in taint if t != _IMAGES)
        if masks:
            return masks[0]
    return None


class _Taint:
    """Forward data-flow: which tensors depend on the images, and which
    carry an open random mask (named by the random op)."""

    def __init__(self, graph: FunctionGraph):
        self.graph = graph
        self._memo: dict[tuple[Any, ...], list[frozenset[str]]] = {}

    def outputs(
        self, fname: str, arg_taints: tuple[frozenset[str], ...]
    ) -> list[frozenset[str]]:
        """Taint of each output of `fname` given its arguments' taints."""
        fdef = self.graph.library[fname]
        n_args = len(fdef.signature.input_arg)
        args = tuple(arg_taints[:n_args]) + (frozenset(),) * max(
            0, n_args - len(arg_taints)
        )
        key = (fname, args)
        if key in self._memo:
            return self._memo[key]
        n_out = len(fdef.signature.output_arg)
        # Recursion ends here conservatively.
        self._memo[key] = [frozenset()] * n_out
        values = self._evaluate(fdef, args)
        body = {n.name: n for n in fdef.node_def}
        result = [
            self._ref(fdef.ret[a.name], values, body)
            for a in fdef.signature.output_arg
        ]
        self._memo[key] = result
        return result

    def _evaluate(
        self, fdef: Any, args: tuple[frozenset[str], ...]
    ) -> dict[str, Any]:
        """Taints of every node (a list per output for calls)."""
        values: dict[str, Any] = {
            a.name: args[i] for i, a in enumerate(fdef.signature.input_arg)
        }
        body = {n.name: n for n in fdef.node_def}
        for name in _topological(body):
            node = body[name]
            inputs = [
                self._ref(x, values, body)
                for x in node.input
                if not x.startswith("^")
            ]
            values[name] = self._node(node, inputs, fdef.signature.name)
        return values

    def _ref(
        self, ref: str, values: dict[str, Any], body: dict[str, Any]
    ) -> Any:
        parts = ref.split(":")
        value = values.get(parts[0], frozenset())
        if isinstance(value, list):
            node = body.get(parts[0])
            idx = (
                _output_index(node, parts, self.graph.library)
                if node is not None
                else 0
            )
            if idx is None or idx >= len(value):
                return frozenset().union(*value) if value else frozenset()
            return value[idx]
        return value

    def _node(self, node: Any, inputs: list[frozenset[str]], fname: str) -> Any:
        union = frozenset().union(*inputs) if inputs else frozenset()
        branches = self.graph._branches(node)
        if branches is not None:
            offset = (
                0
                if node.op in _CALL_OPS or (node.op in self.graph.library)
                else 1
            )
            args = tuple(inputs[offset:])
            outs: list[frozenset[str]] | None = None
            for branch in branches:
                if branch not in self.graph.library:
                    return union
                got = self.outputs(branch, args)
                outs = (
                    got
                    if outs is None
                    else [a | b for a, b in zip(outs, got, strict=False)]
                )
            return outs if outs is not None else union
        if is_random_op(node.op):
            return (union & {_IMAGES}) | {f"{fname}/{node.name} ({node.op})"}
        if node.op in PARAMETRIC_OPS:
            return union & {_IMAGES}
        if node.op in _MERGE_OPS:
            clean = any(t == {_IMAGES} for t in inputs)
            if clean:
                return frozenset({_IMAGES})
        return union


def _topological(body: dict[str, Any]) -> list[str]:
    """Node names of a function body, inputs before the nodes using them."""
    order: list[str] = []
    state: dict[str, int] = {}
    for root in body:
        if root in state:
            continue
        stack = [(root, False)]
        while stack:
            name, done = stack.pop()
            if done:
                state[name] = 2
                order.append(name)
                continue
            if state.get(name):
                continue
            state[name] = 1
            stack.append((name, True))
            for ref in body[name].input:
                dep = ref.lstrip("^").split(":")[0]
                if dep in body and not state.get(dep):
                    stack.append((dep, False))
    return order


def probability_output(graph: FunctionGraph) -> str | None:
    """Where an output is directly the result of a Softmax or Sigmoid."""

    def classify(node: Any) -> str:
        if node.op in ("Softmax", "Sigmoid"):
            return HIT
        if node.op in PASS_THROUGH_OPS:
            return THROUGH
        return STOP

    return graph.trace_outputs(classify)


def channels_first_formats(graph: FunctionGraph) -> list[str]:
    """'function/node (op): NCHW' for every channels-first data_format."""
    found = []
    for fname, node, value in graph.attr_values("data_format"):
        text = value.decode("utf-8", "replace")
        if text.startswith("NC"):
            found.append(f"{fname}/{node}: {text}")
    return found
