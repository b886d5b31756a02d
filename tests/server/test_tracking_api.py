"""The tracking endpoints on the wire, as MLflow's clients see them (reference §3.1 to §3.3).

What the store contract suite cannot see through the REST store: JSON shapes, int64 given as strings,
NaN as strings, ``run_uuid``, ``{}`` answers, unset fields left out, error bodies and statuses, limits.
"""

from __future__ import annotations

import uuid

import httpx
import pytest


@pytest.fixture(scope="module")
def http(live_server):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_server.api, timeout=10) as client:
        yield client


def _experiment(http: httpx.Client) -> str:
    answer = http.post("/experiments/create", json={"name": f"e-{uuid.uuid4().hex[:8]}"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["experiment_id"])


def _run(http: httpx.Client, experiment_id: str, **fields: object) -> dict:  # type: ignore[type-arg]
    answer = http.post("/runs/create", json={"experiment_id": experiment_id, **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()["run"]  # type: ignore[no-any-return]


def test_experiment_lifecycle_and_shapes(http):
    name = f"shapes-{uuid.uuid4().hex[:6]}"
    created = http.post("/experiments/create", json={"name": name, "tags": [{"key": "team", "value": "a"}]})
    experiment_id = created.json()["experiment_id"]
    assert isinstance(experiment_id, str) and experiment_id.isdigit()
    got = http.get("/experiments/get-by-name", params={"experiment_name": name}).json()["experiment"]
    assert got["experiment_id"] == experiment_id and got["lifecycle_stage"] == "active"
    assert got["tags"] == [{"key": "team", "value": "a"}]
    assert got["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"
    assert isinstance(got["creation_time"], int)
    assert http.post("/experiments/update", json={"experiment_id": experiment_id, "new_name": name + "x"}).json() == {}
    assert http.post("/experiments/delete", json={"experiment_id": experiment_id}).json() == {}
    deleted = http.get("/experiments/get", params={"experiment_id": experiment_id}).json()["experiment"]
    assert deleted["lifecycle_stage"] == "deleted" and deleted["name"] == name + "x"
    page = http.post("/experiments/search", json={"view_type": "DELETED_ONLY", "max_results": 10}).json()
    assert experiment_id in [e["experiment_id"] for e in page["experiments"]]
    via_get = http.get("/experiments/search", params={"view_type": "DELETED_ONLY", "max_results": 10}).json()
    assert via_get == page


def test_missing_experiment_is_404_with_mlflow_error_body(http):
    answer = http.get("/experiments/get-by-name", params={"experiment_name": "no-such-experiment"})
    assert answer.status_code == 404
    assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "no-such-experiment" in answer.json()["message"]


def test_duplicate_experiment_is_400_already_exists(http):
    name = f"dup-{uuid.uuid4().hex[:6]}"
    http.post("/experiments/create", json={"name": name})
    answer = http.post("/experiments/create", json={"name": name})
    assert answer.status_code == 400 and answer.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"


def test_run_fields_int64_strings_and_unset_fields(http):
    experiment_id = _experiment(http)
    run = _run(http, experiment_id, run_name="r", start_time="1700000000000", user_id="ada")
    info = run["info"]
    assert info["run_id"] == info["run_uuid"] and len(info["run_id"]) == 32
    assert info["start_time"] == 1700000000000 and "end_time" not in info
    assert info["status"] == "RUNNING" and info["user_id"] == "ada" and info["run_name"] == "r"
    assert "metrics" not in run["data"] and run["inputs"] == {}
    ended = http.post(
        "/runs/update",
        json={"run_id": info["run_id"], "run_uuid": info["run_id"], "status": "FINISHED", "end_time": "5"},
    ).json()["run_info"]
    assert ended["status"] == "FINISHED" and ended["end_time"] == 5


def test_nan_and_infinity_travel_as_strings(http):
    run_id = _run(http, _experiment(http))["info"]["run_id"]
    for step, value in enumerate(["NaN", "Infinity", "-Infinity", 1.5]):
        body = {"run_id": run_id, "run_uuid": run_id, "key": "m", "value": value, "timestamp": 1, "step": step}
        assert http.post("/runs/log-metric", json=body).json() == {}
    history = http.get("/metrics/get-history", params={"run_id": run_id, "metric_key": "m"}).json()["metrics"]
    assert [point["value"] for point in history] == ["NaN", "Infinity", "-Infinity", 1.5]
    latest = http.get("/runs/get", params={"run_id": run_id}).json()["run"]["data"]["metrics"]
    assert latest[0]["key"] == "m" and latest[0]["value"] == 1.5


def test_history_pages_with_tokens(http):
    run_id = _run(http, _experiment(http))["info"]["run_id"]
    metrics = [{"key": "loss", "value": 1.0 / (i + 1), "timestamp": i, "step": i} for i in range(25)]
    assert http.post("/runs/log-batch", json={"run_id": run_id, "metrics": metrics}).json() == {}
    seen, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": "loss", "max_results": 10}
        if token:
            params["page_token"] = token
        page = http.get("/metrics/get-history", params=params).json()
        seen += [point["step"] for point in page["metrics"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == list(range(25))


def test_log_batch_limits_and_duplicate_params(http):
    run_id = _run(http, _experiment(http))["info"]["run_id"]
    params = [{"key": f"p{i}", "value": "1"} for i in range(101)]
    answer = http.post("/runs/log-batch", json={"run_id": run_id, "params": params})
    assert answer.status_code == 400 and "at most 100 params" in answer.json()["message"]
    dupes = [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]
    answer = http.post("/runs/log-batch", json={"run_id": run_id, "params": dupes})
    assert answer.status_code == 400 and "Duplicate parameter keys" in answer.json()["message"]
    # Nothing of a refused batch was written.
    assert "params" not in http.get("/runs/get", params={"run_id": run_id}).json()["run"]["data"]


def test_param_change_is_refused_and_keeps_the_first_value(http):
    run_id = _run(http, _experiment(http))["info"]["run_id"]
    http.post("/runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.1"})
    answer = http.post("/runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.2"})
    assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    params = http.get("/runs/get", params={"run_id": run_id}).json()["run"]["data"]["params"]
    assert params == [{"key": "lr", "value": "0.1"}]


def test_search_runs_filter_order_and_paging(http):
    experiment_id = _experiment(http)
    for i in range(5):
        run_id = _run(http, experiment_id, run_name=f"r{i}")["info"]["run_id"]
        http.post(
            "/runs/log-batch",
            json={"run_id": run_id, "metrics": [{"key": "acc", "value": i / 10, "timestamp": 1, "step": 0}]},
        )
    body = {"experiment_ids": [experiment_id], "filter": "metrics.acc >= 0.2", "order_by": ["metrics.acc DESC"]}
    first = http.post("/runs/search", json={**body, "max_results": 2}).json()
    assert [r["info"]["run_name"] for r in first["runs"]] == ["r4", "r3"]
    second = http.post("/runs/search", json={**body, "max_results": 2, "page_token": first["next_page_token"]}).json()
    assert [r["info"]["run_name"] for r in second["runs"]] == ["r2"] and "next_page_token" not in second
    bad = http.post("/runs/search", json={"experiment_ids": [experiment_id], "filter": "metrics.acc >> 1"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    too_many = http.post("/runs/search", json={"experiment_ids": [experiment_id], "max_results": 50_001})
    assert too_many.status_code == 400


def test_tags_delete_restore_and_log_model_history(http):
    run_id = _run(http, _experiment(http))["info"]["run_id"]
    assert http.post("/runs/set-tag", json={"run_id": run_id, "key": "t", "value": "v"}).json() == {}
    assert http.post("/runs/delete-tag", json={"run_id": run_id, "key": "t"}).json() == {}
    model_json = '{"artifact_path": "model", "flavors": {"sklearn": {}}}'
    assert http.post("/runs/log-model", json={"run_id": run_id, "model_json": model_json}).json() == {}
    bad = http.post("/runs/log-model", json={"run_id": run_id, "model_json": "{not json"})
    assert bad.status_code == 400
    assert http.post("/runs/delete", json={"run_id": run_id}).json() == {}
    run = http.get("/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["info"]["lifecycle_stage"] == "deleted"
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert "t" not in tags and '"artifact_path": "model"' in tags["mlflow.log-model.history"]
    assert http.post("/runs/restore", json={"run_id": run_id}).json() == {}


def test_bulk_interval_downsamples_but_keeps_extremes(http):
    experiment_id = _experiment(http)
    run_ids = []
    for spike_at in (300, 700):
        run_id = _run(http, experiment_id)["info"]["run_id"]
        run_ids.append(run_id)
        for start in range(0, 1000, 1000):
            metrics = [
                {"key": "m", "value": 100.0 if i == spike_at else 0.0, "timestamp": i, "step": i}
                for i in range(start, start + 1000)
            ]
            http.post("/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    params = {"run_ids": run_ids, "metric_key": "m", "max_results": 40}
    points = http.get("/metrics/get-history-bulk-interval", params=params).json()["metrics"]
    for run_id, spike_at in zip(run_ids, (300, 700), strict=True):
        mine = [p for p in points if p["run_id"] == run_id]
        assert len(mine) <= 40
        # The spike's value is kept exactly, its position to within one bucket (1000 steps / 20 buckets).
        spikes = [p["step"] for p in mine if p["value"] == 100.0]
        assert len(spikes) == 1 and abs(spikes[0] - spike_at) < 50
    window = http.get(
        "/metrics/get-history-bulk-interval", params={**params, "start_step": 100, "end_step": 200}
    ).json()["metrics"]
    assert window and all(100 <= p["step"] <= 200 for p in window)


def test_unknown_route_and_malformed_json(http):
    answer = http.get("/runs/no-such-thing")
    assert answer.status_code == 404 and answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    answer = http.post("/runs/log-metric", content=b"{oops", headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    answer = http.post("/runs/log-metric", json={"run_id": "x", "key": "m"})
    assert answer.status_code == 400 and "value" in answer.json()["message"]


def test_oversized_body_is_413_before_reading_it(http):
    answer = http.post(
        "/runs/set-tag", content=b"{" + b" " * (5 * 1024 * 1024) + b"}", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413 and "larger than" in answer.json()["message"]


def test_health_and_version_are_plain_text(live_server):
    assert httpx.get(f"{live_server.url}/health").text == "OK"
    assert httpx.get(f"{live_server.url}/version").text[0].isdigit()
