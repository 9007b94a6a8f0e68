"""Running the CLI in a pseudo-terminal, as a user at a terminal sees it."""

from __future__ import annotations

import dataclasses
import os
import re
import select
import subprocess
import time

from imagehub.testing._paths import cli_command
from imagehub.testing._paths import cli_env

# CSI sequences (colours, cursor moves, erase) and OSC titles.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]"
)


@dataclasses.dataclass(frozen=True)
class PtyResult:
    """What the terminal received.

    Attributes:
        returncode: The process's exit status.
        raw: Everything written to the terminal, control codes included.
    """

    returncode: int
    raw: str

    @property
    def text(self) -> str:
        """`raw` without control codes, carriage returns as newlines."""
        plain = _CONTROL.sub("", self.raw)
        return plain.replace("\r\n", "\n").replace("\r", "\n")


def run_cli_in_pty(
    *args: str,
    columns: int = 80,
    lines: int = 24,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> PtyResult:
    """Runs `python -m imagehub ARGS` with stdout and stderr on a
    pseudo-terminal of `columns` x `lines`; returns what it showed.

    Raises:
        TimeoutError: The command ran longer than `timeout` seconds.
    """
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    size = struct.pack("HHHH", lines, columns, 0, 0)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
    try:
        proc = subprocess.Popen(
            cli_command(*args),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=cli_env(env, terminal=True),
            start_new_session=True,
        )
    finally:
        os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                raise TimeoutError(
                    f"imagehub {' '.join(args)} ran over {timeout:.0f} s"
                )
            ready, _, _ = select.select([master], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return PtyResult(code, b"".join(chunks).decode("utf-8", "replace"))
