"""Bounded work: caps that refuse with exit 2, naming the cap.

The nested `DatasetFromGraph` bomb (each level reads the previous level's
graph twice) took the old scan 2**levels steps and, at 400 levels, a
RecursionError. Each serialized graph is now walked once and nesting is
capped; every other cap is shown by lowering it.
"""

from __future__ import annotations

import dataclasses

import pytest

import imagehub
from imagehub import testing
from imagehub.check import LIMITS
from imagehub.check import ScanLimitError
from imagehub.check import scan
from imagehub.scan import _scan

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("limits")


@pytest.fixture(scope="module")
def tiny(root):
    return testing.write_tiny_model(root / "tiny")


@pytest.fixture
def limits(monkeypatch):
    """Lowers one cap of the scan for a test: limits(max_nodes=10)."""

    def lower(**caps):
        monkeypatch.setattr(
            _scan, "LIMITS", dataclasses.replace(LIMITS, **caps)
        )

    return lower


def test_scan_walks_each_serialized_graph_once_when_bomb_is_shallow(root):
    levels = LIMITS.max_graph_depth - 1
    path = testing.write_graph_bomb(root / "bomb_shallow", levels)
    result = scan(path)
    assert not result.refused, result.findings
    # Walked naively the nested graphs hold 2**7 * 2 = 256 nodes more.
    plain = scan(testing.write_tiny_model(root / "plain"))
    extra = result.num_nodes - plain.num_nodes
    assert extra < 20 * levels, f"{extra} nodes walked for {levels} levels"


@pytest.mark.parametrize("levels", [40, 400])
def test_check_refuses_graph_bomb_naming_the_depth_cap(root, levels):
    path = testing.write_graph_bomb(root / f"bomb_{levels}", levels)
    report = imagehub.check(path)
    assert report.exit_code == 2 and not report.loaded
    assert "max_graph_depth" in report.error, report.error
    (finding,) = report.scan.findings
    assert "max_graph_depth=8" in finding.reason, finding.reason


def test_scan_refuses_model_naming_the_node_cap_when_lowered(tiny, limits):
    limits(max_nodes=50)
    result = scan(tiny)
    assert result.refused
    assert result.ops == ("(scan cap max_nodes)",), result.ops
    assert "max_nodes=50" in result.findings[0].reason


def test_scan_refuses_nested_graphs_naming_the_bytes_cap_when_lowered(
    root, limits
):
    path = testing.write_graph_bomb(root / "bomb_bytes", 3)
    limits(max_serialized_bytes=200)
    result = scan(path)
    assert result.ops == ("(scan cap max_serialized_bytes)",), result.ops


def test_scan_refuses_deep_calls_naming_the_call_cap_when_lowered(root, limits):
    path = testing.write_broken_model(
        root / "nested", "read_file_nested_function"
    )
    limits(max_call_depth=2)
    result = scan(path)
    assert result.ops == ("(scan cap max_call_depth)",), result.ops


def test_check_exits_2_naming_the_file_cap_when_lowered(tiny, limits):
    limits(max_file_bytes=1000)
    with pytest.raises(ScanLimitError, match="max_file_bytes=1,000"):
        scan(tiny)
    report = imagehub.check(tiny)
    assert report.exit_code == 2 and "max_file_bytes" in report.error


def test_check_exits_2_when_pbtxt_nests_deeper_than_the_parser(root):
    # A message nested 5000 deep, written as text by hand: TensorFlow's
    # APIs cannot build one, and the parser must fail cleanly.
    path = root / "deep_pbtxt"
    path.mkdir()
    depth = 5000
    attr = "attr { key: 'f' value { func { name: 'g' " * depth
    attr += "} } }" * depth
    text = (
        "meta_graphs { graph_def { node { name: 'n' op: 'NoOp' "
        + attr
        + " } } }"
    )
    (path / "saved_model.pbtxt").write_text(text)
    report = imagehub.check(str(path))
    assert report.exit_code == 2, report.summary()
    assert "RecursionError" not in report.error, report.error


def test_graph_questions_raise_value_error_when_calls_nest_too_deeply():
    # What `trust=True` lets through: 5000 functions each calling the
    # next. The probes' graph walk says so instead of a RecursionError.
    from tensorflow.core.framework import function_pb2

    from imagehub.check._graph import FunctionGraph
    from imagehub.check._graph import dropout_on_output
    from imagehub.check._graph import probability_output

    library = {}
    depth = 5000
    for i in range(depth):
        fdef = function_pb2.FunctionDef()
        fdef.signature.name = f"f{i}"
        fdef.signature.input_arg.add(name="x", type=1)
        fdef.signature.output_arg.add(name="y", type=1)
        node = fdef.node_def.add(name="n", input=["x"])
        if i + 1 < depth:
            node.op = f"f{i + 1}"
            fdef.ret["y"] = "n:y:0"
        else:
            node.op = "Identity"
            fdef.ret["y"] = "n:output:0"
        library[fdef.signature.name] = fdef
    graph = FunctionGraph(library["f0"], library)
    for question in (probability_output, dropout_on_output):
        with pytest.raises(ValueError, match="too deeply"):
            question(graph)
