"""Writing outputs for users: atomic, with one overwrite rule.

Every writer of imagehub (export, retrain, embed, the demo) publishes its
files and folders through this package: built as a temporary sibling,
renamed into place when complete, refused when the target exists unless
``overwrite=True`` (``--overwrite``), given the umask's normal modes, and
cleaned up after killed runs. `output_lock` keeps two runs from writing
the same output at once. Imports nothing heavier than the standard
library.
"""

from imagehub.outputs._atomic import atomic_directory
from imagehub.outputs._atomic import atomic_file
from imagehub.outputs._atomic import check_target
from imagehub.outputs._atomic import commit
from imagehub.outputs._atomic import discard
from imagehub.outputs._atomic import remove_abandoned
from imagehub.outputs._atomic import temp_sibling
from imagehub.outputs._errors import OutputExistsError
from imagehub.outputs._errors import OutputLockedError
from imagehub.outputs._lock import lock_path
from imagehub.outputs._lock import output_lock
from imagehub.outputs._modes import current_umask
from imagehub.outputs._modes import publish_modes

__all__ = [
    "OutputExistsError",
    "OutputLockedError",
    "atomic_directory",
    "atomic_file",
    "check_target",
    "commit",
    "current_umask",
    "discard",
    "lock_path",
    "output_lock",
    "publish_modes",
    "remove_abandoned",
    "temp_sibling",
]
