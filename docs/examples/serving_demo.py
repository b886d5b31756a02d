"""The serving guide's example: a multi-model server embedded in Python, a swap to a new version
through the admin API, a canary, and the metrics that show the split.

From a shell the same server is `MLTRACK_SERVER_TOKEN=... mltrack serve --model iris=models:/IrisClassifier@champion`.
"""

import threading
import time

import httpx
import uvicorn
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import prefect_mltrack as mlflow
import prefect_mltrack.sklearn
from prefect_mltrack.serving.multi import create_multi_app

# Two registered versions of IrisClassifier; @champion points at version 1.
X, y = load_iris(return_X_y=True, as_frame=True)
for model in (RandomForestClassifier(n_estimators=50, random_state=0), LogisticRegression(max_iter=500)):
    with mlflow.start_run():
        prefect_mltrack.sklearn.log_model(
            model.fit(X, y), name="iris_model", input_example=X.head(2), registered_model_name="IrisClassifier"
        )
mlflow.MlflowClient().set_registered_model_alias("IrisClassifier", "champion", "1")

# The server: loaded and warmed before it answers; the admin API needs the token.
TOKEN = "demo-token"
app = create_multi_app(TOKEN, {"iris": "models:/IrisClassifier@champion"})
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
threading.Thread(target=server.run, daemon=True).start()
while not server.started:
    time.sleep(0.01)
port = server.servers[0].sockets[0].getsockname()[1]

with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
    seed = {"data": [[5.1, 3.5, 1.4, 0.2]]}
    answer = http.post("/models/iris/invocations", json=seed)
    print("version", answer.headers["X-MLtrack-Model-Version"], "->", answer.json())

    # Publish version 2 (what the deploy flow does): loaded and warmed first, then swapped in.
    admin = {"Authorization": f"Bearer {TOKEN}"}
    swapped = http.put(
        "/admin/models/iris", json={"model_uri": "models:/IrisClassifier/2", "version": "2"}, headers=admin
    )
    print("now serving", swapped.json()["version"], "instead of", swapped.json()["previous"]["version"])

    # A canary: version 1 back on 20% of the traffic.
    canary = {"model_uri": "models:/IrisClassifier/1", "version": "1", "weight": 0.2}
    http.put(
        "/admin/models/iris",
        json={"model_uri": "models:/IrisClassifier/2", "version": "2", "canary": canary},
        headers=admin,
    )
    versions = [http.post("/models/iris/invocations", json=seed).headers["X-MLtrack-Model-Version"] for _ in range(10)]
    print("10 requests answered by versions", sorted(versions))
    print("served:", http.get("/models").json())
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("mltrack_traffic_weight{"):
            print(line)

server.should_exit = True
