"""KerasHub presets to reusable SavedModels: `imagehub export --preset`.

Tiny random models of each family are saved with `save_to_preset` to a
local folder, exported through the CLI, and compared with the KerasHub
model run on its own ImageConverter's output. The default run covers ViT,
ResNet and MobileNetV5; the other families (about 40 s each) are `slow`.

TFLite: every family below converts with the builtin op set and matches
within 1e-4 (no family needs SELECT_TF_OPS). `imagehub check`'s safety scan
refuses no op of these exports. Its F3 probe does flag a ViT trained with
embedding dropout (ViTBackbone(dropout_rate>0), or any dropout_rate
override): the mask of ViTEncoder's input dropout reaches the output along
the residual stream through layer norms only, which F3 reads as dropout on
the features. So transformer exports offer no dropout_rate override and the
tiny ViT here uses dropout_rate=0.0, as the real presets do.
"""

import contextlib
import dataclasses
import io
import os
import sys
import urllib.request

import numpy as np
import pytest

keras_hub = pytest.importorskip("keras_hub")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import imagehub  # noqa: E402
from imagehub.cli import main  # noqa: E402
from imagehub.export import KerasHubModel  # noqa: E402
from imagehub.export import export_classifier  # noqa: E402
from imagehub.export import export_feature_vector  # noqa: E402
from imagehub.spec import SIGNATURE_FLOAT  # noqa: E402
from imagehub.spec import read_card  # noqa: E402
from imagehub.testing import kerashub_model  # noqa: E402
from imagehub.testing import run_cli  # noqa: E402
from imagehub.testing import write_image_folder  # noqa: E402
from imagehub.testing import write_kerashub_preset  # noqa: E402
from imagehub.testing import write_text_preset  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(imagehub.__file__)))
LICENSE = "Apache License 2.0 (test preset)"
FAST = ("vit", "resnet", "mobilenetv5")
SLOW = ("deit", "dinov2", "siglip", "clip", "efficientnet", "mobilenet")
FAMILIES = [
    *FAST,
    *(pytest.param(f, marks=pytest.mark.slow) for f in SLOW),
]
TOKEN_FAMILIES = ("vit", "deit", "dinov2")
VISION_TOWERS = ("siglip", "clip")
# The proxy every request goes through is a closed port: "no network",
# refused at once, whatever the machine's real connectivity.
NO_NETWORK = {
    name: "http://127.0.0.1:9"
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")
} | {"NO_PROXY": "", "no_proxy": ""}


@pytest.fixture
def no_network(monkeypatch):
    """Proxies that refuse every connection, for one test.

    `urllib.request.urlopen` builds its opener, with the proxies of the
    moment, on its first call and keeps it for the process: it is dropped
    on both sides so that the test sees these proxies and the tests after
    it see theirs.
    """
    urllib.request.install_opener(None)
    for name, value in NO_NETWORK.items():
        monkeypatch.setenv(name, value)
    yield
    urllib.request.install_opener(None)


@dataclasses.dataclass(frozen=True)
class Exported:
    family: str
    model: object
    converter: object
    preset: str
    path: str
    stdout: str


def _export_cli(*args):
    """`imagehub export ARGS` in this process: (exit code, stdout, stderr).
    An uncaught exception (a traceback) fails the test by itself."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["export", *args])
    return code, out.getvalue(), err.getvalue()


def _images(count, size, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((count, size[0], size[1], 3), np.float32)


def _keras_hub_features(family, model, converter, images):
    """What a KerasHub user computes: converter, backbone, the family's
    documented pooling (written out here, apart from imagehub's code).
    The converter resizes to its own size; other sizes get its scaling."""
    if images.shape[1:3] != tuple(converter.image_size):
        converter = type(converter)(
            image_size=None, scale=converter.scale, offset=converter.offset
        )
    x = converter(images * 255.0)
    if family in VISION_TOWERS:
        return np.asarray(model.get_vision_embeddings(x))
    out = model({"images": x}) if family == "dinov2" else model(x)
    out = np.asarray(out)
    if family in TOKEN_FAMILIES:
        return out[:, 0]
    return out.mean(axis=(1, 2))


@pytest.fixture(scope="module", params=FAMILIES)
def exported(request, tmp_path_factory):
    family = request.param
    root = tmp_path_factory.mktemp(family)
    preset = str(root / "preset")
    model, converter = write_kerashub_preset(
        preset, family, license_text=LICENSE
    )
    out = str(root / "fv")
    code, stdout, stderr = _export_cli("--preset", preset, "--out", out)
    assert code == 0, stderr[-3000:]
    return Exported(family, model, converter, preset, out, stdout)


def test_export_equals_keras_hub_model_with_its_converter(exported):
    card = read_card(exported.path)
    x = _images(3, card.default_size, seed=1)
    want = _keras_hub_features(
        exported.family, exported.model, exported.converter, x
    )
    loaded = tf.saved_model.load(exported.path)
    np.testing.assert_allclose(loaded(x).numpy(), want, atol=1e-4)
    served = loaded.signatures[SIGNATURE_FLOAT](images=tf.constant(x))
    np.testing.assert_allclose(
        served["feature_vector"].numpy(), want, atol=1e-4
    )
    assert card.num_outputs == want.shape[1]
    assert f"{want.shape[1]} features" in exported.stdout, exported.stdout
    if not card.fixed_size:  # F2: any size, the same features
        x = _images(2, (48, 40), seed=4)
        want = _keras_hub_features(
            exported.family, exported.model, exported.converter, x
        )
        np.testing.assert_allclose(loaded(x).numpy(), want, atol=1e-4)


def test_card_records_preset_converter_sizes_and_license(exported):
    card = read_card(exported.path)
    record = card.extra["keras_hub"]
    assert record["preset"] == exported.preset
    assert card.license == LICENSE
    converter = record["image_converter"]
    assert converter["image_size"] == [32, 32], converter
    assert converter["class"] == type(exported.converter).__name__
    assert card.extra["scaling"] in (
        "input_range=0,1",
        "input_range=-1,1",
        f"preprocessing=keras_hub.layers.{converter['class']}",
    ), card.extra["scaling"]
    assert card.default_size == (32, 32)
    convolutional = exported.family not in (*TOKEN_FAMILIES, *VISION_TOWERS)
    assert card.fixed_size is not convolutional, card
    assert ("any height and width" in record["sizes"]) is convolutional
    assert record["pooling"] in imagehub.export.POOLINGS
    assert record["output"] == imagehub.export.POOLINGS[record["pooling"]]


def test_check_passes_every_rule(exported):
    from imagehub.check import check

    report = check(exported.path)
    failed = [r for r in report.results if r.status == "FAIL"]
    assert report.exit_code == 0, failed or report.error


def test_keras_layer_fine_tuning_step_moves_weights(exported):
    card = read_card(exported.path)
    layer = imagehub.KerasLayer(exported.path, trainable=True)
    inputs = keras.Input((*card.default_size, 3))
    outputs = keras.layers.Dense(2)(layer(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    assert layer.trainable_weights, "no trainable weights"
    before = [np.array(w) for w in layer.trainable_weights]
    x = _images(4, card.default_size, seed=2)
    model.fit(x, np.array([0, 1, 0, 1]), epochs=1, batch_size=4, verbose=0)
    moved = max(
        float(np.abs(np.array(w) - b).max())
        for w, b in zip(layer.trainable_weights, before, strict=True)
    )
    assert moved > 0, "one SGD step left every backbone weight unchanged"


def test_tflite_serving_default_matches_within_1e_4(exported):
    converter = tf.lite.TFLiteConverter.from_saved_model(
        exported.path, signature_keys=[SIGNATURE_FLOAT]
    )
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    runner = interpreter.get_signature_runner(SIGNATURE_FLOAT)
    card = read_card(exported.path)
    x = _images(1, card.default_size, seed=3)
    got = runner(images=x)["feature_vector"]
    want = tf.saved_model.load(exported.path)(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.slow
def test_dinov2_is_rebuilt_for_another_image_size(tmp_path):
    preset = str(tmp_path / "preset")
    _, converter = write_kerashub_preset(preset, "dinov2")
    out = str(tmp_path / "fv")
    code, _, stderr = _export_cli(
        "--preset", preset, "--image_size", "48", "--out", out
    )
    assert code == 0, stderr[-3000:]
    card = read_card(out)
    assert card.default_size == (48, 48) and card.fixed_size, card
    # KerasHub's own way to the same model: from_preset(image_shape=...).
    model = keras_hub.models.Backbone.from_preset(
        preset, image_shape=(48, 48, 3)
    )
    x = _images(2, (48, 48), seed=7)
    want = _keras_hub_features("dinov2", model, converter, x)
    got = tf.saved_model.load(out)(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_classifier_preset_exports_logits_and_imagenet_labels(tmp_path):
    preset = str(tmp_path / "tiny_vit_imagenet")
    task, _ = write_kerashub_preset(preset, "vit", num_classes=1000)
    out = str(tmp_path / "cls")
    code, _, stderr = _export_cli(
        "--preset", preset, "--task", "classification", "--out", out
    )
    assert code == 0, stderr[-3000:]
    card = read_card(out)
    assert card.task == "classification" and card.num_outputs == 1000
    assert card.labels[1] == "goldfish", card.labels[:3]
    assert "ImageNet" in card.extra["keras_hub"]["labels_source"]
    x = _images(3, card.default_size, seed=5)
    want = task.predict(x * 255.0, verbose=0)  # predict runs the converter
    got = tf.saved_model.load(out)(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_python_api_takes_keras_hub_models_directly(tmp_path):
    task, converter = kerashub_model("resnet", num_classes=3)
    out = export_classifier(task, str(tmp_path / "cls"), labels=["a", "b", "c"])
    x = _images(2, (32, 32), seed=6)
    np.testing.assert_allclose(
        tf.saved_model.load(out)(x).numpy(),
        task.predict(x * 255.0, verbose=0),
        atol=1e-4,
    )
    # classify runs on the export unchanged, with the card's labels.
    write_image_folder(tmp_path / "photos", num_classes=2, per_class=2)
    results = imagehub.classify(out, str(tmp_path / "photos"), top_k=3)
    assert len(results) == 4, results
    for result in results:
        assert {t["label"] for t in result["top_k"]} == {"a", "b", "c"}
    backbone, converter = kerashub_model("mobilenet")
    with pytest.raises(ValueError, match="carries no ImageConverter"):
        export_feature_vector(backbone, str(tmp_path / "bare"))
    assert not (tmp_path / "bare").exists()


@pytest.mark.slow
def test_python_api_takes_a_backbone_with_its_converter(tmp_path):
    backbone, converter = kerashub_model("mobilenet")
    out = export_feature_vector(
        KerasHubModel(backbone, converter=converter), str(tmp_path / "fv")
    )
    x = _images(2, (32, 32), seed=6)
    np.testing.assert_allclose(
        tf.saved_model.load(out)(x).numpy(),
        _keras_hub_features("mobilenet", backbone, converter, x),
        atol=1e-4,
    )


@pytest.mark.slow
def test_retrain_runs_on_a_keras_hub_export(tmp_path):
    preset = str(tmp_path / "preset")
    write_kerashub_preset(preset, "mobilenetv5")
    module = str(tmp_path / "fv")
    export_feature_vector(preset, module)
    write_image_folder(
        tmp_path / "images", num_classes=2, per_class=6, size=(32, 32)
    )
    out = tmp_path / "retrained"
    done = run_cli(
        "retrain",
        "--image_dir",
        str(tmp_path / "images"),
        "--tfhub_module",
        module,
        "--saved_model_dir",
        str(out),
        "--train_epochs",
        "1",
        "--batch_size",
        "4",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    card = read_card(str(out))
    assert card.task == "classification" and card.num_outputs == 2, card


def test_classification_of_a_backbone_preset_says_use_feature_vector(
    tmp_path,
):
    preset = str(tmp_path / "preset")
    write_kerashub_preset(preset, "resnet")
    code, _, stderr = _export_cli(
        "--preset",
        preset,
        "--task",
        "classification",
        "--out",
        str(tmp_path / "cls"),
    )
    assert code == 2, stderr
    assert "no image classifier" in stderr, stderr
    assert "--task feature_vector" in stderr, stderr
    assert not (tmp_path / "cls").exists()


def test_text_preset_is_refused_as_not_an_image_model(tmp_path):
    preset = str(tmp_path / "bert")
    write_text_preset(preset)
    code, _, stderr = _export_cli(
        "--preset", preset, "--out", str(tmp_path / "m")
    )
    assert code == 2, stderr
    assert "BertBackbone is not an image model" in stderr, stderr
    assert not (tmp_path / "m").exists()


def test_family_imagehub_cannot_export_is_named_with_the_reason(tmp_path):
    encoder, _ = kerashub_model("resnet")
    segmenter = keras_hub.models.DeepLabV3Backbone(
        image_encoder=encoder,
        spatial_pyramid_pooling_key="P3",
        upsampling_size=4,
        dilation_rates=[1, 2],
    )
    preset = str(tmp_path / "deeplab")
    segmenter.save_to_preset(preset)
    code, _, stderr = _export_cli(
        "--preset", preset, "--out", str(tmp_path / "m")
    )
    assert code == 2, stderr
    assert "cannot export KerasHub DeepLabV3" in stderr, stderr
    assert "image segmenter" in stderr, stderr


@pytest.mark.parametrize(
    "preset",
    ["kaggle://keras/vit/keras/vit_base_patch16_224_imagenet", "hf://a/b"],
)
def test_remote_preset_without_network_gives_the_offline_message(
    tmp_path, monkeypatch, no_network, preset
):
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    code, _, stderr = _export_cli(
        "--preset", preset, "--out", str(tmp_path / "m")
    )
    assert code == 2, stderr
    assert "the network is not reachable" in stderr, stderr
    assert "--preset ./PRESET_FOLDER" in stderr, stderr
    assert not (tmp_path / "m").exists()


def test_built_in_preset_with_imagehub_offline_fails_before_any_download(
    tmp_path,
    monkeypatch,
    no_network,  # a download would fail anyway
):
    monkeypatch.setenv("IMAGEHUB_OFFLINE", "1")
    code, _, stderr = _export_cli(
        "--preset",
        "vit_base_patch16_224_imagenet",
        "--out",
        str(tmp_path / "m"),
    )
    assert code == 2, stderr
    assert "IMAGEHUB_OFFLINE is set" in stderr, stderr
    assert "network is not reachable" in stderr, stderr


def test_missing_keras_hub_raises_import_error_with_pip_line(tmp_path):
    code = (
        "import sys; sys.modules['keras_hub'] = None\n"
        "from imagehub.export import load_preset\n"
        "try:\n"
        "    load_preset('vit_base_patch16_224_imagenet')\n"
        "except ImportError as e:\n"
        "    print('MESSAGE', e)\n"
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    assert "MESSAGE" in done.stdout, done.stderr[-2000:]
    assert "pip install 'imagehub[keras-hub]'" in done.stdout, done.stdout
