"""``create_multi_app`` behind a real uvicorn: hosting, admin auth, swaps under load, canaries, metrics."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from serving_helpers import SEED_ROW, IrisRegistry, running  # type: ignore[import-not-found]

import prefect_mltrack as mlflow
from prefect_mltrack.serving.multi import VERSION_HEADER, create_multi_app

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEED = {"data": [SEED_ROW]}


class Slow(mlflow.pyfunc.PythonModel):
    """Answers its version after a pause, so a swap can happen while a request is in flight."""

    def __init__(self, answer: int) -> None:
        self.answer = answer

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        time.sleep(0.4)
        return [self.answer] * len(model_input)


@pytest.fixture(scope="module")
def server(iris_registry: IrisRegistry) -> Iterator[str]:
    app = create_multi_app(TOKEN, {"Iris": "models:/Iris@champion"}, tracking_uri=iris_registry.tracking_uri)
    with running(app) as base:
        yield base


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def _put(http: httpx.Client, name: str, body: dict[str, Any], headers: dict[str, str] = AUTH) -> httpx.Response:
    return http.put(f"/admin/models/{name}", json=body, headers=headers)


def _metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_preloaded_model_is_listed_and_answers(http: httpx.Client, iris_registry: IrisRegistry) -> None:
    assert http.get("/ping").text == "\n"
    listed = {m["name"]: m for m in http.get("/models").json()}
    assert listed["Iris"] == {"name": "Iris", "version": "1", "model_uri": "models:/Iris@champion", "canary": None}
    response = http.post("/models/Iris/invocations", json=SEED)
    assert response.json() == {"predictions": [0]} and response.headers[VERSION_HEADER] == "1"
    pinned = http.post("/models/Iris/versions/1/invocations", json={"inputs": [[6.7, 3.0, 5.2, 2.3]]})
    assert pinned.json() == {"predictions": iris_registry.v1.predict(iris_registry.X.iloc[[145]]).tolist()}


def test_unknown_models_and_versions_are_404_and_counted_without_their_name(http: httpx.Client) -> None:
    before = _metric(http.get("/metrics").text, "mltrack_unrouted_requests_total")
    unknown = http.post("/models/Nope/invocations", json=SEED)
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "'Nope'" in unknown.json()["message"]
    missing = http.post("/models/Iris/versions/7/invocations", json=SEED)
    assert missing.status_code == 404 and "served versions: ['1']" in missing.json()["message"]
    text = http.get("/metrics").text
    assert "Nope" not in text
    assert _metric(text, "mltrack_unrouted_requests_total") == before + 2


def test_admin_api_needs_the_bearer_token(http: httpx.Client, iris_registry: IrisRegistry) -> None:
    body = {"model_uri": "models:/Iris/2", "version": "2"}
    missing = _put(http, "Other", body, headers={})
    assert missing.status_code == 401 and missing.json()["error_code"] == "UNAUTHENTICATED"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert _put(http, "Other", body, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    wrong = _put(http, "Other", body, headers={"Authorization": "Bearer s3cret-tokeN"})
    assert wrong.status_code == 403 and wrong.json()["error_code"] == "PERMISSION_DENIED"
    assert http.delete("/admin/models/Iris").status_code == 401
    assert http.delete("/admin/models/Iris", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert [m["name"] for m in http.get("/models").json()] == ["Iris"]

    closed = create_multi_app(None, tracking_uri=iris_registry.tracking_uri)
    with running(closed) as base:
        refused = httpx.put(f"{base}/admin/models/Iris", json=body, headers=AUTH)
    assert refused.status_code == 403 and "admin API is disabled" in refused.json()["message"]


def test_deploy_verify_list_and_unload_as_the_deploy_flow_does(http: httpx.Client) -> None:
    published = _put(http, "Staged", {"model_uri": "models:/Iris/2", "version": "2"})
    assert published.status_code == 200, published.text
    assert published.json() == {
        "name": "Staged",
        "version": "2",
        "model_uri": "models:/Iris/2",
        "canary": None,
        "previous": None,
    }
    answer = http.post("/models/Staged/invocations", json={"dataframe_split": {"data": [SEED_ROW]}})
    assert answer.status_code == 200 and answer.headers[VERSION_HEADER] == "2"
    assert {"name": "Staged", "version": "2"}.items() <= http.get("/models/Staged").json().items()
    # A version given as a number, and the same version again: reused, not reloaded.
    again = _put(http, "Staged", {"model_uri": "models:/Iris/2", "version": 2})
    assert again.status_code == 200 and again.json()["previous"]["version"] == "2"
    gone = http.delete("/admin/models/Staged", headers=AUTH)
    assert gone.status_code == 200 and gone.json()["unloaded"]["version"] == "2"
    assert http.post("/models/Staged/invocations", json=SEED).status_code == 404
    assert http.delete("/admin/models/Staged", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "error_code", "message"),
    [
        ({"model_uri": "models:/Iris/99", "version": "99"}, 404, "RESOURCE_DOES_NOT_EXIST", "99"),
        ({"model_uri": "models:/Nope/1"}, 404, "RESOURCE_DOES_NOT_EXIST", "Nope"),
        ({"model_uri": "models:/Iris@champion", "version": "2"}, 400, "INVALID_PARAMETER_VALUE", "not version 2"),
        ({"model_uri": "models:/"}, 400, "INVALID_PARAMETER_VALUE", "models:/ URI"),
        ({"model_uri": "runs:/0123456789abcdef/iris"}, 404, "RESOURCE_DOES_NOT_EXIST", "0123456789abcdef"),
        ({"model_uri": "/no/such/model/dir", "version": "5"}, 404, "RESOURCE_DOES_NOT_EXIST", "/no/such"),
        ({"model_uri": "models:/Broken/1"}, 400, "BAD_REQUEST", "warm-up prediction"),
        ({"model_uri": ""}, 400, "INVALID_PARAMETER_VALUE", "model_uri"),
        ({"uri": "models:/Iris/2"}, 400, "INVALID_PARAMETER_VALUE", "Invalid deploy request"),
        (
            {"model_uri": "models:/Iris/1", "canary": {"model_uri": "models:/Iris/2", "weight": 2}},
            400,
            "INVALID_PARAMETER_VALUE",
            "canary.weight",
        ),
        (
            {"model_uri": "models:/Iris/1", "canary": {"model_uri": "models:/Iris/1", "weight": 0.5}},
            400,
            "INVALID_PARAMETER_VALUE",
            "same version label",
        ),
    ],
)
def test_a_failed_load_is_a_4xx_and_the_old_version_keeps_serving(
    http: httpx.Client, body: dict[str, Any], status: int, error_code: str, message: str
) -> None:
    response = _put(http, "Iris", body)
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == error_code
    assert message in response.json()["message"]
    assert next(m for m in http.get("/models").json() if m["name"] == "Iris")["version"] == "1"
    answer = http.post("/models/Iris/invocations", json=SEED)
    assert answer.status_code == 200 and answer.headers[VERSION_HEADER] == "1"


def test_openapi_describes_the_admin_body(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    body = spec["paths"]["/admin/models/{name}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["model_uri"]
    canary = next(option for option in body["properties"]["canary"]["anyOf"] if option.get("type") == "object")
    assert canary["properties"]["weight"]["maximum"] == 1.0
    assert "$ref" not in json.dumps(body)
    assert "/models/{name}/versions/{version}/invocations" in spec["paths"]


def test_invalid_json_admin_body_is_a_400(http: httpx.Client) -> None:
    response = http.put("/admin/models/Iris", content=b"{nope", headers=AUTH)
    assert response.status_code == 400 and "not valid JSON" in response.json()["message"]


def test_swap_under_load_loses_and_fails_no_request(http: httpx.Client) -> None:
    assert _put(http, "Live", {"model_uri": "models:/Iris/1", "version": "1"}).status_code == 200
    stop = threading.Event()
    sent: Counter[int] = Counter()
    answered: Counter[str] = Counter()
    failures: list[Any] = []

    def client(worker: int) -> None:
        with httpx.Client(base_url=str(http.base_url), timeout=30) as own:
            while not stop.is_set():
                sent[worker] += 1
                try:
                    response = own.post("/models/Live/invocations", json=SEED)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if response.status_code == 200 and response.json() == {"predictions": [0]}:
                    answered[response.headers[VERSION_HEADER]] += 1
                else:
                    failures.append((response.status_code, response.text))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.2)
        for version in ("2", "1", "2"):
            swapped = _put(http, "Live", {"model_uri": f"models:/Iris/{version}", "version": version})
            assert swapped.status_code == 200, swapped.text
            time.sleep(0.25)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert failures == []
    assert sum(answered.values()) == sum(sent.values()) > 50
    assert answered["1"] > 0 and answered["2"] > 0
    text = http.get("/metrics").text
    assert _metric(text, "mltrack_requests_total", model="Live", status="200") == sum(sent.values())
    assert _metric(text, "mltrack_request_errors_total", model="Live") == 0


def test_in_flight_requests_finish_on_the_old_version(
    http: httpx.Client, iris_registry: IrisRegistry, tmp_path: Any
) -> None:
    uris = {}
    for answer in (1, 2):
        mlflow.pyfunc.save_model(tmp_path / f"slow{answer}", python_model=Slow(answer), input_example=np.zeros((1, 1)))
        uris[answer] = str(tmp_path / f"slow{answer}")
    assert _put(http, "Slow", {"model_uri": uris[1], "version": "1"}).status_code == 200
    result: dict[str, Any] = {}

    def in_flight() -> None:
        url = f"{str(http.base_url).rstrip('/')}/models/Slow/invocations"
        result["response"] = httpx.post(url, json={"inputs": [[1.0]]}, timeout=30)

    thread = threading.Thread(target=in_flight)
    thread.start()
    time.sleep(0.1)  # the request is now inside version 1's predict
    assert _put(http, "Slow", {"model_uri": uris[2], "version": "2"}).status_code == 200
    thread.join(30)
    old = result["response"]
    assert (old.status_code, old.headers[VERSION_HEADER], old.json()) == (200, "1", {"predictions": [1]})
    new = http.post("/models/Slow/invocations", json={"inputs": [[1.0]]})
    assert (new.headers[VERSION_HEADER], new.json()) == ("2", {"predictions": [2]})


def test_canary_split_is_exact_and_reported_per_version(http: httpx.Client, iris_registry: IrisRegistry) -> None:
    body = {
        "model_uri": "models:/Iris/1",
        "version": "1",
        "canary": {"model_uri": "models:/Iris/2", "version": "2", "weight": 0.25},
    }
    deployed = _put(http, "IrisAB", body)
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["canary"] == {"version": "2", "model_uri": "models:/Iris/2", "weight": 0.25}
    versions = Counter(http.post("/models/IrisAB/invocations", json=SEED).headers[VERSION_HEADER] for _ in range(40))
    assert versions == {"1": 30, "2": 10}
    assert http.post("/models/IrisAB/versions/2/invocations", json=SEED).headers[VERSION_HEADER] == "2"
    assert http.post("/models/IrisAB/invocations", json={"data": "bad"}).status_code == 400

    text = http.get("/metrics").text
    assert _metric(text, "mltrack_requests_total", model="IrisAB", version="1", status="200") == 30
    assert _metric(text, "mltrack_requests_total", model="IrisAB", version="2", status="200") == 11
    assert _metric(text, "mltrack_request_errors_total", model="IrisAB", error_code="BAD_REQUEST") == 1
    assert _metric(text, "mltrack_traffic_weight", model="IrisAB", version="1", role="primary") == 0.75
    assert _metric(text, "mltrack_traffic_weight", model="IrisAB", version="2", role="canary") == 0.25
    count = _metric(text, "mltrack_request_duration_seconds_count", model="IrisAB", version="1")
    inf = _metric(text, "mltrack_request_duration_seconds_bucket", model="IrisAB", version="1", le="+Inf")
    assert count == inf == _metric(text, "mltrack_requests_total", model="IrisAB", version="1")
    assert "# TYPE mltrack_request_duration_seconds histogram" in text

    # Promote the canary: the new primary is the already-warm version 2 object, the split ends.
    promoted = _put(http, "IrisAB", {"model_uri": "models:/Iris/2", "version": "2"})
    assert promoted.json()["canary"] is None and promoted.json()["previous"]["canary"]["version"] == "2"
    assert {http.post("/models/IrisAB/invocations", json=SEED).headers[VERSION_HEADER] for _ in range(5)} == {"2"}
