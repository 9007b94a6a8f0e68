"""Local servers that answer as the Hugging Face Hub and Kaggle APIs do.

`HfHubServer` serves the endpoints huggingface_hub calls to resolve a
revision and download files: `GET /api/models/{repo}/revision/{rev}`,
`GET /api/models/{repo}/tree/{rev}[/{path}]` and `HEAD`/`GET
/{repo}/resolve/{rev}/{path}` (LFS files redirect to a CDN path, with
`X-Linked-Etag` and `X-Linked-Size`), with the Hub's error headers
(`X-Error-Code: RepoNotFound`, `GatedRepo`, `RevisionNotFound`,
`EntryNotFound`) and bearer-token checks for private and gated repos.

`KaggleServer` serves the Kaggle API calls kagglehub makes through
kagglesdk (`POST .../v1/models.ModelApiService/GetModelInstance` and
`DownloadModelInstanceVersion`, JSON bodies with kagglesdk's field names,
HTTP basic auth) and the public `/models/...?tf-hub-format=compressed`
archive URL, with 401/403 for private and gated models.

Both run on 127.0.0.1 in a thread and record every request.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import threading
import urllib.parse

from imagehub.testing._server import LocalServer
from imagehub.testing._server import QuietHandler


@dataclasses.dataclass(frozen=True)
class ApiRequest:
    """One request an API server saw."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclasses.dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def _json(status: int, value, headers: dict | None = None) -> _Reply:
    return _Reply(
        status,
        json.dumps(value).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


class _Handler(QuietHandler):
    owner: _ApiServer

    def do_GET(self):
        self._serve()

    def do_HEAD(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def _serve(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = ApiRequest(
            self.command,
            urllib.parse.unquote(parts.path),
            parts.query,
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        with self.owner._lock:
            self.owner.requests.append(request)
        try:
            reply = self.owner.reply(request)
        except Exception as e:  # a test helper bug shows as a 500
            reply = _Reply(500, f"test server error: {e!r}".encode())
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)


class _ApiServer(LocalServer):
    """A threaded HTTP/1.1 server whose subclass answers `reply(request)`."""

    handler = _Handler

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ApiRequest] = []
        self._lock = threading.Lock()

    def seen(self, fragment: str, method: str | None = None) -> int:
        """How many requests had `fragment` in their path."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if fragment in r.path and method in (None, r.method)
            )

    def reply(self, request: ApiRequest) -> _Reply:  # pragma: no cover
        raise NotImplementedError


# -- Hugging Face Hub ------------------------------------------------------


def git_blob_id(data: bytes) -> str:
    """The git object id of a file, as the Hub lists non-LFS files."""
    header = f"blob {len(data)}\0".encode()
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


@dataclasses.dataclass
class _Repo:
    token: str | None
    gated: bool
    refs: dict[str, str]
    commits: dict[str, dict[str, bytes]]


class HfHubServer(_ApiServer):
    """Hugging Face Hub model repos, served as the Hub's HTTP API does.

    Files bigger than `lfs_threshold` bytes, and everything under
    `variables/`, are LFS files (listed with their sha256, downloaded
    through a redirect to `/cdn/<sha256>`), as on the Hub.

    Example:
        with HfHubServer() as hub:
            sha = hub.add_repo("me/model", files_of(model_dir))
            monkeypatch.setenv("HF_ENDPOINT", hub.base_url)
            imagehub.resolve("hf://me/model")
    """

    def __init__(self, *, lfs_threshold: int = 10_000) -> None:
        super().__init__()
        self.lfs_threshold = lfs_threshold
        self.repos: dict[str, _Repo] = {}
        self.blobs: dict[str, bytes] = {}
        # Another origin, as the Hub's CDN is: huggingface_hub follows
        # redirects within the Hub but reads LFS metadata off the redirect
        # to another host (and sends it no token).
        self.cdn = _CdnServer(self.blobs)

    def start(self):
        self.cdn.start()
        return super().start()

    def stop(self) -> None:
        super().stop()
        self.cdn.stop()

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        token: str | None = None,
        gated: bool = False,
    ) -> str:
        """Creates `repo_id` with one commit on `main`; returns the commit.

        Args:
            repo_id: OWNER/REPO.
            files: Path in the repo -> content.
            token: Makes the repo private (or, with `gated`, gated): only
                requests with `Authorization: Bearer <token>` see it.
            gated: The repo is public but gated: without the token the
                Hub answers 403 GatedRepo (401 without any token).
        """
        with self._lock:
            self.repos[repo_id] = _Repo(token, gated, {}, {})
        return self.commit(repo_id, files)

    def commit(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        branch: str = "main",
        tag: str | None = None,
    ) -> str:
        """Adds a commit with exactly `files` to `branch`; returns its id."""
        digest = hashlib.sha1(repo_id.encode(), usedforsecurity=False)
        with self._lock:
            repo = self.repos[repo_id]
            digest.update(str(len(repo.commits)).encode())
            for path in sorted(files):
                digest.update(path.encode() + git_blob_id(files[path]).encode())
            sha = digest.hexdigest()
            repo.commits[sha] = dict(files)
            repo.refs[branch] = sha
            if tag is not None:
                repo.refs[tag] = sha
            for data in files.values():
                self.blobs[hashlib.sha256(data).hexdigest()] = data
        return sha

    def tamper(self, repo_id: str, commit: str, path: str, data: bytes):
        """Serves `data` for `path` at an existing commit from now on, as
        a compromised mirror or a rewritten history would."""
        with self._lock:
            self.repos[repo_id].commits[commit][path] = data
            self.blobs[hashlib.sha256(data).hexdigest()] = data

    def _is_lfs(self, path: str, data: bytes) -> bool:
        return len(data) > self.lfs_threshold or "/variables/" in f"/{path}"

    def reply(self, request: ApiRequest) -> _Reply:
        path = request.path
        if path.startswith("/api/models/"):
            return self._api(request, path[len("/api/models/") :])
        parts = path.lstrip("/").split("/")
        if len(parts) >= 5 and parts[2] == "resolve":
            repo_id = "/".join(parts[:2])
            return self._resolve(request, repo_id, parts[3], parts[4:])
        return _Reply(404, b"not found")

    def _access(self, request: ApiRequest, repo_id: str) -> _Reply | None:
        repo = self.repos.get(repo_id)
        auth = request.headers.get("authorization", "")
        if repo is None:
            return _Reply(
                401 if not auth else 404,
                b'{"error":"Repository not found"}',
                {"X-Error-Code": "RepoNotFound"},
            )
        if repo.token is None or auth == f"Bearer {repo.token}":
            return None
        if repo.gated:
            if not auth:
                return _Reply(
                    401,
                    b'{"error":"Access to model is restricted."}',
                    {"X-Error-Code": "GatedRepo"},
                )
            return _Reply(
                403,
                b'{"error":"Access to model is restricted."}',
                {"X-Error-Code": "GatedRepo"},
            )
        if auth:
            return _Reply(
                401,
                b'{"error":"Invalid credentials in Authorization header"}',
                {
                    "X-Error-Message": "Invalid credentials in Authorization "
                    "header"
                },
            )
        return _Reply(
            401,
            b'{"error":"Repository not found"}',
            {"X-Error-Code": "RepoNotFound"},
        )

    def _commit_of(self, repo_id: str, revision: str) -> str | None:
        repo = self.repos[repo_id]
        if revision in repo.commits:
            return revision
        return repo.refs.get(revision)

    def _api(self, request: ApiRequest, rest: str) -> _Reply:
        parts = rest.split("/")
        repo_id = "/".join(parts[:2])
        denied = self._access(request, repo_id)
        if denied is not None:
            return denied
        action = parts[2] if len(parts) > 2 else "revision"
        revision = parts[3] if len(parts) > 3 else "main"
        sha = self._commit_of(repo_id, revision)
        if sha is None:
            return _Reply(
                404,
                b'{"error":"Invalid rev id"}',
                {"X-Error-Code": "RevisionNotFound"},
            )
        files = self.repos[repo_id].commits[sha]
        if action == "revision":
            return _json(
                200,
                {
                    "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
                    "id": repo_id,
                    "modelId": repo_id,
                    "sha": sha,
                    "private": self.repos[repo_id].token is not None,
                    "gated": "auto" if self.repos[repo_id].gated else False,
                    "disabled": False,
                    "tags": ["tf", "saved_model"],
                    "siblings": [{"rfilename": p} for p in sorted(files)],
                },
            )
        if action == "tree":
            folder = "/".join(parts[4:])
            return _json(200, self._tree(files, folder))
        return _Reply(404, b"unknown API")

    def _tree(self, files: dict[str, bytes], folder: str) -> list[dict]:
        prefix = folder + "/" if folder else ""
        entries, folders = [], set()
        for path in sorted(files):
            if not path.startswith(prefix):
                continue
            data = files[path]
            entry = {
                "type": "file",
                "oid": git_blob_id(data),
                "size": len(data),
                "path": path,
            }
            if self._is_lfs(path, data):
                entry["lfs"] = {
                    "oid": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                }
            entries.append(entry)
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            while parent and parent.startswith(prefix) and parent != folder:
                folders.add(parent)
                parent = parent.rsplit("/", 1)[0] if "/" in parent else ""
        dirs = [
            {"type": "directory", "oid": "0" * 40, "size": 0, "path": d}
            for d in sorted(folders)
        ]
        return dirs + entries

    def _resolve(self, request, repo_id, revision, path_parts) -> _Reply:
        denied = self._access(request, repo_id)
        if denied is not None:
            return denied
        sha = self._commit_of(repo_id, revision)
        if sha is None:
            return _Reply(
                404, b"Invalid rev id", {"X-Error-Code": "RevisionNotFound"}
            )
        path = "/".join(path_parts)
        data = self.repos[repo_id].commits[sha].get(path)
        if data is None:
            return _Reply(
                404, b"Entry not found", {"X-Error-Code": "EntryNotFound"}
            )
        headers = {"X-Repo-Commit": sha}
        if self._is_lfs(path, data):
            sha256 = hashlib.sha256(data).hexdigest()
            headers.update(
                {
                    "Location": self.cdn.url(f"/cdn/{sha256}"),
                    "X-Linked-Etag": f'"{sha256}"',
                    "X-Linked-Size": str(len(data)),
                    "ETag": f'"{git_blob_id(data)}"',
                }
            )
            return _Reply(302, b"", headers)
        headers["ETag"] = f'"{git_blob_id(data)}"'
        headers["Content-Type"] = "application/octet-stream"
        return _Reply(200, data, headers)


class _CdnServer(_ApiServer):
    """Serves LFS blobs by sha256 at /cdn/<sha256>."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        super().__init__()
        self.blobs = blobs

    def reply(self, request: ApiRequest) -> _Reply:
        data = self.blobs.get(request.path[len("/cdn/") :])
        if not request.path.startswith("/cdn/") or data is None:
            return _Reply(404, b"no such blob")
        return _Reply(200, data, {"Content-Type": "binary/octet-stream"})


# -- Kaggle ----------------------------------------------------------------


@dataclasses.dataclass
class _KaggleModel:
    versions: dict[int, bytes]
    credentials: tuple[str, str] | None
    granted: bool


class KaggleServer(_ApiServer):
    """Kaggle Models variations, served as Kaggle's API and site do.

    `api_url` is the base to put in IMAGEHUB_KAGGLE_API_URL, `base_url`
    the one for IMAGEHUB_KAGGLE_URL.
    """

    API_PREFIX = "/kaggle-api/v1/models.ModelApiService/"

    def __init__(self) -> None:
        super().__init__()
        self.models: dict[str, _KaggleModel] = {}

    @property
    def api_url(self) -> str:
        return self.url("/kaggle-api")

    def add_model(
        self,
        variation: str,
        versions: dict[int, bytes],
        *,
        credentials: tuple[str, str] | None = None,
        granted: bool = True,
    ) -> None:
        """Serves `versions` (number -> tar.gz) of a variation.

        Args:
            variation: OWNER/MODEL/tensorFlow2/VARIATION.
            versions: Version number -> the archive.
            credentials: (user, key) that may download it (private or
                gated); None for a public model.
            granted: False: those credentials are valid but have not
                accepted the model's terms (403).
        """
        with self._lock:
            self.models[variation.lower()] = _KaggleModel(
                dict(versions), credentials, granted
            )

    def _auth(self, request: ApiRequest, model: _KaggleModel) -> _Reply | None:
        if model.credentials is None:
            return None
        header = request.headers.get("authorization", "")
        if not header:
            return _json(401, {"code": 401, "message": "Unauthenticated"})
        user, key = model.credentials
        token = base64.b64encode(f"{user}:{key}".encode()).decode()
        if header != f"Basic {token}":
            return _json(401, {"code": 401, "message": "Unauthenticated"})
        if not model.granted:
            return _json(
                403,
                {
                    "code": 403,
                    "message": "Permission 'models.get' was denied",
                },
            )
        return None

    def reply(self, request: ApiRequest) -> _Reply:
        path = request.path
        if path.startswith("/storage/"):
            variation, version = path[len("/storage/") :].rsplit("/", 1)
            model = self.models.get(variation.lower())
            if model is None or int(version) not in model.versions:
                return _Reply(404, b"no such object")
            return _Reply(
                200,
                model.versions[int(version)],
                {"Content-Type": "application/x-gzip"},
            )
        if path.startswith(self.API_PREFIX) and request.method == "POST":
            return self._api(request, path[len(self.API_PREFIX) :])
        if path.startswith("/models/"):
            name, _, version = path[len("/models/") :].rpartition("/")
            model = self.models.get(name.lower())
            if model is None or not version.isdigit():
                return _Reply(404, b"not found")
            if model.credentials is not None:
                # The site needs a signed-in browser session.
                return _Reply(403, b"<html>Sign in</html>")
            return _Reply(
                302,
                headers={"Location": self.url(f"/storage/{name}/{version}")},
            )
        return _Reply(404, b"not found")

    def _api(self, request: ApiRequest, method: str) -> _Reply:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _json(400, {"code": 400, "message": "bad JSON"})
        if body.get("framework") != "MODEL_FRAMEWORK_TENSOR_FLOW_2":
            return _json(400, {"code": 400, "message": "bad framework"})
        variation = "/".join(
            [
                str(body.get("ownerSlug")),
                str(body.get("modelSlug")),
                "tensorFlow2",
                str(body.get("instanceSlug")),
            ]
        )
        model = self.models.get(variation.lower())
        if model is None:
            return _json(404, {"code": 404, "message": "Model not found"})
        denied = self._auth(request, model)
        if denied is not None:
            return denied
        latest = max(model.versions)
        if method == "GetModelInstance":
            return _json(
                200,
                {
                    "id": 1,
                    "slug": body["instanceSlug"],
                    "framework": "MODEL_FRAMEWORK_TENSOR_FLOW_2",
                    "versionNumber": latest,
                    "url": f"/models/{variation}",
                    "licenseName": "Apache 2.0",
                },
            )
        if method == "DownloadModelInstanceVersion":
            version = int(body.get("versionNumber") or 0)
            if version not in model.versions:
                return _json(404, {"code": 404, "message": "No such version"})
            location = self.url(f"/storage/{variation}/{version}")
            return _Reply(302, headers={"Location": location})
        return _json(404, {"code": 404, "message": f"no method {method}"})


def read_tree(root: str, prefix: str = "") -> dict[str, bytes]:
    """Path (with '/', under `prefix`) -> content of every file in root."""
    import os

    files = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            with open(path, "rb") as f:
                files[prefix + rel] = f.read()
    return files
