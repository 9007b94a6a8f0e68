"""A loopback TCP listener that counts the connections made to it.

Tests of hostile input use it as the address a model or a redirect points
at: a count of zero after the test is evidence that nothing connected, and
a count above zero (with a `trust=True` run) shows the evidence can fail.
It accepts each connection and closes it at once, so a client that did
connect gets an error instead of waiting forever.
"""

from __future__ import annotations

import socket
import threading


class ConnectionCounter:
    """Listens on 127.0.0.1 (a free port) and counts accepted connections.

    Example:
        >>> with ConnectionCounter() as listener:  # doctest: +SKIP
        ...     run_something(f"127.0.0.1:{listener.port}")
        ...     assert listener.count == 0
    """

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._count = 0
        self.port = 0

    def start(self) -> ConnectionCounter:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.settimeout(0.2)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        sock = self._sock
        while sock is not None and sock.fileno() >= 0:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._count += 1
            conn.close()

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def count(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._count

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ConnectionCounter:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
