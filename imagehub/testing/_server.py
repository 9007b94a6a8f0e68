"""The lifecycle every local test HTTP server shares.

`LocalServer` starts a threaded HTTP/1.1 server on 127.0.0.1 (port chosen
by the OS) whose request handler reaches the server object as `owner`,
stops it, and names its URLs; `ModelServer` and the API servers add what
they serve.
"""

from __future__ import annotations

import http.server
import threading
from typing import ClassVar
from typing import TypeVar

HOST = "127.0.0.1"

_S = TypeVar("_S", bound="LocalServer")


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A keep-alive request handler that logs nothing (clean test output);
    `owner` is the `LocalServer` it serves."""

    owner: LocalServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class LocalServer:
    """A threaded HTTP/1.1 server on 127.0.0.1, usable as a context manager.

    Subclasses set `handler`, a request handler class that reads the
    server object from its `owner` attribute.
    """

    handler: ClassVar[type[QuietHandler]]

    def __init__(self) -> None:
        self._httpd: http.server.ThreadingHTTPServer | None = None

    def start(self: _S) -> _S:
        handler = type("Handler", (self.handler,), {"owner": self})
        self._httpd = http.server.ThreadingHTTPServer((HOST, 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"imagehub-test-{type(self).__name__}",
            daemon=True,
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(
                f"{type(self).__name__} is not running; call start()"
            )
        return f"http://{HOST}:{self._httpd.server_port}"

    def url(self, path: str) -> str:
        return self.base_url + path
