"""`imagehub check` on the command line: table, --json, exit codes.

One test runs `python -m imagehub check` in a subprocess; the others call
the CLI's `main` in this process (TensorFlow is imported once).
"""

import json

import pytest

from imagehub.cli import main
from imagehub.testing import TFHUB_CLASSIFIER_DIR
from imagehub.testing import run_cli
from imagehub.testing import write_broken_model
from imagehub.testing import write_tiny_model


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


def test_cli_prints_rule_table_and_exits_0_when_model_conforms(root):
    path = write_tiny_model(str(root / "tiny"))
    proc = run_cli("check", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for rule in ("R1", "R9", "I5", "F3", "M1", "M2"):
        assert rule in proc.stdout, f"{rule} missing from\n{proc.stdout}"
    assert "CONFORMING as feature_vector" in proc.stdout


def test_cli_passes_tfhub_classifier_when_task_is_given(capsys):
    code = main(
        ["check", TFHUB_CLASSIFIER_DIR, "--task", "classification", "--json"]
    )
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    data = json.loads(out)
    assert data["task"] == "classification"
    assert data["task_source"] == "argument"
    assert data["conforming"] is True
    statuses = {r["rule"]: r["status"] for r in data["results"]}
    assert "FAIL" not in statuses.values(), data["results"]
    # Published without a card or signatures: M rules warn, not fail.
    assert statuses["M1"] == "WARN" and statuses["M2"] == "WARN"
    for rule in ("R3", "R5", "R6", "R7", "C1", "C2"):
        assert statuses[rule] == "PASS", (rule, data["results"])


def test_cli_exits_1_with_failing_rule_in_json_when_model_is_broken(
    root, capsys
):
    path = write_broken_model(str(root / "softmax"), "softmax_output")
    capsys.readouterr()
    code = main(["check", path, "--json"])
    out = capsys.readouterr().out
    assert code == 1, out[-2000:]
    data = json.loads(out)
    assert data["conforming"] is False
    failed = [r["rule"] for r in data["results"] if r["status"] == "FAIL"]
    assert failed == ["C3"], data["results"]


def test_cli_exits_2_and_names_op_when_scan_refuses(root, capsys):
    path = write_broken_model(str(root / "rf"), "read_file_nested_function")
    capsys.readouterr()
    code = main(["check", path])
    out = capsys.readouterr().out
    assert code == 2, out
    assert "ReadFile" in out and "inner" in out, out
    assert "--trust" in out


def test_cli_json_reports_refusal_when_scan_refuses(root, capsys):
    path = write_broken_model(str(root / "rf2"), "read_file_dataset_map")
    capsys.readouterr()
    code = main(["check", path, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 2
    assert data["scan"]["refused"] is True and data["conforming"] is False
    assert {op["op"] for op in data["scan"]["ops"]} == {"ReadFile"}
    assert all(op["where"] for op in data["scan"]["ops"])


def test_cli_exits_2_when_image_size_is_malformed(root, capsys):
    code = main(["check", str(root), "--image_size", "big"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--image_size must be H,W" in err, err
