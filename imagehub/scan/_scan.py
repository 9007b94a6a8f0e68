"""The safety scan: reads a SavedModel's protobuf without running anything.

A SavedModel is a program: loading it runs its restore and initializer
functions, calling it runs its graphs. The scan parses `saved_model.pb` (or
`saved_model.pbtxt`) with protobuf only and walks every MetaGraph, every
function of every function library, and the graphs serialized into
constants (`DatasetFromGraph`).

What it guarantees: a SavedModel passes only when every op in all of these
is on imagehub's allowlist (`_allowlist.py`: ops an image model needs, none
of which touches files, the network or the host) and registered in this
TensorFlow, and every checkpoint op forms the standard saver, judged by
dataflow (`_saver.py`). Anything else is refused, naming the op, where it
sits (with the chain of callers) and why; nothing is loaded or run.
`trust=True` (`--trust`) is the only way past, and gives all of this up.

Remembered verdicts (`_memo.py`): given a `memo_dir`, a clean verdict is
remembered under a hash of the file's bytes and of the rules, and a later
scan of the same bytes under the same rules skips the parse and the walk;
finding the file and the size cap still run every time, and a refusal is
never remembered.

Bounded work: each serialized graph is parsed and walked once (memoised by
content), every walk is iterative, and caps on the file size, the bytes of
nested graphs, their nesting depth, the function call depth and the number
of nodes refuse what exceeds them, naming the cap (`LIMITS`).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import os
from collections.abc import Callable
from typing import Any

from imagehub.scan import _memo
from imagehub.scan._allowlist import ALLOWED
from imagehub.scan._allowlist import CHECKPOINT_OPS
from imagehub.scan._allowlist import refusal_reason
from imagehub.scan._result import Finding
from imagehub.scan._result import ScanResult
from imagehub.scan._saver import Library
from imagehub.scan._saver import node_name
from imagehub.scan._saver import saver_findings

logger = logging.getLogger(__name__)

PB_NAME = "saved_model.pb"
PBTXT_NAME = "saved_model.pbtxt"


@dataclasses.dataclass(frozen=True)
class Limits:
    """The scan's caps; a model beyond any of them is refused.

    Attributes:
        max_file_bytes: Size of saved_model.pb(txt).
        max_nodes: Nodes walked, nested graphs included.
        max_serialized_bytes: Bytes of graphs serialized in constants.
        max_graph_depth: Nesting of graphs serialized in constants.
        max_call_depth: Longest chain of function calls.
    """

    max_file_bytes: int = 1 << 30
    max_nodes: int = 2_000_000
    max_serialized_bytes: int = 256 << 20
    max_graph_depth: int = 8
    max_call_depth: int = 200


LIMITS = Limits()
# Findings kept per op type; a count stands for the rest.
_SITES_PER_OP = 20
_DATASET_FROM_GRAPH = "DatasetFromGraph"

REASON_UNREGISTERED = "not registered in this TensorFlow (unknown code)"
REASON_UNSCANNABLE = (
    "builds a dataset from a graph that is not a constant, so it cannot "
    "be scanned"
)
REASON_UNPARSABLE = "holds a serialized graph that does not parse"
REASON_RECURSION = "calls itself (TensorFlow functions do not recurse)"


class ScanLimitError(ValueError):
    """The SavedModel exceeds one of the scan's caps (`LIMITS`).

    Attributes:
        cap: The `Limits` field exceeded, e.g. ``"max_graph_depth"``.
        where: Where in the model the cap was reached.
    """

    def __init__(self, cap: str, what: str, where: str):
        self.cap = cap
        self.where = where
        limit = getattr(LIMITS, cap)
        super().__init__(
            f"{what} exceeds the scan's cap {cap}={limit:,} at {where}; "
            "it was refused without scanning the rest"
        )


def denied_reason(op: str) -> str | None:
    """Why `op` is refused wherever it sits, or None.

    None for the allowlist's ops and for checkpoint ops (judged by place,
    see `_saver.py`).
    """
    if op in ALLOWED or op in CHECKPOINT_OPS:
        return None
    return refusal_reason(op)


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
    """Parses a saved_model.pb or .pbtxt file with protobuf only.

    Raises:
        ScanLimitError: The file is larger than `LIMITS.max_file_bytes`.
        ValueError: It does not parse (nested too deeply, among others).
    """
    return parse_saved_model(path, read_capped(path))


def read_capped(path: str) -> bytes:
    """The bytes of saved_model.pb(txt), refused beyond the size cap.

    Raises:
        ScanLimitError: The file is larger than `LIMITS.max_file_bytes`.
    """
    size = os.path.getsize(path)
    if size > LIMITS.max_file_bytes:
        raise ScanLimitError(
            "max_file_bytes", f"{os.path.basename(path)} ({size:,} bytes)", path
        )
    with open(path, "rb") as f:
        data = f.read(LIMITS.max_file_bytes + 1)
    if len(data) > LIMITS.max_file_bytes:  # grew since the stat
        raise ScanLimitError(
            "max_file_bytes",
            f"{os.path.basename(path)} (over {LIMITS.max_file_bytes:,} bytes)",
            path,
        )
    return data


def parse_saved_model(path: str, data: bytes):  # -> saved_model_pb2...
    """Parses `data`, the bytes of the saved_model.pb or .pbtxt `path`.

    Raises:
        ValueError: It does not parse (nested too deeply, among others).
    """
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        if path.endswith(".pbtxt"):
            text_format.Parse(data.decode("utf-8"), proto)
        else:
            proto.ParseFromString(data)
    except RecursionError:
        raise ValueError(
            f"Cannot parse {path}: its messages are nested deeper than the "
            "parser allows"
        ) from None
    except Exception as e:  # noqa: BLE001 - protobuf raises several kinds
        raise ValueError(f"Cannot parse {path}: {e}") from e
    return proto


class _Walker:
    """Collects findings over one SavedModel proto."""

    def __init__(self, is_registered: Callable[[str], bool] | None):
        self.is_registered = is_registered
        self.findings: list[Finding] = []
        self.num_functions = 0
        self.num_nodes = 0
        self._serialized_bytes = 0
        self._walked_blobs: set[bytes] = set()
        # op -> its first sites as (where prefix, function, node); counts.
        self._sites: dict[str, list[tuple[str, str | None, str]]] = {}
        self._counts: dict[str, int] = {}

    def walk_graph(
        self,
        graph_def: Any,
        where: str,
        *,
        saver: Any = None,
        meta_graph: Any = None,
        labels: dict[str, str] | None = None,
        depth: int = 0,
    ) -> None:
        """Walks a GraphDef, its library, and graphs serialized inside.

        Args:
            graph_def: The GraphDef.
            where: Where the graph sits, for messages.
            saver: The MetaGraph's SaverDef, or None.
            meta_graph: The MetaGraphDef (signatures, collections), or
                None for a nested graph.
            labels: Object-graph paths of functions (e.g.
                ``obj.__call__``): roots for the saver rule and for
                messages.
            depth: How deeply this graph is nested in serialized graphs.
        """
        labels = labels or {}
        # Counted before any index is built, so a huge graph costs little.
        size = len(graph_def.node) + sum(
            len(f.node_def) for f in graph_def.library.function
        )
        if self.num_nodes + size > LIMITS.max_nodes:
            raise ScanLimitError(
                "max_nodes", f"{self.num_nodes + size:,} nodes", where
            )
        lib = Library(graph_def)
        self.num_functions += len(lib.functions)
        self._check_call_depth(lib, where)
        parents = _parents(lib, where, labels)
        for node in graph_def.node:
            self._visit(node, None, where)
            if node.op == _DATASET_FROM_GRAPH:
                self._walk_serialized(node, lib.nodes, where, None, depth)
        for name, fdef in lib.functions.items():
            prefix = f"function {name} ({_chain(name, parents)})"
            body = None
            for node in fdef.node_def:
                self._visit(node, name, prefix)
                if node.op == _DATASET_FROM_GRAPH:
                    body = body or {n.name: n for n in fdef.node_def}
                    context = f"function {name}"
                    self._walk_serialized(node, body, context, name, depth)
        for function, node, op, reason in saver_findings(
            lib, saver, labels, meta_graph
        ):
            chain = f" ({_chain(function, parents)})" if function else ""
            place = f"function {function}{chain}" if function else where
            self.findings.append(
                Finding(
                    op=op,
                    node=node,
                    function=function,
                    where=f"{place}, node {node!r}",
                    reason=reason,
                )
            )

    def _visit(self, node: Any, function: str | None, prefix: str) -> None:
        """Counts a node and keeps its place for the op's findings."""
        self.num_nodes += 1
        op = node.op
        count = self._counts.get(op, 0)
        self._counts[op] = count + 1
        if count < _SITES_PER_OP:
            self._sites.setdefault(op, []).append((prefix, function, node.name))

    def _walk_serialized(
        self,
        node: Any,
        body: dict[str, Any],
        context: str,
        function: str | None,
        depth: int,
    ) -> None:
        """Walks the GraphDef a DatasetFromGraph node reads from a constant.

        Each distinct serialized graph is parsed and walked once, however
        many nodes read it.
        """
        from tensorflow.core.framework import graph_pb2

        where = f"{context}, node {node.name!r}"
        for inp in node.input:
            if inp.startswith("^"):
                continue
            src = body.get(node_name(inp))
            if src is None or src.op != "Const":
                self._add(node, function, where, REASON_UNSCANNABLE)
                continue
            for blob in src.attr["value"].tensor.string_val:
                digest = hashlib.sha256(blob).digest()
                if digest in self._walked_blobs:
                    continue
                self._walked_blobs.add(digest)
                if depth + 1 > LIMITS.max_graph_depth:
                    raise ScanLimitError(
                        "max_graph_depth",
                        f"a graph serialized {depth + 1} levels deep",
                        where,
                    )
                self._serialized_bytes += len(blob)
                if self._serialized_bytes > LIMITS.max_serialized_bytes:
                    raise ScanLimitError(
                        "max_serialized_bytes",
                        f"{self._serialized_bytes:,} bytes of serialized "
                        "graphs",
                        where,
                    )
                inner = graph_pb2.GraphDef()
                try:
                    inner.ParseFromString(blob)
                except Exception:  # noqa: BLE001 - any parse error
                    self._add(node, function, where, REASON_UNPARSABLE)
                    continue
                self.walk_graph(
                    inner,
                    f"{context}, graph serialized in {src.name!r} "
                    f"(read by {node.name!r})",
                    depth=depth + 1,
                )

    def _add(self, node, function, where, reason) -> None:
        self.findings.append(
            Finding(
                op=node.op,
                node=node.name,
                function=function,
                where=where,
                reason=reason,
            )
        )

    def _check_call_depth(self, lib: Library, where: str) -> None:
        """Refuses recursion and call chains deeper than the cap, so that
        later walks of the call graph (the probes') stay shallow."""
        depth: dict[str, int] = {}
        for root in lib.functions:
            if root in depth:
                continue
            # Iterative post-order: (name, callees pending).
            stack = [(root, iter(sorted(lib.callees[root])))]
            on_path = {root}
            while stack:
                name, pending = stack[-1]
                callee = next(pending, None)
                if callee is None:
                    stack.pop()
                    on_path.discard(name)
                    depth[name] = 1 + max(
                        (depth[c] for c in lib.callees[name]), default=0
                    )
                    if depth[name] > LIMITS.max_call_depth:
                        raise ScanLimitError(
                            "max_call_depth",
                            f"a chain of {depth[name]} nested function calls",
                            f"{where}, function {name}",
                        )
                    continue
                if callee in on_path:
                    self.findings.append(
                        Finding(
                            op=f"(calls {callee})",
                            node=name,
                            function=name,
                            where=f"{where}, function {name}",
                            reason=REASON_RECURSION,
                        )
                    )
                    depth[callee] = 0
                    continue
                if callee not in depth:
                    on_path.add(callee)
                    stack.append((callee, iter(sorted(lib.callees[callee]))))

    @property
    def ops_seen(self) -> set[str]:
        """Every op type walked (library functions called by name too)."""
        return set(self._counts)

    def judge_ops(self, functions: set[str]) -> None:
        """Adds a finding for each site of an op that is not allowed or not
        registered (library function names are calls, not ops)."""
        for op, sites in sorted(self._sites.items()):
            if op in functions:
                continue
            if self.is_registered is not None and not self.is_registered(op):
                reason = REASON_UNREGISTERED
            elif op in ALLOWED or op in CHECKPOINT_OPS:
                continue
            else:
                reason = refusal_reason(op)
            more = self._counts[op] - len(sites)
            for i, (prefix, function, node) in enumerate(sites):
                where = f"{prefix}, node {node!r}"
                if more and i == len(sites) - 1:
                    where += f" (and {more} more {op} nodes)"
                self.findings.append(
                    Finding(
                        op=op,
                        node=node,
                        function=function,
                        where=where,
                        reason=reason,
                    )
                )


def _parents(lib: Library, where: str, labels: dict[str, str]) -> dict:
    """Who first calls each function, breadth first, for messages: from
    the object graph's functions, then the graph's nodes, then the rest."""
    parents: dict[str, str] = {}

    def bfs(roots) -> None:
        queue: collections.deque[str] = collections.deque()
        for name, origin in roots:
            if name not in parents:
                parents[name] = origin
                queue.append(name)
        while queue:
            name = queue.popleft()
            for callee in sorted(lib.callees[name]):
                if callee not in parents:
                    parents[callee] = name
                    queue.append(callee)

    bfs((f, labels[f]) for f in sorted(lib.functions) if f in labels)
    bfs(
        (f, f"{where}, node {n.name!r}")
        for n in lib.graph_def.node
        for f in lib.node_calls(n)
    )
    bfs((f, "the function library") for f in sorted(lib.functions))
    return parents


def _chain(name: str, parents: dict[str, str]) -> str:
    """'called from A <- B <- graph' for messages."""
    chain: list[str] = []
    cur = parents.get(name)
    while cur is not None and cur not in chain and len(chain) < 8:
        chain.append(cur)
        cur = parents.get(cur)
    return "called from " + " <- ".join(chain) if chain else "not called"


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
    *,
    memo_dir: str | os.PathLike[str] | None = None,
) -> ScanResult:
    """Scans a SavedModel for ops outside the allowlist without loading it.

    Args:
        path: A SavedModel directory (with `saved_model.pb` or
            `saved_model.pbtxt`).
        is_registered: Tells whether TensorFlow registers an op name;
            None skips the registry check. The default asks TensorFlow's
            op registry, which loads no model.
        memo_dir: A folder of remembered clean verdicts (`hub.load` passes
            `hub.scan_memo_dir()`): when the file's bytes and the rules
            are those of a clean verdict found there, the walk is skipped
            (`ScanResult.from_memo`); a clean verdict is written there.
            Refusals are never remembered. Only used with the default
            `is_registered`. None (the default, and `imagehub check`'s)
            always scans in full.

    Returns:
        The ScanResult: `refused` is True when any op is not on the
        allowlist, not registered, or a checkpoint op outside the standard
        saver, and when the model exceeds one of the scan's caps
        (`LIMITS`; the finding names the cap).

    Raises:
        FileNotFoundError: `path` is not a SavedModel directory.
        ValueError: The protobuf cannot be parsed, or the file is larger
            than `LIMITS.max_file_bytes` (`ScanLimitError`).
    """
    pb_path = find_saved_model_file(path)
    file_name = os.path.basename(pb_path)
    # The verdict is about exactly these bytes: hashed and parsed alike.
    data = read_capped(pb_path)
    key = None
    if memo_dir is not None and is_registered is default_is_registered:
        key = _memo.memo_key(file_name, data)
        memo = _memo.recall(memo_dir, key)
        if memo:
            logger.debug("Scan of %s: clean, remembered (memo %s)", path, key)
            return ScanResult(
                path=os.fspath(path),
                file=file_name,
                refused=False,
                num_meta_graphs=memo["meta_graphs"],
                num_functions=memo["functions"],
                num_nodes=memo["nodes"],
                from_memo=True,
            )
    result = _scan_proto(
        path, file_name, parse_saved_model(pb_path, data), is_registered
    )
    if key is not None and memo_dir is not None and not result.refused:
        _memo.remember(
            memo_dir,
            key,
            meta_graphs=result.num_meta_graphs,
            functions=result.num_functions,
            nodes=result.num_nodes,
        )
    return result


def _scan_proto(
    path: str | os.PathLike[str],
    file_name: str,
    proto: Any,
    is_registered: Callable[[str], bool] | None,
) -> ScanResult:
    """The full scan of a parsed SavedModel proto."""
    walker = _Walker(is_registered)
    functions: set[str] = set()
    try:
        for i, meta_graph in enumerate(proto.meta_graphs):
            saver = (
                meta_graph.saver_def
                if meta_graph.HasField("saver_def")
                else None
            )
            functions.update(
                f.signature.name for f in meta_graph.graph_def.library.function
            )
            walker.walk_graph(
                meta_graph.graph_def,
                f"meta_graph[{i}]",
                saver=saver,
                meta_graph=meta_graph,
                labels=_object_labels(meta_graph.object_graph_def),
            )
    except ScanLimitError as e:
        walker.findings.append(
            Finding(
                op=f"(scan cap {e.cap})",
                node="",
                function=None,
                where=e.where,
                reason=str(e),
            )
        )
    else:
        walker.judge_ops(functions)
    result = ScanResult(
        path=os.fspath(path),
        file=file_name,
        refused=bool(walker.findings),
        findings=tuple(walker.findings),
        num_meta_graphs=len(proto.meta_graphs),
        num_functions=walker.num_functions,
        num_nodes=walker.num_nodes,
    )
    if result.refused:
        logger.warning(
            "Refusing %s: %d finding(s): %s",
            path,
            len(result.findings),
            ", ".join(result.ops),
        )
    return result
