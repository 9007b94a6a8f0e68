"""The safety scan: reads a SavedModel's protobuf without running anything.

A SavedModel is a program: loading it runs its restore and initializer
functions, calling it runs its graphs. The scan parses `saved_model.pb` (or
`saved_model.pbtxt`) with protobuf only and walks every MetaGraph, every
function of every function library, and the graphs serialized into
constants (`DatasetFromGraph`). It refuses ops that touch files or the host,
checkpoint ops outside the saver's own functions, and ops TensorFlow does not
register (checked against the op registry after the walk, which loads no
model).

The saver's own functions: every TF2 SavedModel saves and restores its
variables through functions holding SaveV2, MergeV2Checkpoints and
RestoreV2. The MetaGraph's `saver_def` names the save tensor and the
restore op; the nodes they depend on form the saver, and a library function
is the saver's own when only those nodes reach it through calls (a function
any other node or object-graph function also reaches is not). Checkpoint
ops anywhere else are refused.
"""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from imagehub.check._report import Finding
from imagehub.check._report import ScanResult

logger = logging.getLogger(__name__)

PB_NAME = "saved_model.pb"
PBTXT_NAME = "saved_model.pbtxt"

# Ops that read or write files, run Python, or map memory, by reason. The
# issue's list, plus the other ops of this TensorFlow that open files
# (datasets and readers over files, summary writers, dataset savers and
# snapshots, debug dumps) or stop the process.
_FILE_OPS = frozenset(
    {
        "ReadFile",
        "WriteFile",
        "MatchingFiles",
        "WholeFileReader",
        "WholeFileReaderV2",
        # Datasets and readers that open files named by their inputs.
        "TFRecordDataset",
        "TFRecordDatasetV2",
        "FixedLengthRecordDataset",
        "FixedLengthRecordDatasetV2",
        "TextLineDataset",
        "CSVDataset",
        "CSVDatasetV2",
        "ExperimentalCSVDataset",
        "LMDBDataset",
        "ExperimentalLMDBDataset",
        "SqlDataset",
        "ExperimentalSqlDataset",
        "MatchingFilesDataset",
        "ExperimentalMatchingFilesDataset",
        "LoadDataset",
        "TFRecordReader",
        "TFRecordReaderV2",
        "TextLineReader",
        "TextLineReaderV2",
        "FixedLengthRecordReader",
        "FixedLengthRecordReaderV2",
        "LMDBReader",
        # Writers.
        "SaveDataset",
        "SaveDatasetV2",
        "DatasetToTFRecord",
        "ExperimentalDatasetToTFRecord",
        "SnapshotDataset",
        "SnapshotDatasetV2",
        "CreateSummaryFileWriter",
        "CreateSummaryDbWriter",
        "WriteSummary",
        "WriteScalarSummary",
        "WriteHistogramSummary",
        "WriteImageSummary",
        "WriteAudioSummary",
        "WriteGraphSummary",
        "WriteRawProtoSummary",
        "ImportEvent",
        "DebugIdentity",
        "DebugIdentityV2",
        "DebugIdentityV3",
        "DebugNanCount",
        "DebugNumericSummary",
        "DebugNumericSummaryV2",
    }
)
_FILE_OP_PREFIXES = ("ReaderRead", "InitializeTableFromTextFile")
_PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
_PRINT_OPS = frozenset({"PrintV2"})
_MEMORY_OPS = frozenset({"ImmutableConst"})
_HOST_OPS = frozenset({"Abort"})
_CHECKPOINT_OPS = frozenset(
    {
        "Save",
        "SaveV2",
        "SaveSlices",
        "MergeV2Checkpoints",
        "Restore",
        "RestoreV2",
        "RestoreSlice",
    }
)
# Function-call ops: their `f` (or branch) attributes name library functions.
_DATASET_FROM_GRAPH = "DatasetFromGraph"

REASON_FILES = "reads or writes files"
REASON_PYTHON = "runs Python code"
REASON_PRINT = "prints (PrintV2 can write to any file)"
REASON_MEMORY = "maps a file into memory"
REASON_HOST = "stops the host process"
REASON_CHECKPOINT = "checkpoint I/O outside the saver's own functions"
REASON_UNREGISTERED = "not registered in this TensorFlow (unknown code)"


def denied_reason(op: str) -> str | None:
    """Returns why `op` is refused wherever it sits, or None."""
    if op in _FILE_OPS or op.startswith(_FILE_OP_PREFIXES):
        return REASON_FILES
    if op in _PYTHON_OPS:
        return REASON_PYTHON
    if op in _PRINT_OPS:
        return REASON_PRINT
    if op in _MEMORY_OPS:
        return REASON_MEMORY
    if op in _HOST_OPS:
        return REASON_HOST
    return None


def find_saved_model_file(model_dir: str | os.PathLike[str]) -> str:
    """Returns the path of `saved_model.pb` or `saved_model.pbtxt`.

    Raises:
        FileNotFoundError: `model_dir` holds neither.
    """
    model_dir = os.fspath(model_dir)
    for name in (PB_NAME, PBTXT_NAME):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            return path
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"No such SavedModel directory: {model_dir!r}")
    raise FileNotFoundError(
        f"{model_dir!r} holds neither {PB_NAME} nor {PBTXT_NAME}; "
        "it is not a SavedModel directory"
    )


def read_saved_model(path: str):  # -> saved_model_pb2.SavedModel
    """Parses a saved_model.pb or .pbtxt file with protobuf only."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".pbtxt"):
        text_format.Parse(data.decode("utf-8"), proto)
    else:
        proto.ParseFromString(data)
    return proto


def _called_functions(node: Any) -> Iterator[str]:
    """Yields the names of the functions a NodeDef's attributes reference."""
    for value in node.attr.values():
        kind = value.WhichOneof("value")
        if kind == "func":
            yield value.func.name
        elif kind == "list":
            for f in value.list.func:
                yield f.name


def _node_name(tensor_name: str) -> str:
    return tensor_name.lstrip("^").split(":")[0]


class _Walker:
    """Collects findings over one SavedModel proto."""

    def __init__(self, is_registered: Callable[[str], bool] | None):
        self.is_registered = is_registered
        self.findings: list[Finding] = []
        self.ops_seen: set[str] = set()
        self.num_functions = 0
        self.num_nodes = 0
        # (op, where) pairs to check against the registry once walked.
        self._op_sites: dict[str, list[tuple[str, str, str]]] = (
            collections.defaultdict(list)
        )

    def walk_graph(
        self,
        graph_def: Any,
        where: str,
        saver: Any,
        labels: dict[str, str] | None = None,
    ) -> None:
        """Walks a GraphDef, its library, and graphs serialized inside.

        Args:
            graph_def: The GraphDef.
            where: Where the graph sits, for messages.
            saver: The MetaGraph's SaverDef, or None.
            labels: Object-graph paths of functions (e.g. ``obj.__call__``)
                that nothing in the graph calls, for messages.
        """
        labels = labels or {}
        lib = {f.signature.name: f for f in graph_def.library.function}
        self.num_functions += len(lib)
        nodes = {n.name: n for n in graph_def.node}
        saver_nodes = _saver_closure(nodes, saver)
        # Which function each function is first reached from, for messages.
        parents: dict[str, str] = {}
        saver_reach = _reach(
            (f for n in saver_nodes for f in _node_calls(nodes[n], lib)),
            lib,
            parents,
            f"{where} saver",
        )
        other_roots = [
            f
            for n in nodes.values()
            if n.name not in saver_nodes
            for f in _node_calls(n, lib)
        ]
        other_reach = _reach(other_roots, lib, parents, where)
        # Library functions nothing in the graph calls (e.g. the object
        # graph's concrete functions) are roots too.
        loose = [
            f for f in lib if f not in saver_reach and f not in other_reach
        ]
        # Labelled roots first, so chains end at e.g. "obj.__call__".
        loose.sort(key=lambda f: f not in labels)
        for f in loose:
            if f not in other_reach:
                other_reach |= _reach(
                    [f], lib, parents, labels.get(f, "the function library")
                )
        saver_own = saver_reach - other_reach

        for node in graph_def.node:
            self._visit(
                node,
                f"{where}, node {node.name!r}",
                in_saver=node.name in saver_nodes,
                lib=lib,
                nodes=nodes,
                context=where,
            )
        for name, fdef in lib.items():
            chain = _chain(name, parents)
            body = {n.name: n for n in fdef.node_def}
            for node in fdef.node_def:
                self._visit(
                    node,
                    f"function {name} ({chain}), node {node.name!r}",
                    in_saver=name in saver_own,
                    lib=lib,
                    nodes=body,
                    context=f"function {name}",
                    function=name,
                )

    def _visit(
        self,
        node: Any,
        where: str,
        in_saver: bool,
        lib: dict[str, Any],
        nodes: dict[str, Any],
        context: str,
        function: str | None = None,
    ) -> None:
        self.num_nodes += 1
        op = node.op
        self.ops_seen.add(op)
        reason = denied_reason(op)
        if reason is None and op in _CHECKPOINT_OPS and not in_saver:
            reason = REASON_CHECKPOINT
        if reason is not None:
            self.findings.append(
                Finding(
                    op=op,
                    node=node.name,
                    function=function,
                    where=where,
                    reason=reason,
                )
            )
        if op not in lib:
            self._op_sites[op].append((node.name, function or "", where))
        if op == _DATASET_FROM_GRAPH:
            self._walk_serialized(node, nodes, context)

    def _walk_serialized(
        self, node: Any, nodes: dict[str, Any], context: str
    ) -> None:
        """Walks the GraphDef a DatasetFromGraph node reads from a constant."""
        from tensorflow.core.framework import graph_pb2

        for inp in node.input:
            if inp.startswith("^"):
                continue
            src = nodes.get(_node_name(inp))
            if src is None or src.op != "Const":
                where = f"{context}, node {node.name!r}"
                self.findings.append(
                    Finding(
                        op=node.op,
                        node=node.name,
                        function=None,
                        where=where,
                        reason="builds a dataset from a graph that is not a "
                        "constant, so it cannot be scanned",
                    )
                )
                continue
            tensor = src.attr["value"].tensor
            for blob in tensor.string_val:
                inner = graph_pb2.GraphDef()
                try:
                    inner.ParseFromString(blob)
                except Exception:  # noqa: BLE001 - any parse error
                    continue
                self.walk_graph(
                    inner,
                    f"{context}, graph serialized in {src.name!r} "
                    f"(read by {node.name!r})",
                    saver=None,
                )

    def check_registry(self) -> None:
        """Adds a finding for every op the registry does not know."""
        if self.is_registered is None:
            return
        for op, sites in sorted(self._op_sites.items()):
            if self.is_registered(op):
                continue
            for node, function, where in sites:
                self.findings.append(
                    Finding(
                        op=op,
                        node=node,
                        function=function or None,
                        where=where,
                        reason=REASON_UNREGISTERED,
                    )
                )


def _node_calls(node: Any, lib: dict[str, Any]) -> Iterator[str]:
    if node.op in lib:
        yield node.op
    for name in _called_functions(node):
        if name in lib:
            yield name


def _reach(
    roots: Any, lib: dict[str, Any], parents: dict[str, str], origin: str
) -> set[str]:
    """Functions reachable from `roots` through calls in their bodies."""
    seen: set[str] = set()
    stack = []
    for r in roots:
        if r not in seen:
            seen.add(r)
            parents.setdefault(r, origin)
            stack.append(r)
    while stack:
        name = stack.pop()
        for node in lib[name].node_def:
            for callee in _node_calls(node, lib):
                if callee not in seen:
                    seen.add(callee)
                    parents.setdefault(callee, name)
                    stack.append(callee)
    return seen


def _chain(name: str, parents: dict[str, str]) -> str:
    """'called from A <- B <- graph' for messages."""
    chain = []
    cur = parents.get(name)
    while cur is not None and cur not in chain and len(chain) < 8:
        chain.append(cur)
        cur = parents.get(cur)
    return "called from " + " <- ".join(chain) if chain else "not called"


def _saver_closure(nodes: dict[str, Any], saver: Any) -> set[str]:
    """Nodes of the graph that make up the saver: the save and restore ops
    `saver_def` names and everything they depend on."""
    if saver is None:
        return set()
    roots = [
        _node_name(name)
        for name in (saver.save_tensor_name, saver.restore_op_name)
        if name
    ]
    seen: set[str] = set()
    stack = [r for r in roots if r in nodes]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for inp in nodes[name].input:
            src = _node_name(inp)
            if src in nodes and src not in seen:
                stack.append(src)
    return seen


def _object_labels(object_graph: Any) -> dict[str, str]:
    """Maps concrete function names to their object path, e.g.
    ``obj.__call__`` or ``obj.signatures.serving_default``."""
    nodes = object_graph.nodes
    labels: dict[str, str] = {}
    if not nodes:
        return labels
    paths = {0: "obj"}
    queue = collections.deque([0])
    while queue:
        i = queue.popleft()
        node = nodes[i]
        kind = node.WhichOneof("kind")
        if kind == "function":
            for name in node.function.concrete_functions:
                labels.setdefault(name, paths[i])
        elif kind == "bare_concrete_function":
            labels.setdefault(
                node.bare_concrete_function.concrete_function_name, paths[i]
            )
        for child in node.children:
            if child.node_id not in paths and child.node_id < len(nodes):
                paths[child.node_id] = f"{paths[i]}.{child.local_name}"
                queue.append(child.node_id)
    return labels


def default_is_registered(op: str) -> bool:
    """True when TensorFlow's op registry knows `op` (imports TensorFlow)."""
    from tensorflow.python.framework import op_def_registry

    return op_def_registry.get(op) is not None


def scan(
    path: str | os.PathLike[str],
    is_registered: Callable[[str], bool] | None = default_is_registered,
) -> ScanResult:
    """Scans a SavedModel for dangerous ops without loading it.

    Args:
        path: A SavedModel directory (with `saved_model.pb` or
            `saved_model.pbtxt`).
        is_registered: Tells whether TensorFlow registers an op name;
            None skips the registry check. The default asks TensorFlow's
            op registry, which loads no model.

    Returns:
        The ScanResult: `refused` is True when any op was found that
        touches files or the host, or that TensorFlow does not register.

    Raises:
        FileNotFoundError: `path` is not a SavedModel directory.
        ValueError: The protobuf cannot be parsed.
    """
    pb_path = find_saved_model_file(path)
    try:
        proto = read_saved_model(pb_path)
    except Exception as e:  # noqa: BLE001 - protobuf raises several kinds
        raise ValueError(f"Cannot parse {pb_path}: {e}") from e
    walker = _Walker(is_registered)
    for i, meta_graph in enumerate(proto.meta_graphs):
        saver = (
            meta_graph.saver_def if meta_graph.HasField("saver_def") else None
        )
        walker.walk_graph(
            meta_graph.graph_def,
            f"meta_graph[{i}]",
            saver,
            labels=_object_labels(meta_graph.object_graph_def),
        )
    walker.check_registry()
    result = ScanResult(
        path=os.fspath(path),
        file=os.path.basename(pb_path),
        refused=bool(walker.findings),
        findings=tuple(walker.findings),
        num_meta_graphs=len(proto.meta_graphs),
        num_functions=walker.num_functions,
        num_nodes=walker.num_nodes,
    )
    if result.refused:
        logger.warning(
            "Refusing %s: %d dangerous op(s): %s",
            path,
            len(result.findings),
            ", ".join(sorted({f.op for f in result.findings})),
        )
    return result
