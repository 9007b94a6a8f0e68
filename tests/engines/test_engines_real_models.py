"""Each engine on the bundled real models, on real photos (slow: each
LiteRT conversion takes 10 to 20 s)."""

from __future__ import annotations

import numpy as np
import pytest

from imagehub import engines
from imagehub import testing

from .conftest import FLOAT_ENGINES
from .conftest import flowers

pytestmark = pytest.mark.slow

TFHUB_SIZE = (128, 128)  # google/imagenet/mobilenet_v1_025_128


def _check_batches(compiled, reference, photos):
    for batch in (1, 7, 32):
        got = compiled(photos[:batch])
        want = reference(photos[:batch])
        difference = engines.relative_difference(got, want)
        assert difference <= 1e-4, (
            f"{compiled.engine} at batch {batch}: relative difference "
            f"{difference} from __call__"
        )


@pytest.mark.parametrize("engine", FLOAT_ENGINES)
def test_engine_equals_call_on_the_mobilenet_feature_vector(
    mobilenet_fv, engine
):
    photos = flowers((224, 224))
    reference = engines.compile_model(mobilenet_fv, "tensorflow")
    compiled = engines.compile_model(
        mobilenet_fv, engine, probe_images=photos[-8:]
    )
    assert compiled.info.probe_source == "job images"
    assert compiled.num_outputs == 256
    _check_batches(compiled, reference, photos)


@pytest.mark.parametrize("engine", FLOAT_ENGINES)
def test_engine_equals_call_on_the_tfhub_classifier(engine):
    # No card and no signatures: converted from `__call__` at 128x128.
    photos = flowers(TFHUB_SIZE)
    model = testing.TFHUB_CLASSIFIER_DIR
    reference = engines.compile_model(
        model, "tensorflow", image_size=TFHUB_SIZE
    )
    compiled = engines.compile_model(
        model, engine, image_size=TFHUB_SIZE, probe_images=photos[-8:]
    )
    assert compiled.num_outputs == 1001
    _check_batches(compiled, reference, photos)
    top1 = compiled(photos).argmax(-1) == reference(photos).argmax(-1)
    assert top1.all(), "the same top-1 class on every photo"


def test_int8_reports_its_agreement_and_enforces_the_minimum():
    photos = flowers(TFHUB_SIZE, count=150)
    model = testing.TFHUB_CLASSIFIER_DIR
    compiled = engines.compile_model(
        model,
        "litert",
        image_size=TFHUB_SIZE,
        precision="int8",
        calibration_images=photos[:50],
        probe_images=photos[50:58],
        task="classification",
        min_agreement=0.0,
        use_cache=False,
    )
    info = compiled.info
    assert info.precision == "int8"
    assert info.agreement_metric == "top-1 agreement"
    assert 0.0 <= info.agreement <= 1.0
    with pytest.raises(engines.AgreementError, match="top-1 agreement"):
        engines.compile_model(
            model,
            "litert",
            image_size=TFHUB_SIZE,
            precision="int8",
            calibration_images=photos[:50],
            probe_images=photos[50:58],
            task="classification",
            min_agreement=1.01,  # more than any model can keep
            use_cache=False,
        )
    assert np.isfinite(compiled(photos[58:90])).all()
