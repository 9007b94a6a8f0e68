"""Reading real image folders into float32 RGB batches in [0, 1].

- `scan` finds images (by content, not extension) in a folder, a glob
  pattern or a list file, and says why every other file was skipped;
  `scan_classes` reads a folder of at least two class subfolders.
- `validate` decodes every image once and reports the bad ones.
- `dataset` builds a parallel, prefetched `tf.data.Dataset` of batches
  (`dataset_options` are its `tf.data.Options`).
- `load_image` reads one image (path or bytes) for inference;
  `decode_batch` decodes many encoded files into one batch.
- `split` divides an index into disjoint training and validation parts.

Every reader routes a given file the same way (plain JPEGs through
TensorFlow's decoder, everything else through Pillow; see
`imagehub.data._decode`), so training and inference see identical pixels.

Bad files never stop a job: `scan` skips what is not an image from the
headers, `validate` (run by retrain and embed before they start) finds
what does not decode, and `dataset` drops any file that still fails with
a logged warning.

Example:
    >>> from imagehub import data
    >>> index = data.validate(data.scan("flowers/"))
    >>> train = data.dataset(index, (224, 224), shuffle=True, seed=1,
    ...                      validation_split=0.2, subset="training")
"""

from imagehub.data._batch import HEADER_UNKNOWN
from imagehub.data._batch import DecodedBatch
from imagehub.data._batch import decode_batch
from imagehub.data._dataset import dataset
from imagehub.data._dataset import dataset_options
from imagehub.data._decode import DEFAULT_BACKGROUND
from imagehub.data._decode import DEFAULT_MAX_PIXELS
from imagehub.data._decode import PAD_VALUE
from imagehub.data._decode import load_image
from imagehub.data._errors import ImageError
from imagehub.data._formats import SUPPORTED_FORMATS
from imagehub.data._formats import NotRegularFileError
from imagehub.data._formats import meant_as_image
from imagehub.data._formats import open_regular
from imagehub.data._index import ImageIndex
from imagehub.data._index import scan
from imagehub.data._index import scan_classes
from imagehub.data._index import split
from imagehub.data._validate import validate
from imagehub.spec import RESIZE_MODES

__all__ = [
    "DEFAULT_BACKGROUND",
    "DecodedBatch",
    "DEFAULT_MAX_PIXELS",
    "HEADER_UNKNOWN",
    "PAD_VALUE",
    "RESIZE_MODES",
    "SUPPORTED_FORMATS",
    "ImageError",
    "ImageIndex",
    "NotRegularFileError",
    "dataset",
    "decode_batch",
    "dataset_options",
    "load_image",
    "meant_as_image",
    "open_regular",
    "scan",
    "scan_classes",
    "split",
    "validate",
]
