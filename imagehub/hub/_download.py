"""Downloading one URL to a file: redirects, retries with backoff, progress.

Transient failures (a dropped connection, a timeout, HTTP 5xx or 429) are
retried with exponential backoff; a 4xx answer fails at once, naming the
URL. Every URL, including each redirect target, must pass the plain-http
check (https, loopback, or IMAGEHUB_ALLOW_HTTP=1); a redirect to any other
scheme (ftp, file, ...) is refused before anything connects to it.
"""

from __future__ import annotations

import errno
import http.client
import logging
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import IO

from imagehub._version import __version__
from imagehub.hub import _handles
from imagehub.hub._errors import AccessDeniedError
from imagehub.hub._errors import DownloadError
from imagehub.hub._errors import HandleError
from imagehub.hub._errors import ModelNotFoundError

logger = logging.getLogger(__name__)

ATTEMPTS = 5
# Waits before attempt 2, 3, ...: BACKOFF_SECONDS * 2**(n-1), with jitter.
BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
TIMEOUT_SECONDS = 60.0
CHUNK_BYTES = 1 << 20
_RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
_LOCAL_ERRNOS = (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT)
_REDIRECT_SCHEMES = ("https", "http")

Progress = Callable[[int, "int | None"], None]


class _RedirectChecked(urllib.request.HTTPRedirectHandler):
    """Follows redirects, applying the plain-http rule to each target."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        # urllib itself follows ftp:// too, which is neither encrypted nor
        # verified; only http(s), under the plain-http rule, is followed.
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in _REDIRECT_SCHEMES:
            raise HandleError(
                f"refusing the redirect of {req.full_url} to {newurl!r}: "
                f"scheme {scheme!r} is not one of {_REDIRECT_SCHEMES}. Ask "
                "the publisher for an https URL"
            )
        _handles.check_http_allowed(newurl)
        logger.debug("%s redirected (%d) to %s", req.full_url, code, newurl)
        # Python 3.10's handler does not know 308; for a GET it is a 307.
        code = 307 if code == 308 else code
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    http_error_308 = urllib.request.HTTPRedirectHandler.http_error_302


class _Transient(Exception):
    """A failure worth retrying."""


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_RedirectChecked())


def download(
    url: str,
    dest: str,
    *,
    progress: Progress | None = None,
    beat: Callable[[], None] | None = None,
    attempts: int | None = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    credentials: str | None = None,
) -> int:
    """Downloads `url` into the file `dest` (overwritten); returns its size.

    Args:
        url: An http(s) URL.
        dest: The file to write.
        data: A request body: the request is a POST (an API call that
            answers with the file or a redirect to it).
        headers: Extra request headers.
        credentials: An `Authorization` header value. It is sent to `url`
            only, never to a redirect's target (signed storage URLs need
            none, and another host must not see it).
        progress: Called with (bytes so far, total or None) as data
            arrives, and once with (0, total) when an attempt starts.
        beat: Called as data arrives, to show the download is alive.
        attempts: How many tries in all (default `ATTEMPTS`).

    Returns:
        The number of bytes written.

    Raises:
        ModelNotFoundError: HTTP 404 or 410.
        AccessDeniedError: HTTP 401 or 403.
        DownloadError: Any other HTTP error, or transient failures on
            every attempt.
        HandleError: Plain http to a non-loopback host was not allowed.
    """
    _handles.check_http_allowed(url)
    attempts = ATTEMPTS if attempts is None else attempts
    opener = _opener()
    last: BaseException | None = None
    for attempt in range(1, attempts + 1):
        if beat is not None:
            beat()
        try:
            request = _request(url, data, headers, credentials)
            return _attempt(opener, request, dest, progress, beat)
        except _Transient as e:
            last = e.__cause__ or e
            if attempt == attempts:
                break
            delay = min(
                MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** (attempt - 1)
            )
            delay *= 0.75 + 0.5 * random.random()
            logger.warning(
                "Download of %s failed (%s); retrying in %.1f s "
                "(attempt %d of %d)",
                url,
                last,
                delay,
                attempt + 1,
                attempts,
            )
            _sleep(delay, beat)
    raise DownloadError(
        f"download of {url} failed after {attempts} attempts: {last}"
    ) from last


def _sleep(seconds: float, beat: Callable[[], None] | None) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 1.0))
        if beat is not None:
            beat()


def _request(
    url: str,
    data: bytes | None,
    headers: dict[str, str] | None,
    credentials: str | None,
) -> urllib.request.Request:
    request = urllib.request.Request(
        url,
        data=data,
        headers={"User-Agent": f"imagehub/{__version__}", **(headers or {})},
    )
    if credentials is not None:
        # Unredirected: urllib does not copy it to a redirect's request.
        request.add_unredirected_header("Authorization", credentials)
    return request


def _attempt(
    opener: urllib.request.OpenerDirector,
    request: urllib.request.Request,
    dest: str,
    progress: Progress | None,
    beat: Callable[[], None] | None,
) -> int:
    url = request.full_url
    try:
        response = opener.open(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code in _RETRY_STATUSES:
            raise _Transient(f"HTTP {e.code}") from e
        if e.code in (404, 410):
            raise ModelNotFoundError(
                f"HTTP {e.code} {e.reason} for {e.url or url}: no model there"
            ) from None
        if e.code in (401, 403):
            raise AccessDeniedError(
                f"HTTP {e.code} {e.reason} for {e.url or url}",
                status=e.code,
            ) from None
        raise DownloadError(
            f"HTTP {e.code} {e.reason} for {e.url or url}"
        ) from None
    except HandleError:
        raise
    except urllib.error.URLError as e:
        if isinstance(e.reason, socket.gaierror):
            raise DownloadError(
                f"cannot resolve host for {url}: {e.reason}"
            ) from None
        if isinstance(e.reason, ConnectionRefusedError):
            # A server that is down now may be back in a moment.
            raise _Transient(f"connection refused: {e.reason}") from e
        raise _Transient(str(e.reason)) from e
    except (OSError, http.client.HTTPException) as e:
        raise _Transient(str(e) or type(e).__name__) from e
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if progress is not None:
            progress(0, total)
        done = 0
        try:
            with open(dest, "wb") as out:
                while True:
                    # read1 returns what has arrived instead of waiting for
                    # a full chunk, so a slow link still shows progress
                    # (and keeps the lock's heartbeat going).
                    chunk = response.read1(CHUNK_BYTES)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
                    if beat is not None:
                        beat()
        except (OSError, http.client.HTTPException) as e:
            if _is_local_write_error(e):
                raise
            raise _Transient(
                f"connection lost after {done} bytes"
                + (f" of {total}" if total else "")
                + f" ({type(e).__name__}: {e})"
            ) from e
    if total is not None and done != total:
        raise _Transient(f"connection closed after {done} of {total} bytes")
    return done


def _is_local_write_error(e: BaseException) -> bool:
    # Disk full or a permission problem on `dest` is not the network's
    # fault and will not go away on retry.
    return isinstance(e, OSError) and e.errno in _LOCAL_ERRNOS
