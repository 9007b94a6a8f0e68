"""Rule by rule: conforming models pass, each broken model fails its rule."""

import json

import pytest

import imagehub
from imagehub.check import FAIL
from imagehub.check import PASS
from imagehub.check import SKIP
from imagehub.check import WARN
from imagehub.spec import rules_for_task
from imagehub.testing import BROKEN_KINDS
from imagehub.testing import to_pbtxt
from imagehub.testing import write_broken_model
from imagehub.testing import write_keras_export
from imagehub.testing import write_keras_wrapped
from imagehub.testing import write_module_model
from imagehub.testing import write_probabilities_model
from imagehub.testing import write_random_inference_model
from imagehub.testing import write_residual_dropout_model
from imagehub.testing import write_tf1_model
from imagehub.testing import write_tiny_model
from imagehub.testing import write_untracked_card_model

# Kinds that fail a rule (the others are refused by the scan, see
# tests/scan/test_scan.py).
RULE_KINDS = sorted(k for k, rules in BROKEN_KINDS.items() if rules)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("rules")


@pytest.fixture(scope="module")
def tiny_path(root):
    return write_tiny_model(str(root / "tiny"))


@pytest.fixture(scope="module")
def tiny_report(tiny_path):
    return imagehub.check(tiny_path)


@pytest.fixture(scope="module")
def broken_reports(root):
    """kind -> Report; each broken model is written and checked once."""
    cache = {}

    def get(kind):
        if kind not in cache:
            path = write_broken_model(str(root / kind), kind)
            cache[kind] = imagehub.check(path)
        return cache[kind]

    return get


def test_check_passes_when_model_is_the_tiny_reference(tiny_report):
    assert tiny_report.conforming, tiny_report.to_json()
    assert tiny_report.exit_code == 0
    assert tiny_report.task == "feature_vector"
    assert tiny_report.task_source == "card"
    statuses = tiny_report.statuses()
    for rule in (
        "R1",
        "R3",
        "R4",
        "R5",
        "R6",
        "R7",
        "R8",
        "R9",
        "I4",
        "I5",
        "F1",
        "F2",
        "F3",
        "M1",
        "D1",
    ):
        assert statuses[rule] == PASS, (rule, tiny_report.result(rule))


def test_check_reports_every_rule_of_the_task(tiny_report):
    rules = [r.rule for r in tiny_report.results]
    expected = [*rules_for_task("feature_vector")]
    expected.insert(expected.index("M1"), "D1")
    assert rules == expected


def test_check_probes_a_non_square_size_when_card_allows_a_range(
    tiny_report,
):
    message = tiny_report.result("I4").message
    sizes = [s for s in message.replace(",", " ").split() if "x" in s]
    assert any(s.split("x")[0] != s.split("x")[1] for s in sizes), message


@pytest.mark.parametrize("kind", RULE_KINDS)
def test_check_fails_exactly_the_rule_when_model_is_broken(
    broken_reports, kind
):
    report = broken_reports(kind)
    assert report.loaded, report.error
    assert set(report.failed) == set(BROKEN_KINDS[kind]), (
        f"{kind}: expected FAIL {sorted(BROKEN_KINDS[kind])}, got "
        f"{report.failed}: "
        + "; ".join(
            f"{r.rule}: {r.message}" for r in report.results if r.status == FAIL
        )
    )
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("kind", "rule", "words"),
    [
        ("two_positional_inputs", "R2", ("requires 2 arguments", "scale")),
        ("hparam_not_a_tensor", "R4", ("dropout_rate", "tf.TensorSpec")),
        ("variable_not_listed", "R5", ("not in obj.variables", "[8]")),
        ("uint8_input_trace", "I1", ("float32", "dtype uint8")),
        ("card_input_range_255", "I2", ("[0.0, 255.0]", "[0, 1]")),
        ("card_min_size_too_small", "I4", ("3x3", "Negative dimension")),
        ("integer_logits", "C1", ("dtype int32", "logits")),
        ("classes_change_with_size", "C2", ("16x16: 2048", "pool globally")),
        ("card_wrong_num_outputs", "M1", ("card says 9 outputs", "8")),
        ("card_lists_missing_signature", "M2", ("'serving_image_bytes'",)),
    ],
)
def test_check_names_the_problem_when_model_is_broken(
    broken_reports, kind, rule, words
):
    report = broken_reports(kind)
    result = report.result(rule)
    assert result.status == FAIL, (kind, result)
    for word in words:
        assert word in result.message, (kind, word, result.message)
    assert not report.conforming
    assert report.summary().startswith("NOT CONFORMING"), report.summary()


def test_check_skips_calls_when_call_requires_two_inputs(broken_reports):
    report = broken_reports("two_positional_inputs")
    assert report.failed == ("R2",), report.to_json()
    for rule in ("R3", "R8", "I4", "F1", "D1"):
        result = report.result(rule)
        assert result.status == SKIP and "R2" in result.message, result


def test_check_warns_d1_when_inference_is_random(root):
    report = imagehub.check(write_random_inference_model(str(root / "rand")))
    result = report.result("D1")
    assert result.status == WARN, result
    assert "differ" in result.message and "random" in result.message, result
    assert not report.failed, report.to_json()
    assert report.conforming and report.exit_code == 0


def test_check_warns_r9_when_resaving_drops_the_card(root):
    report = imagehub.check(write_untracked_card_model(str(root / "untracked")))
    result = report.result("R9")
    assert result.status == WARN, result
    assert "drops the model card" in result.message, result
    assert "tf.saved_model.Asset" in result.message, result
    assert not report.failed, report.to_json()


def test_check_explains_the_fix_when_output_is_softmax(broken_reports):
    message = broken_reports("softmax_output").result("C3").message
    assert "Softmax" in message and "logits" in message, message


def test_check_warns_c3_when_values_look_like_probabilities(root):
    report = imagehub.check(write_probabilities_model(str(root / "probs")))
    assert report.result("C3").status == WARN, report.result("C3")
    assert "probabilities" in report.result("C3").message
    assert not report.failed, report.to_json()


def test_check_skips_f3_when_training_trace_is_missing(broken_reports):
    report = broken_reports("no_training_trace")
    assert report.result("F3").status == SKIP
    assert "training=True" in report.result("R3").message


def test_check_judges_f3_from_keras_dropout_layers(root):
    inside = imagehub.check(write_keras_wrapped(str(root / "kin"), False))
    assert inside.result("F3").status == PASS, inside.result("F3")
    assert not inside.failed, inside.failed
    on_output = imagehub.check(write_keras_wrapped(str(root / "kout"), True))
    assert on_output.failed == ("F3",), on_output.to_json()
    assert "output_dropout" in on_output.result("F3").message


def test_check_passes_f3_when_dropout_branch_joins_a_clean_residual(root):
    path = write_residual_dropout_model(str(root / "residual"))
    report = imagehub.check(path)
    assert report.result("F3").status == PASS, report.result("F3")
    assert not report.failed, report.to_json()


def test_check_fails_r1_with_export_hint_when_model_is_keras_export(root):
    report = imagehub.check(write_keras_export(str(root / "keras_export")))
    assert report.failed == ("R1",), report.to_json()
    message = report.result("R1").message
    assert "imagehub export --saved_model" in message, message
    assert "Model.export()" in message, message


def test_check_fails_r1_when_model_is_a_tf1_graph(root):
    report = imagehub.check(write_tf1_model(str(root / "tf1")))
    assert report.failed == ("R1",), report.to_json()
    assert "imagehub export --saved_model" in report.result("R1").message


def test_check_passes_when_model_is_a_hand_built_tf_module(root):
    report = imagehub.check(write_module_model(str(root / "module")))
    assert report.conforming, report.to_json()
    assert report.task_source == "inferred"
    assert any("inferred" in n for n in report.notes), report.notes
    assert report.result("M1").status == WARN


def test_check_passes_when_model_is_stored_as_pbtxt(root):
    src = write_tiny_model(str(root / "pbtxt_src"), task="classification")
    report = imagehub.check(to_pbtxt(src, root / "pbtxt"))
    assert report.scan.file == "saved_model.pbtxt"
    assert report.conforming, report.to_json()
    assert report.task == "classification"


def test_check_infers_task_from_signature_when_there_is_no_card(root):
    path = write_tiny_model(
        str(root / "nocard"), task="classification", with_card=False
    )
    report = imagehub.check(path)
    assert report.task == "classification", report.notes
    assert report.task_source == "inferred"
    assert report.result("M1").status == WARN
    assert not report.failed, report.to_json()


def test_check_fails_m1_when_task_contradicts_card(root):
    path = write_tiny_model(str(root / "contradict"))
    report = imagehub.check(path, task="classification")
    assert "M1" in report.failed, report.to_json()
    assert "card says task 'feature_vector'" in report.result("M1").message


def test_check_raises_when_task_is_unknown(root):
    with pytest.raises(ValueError, match="Unknown task 'detection'"):
        imagehub.check(str(root), task="detection")


def test_check_resolves_handle_when_given_a_file_url(tiny_path):
    report = imagehub.check("file://" + tiny_path, image_size=(8, 12))
    assert report.path == tiny_path, report.path
    assert report.conforming, report.to_json()
    assert report.image_size == (8, 12)


def test_check_reports_not_found_when_path_is_missing(root):
    report = imagehub.check(str(root / "missing"))
    assert report.exit_code == 2 and not report.loaded
    assert "missing" in report.error


def test_report_json_has_the_documented_shape(tiny_report):
    data = json.loads(tiny_report.to_json())
    assert data["task"] == "feature_vector"
    assert data["conforming"] is True
    assert data["scan"]["refused"] is False
    assert data["scan"]["ops"] == []
    assert {tuple(sorted(r)) for r in data["results"]} == {
        ("message", "rule", "status")
    }
    assert {r["status"] for r in data["results"]} <= {PASS, FAIL, WARN, SKIP}


def test_check_stays_callable_when_subpackage_was_imported():
    import imagehub.check as module

    assert callable(imagehub.check), type(imagehub.check)
    # imagehub.scan is the callable subpackage whose scan check re-exports.
    assert callable(imagehub.scan), type(imagehub.scan)
    assert imagehub.scan.scan is module.scan
    assert module.check is not None and module.Report is not None
