"""Extracting tar archives without trusting them.

Only regular files and directories are extracted. Absolute names, `..`
components, symlinks, hard links, devices and anything else that could
write outside the target (or make a later member do so) are refused
before a byte is written for them, and size and member-count limits stop
archive bombs. Modes and owners from the archive are ignored.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from typing import IO
from typing import cast

from imagehub.hub._errors import DownloadError
from imagehub.hub._errors import UnsafeArchiveError

# Far above any SavedModel on TF Hub or Kaggle; the point is to stop a
# decompression bomb before it fills the disk.
MAX_BYTES = 64 * 2**30
MAX_MEMBERS = 200_000
_CHUNK = 1 << 20
_FILE_MODE = 0o644
_DIR_MODE = 0o755


class FileDigest:
    """Size and sha256 of one extracted file."""

    __slots__ = ("size", "sha256")

    def __init__(self, size: int, sha256: str) -> None:
        self.size = size
        self.sha256 = sha256

    def as_dict(self) -> dict[str, int | str]:
        return {"size": self.size, "sha256": self.sha256}


def safe_member_path(name: str, source: str) -> str | None:
    """Returns the normalised relative path of a member, None for '.'.

    Raises:
        UnsafeArchiveError: the name is absolute or climbs with `..`.
    """
    if "\x00" in name:
        raise UnsafeArchiveError(
            f"archive {source} has a member name with a NUL byte: {name!r}"
        )
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(
            f"archive {source} has an absolute member name {name!r}; "
            "refusing to extract it"
        )
    parts = [
        p for p in name.replace("\\", "/").split("/") if p not in ("", ".")
    ]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"archive {source} has a member name with '..': {name!r}; "
            "refusing to extract it"
        )
    if not parts:
        return None
    return posixpath.join(*parts)


def _describe_type(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symlink to {member.linkname!r}"
    if member.islnk():
        return f"a hard link to {member.linkname!r}"
    if member.ischr() or member.isblk():
        return "a device file"
    if member.isfifo():
        return "a FIFO"
    return f"type {member.type!r}"


def safe_extract(
    archive_path: str,
    target: str,
    *,
    source: str,
    max_bytes: int | None = None,
    max_members: int | None = None,
    beat: Callable[[], None] | None = None,
) -> dict[str, FileDigest]:
    """Extracts `archive_path` (tar, tar.gz, tar.bz2, tar.xz) into `target`.

    Args:
        archive_path: The downloaded archive.
        target: An existing empty directory to extract into.
        source: The URL or path the archive came from, for messages.
        max_bytes: Limit on the total size of extracted files
            (default `MAX_BYTES`).
        max_members: Limit on the number of members (default
            `MAX_MEMBERS`).
        beat: Called now and then, to show the work is progressing.

    Returns:
        Relative path (with '/') -> size and sha256 of every file written.

    Raises:
        UnsafeArchiveError: A member is not allowed or a limit is exceeded.
        DownloadError: The archive is truncated or corrupt.
    """
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    max_members = MAX_MEMBERS if max_members is None else max_members
    root = os.path.realpath(target)
    digests: dict[str, FileDigest] = {}
    directories: set[str] = set()
    total = 0
    count = 0
    try:
        # Stream mode ("r|") reads the archive once, front to back, and
        # never seeks, so a truncated archive fails where it ends. The
        # decompressor is opened here, not by tarfile, and read to its end
        # below: tarfile's own stream never checks the gzip CRC, so bytes
        # flipped inside a member would otherwise pass unnoticed.
        with (
            _open_decompressed(archive_path) as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
        ):
            for member in tar:
                count += 1
                if count > max_members:
                    raise UnsafeArchiveError(
                        f"archive {source} has more than {max_members} "
                        "members; refusing to extract it"
                    )
                rel = safe_member_path(member.name, source)
                if not (member.isfile() or member.isdir()):
                    raise UnsafeArchiveError(
                        f"archive {source} member {member.name!r} is "
                        f"{_describe_type(member)}; only regular files and "
                        "directories are allowed"
                    )
                if rel is None:
                    continue
                dest = os.path.join(root, *rel.split("/"))
                _check_inside(root, dest, member.name, source)
                if member.isdir():
                    _make_dirs(root, rel)
                    directories.add(rel)
                    continue
                total += member.size
                if total > max_bytes:
                    raise UnsafeArchiveError(
                        f"archive {source} expands to more than {max_bytes} "
                        "bytes; refusing to extract it"
                    )
                if rel in digests or rel in directories:
                    raise UnsafeArchiveError(
                        f"archive {source} has member {member.name!r} more "
                        "than once; refusing to overwrite it"
                    )
                parent = posixpath.dirname(rel)
                if parent:
                    _make_dirs(root, parent)
                    directories.update(_ancestors(parent))
                fileobj = tar.extractfile(member)
                if fileobj is None:  # pragma: no cover - isfile() above
                    raise UnsafeArchiveError(f"cannot read {member.name!r}")
                digests[rel] = _write_file(fileobj, dest, beat)
            # The tar's end blocks may come before the compressed stream's
            # end; reading on verifies its checksum (CRC32, xz/bz2 checks).
            while stream.read(_CHUNK):
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        if isinstance(e, OSError) and not _is_format_error(e):
            raise
        if count == 0:
            raise DownloadError(
                f"{source} did not send a tar archive ({e}); it starts with "
                f"{_head(archive_path)!r}. Check the URL (a login or error "
                "page instead of the model?)"
            ) from e
        raise DownloadError(
            f"archive {source} is truncated or corrupt ({e}); nothing was "
            "cached"
        ) from e
    return digests


def _open_decompressed(path: str) -> IO[bytes]:
    """The archive's bytes after decompression, checked at their end."""
    head = _head(path, 6)
    # Each is a binary file object; typeshed types them apart from IO.
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    if head.startswith(b"BZh"):
        return cast(IO[bytes], bz2.open(path, "rb"))
    if head.startswith(b"\xfd7zXZ\x00"):
        return cast(IO[bytes], lzma.open(path, "rb"))
    return open(path, "rb")


def _head(path: str, size: int = 40) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def _is_format_error(e: OSError) -> bool:
    # gzip.BadGzipFile and lzma/bz2 data errors are OSError subclasses
    # without an errno; real I/O errors carry one.
    return e.errno is None


def _ancestors(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _check_inside(root: str, dest: str, name: str, source: str) -> None:
    # Names are already free of '..' and absolute forms, and no symlink is
    # ever created, so this cannot fail; it guards future changes.
    if os.path.commonpath([root, os.path.abspath(dest)]) != root:
        raise UnsafeArchiveError(
            f"archive {source} member {name!r} would land outside "
            f"{root}; refusing to extract it"
        )


def _make_dirs(root: str, rel: str) -> None:
    path = root
    for part in rel.split("/"):
        path = os.path.join(path, part)
        try:
            os.mkdir(path, _DIR_MODE)
        except FileExistsError:
            # Only directories we made ourselves can be here: we never
            # create symlinks, and a file of that name is a conflict.
            if os.path.islink(path) or not os.path.isdir(path):
                raise UnsafeArchiveError(
                    f"archive member path {rel!r} crosses a file"
                ) from None


def _write_file(
    fileobj: IO[bytes], dest: str, beat: Callable[[], None] | None
) -> FileDigest:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(dest, flags, _FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        return digest_stream(fileobj, out, beat)


def hash_file(path: str) -> FileDigest:
    """Size and sha256 of a file on disk."""
    with open(path, "rb") as f:
        return digest_stream(f)


def digest_stream(
    src: IO[bytes],
    out: IO[bytes] | None = None,
    beat: Callable[[], None] | None = None,
) -> FileDigest:
    """Size and sha256 of all `src` reads, copied to `out` on the way.

    Args:
        src: A binary file object, read to its end in 1 MiB chunks.
        out: Where to write the bytes too, or None to only hash them.
        beat: Called after each chunk (a lock's heartbeat on long copies).
    """
    digest = hashlib.sha256()
    size = 0
    while chunk := src.read(_CHUNK):
        if out is not None:
            out.write(chunk)
        digest.update(chunk)
        size += len(chunk)
        if beat is not None:
            beat()
    return FileDigest(size, digest.hexdigest())
