"""Conformance checker and safety scan for image SavedModels.

`scan(path)` reads a SavedModel's protobuf without loading it and passes
it only when every op is on imagehub's allowlist and every checkpoint op
forms the standard saver; `trust=True` is the only way past a refusal.
The scan lives in `imagehub.scan` (below `hub`, which scans before it
loads); its names are re-exported here as before.
`check(path_or_handle)` scans, loads and probes the model against every
rule of SPEC.md, returning a `Report` with one PASS / FAIL / WARN / SKIP
`Result` per rule.

Models without an imagehub model card (as published on TF Hub or by other
tools) get WARN, not FAIL, for the card and signature rules (M1, M2) and
for what only a card can document (I2, I4); a card that disagrees with the
model FAILs. D1 (deterministic inference) is an extra check that only
warns.
"""

from imagehub._callable import make_module_callable
from imagehub.check._check import check
from imagehub.check._report import EXTRA_CHECKS
from imagehub.check._report import FAIL
from imagehub.check._report import PASS
from imagehub.check._report import SKIP
from imagehub.check._report import STATUSES
from imagehub.check._report import WARN
from imagehub.check._report import Report
from imagehub.check._report import Result
from imagehub.scan import LIMITS
from imagehub.scan import Finding
from imagehub.scan import Limits
from imagehub.scan import ScanLimitError
from imagehub.scan import ScanResult
from imagehub.scan import UnsafeModelError
from imagehub.scan import scan

__all__ = [
    "EXTRA_CHECKS",
    "FAIL",
    "LIMITS",
    "PASS",
    "SKIP",
    "STATUSES",
    "WARN",
    "Finding",
    "Limits",
    "Report",
    "Result",
    "ScanLimitError",
    "ScanResult",
    "UnsafeModelError",
    "check",
    "scan",
]


# `imagehub.check` is also a function: see imagehub/_callable.py.
make_module_callable(__name__, "check")
