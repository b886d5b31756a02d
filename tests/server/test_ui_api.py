"""The web UI's own routes (``/ajax-api/2.0/mltrack/...``) and static files, on a real server.

Summaries, keys and child counts are checked against what was logged; artifact previews for their
safety headers, size cap and path checks; the SQL behind the summaries also on PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live_server import serve_app

from prefect_mltrack.client import MlflowClient
from prefect_mltrack.server.app import create_app
from prefect_mltrack.server.config import ServerConfig
from prefect_mltrack.server.routes.ui_api import PREVIEW_MAX_BYTES
from prefect_mltrack.server.ui import install_ui

UI = "/ajax-api/2.0/mltrack"
MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: prefect_mltrack.sklearn
    python_version: 3.11.7
  sklearn:
    sklearn_version: 1.5.0
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
  params: null
utc_time_created: '2024-06-01 10:00:00.000000'
"""


class Server:
    def __init__(self, url: str, app: object) -> None:
        self.url = url
        self.app = app
        self.http = httpx.Client(base_url=url, timeout=30)
        self.client = MlflowClient(tracking_uri=url)

    def ui(self, route: str, **params: object) -> httpx.Response:
        return self.http.get(f"{UI}/{route}", params=params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ui-api")
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{root / 'db.sqlite'}",
        artifacts_destination=str(root / "artifacts"),
        allowed_hosts=["127.0.0.1"],
    )
    app = create_app(config)
    install_ui(app, config)
    install_ui(app, config)  # a second call (e.g. create_app already did it) changes nothing
    running = serve_app(app)
    try:
        yield Server(running.url, app)
    finally:
        running.stop()


def _now() -> int:
    return int(time.time() * 1000)


def test_summaries_count_runs_and_find_last_activity(server: Server) -> None:
    client = server.client
    busy = client.create_experiment("summaries-busy")
    empty = client.create_experiment("summaries-empty")
    gone = client.create_experiment("summaries-gone")
    client.delete_experiment(gone)
    start = _now() - 100_000
    finished = [client.create_run(busy, start_time=start + i) for i in range(3)]
    for run in finished:
        client.set_terminated(run.info.run_id, "FINISHED", end_time=start + 1_000)
    client.delete_run(finished[0].info.run_id)
    running = client.create_run(busy, start_time=start + 10)
    client.log_metric(running.info.run_id, "loss", 0.5, timestamp=start + 50_000)

    answer = server.ui("experiments/summaries", experiment_ids=f"{busy},{empty}")
    assert answer.status_code == 200, answer.text
    by_id = {s["experiment_id"]: s for s in answer.json()["summaries"]}
    assert by_id[busy] == {
        "experiment_id": busy,
        "run_count": 3,  # the deleted run is not counted
        "running_count": 1,
        "last_activity": start + 50_000,  # the running run's metric is newer than any start or end
    }
    assert by_id[empty]["run_count"] == 0 and by_id[empty]["running_count"] == 0
    assert by_id[empty]["last_activity"] is not None  # the experiment's own last update

    every = {s["experiment_id"] for s in server.ui("experiments/summaries").json()["summaries"]}
    assert {busy, empty} <= every and gone not in every
    repeated = server.http.get(
        f"{UI}/experiments/summaries", params=[("experiment_ids", busy), ("experiment_ids", empty)]
    )
    assert {s["experiment_id"] for s in repeated.json()["summaries"]} == {busy, empty}

    bad = server.ui("experiments/summaries", experiment_ids="abc")
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_keys_child_counts_and_filter_check(server: Server) -> None:
    client = server.client
    experiment = client.create_experiment("keys")
    parent = client.create_run(experiment)
    client.log_batch(parent.info.run_id)
    client.log_param(parent.info.run_id, "lr", "0.1")
    client.log_metric(parent.info.run_id, "val/acc", 0.9)
    client.set_tag(parent.info.run_id, "team", "vision")
    children = [client.create_run(experiment, tags={"mlflow.parentRunId": parent.info.run_id}) for _ in range(2)]
    client.delete_run(children[1].info.run_id)

    keys = server.ui("runs/keys", experiment_ids=experiment).json()
    assert keys["params"] == ["lr"] and keys["metrics"] == ["val/acc"]
    assert {"team", "mlflow.parentRunId", "mlflow.runName"} <= set(keys["tags"])
    missing = server.ui("runs/keys")
    assert missing.status_code == 400 and "experiment_ids" in missing.json()["message"]

    ids = f"{parent.info.run_id},{children[0].info.run_id}"
    assert server.ui("runs/child-counts", run_ids=ids).json() == {"counts": {parent.info.run_id: 1}}
    assert server.ui("runs/child-counts", run_ids=ids, view_type="ALL").json()["counts"] == {parent.info.run_id: 2}
    assert server.ui("runs/child-counts", run_ids=ids, view_type="nope").status_code == 400

    assert server.ui("runs/check-filter", filter="metrics.acc > 0.5 AND tags.`a.b` IS NULL").json() == {"valid": True}
    broken = server.ui("runs/check-filter", filter="metrics.acc >").json()
    assert broken["valid"] is False and "metrics.acc" in broken["message"]
    assert server.ui("runs/check-filter", order_by="metrics.`x` SIDEWAYS").json()["valid"] is False


@pytest.fixture(scope="module")
def artifact_run(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    client = server.client
    run = client.create_run(client.create_experiment("previews"))
    run_id = run.info.run_id
    client.log_text(run_id, "<html><script>alert(1)</script></html>", "report.html")
    client.log_text(run_id, "<svg onload='alert(1)'/>", "img/figure.svg")
    client.log_dict(run_id, {"a": 1}, "config.json")
    client.log_text(run_id, MLMODEL, "model/MLmodel")
    client.log_text(run_id, "just: [text", "broken/MLmodel")
    big = tmp_path_factory.mktemp("big") / "big.bin"
    big.write_bytes(b"\0" * (PREVIEW_MAX_BYTES + 1))
    client.log_artifact(run_id, big, "data")
    return run_id


def test_preview_serves_files_as_safe_attachments(server: Server, artifact_run: str) -> None:
    for path, body, media in (
        ("report.html", b"<html><script>alert(1)</script></html>", "text/plain; charset=utf-8"),
        ("img/figure.svg", b"<svg onload='alert(1)'/>", "text/plain; charset=utf-8"),
        ("config.json", b'{\n  "a": 1\n}', "application/json"),
    ):
        answer = server.ui("artifacts/preview", run_id=artifact_run, path=path)
        assert answer.status_code == 200, answer.text
        assert answer.content.strip() == body
        assert answer.headers["content-type"] == media
        assert answer.headers["content-disposition"] == f'attachment; filename="{Path(path).name}"'
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in answer.headers["content-security-policy"]


def test_preview_refuses_big_files_bad_paths_and_directories(server: Server, artifact_run: str) -> None:
    too_big = server.ui("artifacts/preview", run_id=artifact_run, path="data/big.bin")
    assert too_big.status_code == 413
    assert too_big.json()["error_code"] == "RESOURCE_EXHAUSTED" and "download it" in too_big.json()["message"]
    with server.http.stream(
        "GET", f"{UI}/artifacts/download", params={"run_id": artifact_run, "path": "data/big.bin"}
    ) as full:
        assert full.status_code == 200
        assert sum(len(chunk) for chunk in full.iter_bytes()) == PREVIEW_MAX_BYTES + 1
        assert full.headers["content-disposition"].startswith("attachment")

    cases = {
        "../../db.sqlite": ("INVALID_PARAMETER_VALUE", 400),
        "%2e%2e/%2e%2e/db.sqlite": ("INVALID_PARAMETER_VALUE", 400),
        "/etc/passwd": ("INVALID_PARAMETER_VALUE", 400),
        "img": ("INVALID_PARAMETER_VALUE", 400),
        "": ("INVALID_PARAMETER_VALUE", 400),
        "nope.txt": ("RESOURCE_DOES_NOT_EXIST", 404),
    }
    for path, (code, status) in cases.items():
        answer = server.ui("artifacts/preview", run_id=artifact_run, path=path)
        assert (answer.status_code, answer.json()["error_code"]) == (status, code), (path, answer.text)
    missing_run = server.ui("artifacts/preview", run_id="0" * 32, path="report.html")
    assert missing_run.status_code == 404 and missing_run.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_mlmodel_is_parsed_with_its_signature(server: Server, artifact_run: str) -> None:
    for path in ("model", "model/MLmodel"):
        answer = server.ui("artifacts/mlmodel", run_id=artifact_run, path=path)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["path"] == "model/MLmodel"
        model = body["mlmodel"]
        assert set(model["flavors"]) == {"python_function", "sklearn"}
        assert model["signature"]["inputs"] == [{"type": "double", "name": "x", "required": True}]
        assert model["signature"]["outputs"][0]["type"] == "long"
    broken = server.ui("artifacts/mlmodel", run_id=artifact_run, path="broken/MLmodel")
    assert broken.status_code == 400 and "not valid YAML" in broken.json()["message"]


def test_page_static_files_and_security_headers(server: Server) -> None:
    page = server.http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert '<script type="module" src="/static-files/app.js">' in page.text
    script = server.http.get("/static-files/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "no-cache"
    assert server.http.get("/static-files/views/runs.js").status_code == 200
    assert server.http.get("/static-files/../app.py").status_code == 404

    # The UI routes sit behind the same middleware: a rebinding Host is refused.
    refused = server.http.get(f"{UI}/experiments/summaries", headers={"host": "evil.example"})
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    routes = len(server.app.routes)  # type: ignore[attr-defined]
    install_ui(server.app, server.app.state.config)  # type: ignore[attr-defined]
    assert len(server.app.routes) == routes  # type: ignore[attr-defined]


def test_summary_sql_on_postgres(postgres_uri: str) -> None:
    from prefect_mltrack.entities import Metric, RunStatus, RunTag
    from prefect_mltrack.store.sql.store import SqlStore
    from prefect_mltrack.store.sql.summaries import child_run_counts, experiment_summaries, run_keys

    store = SqlStore(postgres_uri, artifact_root="memory://pg-summaries")
    try:
        experiment = store.create_experiment("pg-summaries")
        parent = store.create_run(experiment, start_time=1_000)
        store.log_batch(parent.info.run_id, metrics=[Metric(key="m", value=1.0, timestamp=9_000, step=0)])
        child = store.create_run(
            experiment, start_time=2_000, tags=[RunTag(key="mlflow.parentRunId", value=parent.info.run_id)]
        )
        store.update_run_info(child.info.run_id, RunStatus.FINISHED, end_time=5_000)
        (summary,) = experiment_summaries(store.engine, [experiment])
        assert (summary.run_count, summary.running_count, summary.last_activity) == (2, 1, 9_000)
        assert run_keys(store.engine, [experiment]).metrics == ["m"]
        assert child_run_counts(store.engine, [parent.info.run_id, child.info.run_id]) == {parent.info.run_id: 1}
    finally:
        store.close()
