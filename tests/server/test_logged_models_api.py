"""MLflow 3's LoggedModel API and run inputs/outputs on a real uvicorn server.

Requests carry the JSON MLflow's 3.17.2 client sends (statuses by name, ``order_by`` as dicts,
metrics with ``model_id``, DELETE without a body). The last test is the proof: MLflow's own client,
in a subprocess, logs a registered sklearn model and a dataset input, then loads the model back by
``models:/m-<id>``, ``runs:/<run>/model`` and ``models:/<name>/1``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.conftest import LiveServer

MLFLOW_PYTHON = Path(__file__).resolve().parents[2] / ".venv-mlflow" / "bin" / "python"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.api, timeout=30) as client:
        yield client


def call(http: httpx.Client, method: str, path: str, body: Any = None, *, params: Any = None) -> dict[str, Any]:
    """One request that must succeed with a JSON object."""
    response = http.request(method, path, json=body, params=params)
    assert response.status_code == 200, (method, path, response.status_code, response.text)
    answer = response.json()
    assert isinstance(answer, dict)
    return answer


def error(http: httpx.Client, method: str, path: str, body: Any = None, *, params: Any = None) -> tuple[int, str]:
    response = http.request(method, path, json=body, params=params)
    answer = response.json()
    assert answer["message"], answer
    return response.status_code, answer["error_code"]


@pytest.fixture(scope="module")
def experiment_id(http: httpx.Client) -> str:
    return call(http, "POST", "/experiments/create", {"name": f"lm-{uuid.uuid4().hex[:8]}"})["experiment_id"]  # type: ignore[no-any-return]


def new_run(http: httpx.Client, experiment_id: str) -> str:
    run = call(http, "POST", "/runs/create", {"experiment_id": experiment_id, "start_time": 1700000000000})
    return run["run"]["info"]["run_id"]  # type: ignore[no-any-return]


def new_model(http: httpx.Client, experiment_id: str, **extra: Any) -> dict[str, Any]:
    return call(http, "POST", "/logged-models", {"experiment_id": experiment_id, **extra})["model"]  # type: ignore[no-any-return]


# -- logged models ---------------------------------------------------------------------------------


def test_logged_model_lifecycle_answers_as_mlflow(http: httpx.Client, experiment_id: str) -> None:
    run_id = new_run(http, experiment_id)
    created = new_model(
        http,
        experiment_id,
        name="model",
        source_run_id=run_id,
        params=[{"key": "n_estimators", "value": "10"}],
        tags=[{"key": "mlflow.user", "value": "me"}],
    )
    info = created["info"]
    model_id = info["model_id"]
    assert re.fullmatch(r"m-[0-9a-f]{32}", model_id)
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["experiment_id"] == experiment_id and info["name"] == "model" and info["source_run_id"] == run_id
    # Server experiments keep artifacts behind the proxy (reference §3.5).
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts"
    assert isinstance(info["creation_timestamp_ms"], int)
    assert info["creation_timestamp_ms"] == info["last_updated_timestamp_ms"]
    assert info["tags"] == [{"key": "mlflow.user", "value": "me"}]
    assert "model_type" not in info and "status_message" not in info  # unset fields are left out
    assert created["data"] == {"params": [{"key": "n_estimators", "value": "10"}]}

    finalized = call(
        http, "PATCH", f"/logged-models/{model_id}", {"model_id": model_id, "status": "LOGGED_MODEL_READY"}
    )
    assert finalized["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    versions = json.dumps([{"name": "iris-rf", "version": "1"}])
    assert (
        call(
            http,
            "PATCH",
            f"/logged-models/{model_id}/tags",
            {"tags": [{"key": "mlflow.modelVersions", "value": versions}]},
        )
        == {}
    )
    assert (
        call(
            http,
            "POST",
            f"/logged-models/{model_id}/params",
            {"model_id": model_id, "params": [{"key": "max_depth", "value": "3"}]},
        )
        == {}
    )
    got = call(http, "GET", f"/logged-models/{model_id}")["model"]
    assert {t["key"]: t["value"] for t in got["info"]["tags"]} == {
        "mlflow.user": "me",
        "mlflow.modelVersions": versions,
    }
    assert {p["key"]: p["value"] for p in got["data"]["params"]} == {"n_estimators": "10", "max_depth": "3"}

    response = http.delete(f"/logged-models/{model_id}/tags/mlflow.user")  # MLflow's client sends no body
    assert response.status_code == 200 and response.json() == {}
    assert error(http, "DELETE", f"/logged-models/{model_id}/tags/mlflow.user") == (404, "RESOURCE_DOES_NOT_EXIST")

    assert call(http, "DELETE", f"/logged-models/{model_id}", {"model_id": model_id}) == {}
    assert error(http, "GET", f"/logged-models/{model_id}") == (404, "RESOURCE_DOES_NOT_EXIST")
    kept = call(http, "GET", f"/logged-models/{model_id}", params={"allow_deleted": "true"})
    assert kept["model"]["info"]["model_id"] == model_id


def test_finalize_takes_numbers_and_refuses_nonsense(http: httpx.Client, experiment_id: str) -> None:
    model_id = new_model(http, experiment_id)["info"]["model_id"]
    failed = call(http, "PATCH", f"/logged-models/{model_id}", {"status": 3})
    assert failed["model"]["info"]["status"] == "LOGGED_MODEL_UPLOAD_FAILED"
    assert error(http, "PATCH", f"/logged-models/{model_id}", {"status": "DONE"}) == (400, "INVALID_PARAMETER_VALUE")
    other = "m-" + "0" * 32
    body = {"model_id": other, "status": "LOGGED_MODEL_READY"}
    assert error(http, "PATCH", f"/logged-models/{model_id}", body) == (400, "INVALID_PARAMETER_VALUE")
    assert error(http, "PATCH", f"/logged-models/{other}", {"status": 2}) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_create_errors(http: httpx.Client, experiment_id: str) -> None:
    assert error(http, "POST", "/logged-models", {"name": "model"}) == (400, "INVALID_PARAMETER_VALUE")
    assert error(http, "POST", "/logged-models", {"experiment_id": "987654"}) == (404, "RESOURCE_DOES_NOT_EXIST")
    bad_name = {"experiment_id": experiment_id, "name": "a/b"}
    assert error(http, "POST", "/logged-models", bad_name) == (400, "INVALID_PARAMETER_VALUE")


def test_search_as_mlflows_client_sends_it(http: httpx.Client) -> None:
    experiment = call(http, "POST", "/experiments/create", {"name": f"lm-search-{uuid.uuid4().hex[:8]}"})
    experiment_id = experiment["experiment_id"]
    run_id = new_run(http, experiment_id)
    made = [new_model(http, experiment_id, name=name, source_run_id=run_id)["info"]["model_id"] for name in "abc"]
    body: dict[str, Any] = {"experiment_ids": [experiment_id], "filter": "name = 'b'"}
    found = call(http, "POST", "/logged-models/search", body)
    assert [m["info"]["model_id"] for m in found["models"]] == [made[1]]
    assert "next_page_token" not in found

    body = {
        "experiment_ids": [experiment_id],
        "order_by": [{"field_name": "name", "ascending": False}],
        "max_results": 2,
    }
    first = call(http, "POST", "/logged-models/search", body)
    assert [m["info"]["name"] for m in first["models"]] == ["c", "b"]
    second = call(http, "POST", "/logged-models/search", {**body, "page_token": first["next_page_token"]})
    assert [m["info"]["name"] for m in second["models"]] == ["a"] and "next_page_token" not in second

    empty = {"experiment_ids": [experiment_id], "filter": f"source_run_id = '{'0' * 32}'"}
    assert call(http, "POST", "/logged-models/search", empty) == {}
    bad = {"experiment_ids": [experiment_id], "filter": "name = 'a' OR name = 'b'"}
    assert error(http, "POST", "/logged-models/search", bad) == (400, "INVALID_PARAMETER_VALUE")


def test_artifact_directories_list_the_models_files(
    http: httpx.Client, live_server: LiveServer, experiment_id: str
) -> None:
    model = new_model(http, experiment_id, name="files")
    model_id = model["info"]["model_id"]
    with httpx.Client(base_url=live_server.url, timeout=30) as raw:
        for path, body in (("MLmodel", b"flavors: {}\n"), ("code/util.py", b"x = 1\n")):
            url = f"{ARTIFACTS}/{experiment_id}/models/{model_id}/artifacts/{path}"
            assert raw.put(url, content=body).status_code == 200
    listing = call(http, "GET", f"/logged-models/{model_id}/artifacts/directories")
    assert listing["root_uri"] == model["info"]["artifact_uri"]
    assert listing["files"] == [
        {"path": "MLmodel", "is_dir": False, "file_size": 12},
        {"path": "code", "is_dir": True},
    ]
    nested = call(
        http, "GET", f"/logged-models/{model_id}/artifacts/directories", params={"artifact_directory_path": "code"}
    )
    assert nested["files"] == [{"path": "code/util.py", "is_dir": False, "file_size": 6}]
    status, code = error(
        http, "GET", f"/logged-models/{model_id}/artifacts/directories", params={"artifact_directory_path": "../.."}
    )
    assert status == 400 and code == "INVALID_PARAMETER_VALUE"


def test_ajax_prefix_serves_the_same_routes(http: httpx.Client, live_server: LiveServer, experiment_id: str) -> None:
    model_id = new_model(http, experiment_id)["info"]["model_id"]
    response = httpx.get(f"{live_server.url}/ajax-api/2.0/mlflow/logged-models/{model_id}")
    assert response.status_code == 200 and response.json()["model"]["info"]["model_id"] == model_id


# -- run outputs and inputs, metrics linked to a model ------------------------------------------------


def test_log_inputs_show_on_the_run(http: httpx.Client, experiment_id: str) -> None:
    run_id = new_run(http, experiment_id)
    dataset = {
        "name": "iris",
        "digest": "2981c147",
        "source_type": "code",
        "source": '{"tags": {}}',
        "schema": '{"mlflow_colspec": [{"type": "long", "name": "a", "required": true}]}',
        "profile": '{"num_rows": 2, "num_elements": 2}',
    }
    body = {
        "run_id": run_id,
        "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}],
    }
    assert call(http, "POST", "/runs/log-inputs", body) == {}
    run = call(http, "GET", "/runs/get", params={"run_id": run_id})["run"]
    assert run["inputs"] == {
        "dataset_inputs": [{"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}]
    }
    searched = call(
        http, "POST", "/runs/search", {"experiment_ids": [experiment_id], "filter": f"attributes.run_id = '{run_id}'"}
    )
    assert searched["runs"][0]["inputs"] == run["inputs"]
    missing = {"run_id": run_id, "datasets": [{"dataset": {"name": "iris"}}]}
    assert error(http, "POST", "/runs/log-inputs", missing) == (400, "INVALID_PARAMETER_VALUE")


def test_outputs_and_model_linked_metrics(http: httpx.Client, experiment_id: str) -> None:
    run_id = new_run(http, experiment_id)
    model_id = new_model(http, experiment_id, name="model", source_run_id=run_id)["info"]["model_id"]
    assert call(http, "POST", "/runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]}) == {}
    unknown = {"run_id": run_id, "models": [{"model_id": "m-" + "1" * 32, "step": 0}]}
    assert error(http, "POST", "/runs/outputs", unknown) == (404, "RESOURCE_DOES_NOT_EXIST")

    point = {"key": "acc", "value": 0.9, "timestamp": 1700000000000, "step": 0}
    assert call(http, "POST", "/runs/log-batch", {"run_id": run_id, "metrics": [point]}) == {}
    # log_model re-logs the run's metrics carrying model_id: the identical point must not fail or double.
    linked = {**point, "model_id": model_id, "run_id": run_id, "dataset_name": "iris", "dataset_digest": "2981c147"}
    assert call(http, "POST", "/runs/log-batch", {"run_id": run_id, "metrics": [linked]}) == {}
    history = call(http, "GET", "/metrics/get-history", params={"run_id": run_id, "metric_key": "acc"})
    assert history["metrics"] == [point]


def test_run_json_lists_its_model_outputs(http: httpx.Client, experiment_id: str) -> None:
    run_id = new_run(http, experiment_id)
    model_id = new_model(http, experiment_id, source_run_id=run_id)["info"]["model_id"]
    call(http, "POST", "/runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id, "step": 3}]})
    run = call(http, "GET", "/runs/get", params={"run_id": run_id})["run"]
    assert run["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 3}]}


def test_metrics_carrying_a_model_id_become_the_models_metrics(http: httpx.Client, experiment_id: str) -> None:
    run_id = new_run(http, experiment_id)
    model_id = new_model(http, experiment_id, source_run_id=run_id)["info"]["model_id"]
    point = {"key": "acc", "value": 0.9, "timestamp": 1700000000000, "step": 0, "model_id": model_id}
    call(http, "POST", "/runs/log-batch", {"run_id": run_id, "metrics": [{**point, "dataset_name": "iris"}]})
    call(http, "POST", "/runs/log-metric", {"run_id": run_id, **point, "key": "loss", "value": "NaN"})
    metrics = call(http, "GET", f"/logged-models/{model_id}")["model"]["data"]["metrics"]
    assert metrics == [
        {**point, "run_id": run_id, "dataset_name": "iris"},
        {**point, "key": "loss", "value": "NaN", "run_id": run_id},
    ]


# -- the proof: MLflow's own client ---------------------------------------------------------------------

_MLFLOW_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import mlflow
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("iris-logged-models")
    iris = load_iris(as_frame=True)
    X, y = iris.data, iris.target
    clf = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    with mlflow.start_run() as run:
        mlflow.log_param("n_estimators", 5)
        mlflow.log_metric("train_acc", float(clf.score(X, y)))
        # cloudpickle: MLflow 3.17's default (skops) refuses to load a forest's Tree type unless trusted.
        info = mlflow.sklearn.log_model(
            sk_model=clf, name="model", input_example=X[:3], registered_model_name="iris-rf",
            serialization_format="cloudpickle",
        )
        mlflow.log_input(mlflow.data.from_pandas(X.assign(target=y), name="iris"), context="training")
    run_id = run.info.run_id
    expected = clf.predict(X).tolist()
    uris = [info.model_uri, f"runs:/{run_id}/model", "models:/iris-rf/1"]
    out = {
        "run_id": run_id, "model_uri": info.model_uri, "model_id": info.model_id,
        "version": info.registered_model_version,
        "predictions_match": {uri: mlflow.pyfunc.load_model(uri).predict(X).tolist() == expected for uri in uris},
    }
    logged = mlflow.get_logged_model(info.model_id)
    out["logged"] = {
        "status": str(logged.status), "name": logged.name, "source_run_id": logged.source_run_id,
        "params": logged.params, "model_versions": json.loads(logged.tags.get("mlflow.modelVersions", "[]")),
        "artifact_location": logged.artifact_location,
    }
    got = mlflow.get_run(run_id)
    out["inputs"] = [
        [d.dataset.name, d.dataset.digest, {t.key: t.value for t in d.tags}] for d in got.inputs.dataset_inputs
    ]
    out["found_by_name"] = [m.model_id for m in mlflow.search_logged_models(
        experiment_ids=[got.info.experiment_id], filter_string="name = 'model'", output_format="list")]
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not MLFLOW_PYTHON.exists(), reason="MLflow's venv (.venv-mlflow, `make test` builds it) is missing")
def test_mlflow_client_logs_registers_and_loads_a_model(live_server: LiveServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
    env.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    done = subprocess.run(
        [str(MLFLOW_PYTHON), "-c", _MLFLOW_SCRIPT, live_server.url],
        capture_output=True, text=True, timeout=300, env=env, cwd=live_server.root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    model_id = out["model_id"]
    assert re.fullmatch(r"m-[0-9a-f]{32}", model_id) and out["model_uri"] == f"models:/{model_id}"
    assert out["version"] == "1"
    assert out["predictions_match"] == {
        f"models:/{model_id}": True,
        f"runs:/{out['run_id']}/model": True,
        "models:/iris-rf/1": True,
    }
    logged = out["logged"]
    assert logged["status"] == "READY" and logged["name"] == "model" and logged["source_run_id"] == out["run_id"]
    assert logged["params"] == {"n_estimators": "5"}  # the run's params, copied by the client
    assert logged["model_versions"] == [{"name": "iris-rf", "version": "1"}]
    experiment_id = logged["artifact_location"].split("/")[1]
    assert logged["artifact_location"] == f"mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts"
    files = live_server.config.artifacts_destination + f"/{experiment_id}/models/{model_id}/artifacts"
    assert {"MLmodel", "model.pkl", "input_example.json"} <= set(os.listdir(files))
    name, digest, tags = out["inputs"][0]
    assert len(out["inputs"]) == 1 and name == "iris" and re.fullmatch(r"[0-9a-f]{8}", digest)
    assert tags == {"mlflow.data.context": "training"}
    assert out["found_by_name"] == [model_id]
