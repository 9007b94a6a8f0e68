"""The state of one retraining run and its first phases: reading the
images and the module, choosing the seed and the split, building the
model. The later phases live beside it: `_run_data` (datasets and cached
features), `_run_train` (training with checkpoints) and `_run_outputs`
(evaluation and the exported files)."""

from __future__ import annotations

import contextlib
import importlib.util
import random

from imagehub.retrain import _train
from imagehub.retrain._checkpoint import stored_seed
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._errors import FlagValueError
from imagehub.retrain._errors import MissingDependencyError
from imagehub.retrain._errors import RetrainError
from imagehub.retrain._inputs import scan
from imagehub.retrain._module import resolve_image_size
from imagehub.retrain._module import traced_image_size
from imagehub.retrain._paths import default_checkpoint_dir
from imagehub.retrain._progress import ProgressFn
from imagehub.spec import TASK_FEATURE_VECTOR


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


class Run:
    """One retraining run; `make_image_classifier` drives it.

    `setup` and `build` fill in the images (``index``, ``train_index``,
    ``val_index``, ``class_names``), the module (``module_dir``, ``card``,
    ``backbone``, ``image_size``, ``num_features``), the seed, the
    checkpoint folder and the models (``head``, ``classifier`` and the
    ``model`` that trains); the phase modules read and update them.
    """

    def __init__(self, config: RetrainConfig, progress: ProgressFn | None):
        self.config = config
        self.progress = progress

    def setup(self) -> None:
        """Checks the options, reads the images and the module, seeds
        the run and splits the images."""
        from imagehub import data
        from imagehub import hub
        from imagehub.spec import read_card

        config = self.config
        if config.summaries_dir and not _installed("tensorboard"):
            raise MissingDependencyError(
                "--summaries_dir writes TensorBoard logs, which needs the "
                "tensorboard package: pip install tensorboard"
            )
        if config.set_memory_growth:
            import tensorflow as tf

            for gpu in tf.config.list_physical_devices("GPU"):
                tf.config.experimental.set_memory_growth(gpu, True)
        # With cached features the feature pass reads every image once
        # anyway (and bad ones drop out of it), so a separate pre-flight
        # pass would only double the decoding.
        self.index = scan(
            config,
            self.progress,
            validate=config.validate_images and not config.use_feature_cache,
        )
        self.class_names = list(self.index.class_names)
        from imagehub.hub import HubError

        try:
            self.module_dir = hub.resolve(config.tfhub_module)
        except HubError as e:
            raise FlagValueError(f"--tfhub_module: {e}") from e
        self.card = read_card(self.module_dir)
        if self.card is not None and self.card.task != TASK_FEATURE_VECTOR:
            raise FlagValueError(
                f"--tfhub_module {config.tfhub_module!r} is a "
                f"{self.card.task} model; retraining needs an image feature "
                "vector model (export one with `imagehub export`)"
            )
        self.checkpoint_dir = default_checkpoint_dir(config)
        seed = config.seed
        if seed is None and config.resume:
            seed = stored_seed(self.checkpoint_dir)
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        self.seed = int(seed)
        import keras

        keras.utils.set_random_seed(self.seed)
        self.train_index, self.val_index = data.split(
            self.index, config.validation_split, self.seed
        )
        if not len(self.train_index) or not len(self.val_index):
            raise RetrainError(
                f"{len(self.index)} images cannot be split into training "
                f"and validation with validation_split="
                f"{config.validation_split}; add images"
            )

    def strategy_scope(self):
        """The distribution strategy's scope, for building the model."""
        if self.config.distribution_strategy == "mirrored":
            import tensorflow as tf

            self._strategy = tf.distribute.MirroredStrategy()
            return self._strategy.scope()
        return contextlib.nullcontext()

    def build(self) -> None:
        """Loads the module as a Keras layer, resolves the input size and
        builds and compiles the head and the classifier."""
        from imagehub.keras import KerasLayer

        config = self.config
        self.backbone = KerasLayer(
            self.module_dir, trainable=config.do_fine_tuning, name="module"
        )
        # The layer's loaded object: its traces tell a card-less module's
        # input size without loading the SavedModel a second time.
        loaded = getattr(self.backbone, "_loaded_obj", None)
        traced = None if loaded is None else traced_image_size(loaded)
        self.image_size = resolve_image_size(
            self.card, traced, config.image_size, config.tfhub_module
        )
        shape = self.backbone.compute_output_shape((None, *self.image_size, 3))
        self.num_features = int(shape[-1])
        self.head = _train.build_head(
            self.num_features, len(self.class_names), config, self.seed
        )
        self.classifier = _train.build_classifier(
            self.backbone, self.head, self.image_size
        )
        self.cached = config.use_feature_cache
        self.model = self.head if self.cached else self.classifier
        _train.compile_model(self.model, config)
        saved = self.model if config.do_fine_tuning else self.head
        self.saved_variables = saved.variables

    def images(self, index, with_paths: bool = False):
        """Batches of `index`'s images at the model's input size."""
        from imagehub import data

        return data.dataset(
            index,
            self.image_size,
            batch_size=self.config.batch_size,
            resize=self.config.resize,
            with_paths=with_paths,
        )
