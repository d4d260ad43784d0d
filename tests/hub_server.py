"""A minimal Hugging Face Hub-compatible HTTP endpoint for the tests.

The tests point the real ``huggingface_hub`` client at it (``HF_ENDPOINT``); the
client is never mocked. It implements only what ``gankit push`` / ``gankit pull``
use, answering as the Hub does (paths, JSON fields and headers read from the
installed client's source, huggingface_hub 2.4):

=====================================================  ===============================
request                                                client call
=====================================================  ===============================
``POST /api/repos/create``                             ``HfApi.create_repo``
``POST /api/models/{repo}/branch/{branch}``            ``HfApi.create_branch``
``POST /api/validate-yaml``                            ``create_commit`` (README.md)
``POST /api/models/{repo}/preupload/{rev}``            ``create_commit`` (upload modes)
``POST /api/models/{repo}/commit/{rev}`` (ndjson)      ``create_commit``
``GET /api/models/{repo}[/revision/{rev}]``            ``model_info`` / ``repo_info``
``GET /api/models/{repo}/tree/{rev}[/{path}]``         ``list_repo_files`` / ``list_repo_tree``
``HEAD|GET /{repo}/resolve/{rev}/{path}``              ``hf_hub_download`` / ``snapshot_download``
=====================================================  ===============================

Preupload answers ``"regular"`` for every file, which makes the client send the
file contents inline (base64) in the commit: no LFS or Xet transfer is involved.
A resolve answer carries ``ETag`` (the git blob sha1, as the Hub does for
non-LFS files), ``X-Repo-Commit`` and ``Content-Length``; errors carry the
``X-Error-Code`` the client maps to its exceptions (``RepoNotFound``,
``RevisionNotFound``, ``EntryNotFound``).

Storage: every commit is a JSON manifest ``{path: blob sha1}`` in a temp dir and
every blob a file named by its sha1, so a hostile file name (``../x``) can be
*served* (the tests need that) but never touches the server's own disk layout.

Why ``http.server`` and not Starlette + uvicorn: the endpoint is synchronous
request/response over a small in-memory state; ``ThreadingHTTPServer`` starts
and stops instantly in a thread with no event loop or lifespan handling, HEAD is
explicit, and it needs nothing beyond the standard library, so the Hub tests run
without the ``serve`` extra.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

WRITE_TOKEN = "hf_test_write_token"
READ_TOKEN = "hf_test_read_token"


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob (what the Hub reports as a regular file's oid/ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    """One model repository: branches pointing at commits, commits as manifests."""

    repo_id: str
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, str]] = field(default_factory=dict)  # sha -> {path: blob}
    log: list[str] = field(default_factory=list)  # commit shas, oldest first


class HubError(Exception):
    """An error answer: status, X-Error-Code and message."""

    def __init__(self, status: int, code: str | None, message: str, commit: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.commit = status, code, message, commit


class FakeHub:
    """The state and logic of the endpoint; ``serve()`` runs it on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.repos: dict[str, Repo] = {}
        self.tokens = {WRITE_TOKEN: "write", READ_TOKEN: "read"}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.lock = threading.Lock()
        self.url = ""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0
        self._connections: set[socket.socket] = set()

    # -- storage -------------------------------------------------------------------

    def _put_blob(self, data: bytes) -> str:
        oid = git_blob_sha1(data)
        path = self.root / "blobs" / oid
        if not path.exists():
            path.write_bytes(data)
        return oid

    def blob(self, oid: str) -> bytes:
        """The bytes of a stored blob."""
        return (self.root / "blobs" / oid).read_bytes()

    def _new_commit(self, repo: Repo, branch: str, files: dict[str, str], message: str) -> str:
        self._counter += 1
        parent = repo.branches.get(branch, "")
        seed = json.dumps([repo.repo_id, parent, sorted(files.items()), message, self._counter])
        sha = hashlib.sha1(seed.encode()).hexdigest()
        repo.commits[sha] = dict(files)
        repo.branches[branch] = sha
        repo.log.append(sha)
        (self.root / f"commit-{sha}.json").write_text(json.dumps(files, indent=1))
        return sha

    # -- helpers for tests -----------------------------------------------------------

    def seed(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        branch: str = "main",
        message: str = "seed",
        replace: bool = False,
        private: bool = False,
    ) -> str:
        """Commit ``files`` straight into the store (any names, even hostile ones)."""
        with self.lock:
            repo = self.repos.setdefault(repo_id, Repo(repo_id, private=private))
            base = {} if replace else dict(repo.commits.get(repo.branches.get(branch, ""), {}))
            base.update({path: self._put_blob(data) for path, data in files.items()})
            return self._new_commit(repo, branch, base, message)

    def file_at(self, repo_id: str, revision: str, path: str) -> bytes:
        """The bytes of ``path`` at a branch or commit."""
        repo = self.repos[repo_id]
        sha = repo.branches.get(revision, revision)
        return self.blob(repo.commits[sha][path])

    # -- request handling ----------------------------------------------------------

    def _auth(self, headers: Any, need: str) -> str | None:
        auth = headers.get("Authorization") or ""
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        if token is None:
            if need == "write":
                raise HubError(401, None, "You must be authenticated to do this")
            return None
        role = self.tokens.get(token)
        if role is None:
            raise HubError(401, None, "Invalid credentials in Authorization header")
        if need == "write" and role != "write":
            raise HubError(403, None, "You don't have the rights to write to this namespace")
        return role

    def _repo(self, repo_id: str, headers: Any) -> Repo:
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and self._auth(headers, "read") is None):
            raise HubError(401, "RepoNotFound", "Repository not found")
        return repo

    def _resolve(self, repo: Repo, revision: str) -> str:
        if revision in repo.branches:
            return repo.branches[revision]
        if revision in repo.commits:
            return revision
        matches = [sha for sha in repo.commits if len(revision) >= 7 and sha.startswith(revision)]
        if len(matches) == 1:
            return matches[0]
        raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")

    def handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Route one request; returns (status, headers, body)."""
        split = urlsplit(raw_path)
        parts = [unquote(p) for p in split.path.split("/")[1:]]
        query = parse_qs(split.query)
        with self.lock:
            self.requests.append((method, split.path))
        try:
            with self.lock:
                return self._route(method, parts, query, headers, body)
        except HubError as err:
            out = {"X-Error-Message": err.message, "Content-Type": "application/json"}
            if err.code:
                out["X-Error-Code"] = err.code
            if err.commit:
                out["X-Repo-Commit"] = err.commit
            return err.status, out, json.dumps({"error": err.message}).encode()

    def _route(
        self, method: str, parts: list[str], query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if parts[:1] == ["api"]:
            if method == "POST" and parts[1:] == ["repos", "create"]:
                return self._create_repo(headers, json.loads(body or b"{}"))
            if method == "POST" and parts[1:] == ["validate-yaml"]:
                return self._validate_yaml(json.loads(body or b"{}"))
            if len(parts) >= 4 and parts[1] == "models":
                repo_id = f"{parts[2]}/{parts[3]}"
                rest = parts[4:]
                if method == "GET" and not rest:
                    return self._info(repo_id, "main", headers)
                if method == "GET" and rest[:1] == ["revision"] and len(rest) == 2:
                    return self._info(repo_id, rest[1], headers)
                if method == "GET" and rest[:1] == ["tree"] and len(rest) >= 2:
                    return self._tree(repo_id, rest[1], "/".join(rest[2:]), headers)
                if method == "POST" and rest[:1] == ["preupload"] and len(rest) == 2:
                    return self._preupload(repo_id, rest[1], headers, json.loads(body))
                if method == "POST" and rest[:1] == ["commit"] and len(rest) == 2:
                    return self._commit(repo_id, rest[1], headers, body)
                if method == "POST" and rest[:1] == ["branch"] and len(rest) == 2:
                    return self._branch(repo_id, rest[1], headers, json.loads(body or b"{}"))
            raise HubError(404, None, f"no such API route: /{'/'.join(parts)}")
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve_file(
                f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), headers
            )
        raise HubError(404, None, f"not found: /{'/'.join(parts)}")

    def _json(self, obj: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps(obj).encode()

    def _create_repo(self, headers: Any, payload: dict[str, Any]) -> tuple[int, dict, bytes]:
        self._auth(headers, "write")
        repo_id = f"{payload.get('organization')}/{payload['name']}"
        if repo_id in self.repos:  # the Hub's 409 answer carries the url (create_repo reads it)
            err = {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}
            return self._json(err, 409)
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo = self.repos[repo_id] = Repo(repo_id, private=private)
        # A new Hub repo has one commit with a .gitattributes file.
        attrs = self._put_blob(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
        self._new_commit(repo, "main", {".gitattributes": attrs}, "initial commit")
        return self._json({"url": f"{self.url}/{repo_id}", "name": repo_id, "id": repo_id})

    def _validate_yaml(self, payload: dict[str, Any]) -> tuple[int, dict, bytes]:
        content = payload.get("content", "")
        errors = []
        if content.startswith("---"):
            front = content.split("---", 2)[1] if content.count("---") >= 2 else ""
            try:
                meta = yaml.safe_load(front)
                if not isinstance(meta, dict):
                    errors.append({"message": "metadata must be a mapping"})
            except yaml.YAMLError as exc:
                errors.append({"message": f"invalid YAML: {exc}"})
        status = 400 if errors else 200
        return self._json({"errors": errors, "warnings": []}, status)

    def _info(self, repo_id: str, revision: str, headers: Any) -> tuple[int, dict, bytes]:
        repo = self._repo(repo_id, headers)
        sha = self._resolve(repo, revision)
        files = repo.commits[sha]
        return self._json(
            {
                "id": repo_id,
                "modelId": repo_id,
                "sha": sha,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "tags": [],
                "siblings": [{"rfilename": p} for p in sorted(files)],
            }
        )

    def _tree(
        self, repo_id: str, revision: str, prefix: str, headers: Any
    ) -> tuple[int, dict, bytes]:
        repo = self._repo(repo_id, headers)
        sha = self._resolve(repo, revision)
        entries = [
            {
                "type": "file",
                "path": p,
                "oid": oid,
                "size": (self.root / "blobs" / oid).stat().st_size,
            }
            for p, oid in sorted(repo.commits[sha].items())
            if not prefix or p.startswith(prefix.rstrip("/") + "/")
        ]
        return self._json(entries)

    def _preupload(self, repo_id: str, revision: str, headers: Any, payload: dict) -> tuple:
        self._auth(headers, "write")
        repo = self._repo(repo_id, headers)
        current = repo.commits.get(repo.branches.get(revision, ""), {})
        files = [
            {
                "path": f["path"],
                "uploadMode": "regular",  # small files go inline in the commit
                "shouldIgnore": False,
                "oid": current.get(f["path"]),
            }
            for f in payload["files"]
        ]
        return self._json({"files": files, "commitOid": repo.branches.get(revision)})

    def _commit(self, repo_id: str, revision: str, headers: Any, body: bytes) -> tuple:
        self._auth(headers, "write")
        repo = self._repo(repo_id, headers)
        if revision not in repo.branches:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        files = dict(repo.commits[repo.branches[revision]])
        summary = "commit"
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                summary = value.get("summary", summary)
                parent = value.get("parentCommit")
                if parent and parent != repo.branches[revision]:
                    raise HubError(412, None, "parent commit is not the head of the branch")
            elif key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, None, "only base64 file content is supported")
                files[value["path"]] = self._put_blob(base64.b64decode(value["content"]))
            elif key == "deletedFile":
                files.pop(value["path"], None)
            else:  # lfsFile etc.: preupload never asks for LFS here
                raise HubError(400, None, f"unsupported commit operation {key!r}")
        sha = self._new_commit(repo, revision, files, summary)
        return self._json(
            {
                "success": True,
                "commitOid": sha,
                "commitUrl": f"{self.url}/{repo_id}/commit/{sha}",
                "pullRequestUrl": None,
            }
        )

    def _branch(self, repo_id: str, branch: str, headers: Any, payload: dict) -> tuple:
        self._auth(headers, "write")
        repo = self._repo(repo_id, headers)
        if branch in repo.branches:
            raise HubError(409, None, "Branch already exists")
        start = self._resolve(repo, payload.get("startingPoint") or "main")
        repo.branches[branch] = start
        return self._json({})

    def _resolve_file(self, repo_id: str, revision: str, path: str, headers: Any) -> tuple:
        repo = self._repo(repo_id, headers)
        sha = self._resolve(repo, revision)
        oid = repo.commits[sha].get(path)
        if oid is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist", commit=sha)
        data = self.blob(oid)
        return (
            200,
            {
                "ETag": f'"{oid}"',
                "X-Repo-Commit": sha,
                "Content-Type": "application/octet-stream",
                "Accept-Ranges": "bytes",
            },
            data,
        )

    # -- the HTTP server -----------------------------------------------------------

    def serve(self) -> str:
        """Start serving on a free port of 127.0.0.1; returns the base URL."""
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with hub.lock:
                    hub._connections.add(self.connection)

            def finish(self) -> None:
                with hub.lock:
                    hub._connections.discard(self.connection)
                super().finish()

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, method: str) -> None:
                body = self._body() if method == "POST" else b""
                status, headers, data = hub.handle(method, self.path, self.headers, body)
                if method == "GET" and status == 200 and "Range" in self.headers:
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                    status, data = 206, data[start:]
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._answer("GET")

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer("HEAD")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving (later requests fail to connect, as when offline)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:  # and drop the client's kept-alive connections
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._connections.clear()

    def tamper(self, repo_id: str, commit: str, path: str, data: bytes) -> None:
        """Swap a file's bytes inside an existing commit (a compromised mirror)."""
        with self.lock:
            self.repos[repo_id].commits[commit][path] = self._put_blob(data)


# -- the test environment ------------------------------------------------------------------


@dataclass
class HubEnv:
    """What the ``hub_env`` fixture gives a test."""

    server: FakeHub
    url: str
    home: Path  # HF_HOME
    cache: Path  # HF_HUB_CACHE
    env: dict[str, str]  # environment for a subprocess that talks to this endpoint

    def go_offline(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Stop the endpoint and switch huggingface_hub to offline mode (in-process and env)."""
        from huggingface_hub import constants

        self.server.stop()
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        self.env["HF_HUB_OFFLINE"] = "1"


def hub_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEnv]:
    """A fake Hub on 127.0.0.1 and a fresh huggingface_hub home, wired into the real client.

    Test modules wrap it in a fixture (``yield from hub_environment(...)``).

    huggingface_hub reads HF_ENDPOINT / HF_HOME / HF_HUB_OFFLINE when it is first
    imported, so the in-process client is pointed here by patching
    ``huggingface_hub.constants`` (its functions read these attributes at call
    time; ``HUGGINGFACE_CO_URL_TEMPLATE`` is derived from the endpoint at import,
    so it is patched too). ``HF_TOKEN`` is read at call time from the environment.
    Subprocesses get the same settings as environment variables (``env``).
    """
    from huggingface_hub import constants

    server = FakeHub(tmp_path / "hub-store")
    url = server.serve()
    home = tmp_path / "hf-home"
    cache = home / "hub"
    patches = {
        "ENDPOINT": url,
        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(cache),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "AGENT_HARNESSES_PATH": str(home / "agent_harnesses.json"),
    }
    for name, value in patches.items():
        monkeypatch.setattr(constants, name, value)
    for var in ("HF_HUB_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    env_vars = {
        "HF_ENDPOINT": url,
        "HF_HOME": str(home),
        "HF_TOKEN": WRITE_TOKEN,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    for name, value in env_vars.items():
        monkeypatch.setenv(name, value)
    try:
        yield HubEnv(server, url, home, cache, dict(os.environ))
    finally:
        server.stop()


#: the zoo shipped in the repository
ZOO = Path(__file__).resolve().parents[1] / "zoo" / "gankit_zoo"


def zoo_copy_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp copy of the zoo, used as the zoo (GANKIT_ZOO_DIR); the real one stays untouched."""
    import shutil

    copy = tmp_path / "zoo"
    shutil.copytree(ZOO, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("GANKIT_ZOO_DIR", str(copy))
    return copy
