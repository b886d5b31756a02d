"""What only the REST store does: the wire format it sends, error mapping, auth, retries, keep-alive.

The store contract itself runs through the server in the other tests of this folder (``store_uri``'s
``rest`` flavour). Here the real server answers where it can; small Starlette apps on loopback stand
in for what a healthy server never does (a proxy answering 503 or HTML, a recorder of raw requests).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from live_server import LiveServer, fresh_sql_store, serve_app
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from prefect_mltrack.entities import Metric, Param, RegisteredModelTag, RunTag, ViewType
from prefect_mltrack.exceptions import (
    InvalidParameterError,
    MalformedFilterError,
    MLTrackError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
)
from prefect_mltrack.server.config import ServerConfig
from prefect_mltrack.store import get_store, reset_stores
from prefect_mltrack.store.rest import RestStore
from prefect_mltrack.store.rest_http import RetryPolicy, error_from_response, shared_client

FAST_RETRY = RetryPolicy(max_retries=2, backoff_factor=0.01)
RUN_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def server(live_tracking_server: LiveServer, tmp_path: Path) -> LiveServer:
    live_tracking_server.swap_store(fresh_sql_store(tmp_path / "server" / "mltrack.db", live_tracking_server.config))
    return live_tracking_server


@pytest.fixture
def rest(server: LiveServer) -> RestStore:
    return RestStore(server.url, retry=FAST_RETRY)


# -- a recorder of raw requests ----------------------------------------------------------------------
class Recorder:
    """A tiny app that records each request and answers with a canned JSON per path (``{}`` else)."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers = answers or {}
        self.app = Starlette(
            routes=[Route("/{path:path}", self.handle, methods=["GET", "POST", "PATCH", "DELETE", "PUT"])]
        )

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "headers": dict(request.headers),
                "body": orjson.loads(body) if body else None,
                "client_port": request.client.port if request.client else None,
            }
        )
        return JSONResponse(self.answers.get(request.url.path, {}))


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, RestStore]]:
    run = {"info": {"run_id": RUN_ID, "experiment_id": "0", "status": "RUNNING"}, "data": {}}
    rec = Recorder({"/api/2.0/mlflow/runs/create": {"run": run}, "/api/2.0/mlflow/runs/get": {"run": run}})
    server = serve_app(rec.app, probe="/health")
    rec.requests.clear()
    try:
        yield rec, RestStore(server.url, retry=FAST_RETRY)
    finally:
        server.stop()


# -- the wire ----------------------------------------------------------------------------------------
def test_reads_are_gets_with_a_query_string_and_repeated_keys(recorder):
    rec, store = recorder
    store.get_run(RUN_ID)
    store.search_registered_models("name LIKE 'a%'", max_results=5, order_by=["name DESC", "creation_timestamp"])
    get_run, search = rec.requests
    assert (get_run["method"], get_run["path"], get_run["query"]) == (
        "GET",
        "/api/2.0/mlflow/runs/get",
        f"run_id={RUN_ID}",
    )
    assert search["method"] == "GET" and search["body"] is None
    assert search["query"] == "max_results=5&filter=name+LIKE+%27a%25%27&order_by=name+DESC&order_by=creation_timestamp"


def test_writes_send_mlflow_json_bodies(recorder):
    rec, store = recorder
    store.create_run("0", user_id="ada", start_time=5, tags=[RunTag("t", "v")], run_name="n", run_id=RUN_ID)
    store.log_batch(
        RUN_ID,
        metrics=[Metric("nan", math.nan, 1, 0), Metric("inf", math.inf, 1, 1), Metric("ninf", -math.inf, 1, 2)],
        params=[Param("p", "1"), Param("p", "1")],  # the same value twice is sent once
        tags=[RunTag("t", "v")],
    )
    store.delete_registered_model_alias("iris", "champion")
    create, batch, delete_alias = rec.requests
    assert create["body"] == {
        "experiment_id": "0",
        "user_id": "ada",
        "tags": [{"key": "t", "value": "v"}],
        "start_time": 5,
        "run_name": "n",
        "run_id": RUN_ID,  # our extension of runs/create
    }
    assert create["headers"]["content-type"] == "application/json"
    assert [m["value"] for m in batch["body"]["metrics"]] == ["NaN", "Infinity", "-Infinity"]
    assert batch["body"]["params"] == [{"key": "p", "value": "1"}]
    assert (delete_alias["method"], delete_alias["path"]) == ("DELETE", "/api/2.0/mlflow/registered-models/alias")
    assert delete_alias["body"] == {"name": "iris", "alias": "champion"}
    assert delete_alias["headers"]["content-type"] == "application/json"


def test_one_kept_alive_connection_serves_many_calls(recorder):
    rec, store = recorder
    for _ in range(20):
        store.get_run(RUN_ID)
    assert len({r["client_port"] for r in rec.requests}) == 1
    assert shared_client() is shared_client()  # one pool per process, not one client per call


def test_checks_made_before_any_request(recorder):
    rec, store = recorder
    with pytest.raises(MLTrackError, match="invalid value"):
        store.log_metric(RUN_ID, Metric.model_construct(key="m", value="1.0", timestamp=1, step=0, run_id=None))
    with pytest.raises(MLTrackError, match="Duplicate parameter key 'b'"):
        store.log_batch(RUN_ID, params=[Param("b", "1"), Param("b", "2")])
    with pytest.raises(MLTrackError, match="at most 100 params"):
        store.log_batch(RUN_ID, params=[Param(f"p{i}", "v") for i in range(101)])
    with pytest.raises(MLTrackError, match="None"):
        store.set_registered_model_tag("m", RegisteredModelTag.model_construct(key="k", value=None))
    with pytest.warns(UserWarning, match="truncated to 6000"):
        store.log_param(RUN_ID, Param("long", "x" * 7000))
    assert [r["path"] for r in rec.requests] == ["/api/2.0/mlflow/runs/log-batch"]
    assert len(rec.requests[0]["body"]["params"][0]["value"]) == 6000


# -- errors --------------------------------------------------------------------------------------------
def test_server_errors_become_the_matching_exception(rest):
    with pytest.raises(ResourceNotFoundError) as caught:
        rest.get_run("0" * 32)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert caught.value.message == f"Run with id={'0' * 32} not found"
    rest.create_experiment("dup")
    with pytest.raises(ResourceAlreadyExistsError):
        rest.create_experiment("dup")
    with pytest.raises(MalformedFilterError) as bad_filter:
        rest.search_runs(["0"], "metrics.acc >> 1")
    assert bad_filter.value.position == 12 and "'>>'" in bad_filter.value.message
    with pytest.raises(InvalidParameterError, match="max_results"):
        rest.search_runs(["0"], max_results=50_001)
    assert rest.get_experiment_by_name("missing") is None


def test_unknown_endpoint_is_not_mistaken_for_a_missing_resource(server):
    store = RestStore(server.url + "/not-the-api", retry=FAST_RETRY)
    with pytest.raises(MLTrackError) as caught:
        store.get_experiment_by_name("anything")  # a 404 here must not read as "no such experiment"
    assert caught.value.error_code == "ENDPOINT_NOT_FOUND"


def test_a_non_json_error_names_the_url_and_status():
    app = Starlette(
        routes=[
            Route("/health", lambda r: Response("OK")),
            Route("/{path:path}", lambda r: HTMLResponse("<h1>Bad gateway</h1>", 502)),
        ]
    )
    server = serve_app(app)
    try:
        store = RestStore(server.url, retry=RetryPolicy(max_retries=1, backoff_factor=0.01))
        with pytest.raises(MLTrackError) as caught:
            store.get_experiment("0")
    finally:
        server.stop()
    message = caught.value.message
    assert f"GET {server.url}/api/2.0/mlflow/experiments/get" in message and "HTTP 502" in message
    assert "Bad gateway" in message and caught.value.error_code == "TEMPORARILY_UNAVAILABLE"


def test_an_unreachable_server_is_retried_then_named():
    from live_server import free_port_socket

    sock = free_port_socket()  # bound, never listening: connections are refused
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        started = time.monotonic()
        with pytest.raises(MLTrackError) as caught:
            RestStore(url, retry=RetryPolicy(max_retries=2, backoff_factor=0.05)).create_experiment("x")
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    assert caught.value.error_code == "TEMPORARILY_UNAVAILABLE"
    assert url in caught.value.message and "after 3 attempt(s)" in caught.value.message
    assert elapsed >= 0.05  # it did back off between the attempts


# -- retries ---------------------------------------------------------------------------------------------
class Flaky:
    """Answers 503 to the first ``failures`` requests of each path, then like a healthy server."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: dict[str, int] = {}
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        self.calls[path] = self.calls.get(path, 0) + 1
        if self.calls[path] <= self.failures:
            return JSONResponse({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}, 503)
        if path.endswith("/experiments/get"):
            return JSONResponse({"experiment": {"experiment_id": "0", "name": "Default", "artifact_location": "x"}})
        return JSONResponse({"experiment_id": "7"})


def test_reads_are_retried_on_503_and_creates_are_not():
    flaky = Flaky(failures=2)
    server = serve_app(flaky.app, probe="/health")
    try:
        flaky.calls.clear()
        store = RestStore(server.url, retry=RetryPolicy(max_retries=3, backoff_factor=0.01))
        assert store.get_experiment("0").name == "Default"
        with pytest.raises(MLTrackError) as caught:
            store.create_experiment("new")
    finally:
        server.stop()
    assert flaky.calls["/api/2.0/mlflow/experiments/get"] == 3  # two 503s, then the answer
    assert flaky.calls["/api/2.0/mlflow/experiments/create"] == 1  # a create is never repeated
    assert caught.value.error_code == "TEMPORARILY_UNAVAILABLE" and caught.value.message == "busy"


def test_retries_give_up_after_the_policy():
    flaky = Flaky(failures=10)
    server = serve_app(flaky.app, probe="/health")
    try:
        flaky.calls.clear()
        with pytest.raises(MLTrackError, match="busy"):
            RestStore(server.url, retry=RetryPolicy(max_retries=2, backoff_factor=0.01)).get_experiment("0")
    finally:
        server.stop()
    assert flaky.calls["/api/2.0/mlflow/experiments/get"] == 3


# -- auth ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("secured")
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{root / 'db.sqlite'}",
        artifacts_destination=str(root / "artifacts"),
        auth_token=SecretStr("s3cret-token"),
    )
    with LiveServer(config, store=fresh_sql_store(root / "db.sqlite", config)) as server:
        yield server


def test_without_credentials_a_secured_server_refuses(secured):
    with pytest.raises(MLTrackError) as caught:
        RestStore(secured.url, retry=FAST_RETRY).get_experiment("0")
    assert caught.value.error_code == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "variables",
    [
        {"MLTRACK_TRACKING_TOKEN": "s3cret-token"},
        {"MLFLOW_TRACKING_TOKEN": "s3cret-token"},
        {"MLFLOW_TRACKING_USERNAME": "ada", "MLFLOW_TRACKING_PASSWORD": "s3cret-token"},
    ],
)
def test_token_or_basic_credentials_from_the_environment(secured, monkeypatch, variables):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert RestStore(secured.url, retry=FAST_RETRY).get_experiment("0").name == "Default"


def test_the_authorization_header_sent(recorder, monkeypatch):
    rec, store = recorder
    monkeypatch.setenv("MLTRACK_TRACKING_TOKEN", "abc")
    store.get_run(RUN_ID)
    monkeypatch.delenv("MLTRACK_TRACKING_TOKEN")
    monkeypatch.setenv("MLTRACK_TRACKING_USERNAME", "ada")
    monkeypatch.setenv("MLTRACK_TRACKING_PASSWORD", "pw")
    store.get_run(RUN_ID)  # read per request: a changed credential applies at once
    assert rec.requests[0]["headers"]["authorization"] == "Bearer abc"
    assert rec.requests[1]["headers"]["authorization"] == "Basic YWRhOnB3"  # base64("ada:pw")


# -- through the real server --------------------------------------------------------------------------------
def test_nan_and_infinity_round_trip_as_mlflow_strings(rest, server):
    run_id = rest.create_run("0").info.run_id
    rest.log_batch(run_id, metrics=[Metric("nan", math.nan, 1, 0), Metric("inf", math.inf, 1, 0),
                                    Metric("ninf", -math.inf, 1, 0), Metric("negzero", -0.0, 1, 0)])  # fmt: skip
    raw = httpx.get(f"{server.url}/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()
    assert {m["key"]: m["value"] for m in raw["run"]["data"]["metrics"]} == {
        "nan": "NaN",
        "inf": "Infinity",
        "ninf": "-Infinity",
        "negzero": -0.0,
    }
    metrics = rest.get_run(run_id).data.metrics
    assert math.isnan(metrics["nan"]) and metrics["inf"] == math.inf and metrics["ninf"] == -math.inf
    assert math.copysign(1, metrics["negzero"]) == -1
    (point,) = rest.get_metric_history(run_id, "ninf")
    assert point.value == -math.inf and point.run_id == run_id


def test_paging_tokens_pass_through(rest):
    experiment_id = rest.create_experiment("paged")
    made = [rest.create_run(experiment_id, start_time=i).info.run_id for i in range(5)]
    seen, token, pages = [], None, 0
    while True:
        page = rest.search_runs([experiment_id], max_results=2, page_token=token, order_by=["attributes.start_time"])
        seen += [r.info.run_id for r in page]
        pages, token = pages + 1, page.token
        if token is None:
            break
    assert (seen, pages) == (made, 3)
    rest.log_batch(made[0], metrics=[Metric("m", float(s), 1, s) for s in range(5)])
    first = rest.get_metric_history(made[0], "m", max_results=3)
    rest_of_it = rest.get_metric_history(made[0], "m", max_results=3, page_token=first.token)
    assert [m.step for m in first + rest_of_it] == [0, 1, 2, 3, 4] and rest_of_it.token is None
    for name in ("a", "b", "c"):
        rest.create_registered_model(name)
    page = rest.search_registered_models(max_results=2, order_by=["name DESC"])
    assert [m.name for m in page] == ["c", "b"] and page.token
    assert [m.name for m in rest.search_registered_models(max_results=2, order_by=["name DESC"],
                                                          page_token=page.token)] == ["a"]  # fmt: skip
    assert len(rest.search_experiments(ViewType.ALL, max_results=1)) == 1


def test_create_run_with_a_chosen_id(rest):
    run = rest.create_run("0", run_id=RUN_ID, run_name="from-prefect")
    assert run.info.run_id == RUN_ID and rest.get_run(RUN_ID).info.run_name == "from-prefect"
    with pytest.raises(ResourceAlreadyExistsError):
        rest.create_run("0", run_id=RUN_ID)
    with pytest.raises(InvalidParameterError, match="Invalid run ID"):
        rest.create_run("0", run_id="not an id!")


def test_a_server_that_ignores_the_chosen_run_id_is_caught(recorder):
    rec, store = recorder  # answers runs/create with RUN_ID whatever was asked, as MLflow's server does
    with pytest.raises(MLTrackError, match="does not support choosing the run id") as caught:
        store.create_run("0", run_id="b" * 32)
    assert caught.value.error_code == "NOT_IMPLEMENTED"
    assert [(r["path"], r["body"]) for r in rec.requests][-1] == ("/api/2.0/mlflow/runs/delete", {"run_id": RUN_ID})


def test_plain_framework_errors_keep_their_detail():
    err = error_from_response("GET", "http://h/x", 400, b'{"detail": "Artifact path refers to a directory"}')
    assert isinstance(err, InvalidParameterError) and err.error_code == "BAD_REQUEST"
    assert err.message == "GET http://h/x answered HTTP 400: Artifact path refers to a directory"


def test_maintenance_is_left_to_mltrack_gc(rest):
    for call in (rest.deleted_run_ids, rest.deleted_experiment_ids):
        with pytest.raises(MLTrackError, match="mltrack gc") as caught:
            call()
        assert caught.value.error_code == "NOT_IMPLEMENTED"
    with pytest.raises(MLTrackError, match="where the server's database is"):
        rest.purge_run(RUN_ID)
    with pytest.raises(MLTrackError, match="mltrack gc"):
        rest.purge_experiment("1")


def test_get_store_picks_the_rest_store_by_scheme(server):
    store = get_store(server.url)
    assert isinstance(store, RestStore) and get_store(server.url) is store
    reset_stores()
    assert get_store(server.url) is not store
    with pytest.raises(InvalidParameterError, match="http://<host>:<port>"):
        RestStore("http://")
