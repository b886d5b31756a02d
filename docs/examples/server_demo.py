"""The tracking-server guide's example: start `mltrack server` with a token, then track, log a model,
register it and load it back, all through the server's REST API and artifact proxy.

From a shell the server is: mltrack server --backend-store-uri sqlite:///team.db
                                           --artifacts-destination ./team-artifacts --auth-token-file token.txt
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

import prefect_mltrack as mlflow
import prefect_mltrack.sklearn

# A free port on loopback, a token file, and the server in its own process, in a scratch folder.
workdir = Path(tempfile.mkdtemp(prefix="mltrack-server-demo-"))
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
(workdir / "token.txt").write_text("demo-secret\n")
server = subprocess.Popen(
    [sys.executable, "-m", "prefect_mltrack", "server", "--port", str(port),
     "--backend-store-uri", f"sqlite:///{workdir / 'team.db'}", "--artifacts-destination", str(workdir / "artifacts"),
     "--auth-token-file", str(workdir / "token.txt")]
)  # fmt: skip
url = f"http://127.0.0.1:{port}"
try:
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health").text == "OK":
                break
        except httpx.TransportError:
            time.sleep(0.05)
    # Without the token, every route but /health and /version is closed.
    print("no token:", httpx.get(f"{url}/api/2.0/mlflow/experiments/search").status_code)

    os.environ["MLTRACK_TRACKING_TOKEN"] = "demo-secret"
    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("server-demo")
    X, y = load_iris(return_X_y=True, as_frame=True)
    with mlflow.start_run(run_name="forest") as run:
        mlflow.log_params({"n_estimators": 50, "max_depth": 4})
        model = RandomForestClassifier(n_estimators=50, max_depth=4, random_state=0).fit(X, y)
        mlflow.log_metric("train_accuracy", model.score(X, y))
        mlflow.log_text("trained through the tracking server", "notes.txt")
        prefect_mltrack.sklearn.log_model(
            model, name="model", input_example=X.head(2), registered_model_name="ServerIris"
        )

    fetched = mlflow.get_run(run.info.run_id)
    print("artifact uri:", fetched.info.artifact_uri)
    print("artifacts:", sorted(f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id)))
    loaded = mlflow.pyfunc.load_model("models:/ServerIris/1")
    print("predictions:", [int(p) for p in loaded.predict(X.head(3))])
    print("models stored by the server:", len(list((workdir / "artifacts").rglob("MLmodel"))))
finally:
    server.terminate()
    server.wait(30)
