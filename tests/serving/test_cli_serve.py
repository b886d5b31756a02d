"""``mltrack models serve`` and ``mltrack serve`` as a user starts them: real processes on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from serving_helpers import SEED_ROW, IrisRegistry, free_port, wait_until_up  # type: ignore[import-not-found]
from typer.testing import CliRunner

from prefect_mltrack.cli import app

SEED_CURL = b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'


@contextmanager
def mltrack(*args: str, home: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect_mltrack", *args],
        env={**os.environ, "MLTRACK_HOME": str(home), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_models_serve_answers_the_seed_curl(iris_registry: IrisRegistry, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with mltrack(
        "models", "serve", "-m", "models:/Iris/1", "-p", str(port), "--tracking-uri", iris_registry.tracking_uri,
        home=tmp_path,
    ) as process:  # fmt: skip
        wait_until_up(f"{base}/ping", process=process)
        response = httpx.post(f"{base}/invocations", content=SEED_CURL, headers={"Content-Type": "application/json"})
        assert response.json() == {"predictions": [0]}
        assert httpx.get(f"{base}/health").text == "\n"


def test_models_serve_with_workers_and_an_alias(iris_registry: IrisRegistry, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with mltrack(
        "models", "serve", "-m", "models:/Iris@champion", "-p", str(port), "--workers", "2",
        home=tmp_path, env={"MLTRACK_TRACKING_URI": iris_registry.tracking_uri},
    ) as process:  # fmt: skip
        wait_until_up(f"{base}/ping", process=process)
        with httpx.Client(base_url=base, timeout=30) as http:
            body = {"dataframe_split": {"columns": list(iris_registry.X.columns), "data": [SEED_ROW]}}
            assert http.post("/invocations", json=body).json() == {"predictions": [0]}
            started = time.perf_counter()
            for _ in range(20):  # keep-alive requests: no 40 ms delayed-ACK stall per request
                assert http.get("/ping").status_code == 200
            assert time.perf_counter() - started < 0.6


def test_models_serve_reports_an_unknown_model_without_starting(iris_registry: IrisRegistry) -> None:
    result = CliRunner().invoke(
        app, ["models", "serve", "-m", "models:/Nope/1", "--tracking-uri", iris_registry.tracking_uri]
    )
    assert result.exit_code == 1 and "RESOURCE_DOES_NOT_EXIST" in result.output


def test_serve_hosts_preloaded_models_and_takes_admin_calls(iris_registry: IrisRegistry, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"DEPLOY_TOKEN": "tok-123", "MLTRACK_TRACKING_URI": iris_registry.tracking_uri}
    with mltrack(
        "serve", "-p", str(port), "--token-env", "DEPLOY_TOKEN", "--model", "Iris=models:/Iris@champion",
        home=tmp_path, env=env,
    ) as process:  # fmt: skip
        wait_until_up(f"{base}/ping", process=process)
        with httpx.Client(base_url=base, timeout=30) as http:
            assert [(m["name"], m["version"]) for m in http.get("/models").json()] == [("Iris", "1")]
            put = http.put(
                "/admin/models/Iris",
                json={"model_uri": "models:/Iris/2", "version": "2"},
                headers={"Authorization": "Bearer tok-123"},
            )
            assert put.status_code == 200, put.text
            answer = http.post(
                "/models/Iris/invocations", content=SEED_CURL, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 200 and answer.headers["x-mltrack-model-version"] == "2"
            assert 'mltrack_requests_total{model="Iris",version="2",status="200"} 1' in http.get("/metrics").text


def test_serve_rejects_malformed_model_options() -> None:
    result = CliRunner().invoke(app, ["serve", "--model", "no-equals-sign"])
    assert result.exit_code == 2 and "NAME=URI" in result.output
