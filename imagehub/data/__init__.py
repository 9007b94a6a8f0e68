"""Reading real image folders into float32 RGB batches in [0, 1].

- `scan` finds images (by content, not extension) in a folder, a glob
  pattern or a list file, and says why every other file was skipped.
- `validate` decodes every image once and reports the bad ones.
- `dataset` builds a parallel, prefetched `tf.data.Dataset` of batches.
- `load_image` reads one image (path or bytes) for inference.
- `split` divides an index into disjoint training and validation parts.

All decoding goes through one function (see `imagehub.data._decode`), so
training and inference see identical pixels.
"""

from imagehub.data._dataset import dataset
from imagehub.data._decode import DEFAULT_BACKGROUND
from imagehub.data._decode import DEFAULT_MAX_PIXELS
from imagehub.data._decode import PAD_VALUE
from imagehub.data._decode import RESIZE_MODES
from imagehub.data._decode import load_image
from imagehub.data._errors import ImageError
from imagehub.data._formats import SUPPORTED_FORMATS
from imagehub.data._index import ImageIndex
from imagehub.data._index import scan
from imagehub.data._index import split
from imagehub.data._validate import validate

__all__ = [
    "DEFAULT_BACKGROUND",
    "DEFAULT_MAX_PIXELS",
    "PAD_VALUE",
    "RESIZE_MODES",
    "SUPPORTED_FORMATS",
    "ImageError",
    "ImageIndex",
    "dataset",
    "load_image",
    "scan",
    "split",
    "validate",
]
