"""`engines.benchmark` and `imagehub bench` on a tiny real SavedModel."""

from __future__ import annotations

import json

import pytest

from imagehub import engines
from imagehub.cli import main


def test_bench_json_has_one_row_per_engine(tiny_model, capsys):
    code = main(["bench", tiny_model, "--batch_size", "4", "--json"])
    assert code == 0, f"expected exit 0, got {code}"
    result = json.loads(capsys.readouterr().out)
    rows = {row["engine"]: row for row in result["rows"]}
    assert list(rows) == list(engines.ENGINES), f"rows: {list(rows)}"
    for engine, row in rows.items():
        assert row["images_per_second"] > 0, f"{engine}: {row}"
        assert row["refused"] is None, f"{engine} refused: {row['refused']}"
    for engine in ("litert", "openvino"):
        difference = rows[engine]["max_relative_difference"]
        assert 0 <= difference <= engines.PARITY_TOLERANCE, f"{engine}"
    assert result["batch_size"] == 4
    assert "cores" in result["machine"] and "tensorflow" in result["machine"]


def test_bench_int8_reports_agreement_and_refuses_openvino(tiny_model):
    result = engines.benchmark(
        tiny_model,
        engines=("litert", "openvino"),
        batch_size=2,
        precision="int8",
        rounds=1,
    )
    rows = {row.engine: row for row in result.rows}
    assert rows["tensorflow"].precision == "float32"
    litert = rows["litert"]
    assert litert.precision == "int8" and litert.images_per_second > 0
    assert litert.agreement is not None and 0 < litert.agreement <= 1.0001
    assert rows["openvino"].refused, "openvino int8 should be refused"
    assert rows["openvino"].images_per_second is None


def test_bench_unknown_engine_is_a_usage_error(tiny_model, capsys):
    code = main(["bench", tiny_model, "--engines", "litert,onnx"])
    assert code == 2, f"expected exit 2, got {code}"
    assert "onnx" in capsys.readouterr().err


def test_benchmark_rejects_unknown_precision(tiny_model):
    with pytest.raises(ValueError, match="precision"):
        engines.benchmark(tiny_model, precision="fp16")
