"""The permission bits a published output gets.

Temporary files and folders are created private (0600/0700: `mkstemp`,
`mkdtemp`), which is right while they are half-written and wrong once
they are published: a SavedModel must be readable by the service that
serves it. At publication every output gets the bits the process's umask
gives a file or folder created normally (0666 or 0777 without the umask),
a folder output recursively.
"""

from __future__ import annotations

import os
import stat


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # Elsewhere the only way to read it is to set it; it is put back
    # at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode(st: os.stat_result, umask: int) -> int:
    if stat.S_ISDIR(st.st_mode) or st.st_mode & 0o111:
        return 0o777 & ~umask
    return 0o666 & ~umask


def publish_modes(path: str) -> None:
    """Gives `path` (and, for a folder, everything in it) the umask's
    modes; symbolic links are left alone."""
    umask = current_umask()
    targets = [path]
    if os.path.isdir(path) and not os.path.islink(path):
        for root, dirs, files in os.walk(path):
            targets += [os.path.join(root, n) for n in dirs + files]
    for target in targets:
        st = os.lstat(target)
        if stat.S_ISLNK(st.st_mode):
            continue
        mode = _mode(st, umask)
        if stat.S_IMODE(st.st_mode) != mode:
            os.chmod(target, mode)
