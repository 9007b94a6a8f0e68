"""The allowlist: complete for real models, and without any I/O op.

Two directions. No false alarm: every model imagehub exports or retrains,
the bundled real TF Hub classifier, Keras 3's own `model.export()` and the
test models of every rule pass the scan (the slow test adds one export of
every architecture family of `keras.applications`). Nothing dangerous:
the ops of TensorFlow's registry whose names, arguments, attributes or
documented summary speak of files, paths, the network or the host are
found from the registry itself, and none of them is on the list except
the reviewed `NAMED_LIKE_IO`.
"""

from __future__ import annotations

import re

import pytest

from imagehub import testing
from imagehub.scan import ALLOWED
from imagehub.scan import CALLS_FUNCTIONS
from imagehub.scan import CHECKPOINT_OPS
from imagehub.scan import FAMILIES
from imagehub.scan import NAMED_LIKE_IO
from imagehub.scan import scan

# Words that mark an op touching files, the network or the host.
IO_WORDS = frozenset(
    """
    file files filename filenames filepath path paths directory dir dirname
    reader writer save restore checkpoint ckpt snapshot dump summary event
    tfrecord record records logdir db sql sqlite lmdb csv mmap memmapped
    region socket rpc grpc address server service host port url protocol
    remote dispatcher worker coordination collective send recv distributed
    python py print abort env environment system exec shell stderr stdout
    """.split()
)
# Ops of TensorFlow 2.21 the issue names as reading, writing or connecting:
# the derivation must find each of them.
KNOWN_IO_OPS = (
    "ReadFile",
    "WriteFile",
    "CacheDatasetV2",
    "DataServiceDatasetV4",
    "RegisterDataset",
    "DistributedSave",
    "SnapshotDatasetReader",
    "RpcClient",
    "RpcCall",
    "GenerateVocabRemapping",
    "LoadAndRemapMatrix",
    "DecodeProtoV2",
    "FileSystemSetConfiguration",
    "PyFunc",
    "EagerPyFunc",
    "PrintV2",
    "Abort",
    "ImmutableConst",
    "SaveV2",
    "RestoreV2",
    "MergeV2Checkpoints",
)


def _words(text: str) -> set[str]:
    """Lower-case words of CamelCase names, snake_case names and prose."""
    out = set()
    for token in re.split(r"[^A-Za-z0-9]+", text):
        out.update(
            w.lower()
            for w in re.findall(
                r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", token
            )
        )
    return out


@pytest.fixture(scope="module")
def registry():
    """Every op TensorFlow registers, as OpDef protos by name."""
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    ops = op_def_pb2.OpList()
    ops.ParseFromString(
        pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList())
    )
    return {op.name: op for op in ops.op}


@pytest.fixture(scope="module")
def io_ops(registry):
    """Registered ops whose name, argument or attribute names, or the
    summary of their documentation speak of I/O, with the words found."""
    import tensorflow as tf

    found = {}
    for name, op in registry.items():
        wrapper = getattr(tf.raw_ops, name, None)
        doc = (wrapper.__doc__ or "") if wrapper is not None else ""
        summary = doc.split("Args:")[0].strip().split("\n\n")[0]
        parts = [name, summary]
        parts += [a.name for a in (*op.input_arg, *op.output_arg, *op.attr)]
        hits = set().union(*(_words(p) for p in parts)) & IO_WORDS
        if hits:
            found[name] = sorted(hits)
    return found


def test_registry_derivation_finds_every_known_io_op(io_ops):
    missed = [op for op in KNOWN_IO_OPS if op not in io_ops]
    assert not missed, f"the derivation misses {missed}"
    assert len(io_ops) > 150, f"only {len(io_ops)} I/O ops found"


def test_no_registered_io_op_is_allowed_except_reviewed_ones(io_ops):
    allowed_io = {op: io_ops[op] for op in io_ops if op in ALLOWED}
    unexpected = sorted(set(allowed_io) - set(NAMED_LIKE_IO))
    assert not unexpected, {op: allowed_io[op] for op in unexpected}
    stale = sorted(set(NAMED_LIKE_IO) - set(allowed_io))
    assert not stale, f"NAMED_LIKE_IO lists ops the words miss: {stale}"


def test_checkpoint_ops_are_on_no_family():
    assert not CHECKPOINT_OPS & set(ALLOWED)


def test_every_allowed_op_is_registered(registry):
    unknown = sorted(op for op in ALLOWED if op not in registry)
    assert not unknown, f"not registered in this TensorFlow: {unknown}"


def test_every_allowed_op_that_runs_functions_is_followed(registry):
    takes_functions = {
        op
        for op in ALLOWED
        if any(a.type in ("func", "list(func)") for a in registry[op].attr)
    }
    assert takes_functions == CALLS_FUNCTIONS, takes_functions ^ CALLS_FUNCTIONS


def test_every_family_has_a_reason_and_no_op_is_in_two():
    seen: dict[str, str] = {}
    for family in FAMILIES:
        assert family.reason and family.ops, family.name
        for op in family.ops:
            assert op not in seen, f"{op} in {seen[op]} and {family.name}"
            seen[op] = family.name


@pytest.fixture(scope="module")
def conforming(tmp_path_factory):
    """Every kind of model imagehub makes or reads, written once."""
    import keras

    from imagehub import export_classifier
    from imagehub import export_feature_vector

    root = tmp_path_factory.mktemp("conforming")
    models = {
        "tfhub_classifier": testing.TFHUB_CLASSIFIER_DIR,
        "tiny": testing.write_tiny_model(root / "tiny"),
        "tiny_classifier": testing.write_tiny_model(
            root / "tiny_cls", task="classification", num_classes=3
        ),
        "keras_model_export": testing.write_keras_export(root / "keras"),
        "tf1": testing.write_tf1_model(root / "tf1"),
        "tf_module": testing.write_module_model(root / "module"),
        "keras_wrapped": testing.write_keras_wrapped(root / "kw", False),
        # Text models a KerasLayer loads (strings split into ragged ids).
        "text_embedding": testing.write_text_embedding_model(root / "text"),
        "keras_default": testing.write_keras_default_model(root / "kd"),
    }
    for kind, rules in testing.BROKEN_KINDS.items():
        if rules:  # models that must fail a rule, not the scan
            models[kind] = testing.write_broken_model(root / kind, kind)
    backbone = testing.tiny_keras_model()
    models["exported_feature_vector"] = export_feature_vector(
        backbone, root / "fv", image_size=16
    )
    models["exported_classifier"] = export_classifier(
        testing.tiny_keras_model(num_classes=3, final_activation="softmax"),
        root / "cls",
        labels=["a", "b", "c"],
        image_size=16,
    )
    models["exported_keras_layer"] = export_feature_vector(
        keras.Sequential(
            [keras.Input((16, 16, 3)), _keras_layer(models["tiny"])]
        ),
        root / "hub_fv",
        image_size=16,
    )
    return models


def _keras_layer(handle):
    import imagehub

    return imagehub.KerasLayer(handle, trainable=True)


@pytest.mark.parametrize(
    "name",
    [
        "tfhub_classifier",
        "tiny",
        "tiny_classifier",
        "keras_model_export",
        "tf1",
        "tf_module",
        "keras_wrapped",
        "text_embedding",
        "keras_default",
        "exported_feature_vector",
        "exported_classifier",
        "exported_keras_layer",
        *(k for k, rules in testing.BROKEN_KINDS.items() if rules),
    ],
)
def test_scan_passes_conforming_model_when_imagehub_makes_or_reads_it(
    conforming, name
):
    result = scan(conforming[name])
    assert not result.refused, [(f.op, f.reason) for f in result.findings]


@pytest.mark.parametrize("fine_tune", [False, True])
def test_scan_passes_retrained_classifier(tmp_path, fine_tune):
    from imagehub.retrain import RetrainConfig
    from imagehub.retrain import make_image_classifier

    testing.write_image_folder(
        tmp_path / "images", num_classes=2, per_class=6, size=(16, 16)
    )
    out = tmp_path / "retrained"
    make_image_classifier(
        RetrainConfig(
            image_dir=str(tmp_path / "images"),
            tfhub_module=testing.write_tiny_model(tmp_path / "module"),
            saved_model_dir=str(out),
            batch_size=4,
            train_epochs=1,
            do_fine_tuning=fine_tune,
            do_data_augmentation=fine_tune,
        )
    )
    result = scan(out)
    assert not result.refused, [(f.op, f.reason) for f in result.findings]


# One of each architecture family of keras.applications (random weights).
ARCHS = (
    "MobileNetV3Small",
    "MobileNetV3Large",
    "MobileNet",
    "MobileNetV2",
    "EfficientNetB0",
    "EfficientNetV2B0",
    "ConvNeXtTiny",
    "ResNet50",
    "ResNet50V2",
    "Xception",
    "VGG16",
    "InceptionV3",
    "InceptionResNetV2",
    "DenseNet121",
    "NASNetMobile",
)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("arch", ARCHS)
def test_scan_passes_every_architecture_family_when_exported(tmp_path, arch):
    from imagehub.export import arch_options
    from imagehub.export import build_arch
    from imagehub.export import export_feature_vector

    options = arch_options(arch, weights="none")
    path = export_feature_vector(
        build_arch(arch, weights="none"), tmp_path / arch, **options
    )
    result = scan(path)
    assert not result.refused, [(f.op, f.reason) for f in result.findings]
