"""Remembered clean verdicts, so that loading an unchanged model again
skips the graph walk.

A verdict depends on the bytes of ``saved_model.pb`` (or ``.pbtxt``: the
only file the scan parses), on which of the two it is, and on the rules:
the allowlist, the checkpoint ops, the ops that call functions, `LIMITS`,
the scan's own source (the saver rule and the reasons are code), the
versions of imagehub, TensorFlow (its protobuf schema) and protobuf, and
which allowed ops this TensorFlow registers. `memo_key` hashes all of
them; a memo file is named by that key, so a model whose bytes changed,
even by one byte at the same size and mtime, or rules that changed, find
no memo and are scanned in full.

Only clean verdicts are written, one small JSON file each; a refusal is
always recomputed. A memo that is missing, unreadable, not a regular
file, too large, not JSON or written for another key counts as absent:
the full scan runs (logged at debug), never an error and never a pass.
Writes go through `imagehub.outputs` (atomic); a failed write is logged
at debug and ignored. The folder keeps at most `MAX_MEMOS` files (the
oldest go first).

The memo trusts whoever can write its folder (the user's cache root):
they could equally change the cached models it guards.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import stat
from typing import Any

logger = logging.getLogger(__name__)

# Bumped when the memo files' meaning changes.
MEMO_FORMAT = 1
# Memo files kept in one folder; each is about 200 bytes.
MAX_MEMOS = 1024
# A memo file larger than this is not one of ours.
_MAX_MEMO_BYTES = 4096
_SUFFIX = ".json"
# The modules whose code decides a verdict.
_RULE_MODULES = ("_allowlist.py", "_saver.py", "_scan.py", "_result.py")


@functools.lru_cache(maxsize=1)
def _source_digest() -> str:
    """sha256 of the scan's rule modules (their code is part of the
    rules: the saver rule, the reasons, the walk)."""
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in _RULE_MODULES:
        with open(os.path.join(here, name), "rb") as f:
            digest.update(name.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def _registered(ops: frozenset[str]) -> tuple[str, ...]:
    """Which of `ops` this TensorFlow registers (imports TensorFlow).

    Cached per process: the registry only grows (`tf.load_op_library`),
    and a verdict clean under fewer registered ops stays clean under more.
    """
    from tensorflow.python.framework import op_def_registry

    return tuple(sorted(op for op in ops if op_def_registry.get(op)))


def rules_version() -> str:
    """A sha256 (hex) of everything besides the model that a verdict
    depends on; a change to any of it invalidates every memo.

    Imports TensorFlow (its version and op registry are part of it).
    """
    import dataclasses

    import google.protobuf
    import tensorflow as tf

    from imagehub._version import __version__
    from imagehub.scan import _allowlist
    from imagehub.scan import _scan

    # Read from the modules at call time, as the scan reads them.
    allowed = frozenset(_scan.ALLOWED)
    checkpoint = frozenset(_scan.CHECKPOINT_OPS)
    parts = {
        "format": MEMO_FORMAT,
        "imagehub": __version__,
        "tensorflow": [tf.version.VERSION, tf.version.GIT_VERSION],
        "protobuf": google.protobuf.__version__,
        "source": _source_digest(),
        "allowed": sorted(allowed),
        "checkpoint_ops": sorted(checkpoint),
        "calls_functions": sorted(_allowlist.CALLS_FUNCTIONS),
        "limits": dataclasses.asdict(_scan.LIMITS),
        "registered": _registered(allowed | checkpoint),
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def memo_key(file_name: str, data: bytes) -> str:
    """The memo's key for `data`, the bytes of `file_name`
    (``saved_model.pb`` or ``saved_model.pbtxt``), under today's rules."""
    digest = hashlib.sha256()
    for part in (
        rules_version().encode(),
        file_name.encode(),
        hashlib.sha256(data).hexdigest().encode(),
    ):
        digest.update(part + b"\0")
    return digest.hexdigest()


def memo_path(memo_dir: str | os.PathLike[str], key: str) -> str:
    return os.path.join(os.fspath(memo_dir), key + _SUFFIX)


def recall(memo_dir: str | os.PathLike[str], key: str) -> dict[str, Any]:
    """The clean verdict remembered under `key`, or {} when there is none
    usable (a damaged memo is logged at debug and ignored)."""
    path = memo_path(memo_dir, key)
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_MEMO_BYTES:
            raise ValueError("not a small regular file")
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as f:
            memo = json.loads(f.read(_MAX_MEMO_BYTES + 1))
        if (
            not isinstance(memo, dict)
            or memo.get("format") != MEMO_FORMAT
            or memo.get("key") != key
            or memo.get("refused") is not False
            or not all(
                isinstance(memo.get(k), int) and memo[k] >= 0
                for k in ("meta_graphs", "functions", "nodes")
            )
        ):
            raise ValueError("not a clean verdict written for this key")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, UnicodeDecodeError) as e:
        logger.debug("Ignoring scan memo %s (%s); scanning in full", path, e)
        return {}
    return memo


def remember(
    memo_dir: str | os.PathLike[str],
    key: str,
    *,
    meta_graphs: int,
    functions: int,
    nodes: int,
) -> None:
    """Writes a clean verdict under `key` (atomically); a failure is
    logged at debug and ignored."""
    from imagehub import outputs

    path = memo_path(memo_dir, key)
    memo = {
        "format": MEMO_FORMAT,
        "key": key,
        "refused": False,
        "meta_graphs": meta_graphs,
        "functions": functions,
        "nodes": nodes,
    }
    try:
        os.makedirs(memo_dir, exist_ok=True)
        _prune(os.fspath(memo_dir), MAX_MEMOS - 1)
        with outputs.atomic_file(path, overwrite=True) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(memo, f)
    except (OSError, ValueError) as e:
        logger.debug("Cannot write scan memo %s: %s", path, e)


def _prune(memo_dir: str, keep: int) -> None:
    """Deletes the oldest memo files beyond `keep`."""
    memos = []
    with os.scandir(memo_dir) as entries:
        for entry in entries:
            if entry.name.endswith(_SUFFIX) and entry.is_file(
                follow_symlinks=False
            ):
                memos.append(
                    (entry.stat(follow_symlinks=False).st_mtime, entry.path)
                )
    memos.sort()
    for _, path in memos[: max(0, len(memos) - keep)]:
        try:
            os.unlink(path)
        except OSError:
            continue  # removed meanwhile
