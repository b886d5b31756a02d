"""`make demo`: the whole story on the embedded defaults (SQLite + a local artifact folder).

1. A tracked Prefect flow trains two iris classifiers; each run logs its model in MLflow's format
   and registers it as a version of ``IrisClassifier``.
2. The champion/challenger flow gives ``@champion`` to the better version.
3. A local model server (``mltrack serve``) starts; the deployment flow publishes
   ``IrisClassifier@champion`` to it, and a prediction goes through HTTP.
4. A better model is trained and promoted, redeployed, and the server switches to it.

Everything it starts, it stops. Prefect starts a temporary API server for the flows when
``PREFECT_API_URL`` is not set.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
MODEL = "IrisClassifier"


def _load_train_flow() -> Any:
    spec = importlib.util.spec_from_file_location("train_iris", ROOT / "flows" / "train_iris.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.train_iris


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(token: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "MLTRACK_SERVER_TOKEN": token}
    mltrack = Path(sys.executable).with_name("mltrack")
    command = [str(mltrack)] if mltrack.exists() else [sys.executable, "-m", "prefect_mltrack"]
    from prefect_mltrack.settings import mltrack_home

    log_path = mltrack_home() / "model-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"Starting a model server on port {port} (its log: {log_path})")
    with log_path.open("ab") as log:  # the child keeps its own handle
        server = subprocess.Popen([*command, "serve", "-p", str(port)], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/ping", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError("the model server did not start")
        time.sleep(0.1)


def main() -> None:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from sklearn.datasets import load_iris

    import prefect_mltrack as mlflow
    from prefect_mltrack import ModelServer, promote_model
    from prefect_mltrack.deploy import deploy_model

    train_iris = _load_train_flow()
    holdout = load_iris(as_frame=True).frame
    print(f"Tracking to {mlflow.get_tracking_uri()}\n")
    token = secrets.token_urlsafe(24)
    server, base = _start_server(token)
    block = ModelServer(base_url=base, token=token)
    try:
        # The heartbeat thread adds ~1 s to every flow run; a demo does not need it.
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            first = train_iris(n_estimators=5, max_depth=1)
            decision = promote_model(MODEL, first["version"], evaluation_data=holdout, target="target")
            print(f"\nv{first['version']}: {decision['decision']} ({decision['reason']})")
            deployed = deploy_model(MODEL, "champion", server=block)
            row = {"data": [[5.1, 3.5, 1.4, 0.2]]}
            answer = httpx.post(deployed["endpoint"], json=row, timeout=10).json()
            print(f"Served v{deployed['version']} at {deployed['endpoint']}: {row} -> {answer}")

            second = train_iris(n_estimators=50, max_depth=4)
            decision = promote_model(MODEL, second["version"], evaluation_data=holdout, target="target")
            print(f"\nv{second['version']}: {decision['decision']} ({decision['reason']})")
            deployed = deploy_model(MODEL, "champion", server=block)
            hosted = httpx.get(f"{base}/models", timeout=10).json()
            answer = httpx.post(deployed["endpoint"], json=row, timeout=10).json()
            print(f"Now serving v{deployed['version']} ({hosted}): {row} -> {answer}")
    finally:
        server.terminate()
        server.wait(timeout=30)

    print("\nWhere to look:")
    for command, what in (
        ("mltrack runs list --experiment-name Iris_Classification", "the tracked flow runs"),
        (f"mltrack registry describe {MODEL}", "versions, stages, @champion"),
        (f"mltrack models serve -m models:/{MODEL}@champion -p 1234", "serve the champion yourself"),
        ("mltrack ui", "the web UI on http://127.0.0.1:5000: runs, charts, the registry"),
    ):
        print(f"  {command:<62} # {what}")


if __name__ == "__main__":
    main()
