"""``create_app`` behind a real uvicorn: MLflow's input forms, its errors, OpenAPI, registry URIs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from serving_helpers import SEED_ROW, IrisRegistry, running  # type: ignore[import-not-found]

import prefect_mltrack
from prefect_mltrack.serving.app import create_app, pin_model_uri

LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def server(iris_registry: IrisRegistry) -> Iterator[str]:
    app = create_app("models:/Iris/1", max_body_bytes=LIMIT, tracking_uri=iris_registry.tracking_uri)
    with running(app) as base:
        yield base


@pytest.fixture(scope="module")
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def _post(http: httpx.Client, body: Any, content_type: str = "application/json") -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return http.post("/invocations", content=content, headers={"Content-Type": content_type})


def test_health_version_and_the_seed_curl(http: httpx.Client) -> None:
    for path in ("/ping", "/health"):
        response = http.get(path)
        assert (response.status_code, response.text) == (200, "\n")
    assert http.get("/version").text == prefect_mltrack.__version__
    # curl -X POST -H "Content-Type:application/json" --data '{"data": [[5.1, 3.5, 1.4, 0.2]]}' .../invocations
    response = http.post(
        "/invocations", content=b'{"data": [[5.1, 3.5, 1.4, 0.2]]}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": [0]}


def test_every_input_form_gives_the_models_predictions(http: httpx.Client, iris_registry: IrisRegistry) -> None:
    X = iris_registry.X.iloc[[0, 60, 120]]
    expected = iris_registry.v1.predict(X).tolist()
    columns, rows = list(X.columns), X.to_numpy().tolist()
    records = X.to_dict(orient="records")
    bodies = {
        "dataframe_split": {"dataframe_split": {"columns": columns, "data": rows}},
        "dataframe_split, shuffled columns": {
            "dataframe_split": X[columns[::-1]].to_dict(orient="split") | {"index": [0, 1, 2]}
        },
        "dataframe_records": {"dataframe_records": records},
        "instances (records)": {"instances": records},
        "instances (rows)": {"instances": rows},
        "inputs (rows)": {"inputs": rows},
        "inputs (columns)": {"inputs": {c: X[c].tolist() for c in columns}},
        "data (MLflow 1.x)": {"data": rows},
        "with params": {"dataframe_split": {"columns": columns, "data": rows}, "params": {"unused": 1}},
        "extra column": {"dataframe_records": [r | {"note": "x"} for r in records]},
    }
    for form, body in bodies.items():
        response = _post(http, body)
        assert (form, response.status_code, response.json()) == (form, 200, {"predictions": expected})
    csv = _post(http, X.to_csv(index=False), "text/csv; charset=utf-8")
    assert csv.status_code == 200 and csv.json() == {"predictions": expected}


def test_many_rows_in_one_request_and_one_by_one_match_scikit_learn(
    http: httpx.Client, iris_registry: IrisRegistry
) -> None:
    rng = np.random.default_rng(7)
    low, high = iris_registry.X.min().to_numpy(), iris_registry.X.max().to_numpy()
    rows = rng.uniform(low, high, size=(1000, 4)).round(3)
    columns = list(iris_registry.X.columns)
    import pandas as pd

    expected = iris_registry.v1.predict(pd.DataFrame(rows, columns=columns)).tolist()
    response = _post(http, {"dataframe_split": {"columns": columns, "data": rows.tolist()}})
    assert response.status_code == 200 and response.json()["predictions"] == expected
    for row, want in zip(rows[:40].tolist(), expected[:40], strict=True):
        assert _post(http, {"data": [row]}).json() == {"predictions": [want]}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error_code", "message"),
    [
        (b"{not json", "application/json", 400, "BAD_REQUEST", "not valid JSON"),
        (b"\xff\xfe\x00{", "application/json", 400, "BAD_REQUEST", "not valid JSON (UTF-8)"),
        (b"a,b\n\xff,1\n", "text/csv", 400, "BAD_REQUEST", "not valid UTF-8"),
        (b"", "application/json", 400, "BAD_REQUEST", "body is empty"),
        (b"", "text/csv", 400, "BAD_REQUEST", "CSV body is empty"),
        ([[5.1, 3.5, 1.4, 0.2]], "application/json", 400, "BAD_REQUEST", "Received a list"),
        ({"dataframe_split": {}, "inputs": []}, "application/json", 400, "BAD_REQUEST", "exactly one of the input"),
        ({"rows": [SEED_ROW]}, "application/json", 400, "BAD_REQUEST", "Received dictionary with input fields"),
        ({"data": []}, "application/json", 400, "BAD_REQUEST", "The input is empty"),
        ({"inputs": []}, "application/json", 400, "BAD_REQUEST", "The input is empty"),
        ({"dataframe_split": {"columns": ["a"], "data": []}}, "application/json", 400, "BAD_REQUEST", "empty"),
        (
            {"dataframe_split": {"columns": ["sepal length (cm)"], "data": [[5.1]]}},
            "application/json",
            400,
            "INVALID_PARAMETER_VALUE",
            "Model is missing inputs: 'sepal width (cm)' (double)",
        ),
        (
            {"data": [[5.1, "wide", 1.4, 0.2]]},
            "application/json",
            400,
            "INVALID_PARAMETER_VALUE",
            "column 'sepal width (cm)': the model signature expects double",
        ),
        (
            {"data": [[5.1, None, 1.4, 0.2]]},
            "application/json",
            400,
            "INVALID_PARAMETER_VALUE",
            "column 'sepal width (cm)'",
        ),
        ({"data": [[5.1, 3.5]]}, "application/json", 400, "INVALID_PARAMETER_VALUE", "Model is missing inputs"),
        ({"data": [[1e300, 3.5, 1.4, 0.2]]}, "application/json", 400, "BAD_REQUEST", "too large"),
        ({"instances": "five"}, "application/json", 400, None, ""),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400, "BAD_REQUEST", "not valid JSON"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_bad_input_is_a_400_with_mlflows_error_and_the_server_keeps_serving(
    http: httpx.Client, body: Any, content_type: str, status: int, error_code: str | None, message: str
) -> None:
    response = _post(http, body, content_type)
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) >= {"error_code", "message"}
    assert error_code is None or error["error_code"] == error_code
    assert message in error["message"]
    assert _post(http, {"data": [SEED_ROW]}).json() == {"predictions": [0]}


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("text/plain", "only supports the following content types"),
        ("application/x-www-form-urlencoded", "Got 'application/x-www-form-urlencoded'"),
        ("application/json; charset=latin-1", "only supports UTF-8"),
        ("application/json; format=pandas-split", "Unrecognized content type parameters: format"),
        ("", "Got ''"),
    ],
)
def test_unsupported_content_types_are_415_text(http: httpx.Client, content_type: str, message: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.post("/invocations", content=b'{"data": [[5.1, 3.5, 1.4, 0.2]]}', headers=headers)
    assert response.status_code == 415
    assert response.headers["content-type"].startswith("text/plain")
    assert message in response.text


def test_bodies_over_the_limit_are_413_declared_or_streamed(http: httpx.Client) -> None:
    huge = json.dumps({"data": [SEED_ROW] * 20_000}).encode()
    assert len(huge) > LIMIT
    declared = _post(http, huge)
    assert declared.status_code == 413
    assert declared.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert f"at most {LIMIT} bytes" in declared.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    streamed = http.post("/invocations", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and "more than" in streamed.json()["message"]
    assert _post(http, {"data": [SEED_ROW]}).status_code == 200


def test_openapi_describes_the_input_from_the_signature(http: httpx.Client, iris_registry: IrisRegistry) -> None:
    spec = http.get("/openapi.json").json()
    operation = spec["paths"]["/invocations"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/json", "text/csv"}
    forms = {form["title"]: form for form in content["application/json"]["schema"]["oneOf"]}
    assert set(forms) == {"dataframe_split", "dataframe_records", "instances", "inputs", "data"}
    record = forms["dataframe_records"]["properties"]["dataframe_records"]["items"]
    columns = list(iris_registry.X.columns)
    assert record["required"] == columns
    assert record["properties"]["petal width (cm)"] == {"type": "number", "format": "double"}
    row = forms["data"]["properties"]["data"]["items"]
    assert row["minItems"] == row["maxItems"] == 4
    assert content["application/json"]["example"]["dataframe_split"]["columns"] == columns
    assert ",".join(columns) in content["text/csv"]["schema"]["description"]
    assert {"200", "400", "413", "415"} <= set(operation["responses"])


def test_alias_uris_are_pinned_and_served(iris_registry: IrisRegistry) -> None:
    assert pin_model_uri("models:/Iris@champion", iris_registry.tracking_uri) == "models:/Iris/1"
    assert pin_model_uri("runs:/abc/model") == "runs:/abc/model"
    app = create_app("models:/Iris@champion", tracking_uri=iris_registry.tracking_uri)
    with running(app) as base:
        response = httpx.post(f"{base}/invocations", json={"inputs": [[6.7, 3.0, 5.2, 2.3]]})
    assert response.json() == {"predictions": iris_registry.v1.predict(iris_registry.X.iloc[[145]]).tolist()}


def test_create_app_reports_unknown_models(iris_registry: IrisRegistry) -> None:
    from prefect_mltrack.exceptions import MLTrackError

    with pytest.raises(MLTrackError) as info:
        create_app("models:/Iris/9", tracking_uri=iris_registry.tracking_uri)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
