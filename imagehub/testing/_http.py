"""A local HTTP server for download tests, with injectable faults.

`ModelServer` serves byte strings at paths on 127.0.0.1 from a thread,
records every request, and can misbehave per path: drop the connection
mid-body, send a truncated or corrupted body, answer 404 or 500, redirect,
throttle, or stall until released. Faults can apply to the first N
requests only, so "a 500 then a success" is one line.

Example:
    with ModelServer() as server:
        server.add("/m.tar.gz", pack_saved_model(model_dir))
        server.set_fault("/m.tar.gz", "500", times=1)
        path = imagehub.resolve(server.url("/m.tar.gz"))
        assert server.count("/m.tar.gz") == 2
"""

from __future__ import annotations

import dataclasses
import io
import os
import socket
import tarfile
import threading
import time
import urllib.parse
from typing import Any

from imagehub.testing._server import LocalServer
from imagehub.testing._server import QuietHandler

FAULTS = (
    "drop",  # full Content-Length, half the body, then close
    "truncate",  # a well-formed response whose body is the first half
    "corrupt",  # full length, bytes in the middle flipped
    "403",
    "404",
    "500",
    "stall",  # half the body, then hang until release() or stop()
    "slow",  # the whole body, in small chunks with pauses
)


@dataclasses.dataclass(frozen=True)
class Request:
    """One request the server saw."""

    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclasses.dataclass
class _Route:
    data: bytes | None = None
    redirect: str | None = None
    redirect_code: int = 302
    fault: str | None = None
    times: int | None = None


class _Handler(QuietHandler):
    owner: ModelServer

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        parts = urllib.parse.urlsplit(self.path)
        owner = self.owner
        with owner._lock:
            owner.requests.append(
                Request(
                    self.command, parts.path, parts.query, dict(self.headers)
                )
            )
        route, fault = owner._take(parts.path)
        if route is None or fault == "404":
            self._plain(404, b"not found\n")
            return
        if fault in ("403", "500"):
            self._plain(int(fault), b"fault injected by ModelServer\n")
            return
        if route.redirect is not None:
            target = route.redirect
            if parts.query and "?" not in target:
                target += "?" + parts.query
            self.send_response(route.redirect_code)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = route.data or b""
        body = data
        length = len(data)
        if fault == "truncate":
            body = data[: len(data) // 2]
            length = len(body)
        elif fault == "corrupt":
            middle = len(data) // 2
            span = min(4096, len(data) - middle)
            flipped = bytes(b ^ 0xFF for b in data[middle : middle + span])
            body = data[:middle] + flipped + data[middle + span :]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-tar")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if head:
            return
        try:
            if fault in ("drop", "stall"):
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                if fault == "stall":
                    owner._release.wait(timeout=120)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault == "slow":
                for i in range(0, len(body), owner.slow_chunk):
                    self.wfile.write(body[i : i + owner.slow_chunk])
                    self.wfile.flush()
                    time.sleep(owner.slow_pause)
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _plain(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class ModelServer(LocalServer):
    """A threaded HTTP/1.1 server on 127.0.0.1 (port chosen by the OS)."""

    handler = _Handler

    def __init__(self, *, slow_chunk: int = 64 * 1024, slow_pause=0.05):
        super().__init__()
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.requests: list[Request] = []
        self.slow_chunk = slow_chunk
        self.slow_pause = slow_pause

    def stop(self) -> None:
        self._release.set()  # stalled responses end first
        super().stop()

    # -- content -----------------------------------------------------------
    def add(self, path: str, data: bytes) -> None:
        """Serves `data` at `path` (any query string is accepted)."""
        with self._lock:
            self._routes[path] = _Route(data=data)

    def redirect(self, path: str, target: str, code: int = 302) -> None:
        """Answers `path` with a redirect to `target` (a path or URL)."""
        with self._lock:
            self._routes[path] = _Route(redirect=target, redirect_code=code)

    def set_fault(
        self, path: str, fault: str | None, times: int | None = None
    ) -> None:
        """Makes `path` misbehave for the next `times` requests (None: all).

        Args:
            path: A path added with `add`.
            fault: One of `FAULTS`, or None to behave again.
            times: How many requests get the fault; later ones are served
                normally.
        """
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"Unknown fault {fault!r}; expected {FAULTS}")
        with self._lock:
            route = self._routes[path]
            route.fault = fault
            route.times = times
        self._release.clear()

    def release(self) -> None:
        """Lets stalled responses finish (they then close the connection)."""
        self._release.set()

    def count(self, path: str, method: str = "GET") -> int:
        """How many `method` requests for `path` the server received."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r.path == path and r.method == method
            )

    def total(self) -> int:
        with self._lock:
            return len(self.requests)

    def _take(self, path: str) -> tuple[_Route | None, str | None]:
        with self._lock:
            route = self._routes.get(path)
            if route is None:
                return None, None
            fault = route.fault
            if fault is not None and route.times is not None:
                route.times -= 1
                if route.times <= 0:
                    route.fault = None
            return route, fault


def pack_saved_model(model_dir: str, compression: str = "gz") -> bytes:
    """Packs a SavedModel directory as a tar archive, files at the top.

    Args:
        model_dir: The directory holding saved_model.pb.
        compression: "gz" for .tar.gz, "" for a plain .tar.

    Returns:
        The archive's bytes, laid out as tfhub.dev serves models.
    """
    buffer = io.BytesIO()
    mode: Any = f"w:{compression}" if compression else "w"
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for dirpath, dirnames, filenames in os.walk(model_dir):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, model_dir).replace(os.sep, "/")
                tar.add(path, arcname=rel, recursive=False)
    return buffer.getvalue()
