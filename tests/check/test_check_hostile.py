"""Hostile SavedModels: refused by every entry point, nothing runs.

Each attack class is a real SavedModel (`imagehub.testing.
write_hostile_model`): TF1 and TF2, pb and pbtxt, nested functions, a
second MetaGraph, dataset graphs. For each, `imagehub.check`,
`imagehub.load`, a `.keras` file under safe mode and `imagehub check
--json` refuse it with nothing loaded: its marker file is still absent and
the loopback listener it would connect to counted no connection. Loading
the models that run at load with `trust=True` does write the marker, so its
absence is evidence. Time is bounded by pytest-timeout: the data-service
model, if it ran, would wait on its connection forever.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

import keras
import pytest

import imagehub
from imagehub import testing
from imagehub.check import UnsafeModelError

pytestmark = pytest.mark.timeout(300)

# kind -> an op the scan must name.
EXPECTED_OP = {
    "tf1_restore_save": "Save",
    "tf2_restore_deps": "SaveV2",
    "cache_dataset": "CacheDatasetV2",
    "data_service": "DataServiceDatasetV4",
    "dataset_graph": "CacheDatasetV2",
    "nested_write": "WriteFile",
    "second_meta_graph": "WriteFile",
}
# Also stored as saved_model.pbtxt.
PBTXT_KINDS = ("tf1_restore_save", "tf2_restore_deps", "dataset_graph")
CASES = [*testing.HOSTILE_KINDS, *(f"{k}.pbtxt" for k in PBTXT_KINDS)]


@pytest.fixture(scope="module")
def listener():
    with testing.ConnectionCounter() as running:
        yield running


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, listener):
    """case -> (model dir, marker prefix), each model written once."""
    root = tmp_path_factory.mktemp("hostile")
    models = {}
    for kind in testing.HOSTILE_KINDS:
        marker = str(root / f"{kind}.marker")
        path = testing.write_hostile_model(
            root / kind, kind, marker, address=listener.address
        )
        models[kind] = (path, marker)
    for kind in PBTXT_KINDS:
        path, marker = models[kind]
        models[f"{kind}.pbtxt"] = (
            testing.to_pbtxt(path, root / f"{kind}_pbtxt"),
            marker,
        )
    return models


def _kind(case: str) -> str:
    return case.split(".")[0]


def _assert_nothing_ran(marker: str, listener) -> None:
    written = glob.glob(glob.escape(marker) + "*")
    assert written == [], f"the refused model wrote {written}"
    assert listener.count == 0, "the refused model opened a connection"


@pytest.mark.parametrize("case", CASES)
def test_check_refuses_hostile_model_with_nothing_loaded(
    hostile, listener, case
):
    path, marker = hostile[case]
    report = imagehub.check(path)
    assert report.exit_code == 2 and report.refused, report.summary()
    assert not report.loaded and not report.results
    assert EXPECTED_OP[_kind(case)] in report.scan.ops, report.scan.findings
    assert "--trust" in report.error
    _assert_nothing_ran(marker, listener)


@pytest.mark.parametrize("case", CASES)
def test_load_refuses_hostile_model_when_not_trusted(hostile, listener, case):
    path, marker = hostile[case]
    with pytest.raises(UnsafeModelError) as info:
        imagehub.load(path)
    message = str(info.value)
    assert EXPECTED_OP[_kind(case)] in message, message
    assert "trust=True" in message, f"no way past named: {message}"
    _assert_nothing_ran(marker, listener)


@pytest.mark.parametrize("kind", testing.HOSTILE_KINDS)
def test_keras_safe_mode_refuses_hostile_model_in_keras_file(
    hostile, listener, tmp_path, kind
):
    path, marker = hostile[kind]
    # The .keras file is written against a clean model at the handle's
    # path, which the hostile model then replaces, as a publisher could.
    handle = str(tmp_path / "model")
    testing.write_tiny_model(handle)
    keras_file = str(tmp_path / "layer.keras")
    keras.Sequential(
        [keras.Input((16, 16, 3)), imagehub.KerasLayer(handle)]
    ).save(keras_file)
    shutil.rmtree(handle)
    shutil.copytree(path, handle)
    with pytest.raises(ValueError, match="safety scan") as info:
        keras.saving.load_model(keras_file)
    assert EXPECTED_OP[kind] in str(info.value)
    _assert_nothing_ran(marker, listener)


def test_check_cli_json_refuses_hostile_model_with_exit_2(hostile, listener):
    path, marker = hostile["data_service"]
    done = testing.run_cli("check", path, "--json", timeout=240)
    assert done.returncode == 2, done.stderr[-2000:]
    data = json.loads(done.stdout)
    assert data["loaded"] is False and data["scan"]["refused"] is True
    ops = {f["op"] for f in data["scan"]["ops"]}
    assert "DataServiceDatasetV4" in ops, ops
    _assert_nothing_ran(marker, listener)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_check_cli_json_refuses_every_hostile_model(hostile, listener, case):
    path, marker = hostile[case]
    done = testing.run_cli("check", path, "--json", timeout=240)
    assert done.returncode == 2, done.stderr[-2000:]
    data = json.loads(done.stdout)
    ops = {f["op"] for f in data["scan"]["ops"]}
    assert EXPECTED_OP[_kind(case)] in ops, ops
    _assert_nothing_ran(marker, listener)


@pytest.mark.parametrize("kind", testing.RUN_AT_LOAD)
def test_trusted_load_runs_payload_so_marker_is_evidence(
    tmp_path, listener, kind
):
    marker = str(tmp_path / "marker")
    path = testing.write_hostile_model(tmp_path / "m", kind, marker)
    imagehub.load(path, trust=True)
    assert glob.glob(marker + "*"), f"{kind}: loading wrote nothing"


def test_trusted_call_runs_call_payload_so_marker_is_evidence(tmp_path):
    import numpy as np

    marker = str(tmp_path / "marker")
    path = testing.write_hostile_model(
        tmp_path / "m", "tf2_restore_deps", marker
    )
    model = imagehub.load(path, trust=True)
    assert not glob.glob(marker + "*"), "loading alone wrote the marker"
    model(np.zeros((1, 16, 16, 3), np.float32))
    assert glob.glob(marker + "*"), "calling __call__ wrote nothing"


def test_second_meta_graph_payload_runs_when_its_tags_load(tmp_path):
    marker = str(tmp_path / "marker")
    path = testing.write_hostile_model(
        tmp_path / "m", "second_meta_graph", marker
    )
    assert (
        not imagehub.scan(path).findings[0].where.startswith("meta_graph[0]")
    ), "the first MetaGraph is clean; the finding is in the second"
    imagehub.load(path, tags=["train"], trust=True)
    assert os.path.exists(marker), "loading tag 'train' wrote nothing"
