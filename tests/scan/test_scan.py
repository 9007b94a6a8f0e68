"""The safety scan: protobuf only, nested functions and graphs, no loading."""

import json
import os

import pytest

import imagehub
from imagehub.scan import denied_reason
from imagehub.scan import scan
from imagehub.testing import TFHUB_CLASSIFIER_DIR
from imagehub.testing import add_unregistered_op
from imagehub.testing import to_pbtxt
from imagehub.testing import write_broken_model
from imagehub.testing import write_file_writing_model
from imagehub.testing import write_tf1_model
from imagehub.testing import write_tiny_model

READ_FILE_KINDS = (
    "read_file_nested_function",
    "read_file_dataset_map",
    "read_file_serialized_graph",
)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("scan")


@pytest.fixture(scope="module")
def tiny(root):
    return write_tiny_model(str(root / "tiny"))


@pytest.fixture(scope="module")
def refused_models(root):
    """Each host-op model, written once."""
    return {
        kind: write_broken_model(str(root / kind), kind)
        for kind in (*READ_FILE_KINDS, "save_outside_saver")
    }


@pytest.mark.parametrize(
    "op",
    [
        "ReadFile",
        "WriteFile",
        "MatchingFiles",
        "PrintV2",
        "WholeFileReaderV2",
        "ReaderReadUpToV2",
        "InitializeTableFromTextFileV2",
        "PyFunc",
        "EagerPyFunc",
        "ImmutableConst",
        "TFRecordDatasetV2",
        "CreateSummaryFileWriter",
        "SaveDatasetV2",
        "Abort",
        # Off the allowlist: an image model does not print.
        "Print",
    ],
)
def test_denied_reason_names_a_reason_when_op_touches_host(op):
    assert denied_reason(op), f"{op} is not refused"


@pytest.mark.parametrize(
    "op", ["Conv2D", "MatMul", "SaveV2", "RestoreV2", "MapDataset"]
)
def test_denied_reason_is_none_when_op_is_refused_only_by_place(op):
    assert denied_reason(op) is None


def test_scan_is_clean_when_model_conforms(tiny):
    result = scan(tiny)
    assert not result.refused, result.findings
    assert result.num_functions > 0 and result.num_nodes > 0


def test_scan_allows_checkpoint_ops_when_inside_the_saver(tiny):
    # Every TF2 SavedModel has SaveV2/RestoreV2 in its saver functions.
    result = scan(tiny, is_registered=None)
    assert not result.refused, [f.where for f in result.findings]


def test_scan_is_clean_when_model_is_the_tfhub_classifier():
    result = scan(TFHUB_CLASSIFIER_DIR)
    assert not result.refused, result.findings


@pytest.mark.parametrize("kind", READ_FILE_KINDS)
def test_scan_refuses_read_file_when_hidden_in_nested_graphs(
    refused_models, kind
):
    result = scan(refused_models[kind])
    assert result.refused, f"{kind}: ReadFile not found"
    assert result.ops == ("ReadFile",), result.ops
    for finding in result.findings:
        assert finding.function, f"{kind}: no function named: {finding}"
        assert finding.function in finding.where


def test_scan_names_the_caller_chain_when_read_file_is_nested(
    refused_models,
):
    result = scan(refused_models["read_file_nested_function"])
    (finding,) = result.findings
    assert "inner" in finding.function, finding
    assert "middle" in finding.where and "__call__" in finding.where, (
        finding.where
    )


def test_scan_finds_read_file_when_only_inside_a_serialized_graph(
    refused_models,
):
    result = scan(refused_models["read_file_serialized_graph"])
    assert result.findings
    for finding in result.findings:
        assert "graph serialized in" in finding.where, finding.where
        assert "DatasetFromGraph" in finding.where, finding.where


def test_scan_refuses_save_op_when_outside_the_saver(refused_models):
    result = scan(refused_models["save_outside_saver"])
    assert result.ops == ("SaveV2",), result.findings
    assert "saver" in result.findings[0].reason


def test_scan_allows_tf1_saver_and_refuses_write_file_in_tf1_graph(root):
    clean = scan(write_tf1_model(str(root / "tf1")))
    assert not clean.refused, clean.findings
    bad = scan(write_tf1_model(str(root / "tf1_bad"), write_file="/x"))
    assert bad.ops == ("WriteFile",), bad.findings
    (finding,) = bad.findings
    assert finding.function is None and "hidden_write" in finding.where


def test_scan_refuses_op_when_tensorflow_does_not_register_it(root):
    path = write_tiny_model(str(root / "unregistered"))
    function = add_unregistered_op(path, "ImagehubNoSuchOp")
    result = scan(path)
    assert result.ops == ("ImagehubNoSuchOp",)
    assert result.findings[0].function == function
    assert "not registered" in result.findings[0].reason


def test_scan_uses_the_given_registry_when_one_is_passed(tiny):
    result = scan(tiny, is_registered=lambda op: op != "Conv2D")
    assert result.ops == ("Conv2D",), result.ops


def test_scan_reads_pbtxt_when_model_is_text(root, refused_models):
    clean = to_pbtxt(write_tiny_model(str(root / "pbtxt_src")), root / "pb1")
    result = scan(clean)
    assert result.file == "saved_model.pbtxt" and not result.refused
    bad = to_pbtxt(refused_models["read_file_nested_function"], root / "pb2")
    result = scan(bad)
    assert result.file == "saved_model.pbtxt"
    assert result.ops == ("ReadFile",)


def test_scan_raises_when_directory_has_no_saved_model(root):
    empty = root / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="neither saved_model.pb"):
        scan(empty)


def test_check_never_loads_model_when_scan_refuses(root):
    target = root / "written_at_load.txt"
    path = write_file_writing_model(str(root / "writer"), target)
    report = imagehub.check(path)
    assert report.refused and not report.loaded
    assert report.exit_code == 2
    assert report.scan.ops == ("WriteFile",)
    assert not report.results
    assert not os.path.exists(target), "the refused model's op ran"
    # The same model with trust=True is loaded, and its initializer runs:
    # the file's absence above is evidence, not luck.
    trusted = imagehub.check(path, trust=True)
    assert trusted.loaded
    assert os.path.exists(target), "loading did not run the initializer"
    assert any("trust" in note for note in trusted.notes)


def test_report_json_names_refused_ops_and_where(refused_models):
    report = imagehub.check(refused_models["read_file_nested_function"])
    data = json.loads(report.to_json())
    assert data["conforming"] is False
    assert data["results"] == []
    assert data["scan"]["refused"] is True
    (op,) = data["scan"]["ops"]
    assert op["op"] == "ReadFile" and "inner" in op["function"]
    assert "--trust" in data["error"]


def test_imagehub_scan_is_the_callable_subpackage_when_imported():
    import imagehub.scan as module

    assert imagehub.scan is module, type(imagehub.scan)
    assert callable(module), "imagehub.scan should forward to scan()"
    assert module.scan is scan


def test_scan_by_module_call_matches_the_function_when_clean(tiny):
    via_module = imagehub.scan(tiny)
    assert not via_module.refused, via_module.describe()
    assert via_module == scan(tiny), "imagehub.scan(path) should be scan"


def test_check_reexports_the_scan_names_when_imported():
    import imagehub.check
    import imagehub.scan

    for name in (
        "scan",
        "UnsafeModelError",
        "ScanResult",
        "Finding",
        "LIMITS",
        "Limits",
        "ScanLimitError",
    ):
        assert getattr(imagehub.check, name) is getattr(imagehub.scan, name), (
            f"imagehub.check.{name} should be imagehub.scan.{name}"
        )
