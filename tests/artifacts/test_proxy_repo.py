"""The artifact seam through a real tracking server's artifact proxy (``mlflow-artifacts:/`` URIs)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer, fresh_sql_store, serve_app
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_mltrack.artifacts import get_artifact_repository
from prefect_mltrack.artifacts.proxy_repo import ProxyArtifactRepository
from prefect_mltrack.exceptions import (
    ArtifactPathError,
    InvalidParameterError,
    MLTrackError,
    ResourceNotFoundError,
)
from prefect_mltrack.server.config import ServerConfig

MIB = 1024 * 1024


@pytest.fixture
def repo(live_tracking_server: LiveServer) -> ProxyArtifactRepository:
    """A repository under a path of its own on the session's server."""
    return ProxyArtifactRepository(
        f"mlflow-artifacts:/t-{uuid.uuid4().hex}/artifacts", tracking_uri=live_tracking_server.url
    )


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- round trips ----------------------------------------------------------------------------------
def test_write_read_and_replace(repo):
    repo.write_bytes(b"v1", "notes/readme.txt")
    repo.write_bytes(b"version 2", "notes/readme.txt")
    assert repo.read_bytes("notes/readme.txt") == b"version 2"
    assert repo.read_bytes("./notes//readme.txt") == b"version 2"
    with pytest.raises(ResourceNotFoundError):
        repo.read_bytes("notes/missing.txt")
    with pytest.raises(InvalidParameterError, match="directory"):
        repo.read_bytes("notes")


def test_log_artifact_and_log_artifacts(repo, tmp_path):
    one = tmp_path / "model.pkl"
    one.write_bytes(b"\x00\x01pickle")
    repo.log_artifact(one)
    repo.log_artifact(one, "models/v1")
    src = tree(tmp_path / "out", {"a.txt": b"a", "sub/b.txt": b"b", "sub/deeper/c.bin": os.urandom(3000)})
    repo.log_artifacts(src, "outputs")
    assert repo.read_bytes("model.pkl") == repo.read_bytes("models/v1/model.pkl") == b"\x00\x01pickle"
    assert repo.read_bytes("outputs/sub/deeper/c.bin") == (src / "sub/deeper/c.bin").read_bytes()
    with pytest.raises(ResourceNotFoundError):
        repo.log_artifact(tmp_path / "nope.txt")
    with pytest.raises(InvalidParameterError, match="log_artifacts"):
        repo.log_artifact(src)


def test_names_with_spaces_and_unicode_survive(repo):
    repo.write_bytes(b"x", "my dir/résumé 50%.txt")
    assert [f.path for f in repo.list_artifacts("my dir")] == ["my dir/résumé 50%.txt"]
    assert repo.read_bytes("my dir/résumé 50%.txt") == b"x"


# -- listing --------------------------------------------------------------------------------------
def test_listing_is_one_level_with_root_relative_paths(repo):
    for path in ("a.txt", "dir/b.txt", "dir/sub/c.txt"):
        repo.write_bytes(path.encode(), path)
    root = repo.list_artifacts()
    assert [(f.path, f.is_dir, f.file_size) for f in root] == [("a.txt", False, 5), ("dir", True, None)]
    assert [(f.path, f.is_dir) for f in repo.list_artifacts("dir")] == [("dir/b.txt", False), ("dir/sub", True)]
    assert [f.path for f in repo.list_artifacts("dir/sub/")] == ["dir/sub/c.txt"]
    assert repo.list_artifacts("a.txt") == []  # a file lists as nothing, as on every backend
    assert repo.list_artifacts("missing") == []


def test_a_directory_holding_a_file_of_its_own_name_is_listed(repo):
    repo.write_bytes(b"inner", "model/model")
    assert [(f.path, f.is_dir) for f in repo.list_artifacts("model")] == [("model/model", False)]
    assert repo.list_artifacts("model/model") == []


# -- downloads ------------------------------------------------------------------------------------
def test_download_a_file_a_tree_and_everything(repo, tmp_path):
    files = {"cfg.json": b"{}", "model/MLmodel": b"flavors: {}", "model/data/w.bin": os.urandom(10_000)}
    repo.log_artifacts(tree(tmp_path / "src", files))
    one = repo.download_artifacts("cfg.json", tmp_path / "one")
    assert one == str(tmp_path / "one" / "cfg.json") and Path(one).read_bytes() == b"{}"
    model = repo.download_artifacts("model", tmp_path / "tree")
    assert model == str(tmp_path / "tree" / "model")
    assert local_files(tmp_path / "tree") == {k: v for k, v in files.items() if k.startswith("model/")}
    everything = Path(repo.download_artifacts("", tmp_path / "all"))
    assert local_files(everything) == files
    assert not [p for p in (tmp_path / "all").rglob(".mltrack-tmp-*")]
    fresh = Path(repo.download_artifacts("model/MLmodel"))  # no destination: a new temporary directory
    assert fresh.read_bytes() == b"flavors: {}" and fresh.parts[-2:] == ("model", "MLmodel")


def test_download_of_something_missing(repo, tmp_path):
    with pytest.raises(ResourceNotFoundError, match="missing"):
        repo.download_artifacts("missing", tmp_path / "dst")
    (tmp_path / "file").write_text("x")
    repo.write_bytes(b"x", "a.txt")
    with pytest.raises(InvalidParameterError, match="not a directory"):
        repo.download_artifacts("a.txt", tmp_path / "file")


def test_listed_names_never_escape_the_download_directory(tmp_path):
    """A hostile (or broken) server lists '../' names: they are skipped, never written."""

    async def listing(request: Request) -> Response:
        files = [
            {"path": "../../escaped.txt", "is_dir": False, "file_size": 1},
            {"path": "/etc/passwd", "is_dir": False, "file_size": 1},
            {"path": "ok.txt", "is_dir": False, "file_size": 2},
        ]
        return JSONResponse({"files": files})

    async def download(request: Request) -> Response:
        if request.path_params["path"].endswith("/ok.txt"):
            return Response(b"ok")
        if request.path_params["path"].endswith("escaped.txt"):
            return Response(b"pwned")
        return JSONResponse({"error_code": "INVALID_PARAMETER_VALUE", "message": "is a directory"}, 400)

    app = Starlette(
        routes=[
            Route("/health", lambda r: Response("OK")),
            Route("/api/2.0/mlflow-artifacts/artifacts", listing),
            Route("/api/2.0/mlflow-artifacts/artifacts/{path:path}", download),
        ]
    )
    server = serve_app(app)
    try:
        repo = ProxyArtifactRepository("mlflow-artifacts:/1/run/artifacts", tracking_uri=server.url)
        got = Path(repo.download_artifacts("dir", tmp_path / "dst" / "inner"))
    finally:
        server.stop()
    assert local_files(tmp_path) == {"dst/inner/dir/ok.txt": b"ok"}
    assert got == tmp_path / "dst" / "inner" / "dir"


# -- deletes ----------------------------------------------------------------------------------------
def test_delete_a_file_a_tree_and_everything(repo):
    for path in ("keep.txt", "gone.txt", "dir/a.txt", "dir/sub/b.txt"):
        repo.write_bytes(b"x", path)
    repo.delete_artifacts("gone.txt")
    repo.delete_artifacts("dir")
    repo.delete_artifacts("never-existed")
    assert [f.path for f in repo.list_artifacts()] == ["keep.txt"]
    repo.delete_artifacts()
    assert repo.list_artifacts() == []


# -- path safety ------------------------------------------------------------------------------------
UNSAFE = ["../x", "/etc/passwd", "a/../../b", "%2e%2e/secret", "a\\b", "C:/x", "nul\x00.txt", ".mltrack-tmp-1/x"]


@pytest.mark.parametrize("path", UNSAFE)
def test_unsafe_paths_are_refused_before_any_request(path, tmp_path):
    # Nothing listens on this address: a request would fail with TEMPORARILY_UNAVAILABLE instead.
    repo = ProxyArtifactRepository("mlflow-artifacts:/1/r/artifacts", tracking_uri="http://127.0.0.1:9")
    (tmp_path / "f.txt").write_text("x")
    for call in (
        lambda: repo.write_bytes(b"x", path),
        lambda: repo.read_bytes(path),
        lambda: repo.list_artifacts(path),
        lambda: repo.download_artifacts(path, tmp_path / "dst"),
        lambda: repo.delete_artifacts(path),
        lambda: repo.log_artifact(tmp_path / "f.txt", path),
    ):
        with pytest.raises(ArtifactPathError):
            call()


@pytest.mark.parametrize(
    "uri", ["mlflow-artifacts:/../up", "mlflow-artifacts:/a/%2e%2e/%2e%2e/b", "mltrack-artifacts:/a?x=1"]
)
def test_unsafe_root_uris_are_refused(uri):
    with pytest.raises(InvalidParameterError):
        ProxyArtifactRepository(uri, tracking_uri="http://127.0.0.1:9")


# -- which server -----------------------------------------------------------------------------------
def test_the_server_comes_from_the_uri_or_the_tracking_uri(live_tracking_server, monkeypatch):
    host = live_tracking_server.url.removeprefix("http://")
    named = ProxyArtifactRepository(f"mlflow-artifacts://{host}/t-{uuid.uuid4().hex}", tracking_uri="http://h:1")
    named.write_bytes(b"x", "a.txt")  # the host in the URI wins over the tracking URI
    assert named.server_url == live_tracking_server.url and named.read_bytes("a.txt") == b"x"

    monkeypatch.setenv("MLTRACK_TRACKING_URI", live_tracking_server.url)
    repo = get_artifact_repository(f"mltrack-artifacts:/t-{uuid.uuid4().hex}/artifacts")
    assert isinstance(repo, ProxyArtifactRepository) and repo.server_url == live_tracking_server.url
    monkeypatch.setenv("MLTRACK_TRACKING_URI", "sqlite:///local.db")
    with pytest.raises(InvalidParameterError, match="mlflow-artifacts://<host>:<port>/<path>"):
        get_artifact_repository("mlflow-artifacts:/1/r/artifacts")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("secured-artifacts")
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{root / 'db.sqlite'}",
        artifacts_destination=str(root / "artifacts"),
        auth_token=SecretStr("artifact-token"),
    )
    with LiveServer(config, store=fresh_sql_store(root / "db.sqlite", config)) as server:
        yield server


def test_credentials_are_sent_as_the_rest_store_sends_them(secured, monkeypatch):
    repo = ProxyArtifactRepository("mlflow-artifacts:/1/r/artifacts", tracking_uri=secured.url)
    with pytest.raises(MLTrackError) as caught:
        repo.write_bytes(b"x", "a.txt")
    assert caught.value.error_code == "UNAUTHENTICATED"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "artifact-token")
    repo.write_bytes(b"x", "a.txt")
    assert repo.read_bytes("a.txt") == b"x"


# -- big files ------------------------------------------------------------------------------------
def test_a_200_mib_file_streams_both_ways_in_bounded_memory(repo, tmp_path):
    big = tmp_path / "big.bin"
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    with big.open("wb") as out:
        for i in range(200):
            piece = block[i:] + block[:i]  # every MiB differs, so a misplaced chunk is caught
            out.write(piece)
            digest.update(piece)
    del block, piece

    tracemalloc.start()
    try:
        repo.log_artifact(big, "data")
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        got = Path(repo.download_artifacts("data/big.bin", tmp_path / "back"))
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The server runs in this process too, so its buffers count: still far below the file's size.
    assert upload_peak < 16 * MIB, f"upload peak {upload_peak / MIB:.1f} MiB"
    assert download_peak < 16 * MIB, f"download peak {download_peak / MIB:.1f} MiB"
    (info,) = repo.list_artifacts("data")
    assert info.file_size == 200 * MIB
    check = hashlib.sha256()
    with got.open("rb") as back:
        while chunk := back.read(4 * MIB):
            check.update(chunk)
    assert check.hexdigest() == digest.hexdigest()


def test_credentials_never_go_to_a_host_named_by_an_artifact_uri(monkeypatch):
    seen: list[str | None] = []

    async def record(request: Request) -> Response:
        seen.append(request.headers.get("authorization"))
        return JSONResponse({})

    app = Starlette(routes=[Route("/{path:path}", record, methods=["GET", "PUT"])])
    server = serve_app(app, probe="/health")
    monkeypatch.setenv("MLTRACK_TRACKING_TOKEN", "secret")
    host = server.url.removeprefix("http://")
    try:
        seen.clear()
        # The URI names another host than the tracking server: it gets no token.
        ProxyArtifactRepository(f"mlflow-artifacts://{host}/1/r", tracking_uri="http://127.0.0.1:9").write_bytes(
            b"x", "a.txt"
        )
        # The same host as the tracking server (by URI or by default): it does.
        ProxyArtifactRepository(f"mlflow-artifacts://{host}/1/r", tracking_uri=server.url).write_bytes(b"x", "a.txt")
        ProxyArtifactRepository("mlflow-artifacts:/1/r", tracking_uri=server.url).write_bytes(b"x", "a.txt")
    finally:
        server.stop()
    assert seen == [None, "Bearer secret", "Bearer secret"]
