"""Safety scan of image SavedModels: protobuf only, nothing is loaded.

`scan(path)` reads a SavedModel's protobuf without loading it and passes
it only when every op is on imagehub's allowlist and every checkpoint op
forms the standard saver; `trust=True` is the only way past a refusal.
`hub.load`, `KerasLayer` under Keras safe mode and `check` all ask it
first, so it sits below `hub` and imports nothing of imagehub above it.
`hub.load` and `KerasLayer` pass `memo_dir` (in the cache root), so a
clean verdict on the same bytes under the same rules is remembered;
`check` always scans in full.
"""

from imagehub._callable import make_module_callable
from imagehub.scan._allowlist import ALLOWED
from imagehub.scan._allowlist import CALLS_FUNCTIONS
from imagehub.scan._allowlist import CHECKPOINT_OPS
from imagehub.scan._allowlist import FAMILIES
from imagehub.scan._allowlist import NAMED_LIKE_IO
from imagehub.scan._allowlist import Family
from imagehub.scan._allowlist import allowed_family
from imagehub.scan._allowlist import refusal_reason
from imagehub.scan._memo import MAX_MEMOS
from imagehub.scan._memo import rules_version
from imagehub.scan._result import Finding
from imagehub.scan._result import ScanResult
from imagehub.scan._result import UnsafeModelError
from imagehub.scan._scan import LIMITS
from imagehub.scan._scan import Limits
from imagehub.scan._scan import ScanLimitError
from imagehub.scan._scan import denied_reason
from imagehub.scan._scan import find_saved_model_file
from imagehub.scan._scan import scan

__all__ = [
    "ALLOWED",
    "CALLS_FUNCTIONS",
    "CHECKPOINT_OPS",
    "FAMILIES",
    "LIMITS",
    "MAX_MEMOS",
    "NAMED_LIKE_IO",
    "Family",
    "Finding",
    "Limits",
    "ScanLimitError",
    "ScanResult",
    "UnsafeModelError",
    "allowed_family",
    "denied_reason",
    "find_saved_model_file",
    "refusal_reason",
    "rules_version",
    "scan",
]


# `imagehub.scan` is also a function: see imagehub/_callable.py.
make_module_callable(__name__, "scan")
