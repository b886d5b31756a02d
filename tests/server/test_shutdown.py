"""Stopping the server loses no acknowledged write: SIGTERM while clients are logging."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sigterm_during_logging_keeps_every_acknowledged_point(tmp_path: Path) -> None:
    port = _free_port()
    db = f"sqlite:///{tmp_path / 'server.db'}"
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect_mltrack", "server", "--port", str(port), "--workers", "2",
         "--backend-store-uri", db, "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).text == "OK":
                break
        except httpx.TransportError:
            assert time.monotonic() < deadline and server.poll() is None, "server did not start"
            time.sleep(0.1)
    run_id = httpx.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]

    acknowledged: dict[int, list[int]] = {}

    def log(worker: int) -> None:
        steps = acknowledged.setdefault(worker, [])
        with httpx.Client(timeout=10) as http:
            for step in range(100_000):
                body = {"run_id": run_id, "key": f"w{worker}", "value": step, "timestamp": step, "step": step}
                try:
                    answer = http.post(f"{api}/runs/log-metric", json=body)
                except httpx.TransportError:
                    return  # the server is gone: this write was never acknowledged
                if answer.status_code != 200:
                    return
                steps.append(step)

    threads = [threading.Thread(target=log, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    server.send_signal(signal.SIGTERM)
    assert server.wait(60) == 0
    for thread in threads:
        thread.join(30)

    from prefect_mltrack.client import MlflowClient

    client = MlflowClient(db)
    total = 0
    for worker, steps in acknowledged.items():
        stored = {m.step for m in client.get_metric_history(run_id, f"w{worker}")}
        assert set(steps) <= stored, f"worker {worker}: acknowledged points missing after shutdown"
        total += len(steps)
    assert total > 50  # the clients really were writing when the server stopped
