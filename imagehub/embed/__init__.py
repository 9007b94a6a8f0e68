"""Features and labels for many images, on one machine or on Apache Beam.

`embed` streams feature vectors (or logits) to Parquet or .npy, resumably,
with bad files listed beside the output; `classify` gives top-k labels and
scores. Importing this package imports neither TensorFlow nor Beam.
"""

from imagehub.embed._classify import classify
from imagehub.embed._classify import read_labels
from imagehub.embed._classify import scores_from_logits
from imagehub.embed._embed import RUNNERS
from imagehub.embed._embed import EmbedResult
from imagehub.embed._embed import EmbedSummary
from imagehub.embed._embed import embed
from imagehub.embed._writer import FORMATS
from imagehub.embed._writer import errors_path

__all__ = [
    "FORMATS",
    "RUNNERS",
    "EmbedResult",
    "EmbedSummary",
    "classify",
    "embed",
    "errors_path",
    "read_labels",
    "scores_from_logits",
]


def _make_package_callable() -> None:
    # `imagehub.embed` is both this subpackage and the `embed` function.
    # Importing a submodule (`from imagehub.embed import ...`) sets the
    # attribute `imagehub.embed` to this module, hiding the function, so the
    # module itself forwards calls to `embed`.
    import sys
    import types

    class _CallablePackage(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return embed(*args, **kwargs)

    sys.modules[__name__].__class__ = _CallablePackage


_make_package_callable()
