"""Kaggle Models: the latest version, and private or gated models.

A handle without a version is resolved to the variation's latest version
with the Kaggle API call kagglehub makes (`GetModelInstance` of
`models.ModelApiService`, answered with the instance's `versionNumber`).
Credentials are read by kagglehub itself (`KAGGLE_USERNAME`/`KAGGLE_KEY`,
`~/.kaggle/kaggle.json` or `KAGGLE_CONFIG_DIR`, `KAGGLE_API_TOKEN`), so
they are found wherever kagglehub finds them.

kagglehub's own client (kagglesdk) sends its calls to a fixed host per
`KAGGLE_API_ENVIRONMENT` (api.kaggle.com, localhost, localhost:7777) and
keeps its own cache, so imagehub makes the same calls itself, to
`IMAGEHUB_KAGGLE_API_URL` (default https://api.kaggle.com), and stores the
archive in its verified cache. With credentials the archive comes from the
API's `DownloadModelInstanceVersion` (which redirects to storage; the
credentials are not sent there); without, from the public
`https://www.kaggle.com/models/...?tf-hub-format=compressed` URL that
tensorflow_hub used.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable

from imagehub._version import __version__
from imagehub.hub import _config
from imagehub.hub import _download
from imagehub.hub import _handles
from imagehub.hub._errors import AccessDeniedError
from imagehub.hub._errors import DownloadError
from imagehub.hub._errors import ModelNotFoundError

logger = logging.getLogger(__name__)

PIP_LINE = "pip install 'imagehub[hubs]'  (or: pip install kagglehub)"
SERVICE = "models.ModelApiService"
# kagglesdk's ModelFramework enum value for tensorFlow2 handles.
FRAMEWORK = "MODEL_FRAMEWORK_TENSOR_FLOW_2"
USERNAME_VAR = "KAGGLE_USERNAME"
KEY_VAR = "KAGGLE_KEY"
API_TIMEOUT_SECONDS = 30.0

Progress = Callable[[int, "int | None"], None]


@dataclasses.dataclass(frozen=True)
class Credentials:
    """Kaggle credentials as kagglehub found them.

    Attributes:
        header: The `Authorization` header value.
        user: The Kaggle user name, when known.
        source: Where they came from, for messages.
    """

    header: str
    user: str | None
    source: str


def credentials() -> Credentials | None:
    """The Kaggle credentials kagglehub would use, or None.

    Raises:
        ImportError: kagglehub is not installed.
    """
    try:
        from kagglehub import config
    except ImportError as e:
        raise ImportError(
            "Kaggle credentials are read by kagglehub, which is not "
            f"installed: {PIP_LINE}"
        ) from e
    found = config.get_kaggle_credentials()
    if found is None:
        return None
    if found.api_key:
        return Credentials(
            f"Bearer {found.api_key}", None, "the Kaggle API token"
        )
    pair = f"{found.username}:{found.key}".encode()
    header = "Basic " + base64.b64encode(pair).decode("ascii")
    if os.environ.get(USERNAME_VAR) and os.environ.get(KEY_VAR):
        source = f"{USERNAME_VAR}/{KEY_VAR}"
    else:
        folder = os.environ.get(config.CREDENTIALS_FOLDER_ENV_VAR_NAME)
        source = os.path.join(
            folder or config.DEFAULT_KAGGLE_CREDENTIALS_FOLDER,
            config.CREDENTIALS_FILENAME,
        )
    return Credentials(header, found.username, source)


def _credentials_if_installed() -> Credentials | None:
    try:
        return credentials()
    except ImportError:
        return None


def instance_request(handle: _handles.Handle) -> dict[str, object]:
    """The JSON body kagglesdk sends to name the handle's variation."""
    owner, model, _, variation = handle.repo.split("/")
    return {
        "ownerSlug": owner,
        "modelSlug": model,
        "framework": FRAMEWORK,
        "instanceSlug": variation,
    }


def _api_url(method: str) -> str:
    return f"{_config.kaggle_api_url()}/v1/{SERVICE}/{method}"


def latest_version(handle: _handles.Handle) -> _handles.Handle:
    """Returns `handle` at the latest version of its variation.

    Raises:
        AccessDeniedError: The model is private or gated (the message says
            which credential is missing or refused).
        ModelNotFoundError: No such model or variation.
        DownloadError: The API cannot be reached or answers nonsense.
        ImportError: kagglehub is not installed.
    """
    found = credentials()
    url = _api_url("GetModelInstance")
    _handles.check_http_allowed(url)
    request = urllib.request.Request(
        url,
        data=json.dumps(instance_request(handle)).encode(),
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"imagehub/{__version__}",
        },
    )
    if found is not None:
        request.add_unredirected_header("Authorization", found.header)
    try:
        with urllib.request.urlopen(
            request, timeout=API_TIMEOUT_SECONDS
        ) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code in (401, 403):
            raise access_denied(handle, e.code, found) from None
        if e.code == 404:
            raise ModelNotFoundError(
                f"Kaggle has no model variation {handle.repo!r} "
                f"(HTTP 404 from {url})"
            ) from None
        raise DownloadError(
            f"the Kaggle API answered HTTP {e.code} {e.reason} for "
            f"{handle.original!r} ({url})"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DownloadError(
            f"cannot ask the Kaggle API ({url}) for the latest version of "
            f"{handle.original!r}: {e}"
        ) from e
    version = answer.get("versionNumber") if isinstance(answer, dict) else None
    if not isinstance(version, int) or version < 1:
        raise DownloadError(
            f"the Kaggle API ({url}) gave no version number for "
            f"{handle.original!r}: {str(answer)[:200]}"
        )
    logger.info("%s: latest version is %d", handle.original, version)
    return _handles.kaggle_version(handle, version)


def download(
    handle: _handles.Handle,
    dest: str,
    *,
    progress: Progress,
    beat: Callable[[], None],
) -> int:
    """Downloads the archive of a versioned Kaggle handle into `dest`.

    Returns:
        Its size in bytes.

    Raises:
        AccessDeniedError: The model is private or gated.
        Everything `imagehub.hub._download.download` raises.
    """
    found = _credentials_if_installed()
    try:
        if found is None:
            return _download.download(
                handle.location, dest, progress=progress, beat=beat
            )
        body = {
            **instance_request(handle),
            "versionNumber": int(handle.revision or 0),
        }
        return _download.download(
            _api_url("DownloadModelInstanceVersion"),
            dest,
            progress=progress,
            beat=beat,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            credentials=found.header,
        )
    except AccessDeniedError as e:
        raise access_denied(handle, e.status, found) from None


def access_denied(
    handle: _handles.Handle, status: int | None, found: Credentials | None
) -> AccessDeniedError:
    """The error for a 401/403, naming the credential to set or fix."""
    page = f"https://www.kaggle.com/models/{handle.repo.rsplit('/', 2)[0]}"
    if found is None:
        message = (
            f"Kaggle refused {handle.original!r} (HTTP {status}): the model "
            f"is private or gated and no Kaggle credentials are set. Set "
            f"{USERNAME_VAR} and {KEY_VAR} (or put kaggle.json from "
            "kaggle.com > Settings > API in ~/.kaggle/), and accept the "
            f"model's terms on {page} if it asks"
        )
    elif status == 401:
        message = (
            f"Kaggle refused the credentials from {found.source}"
            + (f" (user {found.user!r})" if found.user else "")
            + f" for {handle.original!r} (HTTP 401): check that "
            f"{KEY_VAR} (or the key in kaggle.json) is current; create a "
            "new one on kaggle.com > Settings > API"
        )
    else:
        message = (
            f"Kaggle user {found.user or '(token)'} (credentials from "
            f"{found.source}) may not download {handle.original!r} (HTTP "
            f"{status}): accept the model's terms on {page} with that "
            "account, or ask its owner for access"
        )
    return AccessDeniedError(message, status=status)
