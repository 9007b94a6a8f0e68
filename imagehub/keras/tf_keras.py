"""`KerasLayer` for tf_keras (Keras 2): ``from imagehub.keras.tf_keras
import KerasLayer``. Needs the `tf-keras` package."""

from imagehub.keras._tf_keras import KerasLayer

__all__ = ["KerasLayer"]
