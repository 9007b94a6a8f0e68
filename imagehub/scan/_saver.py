"""Checkpoint ops judged by dataflow: the standard saver and nothing else.

Every SavedModel saves and restores its variables with checkpoint ops
(SaveV2, MergeV2Checkpoints, RestoreV2; Save and Restore in old TF1
graphs), which read and write files. The MetaGraph's `saver_def` names the
file-name tensor (a placeholder the loader feeds with the variables'
path), the save tensor and the restore op. A checkpoint op passes only
when all of these hold:

- its file-name input is derived from that placeholder: the placeholder
  itself, or Identity, StringJoin, ShardedFilename, Select or Pack of
  derived values, where StringJoin and ShardedFilename keep the derived
  value first and join only constant strings without ``..`` (the saver's
  ``_temp/part`` suffix). Inside a function, an argument is derived when
  every call of the function passes a derived value and the function is
  no root of its own (not an object-graph function, not loose);
- a save op (Save, SaveV2, SaveSlices, MergeV2Checkpoints) is reachable
  from the save tensor and from nothing else: not from the restore op,
  an initializer, a signature, an object-graph function or any other node
  or function of the graph;
- a restore op is reachable from the restore op and not from any of those
  other roots (the save tensor excepted).

The other roots are what a loader or a caller runs: the signatures' input
and output tensors, the initializers TF1 loaders run (`saved_model_main_op`,
`legacy_init_op`, table initializers), the object graph's functions and
every library function that neither the save tensor nor the restore op
calls. A checkpoint op that no root reaches at all never runs and passes
(a second MetaGraph's graph keeps the first one's saver, unused).

Reachable means through data and control inputs of graph nodes and
through function calls, and a function reached counts with all of its
nodes. TF1 graphs (the saver's nodes in the graph itself) and TF2 ones
(the saver's nodes call `_traced_save` and `_traced_restore` functions)
are judged alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

from imagehub.scan._allowlist import ALLOWED
from imagehub.scan._allowlist import CALLS_FUNCTIONS
from imagehub.scan._allowlist import CHECKPOINT_OPS
from imagehub.scan._allowlist import CHECKPOINT_SAVE_OPS

# Inputs naming the file(s) a checkpoint op reads or writes.
_PREFIX_INPUTS = {
    "Save": (0,),
    "SaveV2": (0,),
    "SaveSlices": (0,),
    "MergeV2Checkpoints": (0, 1),
    "Restore": (0,),
    "RestoreV2": (0,),
    "RestoreSlice": (0,),
}
_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
# Collections whose nodes TF1 loaders run as initializers.
_INIT_COLLECTIONS = (
    "saved_model_main_op",
    "legacy_init_op",
    "init_op",
    "table_initializer",
    "local_init_op",
)
# How far back a file name is traced; the saver's chain is 5 long.
_MAX_TRACE = 32

REASON_PREFIX = (
    "checkpoint I/O whose file name does not come from the saver's "
    "filename placeholder (saver_def.filename_tensor_name)"
)
REASON_SAVE_REACHED = (
    "checkpoint write reachable from outside the saver's save tensor"
)
REASON_RESTORE_REACHED = (
    "checkpoint read reachable from outside the saver's restore op"
)
REASON_NOT_SAVER = "checkpoint I/O outside the saver's save and restore ops"


def node_name(ref: str) -> str:
    """The node a tensor or control reference names."""
    return ref.lstrip("^").split(":")[0]


def called_functions(node: Any) -> Iterator[str]:
    """Names of the functions a NodeDef's attributes reference, at any
    depth of nested function attributes."""
    stack = list(node.attr.values())
    while stack:
        value = stack.pop()
        kind = value.WhichOneof("value")
        if kind == "func":
            yield value.func.name
            stack.extend(value.func.attr.values())
        elif kind == "list":
            for f in value.list.func:
                yield f.name
                stack.extend(f.attr.values())


class Library:
    """A GraphDef's nodes and functions, with their call edges (once)."""

    def __init__(self, graph_def: Any):
        self.graph_def = graph_def
        self.functions = {
            f.signature.name: f for f in graph_def.library.function
        }
        self.nodes = {n.name: n for n in graph_def.node}
        # Functions referenced by something other than a plain call.
        self.indirect: set[str] = set()
        self.callees: dict[str, set[str]] = {}
        # (function or None, node) of every checkpoint op.
        self.checkpoint_sites: list[tuple[str | None, Any]] = []
        # function -> (calling function or None, call node), plain calls.
        self.call_sites: dict[str, list[tuple[str | None, Any]]] = {}
        for name, fdef in self.functions.items():
            found: set[str] = set()
            for node in fdef.node_def:
                found.update(self._calls(node, name))
            self.callees[name] = found
        self.graph_calls = {
            n.name: self._calls(n, None) for n in graph_def.node
        }

    def node_calls(self, node: Any) -> list[str]:
        """Library functions a graph node calls (directly or by attribute)."""
        calls = self.graph_calls.get(node.name)
        return calls if calls is not None else []

    def _calls(self, node: Any, caller: str | None) -> list[str]:
        out = []
        op = node.op
        if op in CHECKPOINT_OPS:
            self.checkpoint_sites.append((caller, node))
        if op in self.functions:
            out.append(op)
            self.call_sites.setdefault(op, []).append((caller, node))
        elif op in _CALL_OPS:
            f = node.attr["f"].func.name
            if f in self.functions:
                self.call_sites.setdefault(f, []).append((caller, node))
        # Allowed ops without function attributes run no function, whatever
        # their NodeDef says; every other op's attributes are read.
        if node.op in CALLS_FUNCTIONS or node.op not in ALLOWED:
            for name in called_functions(node):
                if name in self.functions:
                    out.append(name)
                    if node.op not in _CALL_OPS:
                        self.indirect.add(name)
        return out

    def reach(
        self, node_roots: Iterable[str], function_roots: Iterable[str] = ()
    ) -> tuple[set[str], set[str]]:
        """(graph nodes, functions) reachable from the roots."""
        nodes: set[str] = set()
        stack = [n for n in node_roots if n in self.nodes]
        functions: set[str] = set()
        fstack = [f for f in function_roots if f in self.functions]
        while stack:
            name = stack.pop()
            if name in nodes:
                continue
            nodes.add(name)
            node = self.nodes[name]
            fstack.extend(self.node_calls(node))
            for ref in node.input:
                src = node_name(ref)
                if src in self.nodes and src not in nodes:
                    stack.append(src)
        while fstack:
            name = fstack.pop()
            if name in functions:
                continue
            functions.add(name)
            fstack.extend(self.callees[name] - functions)
        return nodes, functions


def saver_findings(
    lib: Library,
    saver: Any,
    object_functions: Iterable[str],
    meta_graph: Any | None,
) -> list[tuple[str | None, str, str, str]]:
    """Judges every checkpoint op of one graph and its library.

    Args:
        lib: The graph.
        saver: The MetaGraph's SaverDef, or None (nested graphs).
        object_functions: Names of the object graph's functions.
        meta_graph: The MetaGraphDef (signatures, collections), or None.

    Returns:
        (function or None, node name, op, reason) of each refused op.
    """
    sites = lib.checkpoint_sites
    if not sites:
        return []
    if saver is None:
        return [(f, n.name, n.op, REASON_NOT_SAVER) for f, n in sites]
    save_root = node_name(saver.save_tensor_name)
    restore_root = node_name(saver.restore_op_name)
    source = node_name(saver.filename_tensor_name)
    save_nodes, save_fns = lib.reach([save_root])
    restore_nodes, restore_fns = lib.reach([restore_root])
    other_nodes = _named_roots(meta_graph)
    loose = [
        f for f in lib.functions if f not in save_fns and f not in restore_fns
    ]
    roots_fns = [*object_functions, *loose]
    other = lib.reach(other_nodes, roots_fns)
    derived = _Derivation(lib, source, set(roots_fns))
    found = []
    for function, node in sites:
        reason = _judge(
            function,
            node,
            (save_nodes, save_fns),
            (restore_nodes, restore_fns),
            other,
            derived,
        )
        if reason is not None:
            found.append((function, node.name, node.op, reason))
    return found


def _named_roots(meta_graph: Any | None) -> list[str]:
    """Nodes the loader runs by name: signature tensors and initializers."""
    if meta_graph is None:
        return []
    roots = []
    for sig in meta_graph.signature_def.values():
        for info in (*sig.inputs.values(), *sig.outputs.values()):
            if info.name:
                roots.append(node_name(info.name))
    for key in _INIT_COLLECTIONS:
        if key in meta_graph.collection_def:
            col = meta_graph.collection_def[key]
            roots += [node_name(v) for v in col.node_list.value]
    return roots


def _in(reach: tuple[set[str], set[str]], function, node) -> bool:
    nodes, functions = reach
    return function in functions if function else node.name in nodes


def _judge(function, node, save, restore, other, derived) -> str | None:
    if not any(_in(r, function, node) for r in (save, restore, other)):
        return None  # nothing the loader or a caller runs reaches it
    if not derived.prefix_ok(function, node):
        return REASON_PREFIX
    if node.op in CHECKPOINT_SAVE_OPS:
        if _in(restore, function, node) or _in(other, function, node):
            return REASON_SAVE_REACHED
        if not _in(save, function, node):
            return REASON_NOT_SAVER
        return None
    if _in(other, function, node):
        return REASON_RESTORE_REACHED
    if not _in(restore, function, node):
        return REASON_NOT_SAVER
    return None


class _Derivation:
    """Which tensors are derived from the saver's filename placeholder."""

    def __init__(self, lib: Library, source: str, roots: set[str]):
        self.lib = lib
        self.source = source
        self.args = self._derived_args(roots)

    def prefix_ok(self, function: str | None, node: Any) -> bool:
        inputs = [x for x in node.input if not x.startswith("^")]
        body = self._body(function)
        for i in _PREFIX_INPUTS.get(node.op, (0,)):
            if i >= len(inputs):
                return False
            if not self._derived(function, body, inputs[i], {}, 0):
                return False
        return True

    def _body(self, function: str | None) -> dict[str, Any]:
        if function is None:
            return self.lib.nodes
        return {n.name: n for n in self.lib.functions[function].node_def}

    def _derived_args(self, roots: set[str]) -> dict[str, set[int]]:
        """Argument indices of each function that carry a derived value.

        A greatest fixed point: start from every argument of every
        function that is called only by call ops and is no root, and drop
        an argument when some call passes a value not derived.
        """
        lib = self.lib
        calls = lib.call_sites
        # Only functions holding checkpoint ops, and their callers, matter.
        callers: dict[str, set[str]] = {}
        for caller, callees in lib.callees.items():
            for callee in callees:
                callers.setdefault(callee, set()).add(caller)
        needed = {f for f, _ in lib.checkpoint_sites if f is not None}
        stack = list(needed)
        while stack:
            for caller in callers.get(stack.pop(), ()):
                if caller not in needed:
                    needed.add(caller)
                    stack.append(caller)
        args = {
            f: set(range(len(lib.functions[f].signature.input_arg)))
            for f in calls
            if f in needed and f not in roots and f not in lib.indirect
        }
        bodies: dict[str | None, dict[str, Any]] = {}
        self.args = args
        for _ in range(_MAX_TRACE):
            changed = False
            for f, sites in calls.items():
                if not args.get(f):
                    continue
                for site, node in sites:
                    if site not in bodies:
                        bodies[site] = self._body(site)
                    inputs = [x for x in node.input if not x.startswith("^")]
                    for i in sorted(args[f]):
                        ok = i < len(inputs) and self._derived(
                            site, bodies[site], inputs[i], {}, 0
                        )
                        if not ok:
                            args[f].discard(i)
                            changed = True
            if not changed:
                return args
        return {}  # no fixed point in time: nothing is derived

    def _derived(self, function, body, ref, memo, depth) -> bool:
        name = node_name(ref)
        if function is None and name == self.source:
            return True
        if function is not None and ":" not in ref:
            fdef = self.lib.functions[function]
            for i, arg in enumerate(fdef.signature.input_arg):
                if arg.name == ref:
                    return i in self.args.get(function, ())
        if depth >= _MAX_TRACE or name not in body:
            return False
        if name in memo:
            return memo[name]
        memo[name] = False  # a cycle is not derived
        node = body[name]
        inputs = [x for x in node.input if not x.startswith("^")]

        def derived(x: str) -> bool:
            return self._derived(function, body, x, memo, depth + 1)

        op = node.op
        if op in ("Identity", "Snapshot"):
            ok = len(inputs) == 1 and derived(inputs[0])
        elif op in ("StringJoin", "ShardedFilename"):
            rest = inputs[1:] if op == "StringJoin" else []
            ok = bool(inputs) and derived(inputs[0])
            ok = ok and all(_constant_suffix(body, x, 0) for x in rest)
        elif op in ("Select", "SelectV2"):
            ok = len(inputs) == 3 and derived(inputs[1]) and derived(inputs[2])
        elif op == "Pack":
            ok = bool(inputs) and all(derived(x) for x in inputs)
        else:
            ok = False
        memo[name] = ok
        return ok


def _constant_suffix(body: dict[str, Any], ref: str, depth: int) -> bool:
    """A constant string (or a Select between two) without ``..``."""
    node = body.get(node_name(ref))
    if node is None or depth > 4:
        return False
    if node.op == "Const":
        values = node.attr["value"].tensor.string_val
        return all(b".." not in v and not v.startswith(b"/") for v in values)
    if node.op in ("Select", "SelectV2", "Identity"):
        inputs = [x for x in node.input if not x.startswith("^")]
        branches = inputs[1:] if node.op != "Identity" else inputs
        return bool(branches) and all(
            _constant_suffix(body, x, depth + 1) for x in branches
        )
    return False
