"""The deployment flow against a real multi-model server (uvicorn on a free loopback port)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import prefect_mltrack as mlflow
import prefect_mltrack.pyfunc
import prefect_mltrack.sklearn
from prefect_mltrack import ModelServer
from prefect_mltrack.deploy import DEPLOYED_TAG, deploy_model, promotion_trigger
from prefect_mltrack.serving.multi import create_multi_app

TOKEN = "s3cret-admin-token"


@contextmanager
def _serving(app: Any) -> Iterator[str]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture
def registered() -> Any:
    X, y = load_iris(return_X_y=True, as_frame=True)
    client = mlflow.MlflowClient()
    for estimator in (RandomForestClassifier(n_estimators=5, random_state=0), LogisticRegression(max_iter=300)):
        with mlflow.start_run():
            prefect_mltrack.sklearn.log_model(
                estimator.fit(X, y), "model", input_example=X.head(2), registered_model_name="Iris"
            )
    client.set_registered_model_alias("Iris", "champion", "1")
    client.transition_model_version_stage("Iris", "2", "Staging")
    return X


@pytest.fixture
def server_url(registered: Any) -> Iterator[str]:
    with _serving(create_multi_app(TOKEN, tracking_uri=mlflow.get_tracking_uri())) as url:
        yield url


@pytest.mark.parametrize(("ref", "version"), [("champion", "1"), ("2", "2"), (2, "2"), ("staging", "2")])
def test_deploy_by_alias_version_or_stage(prefect_api: str, server_url: str, ref: Any, version: str) -> None:
    result = deploy_model("Iris", ref, server=ModelServer(base_url=server_url, token=SecretStr(TOKEN)))
    assert result["version"] == version and result["server"] == server_url
    assert result["example_prediction"]["predictions"] == [0, 0]
    assert httpx.get(f"{server_url}/models").json()[0]["version"] == version
    row = {"data": [[5.1, 3.5, 1.4, 0.2]]}
    assert httpx.post(f"{server_url}/models/Iris/invocations", json=row).json() == {"predictions": [0]}
    assert mlflow.MlflowClient().get_model_version("Iris", version).tags[DEPLOYED_TAG] == server_url


def test_deploy_from_a_saved_block_name(prefect_api: str, server_url: str) -> None:
    ModelServer(base_url=server_url, token=SecretStr(TOKEN)).save("deploy-test", overwrite=True)
    assert deploy_model("Iris", "champion", server="deploy-test")["version"] == "1"


def test_wrong_token_fails_at_once_and_the_server_keeps_nothing(prefect_api: str, server_url: str) -> None:
    state = deploy_model(
        "Iris", "champion", server=ModelServer(base_url=server_url, token=SecretStr("nope")), return_state=True
    )
    assert state.is_failed()
    with pytest.raises(mlflow.MLTrackError, match=r"HTTP 40[13]"):
        state.result()
    assert httpx.get(f"{server_url}/models").json() == []


def test_unknown_alias_is_reported(prefect_api: str, server_url: str) -> None:
    state = deploy_model(
        "Iris", "nope", server=ModelServer(base_url=server_url, token=SecretStr(TOKEN)), return_state=True
    )
    with pytest.raises(mlflow.MLTrackError) as caught:
        state.result()
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_promotion_trigger_matches_the_alias_event() -> None:
    trigger = promotion_trigger("Iris", "champion", "team")
    assert trigger.expect == {"mltrack.model.version.promoted"}
    assert trigger.match.root == {"prefect.resource.id": "mltrack.model.Iris", "mltrack.model.alias": "champion"}
    assert trigger.parameters == {"name": "Iris", "alias_or_version": "{{ event.payload.version }}", "server": "team"}


@pytest.mark.slow
def test_promotion_event_redeploys_with_no_failed_request(
    prefect_api: str, server_url: str, registered: Any, tmp_path: Any
) -> None:
    """Moving @champion emits the event; the served deploy flow answers it; the server switches
    versions while requests keep flowing, and none of them fails."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from prefect import flow

    from prefect_mltrack import set_model_alias_task

    ModelServer(base_url=server_url, token=SecretStr(TOKEN)).save("promotion-target", overwrite=True)
    deploy_model("Iris", "champion", server="promotion-target")  # v1 serving
    script = Path(__file__).resolve().parents[2] / "flows" / "deploy_on_promotion.py"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    runner = subprocess.Popen(
        [sys.executable, str(script), "Iris", "champion", "promotion-target"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    outcomes: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server_url, timeout=10) as http:
            while not stop.is_set():
                outcomes.append(
                    http.post("/models/Iris/invocations", json={"data": [[5.1, 3.5, 1.4, 0.2]]}).status_code
                )

    loader = threading.Thread(target=load)
    try:
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + 60
        with get_client(sync_client=True) as client:  # wait until the trigger's automation exists
            while not [a for a in client.read_automations() if "on-promotion-iris-champion" in a.name]:
                assert time.monotonic() < deadline, "the served deployment never registered its trigger"
                time.sleep(0.2)
        loader.start()

        @flow
        def crown_v2() -> None:
            set_model_alias_task("Iris", "champion", 2)

        crown_v2()
        deadline = time.monotonic() + 90
        while httpx.get(f"{server_url}/models").json()[0]["version"] != "2":
            assert runner.poll() is None, "the runner died"
            assert time.monotonic() < deadline, "the promotion did not redeploy within 90 s"
            time.sleep(0.2)
    finally:
        stop.set()
        if loader.is_alive():
            loader.join(15)
        runner.terminate()
        runner.wait(30)
    assert outcomes and set(outcomes) == {200}, f"{len(outcomes)} requests, statuses {set(outcomes)}"


class FailsAfterWarmUp(prefect_mltrack.pyfunc.PythonModel):
    """Answers its first prediction (the warm-up), then fails: a version whose health check fails."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("degraded after warm-up")
        return [0] * len(model_input)


def test_a_failed_health_check_rolls_back_to_the_previous_version(
    prefect_api: str, server_url: str, registered: Any
) -> None:
    block = ModelServer(base_url=server_url, token=SecretStr(TOKEN))
    deploy_model("Iris", "1", server=block)
    with mlflow.start_run():
        prefect_mltrack.pyfunc.log_model(
            "model", python_model=FailsAfterWarmUp(), input_example=registered.head(2), registered_model_name="Iris"
        )
    state = deploy_model("Iris", "3", server=block, return_state=True)
    assert state.is_failed()
    with pytest.raises(mlflow.MLTrackError, match="rolled back: restored version 1"):
        state.result()
    assert httpx.get(f"{server_url}/models").json()[0]["version"] == "1"
    row = {"data": [[5.1, 3.5, 1.4, 0.2]]}
    assert httpx.post(f"{server_url}/models/Iris/invocations", json=row).json() == {"predictions": [0]}
    assert DEPLOYED_TAG not in mlflow.MlflowClient().get_model_version("Iris", "3").tags
