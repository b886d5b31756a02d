"""The model-registry REST API (MLflow's ModelRegistryService) on a real uvicorn server.

Requests carry the JSON and query strings MLflow's client sends (string versions, repeated
``order_by`` keys, DELETE with a JSON body); the last test drives the server with MLflow's own
``MlflowClient`` in a subprocess.
"""

from __future__ import annotations

import json
import os
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
PROMPT_FILTER = "tag.`mlflow.prompt.is_prompt` != 'true'"  # what MLflow 3's client always sends


@pytest.fixture(scope="module")
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.api, timeout=30) as client:
        yield client


def call(
    http: httpx.Client,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    params: Any = None,
    status: int = 200,
) -> dict[str, Any]:
    """One request; asserts the status and that the answer is a JSON object."""
    response = http.request(method, path, json=body, params=params)
    assert response.status_code == status, (method, path, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert isinstance(answer, dict)
    return answer


def error(http: httpx.Client, method: str, path: str, body: Any = None, *, params: Any = None) -> tuple[int, str]:
    response = http.request(method, path, json=body, params=params)
    answer = response.json()
    assert set(answer) >= {"error_code", "message"}, answer
    assert answer["message"]
    return response.status_code, answer["error_code"]


def unique(prefix: str = "model") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_run(http: httpx.Client) -> dict[str, Any]:
    """A run created the way MLflow's client does it; returns its ``info``."""
    run = call(http, "POST", "/runs/create", {"experiment_id": "0", "start_time": 1700000000000, "tags": []})
    return run["run"]["info"]  # type: ignore[no-any-return]


def new_model(http: httpx.Client, name: str | None = None, **extra: Any) -> str:
    name = name or unique()
    call(http, "POST", "/registered-models/create", {"name": name, **extra})
    return name


def new_version(http: httpx.Client, name: str, run: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    run = run or new_run(http)
    body = {"name": name, "source": f"runs:/{run['run_id']}/model", "run_id": run["run_id"], **extra}
    return call(http, "POST", "/model-versions/create", body)["model_version"]  # type: ignore[no-any-return]


# -- lifecycle -----------------------------------------------------------------------------------
def test_full_lifecycle_answers_as_mlflow(http: httpx.Client) -> None:
    name = unique()
    created = call(
        http,
        "POST",
        "/registered-models/create",
        {"name": name, "tags": [{"key": "team", "value": "vision"}], "description": "first"},
    )["registered_model"]
    assert created["name"] == name
    assert created["description"] == "first"
    assert created["tags"] == [{"key": "team", "value": "vision"}]
    assert isinstance(created["creation_timestamp"], int)
    assert "latest_versions" not in created and "aliases" not in created  # unset fields are left out

    assert call(http, "POST", "/registered-models/set-tag", {"name": name, "key": "owner", "value": "ann"}) == {}
    assert call(http, "DELETE", "/registered-models/delete-tag", {"name": name, "key": "team"}) == {}
    updated = call(http, "PATCH", "/registered-models/update", {"name": name, "description": "second"})
    assert updated["registered_model"]["description"] == "second"
    assert updated["registered_model"]["tags"] == [{"key": "owner", "value": "ann"}]

    new_name = unique("renamed")
    renamed = call(http, "POST", "/registered-models/rename", {"name": name, "new_name": new_name})
    assert renamed["registered_model"]["name"] == new_name
    assert error(http, "GET", "/registered-models/get", params={"name": name}) == (404, "RESOURCE_DOES_NOT_EXIST")
    name = new_name

    run = new_run(http)
    version = new_version(
        http, name, run, tags=[{"key": "validated", "value": "yes"}], description="v1", run_link="http://x/run"
    )
    assert version["version"] == "1"
    assert version["current_stage"] == "None"
    assert version["status"] == "READY"
    assert version["source"] == f"runs:/{run['run_id']}/model"
    assert version["run_id"] == run["run_id"]
    assert version["run_link"] == "http://x/run"
    assert version["description"] == "v1"
    assert version["tags"] == [{"key": "validated", "value": "yes"}]

    got = call(http, "GET", "/model-versions/get", params={"name": name, "version": "1"})["model_version"]
    assert got["version"] == "1" and got["name"] == name
    mv = call(http, "PATCH", "/model-versions/update", {"name": name, "version": "1", "description": "better"})
    assert mv["model_version"]["description"] == "better"
    body: dict[str, Any] = {"name": name, "version": "1", "key": "k", "value": "v"}
    assert call(http, "POST", "/model-versions/set-tag", body) == {}
    assert call(http, "DELETE", "/model-versions/delete-tag", {"name": name, "version": "1", "key": "validated"}) == {}
    got = call(http, "GET", "/model-versions/get", params={"name": name, "version": "1"})["model_version"]
    assert got["tags"] == [{"key": "k", "value": "v"}]

    uri = call(http, "GET", "/model-versions/get-download-uri", params={"name": name, "version": "1"})
    assert uri == {"artifact_uri": f"{run['artifact_uri']}/model"}

    body = {"name": name, "version": "1", "stage": "staging", "archive_existing_versions": False}
    staged = call(http, "POST", "/model-versions/transition-stage", body)["model_version"]
    assert staged["current_stage"] == "Staging"

    assert call(http, "POST", "/registered-models/alias", {"name": name, "alias": "champion", "version": "1"}) == {}
    by_alias = call(http, "GET", "/registered-models/alias", params={"name": name, "alias": "champion"})
    assert by_alias["model_version"]["version"] == "1"
    assert by_alias["model_version"]["aliases"] == ["champion"]  # on versions: a list of strings
    model = call(http, "GET", "/registered-models/get", params={"name": name})["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]  # on models: {alias, version}
    assert [(v["version"], v["current_stage"]) for v in model["latest_versions"]] == [("1", "Staging")]

    assert call(http, "DELETE", "/registered-models/alias", {"name": name, "alias": "champion"}) == {}
    assert error(http, "GET", "/registered-models/alias", params={"name": name, "alias": "champion"}) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )

    v2 = new_version(http, name)
    assert v2["version"] == "2"
    assert call(http, "DELETE", "/model-versions/delete", {"name": name, "version": "2"}) == {}
    assert error(http, "GET", "/model-versions/get", params={"name": name, "version": "2"})[0] == 404
    assert new_version(http, name)["version"] == "3"  # numbers are never reused

    assert call(http, "DELETE", "/registered-models/delete", {"name": name}) == {}
    assert error(http, "GET", "/registered-models/get", params={"name": name}) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert error(http, "GET", "/model-versions/get", params={"name": name, "version": "1"})[0] == 404


def test_ajax_prefix_serves_the_same_handlers(live_server: LiveServer) -> None:
    name = unique()
    url = live_server.url + "/ajax-api/2.0/mlflow"
    created = httpx.post(f"{url}/registered-models/create", json={"name": name})
    assert created.status_code == 200
    got = httpx.get(f"{url}/registered-models/get", params={"name": name})
    assert got.json()["registered_model"]["name"] == name


def test_numeric_versions_and_string_booleans_are_accepted(http: httpx.Client) -> None:
    name = new_model(http)
    new_version(http, name)
    body = {"name": name, "version": 1, "stage": "Production", "archive_existing_versions": "false"}
    moved = call(http, "POST", "/model-versions/transition-stage", body)["model_version"]
    assert (moved["version"], moved["current_stage"]) == ("1", "Production")


# -- errors --------------------------------------------------------------------------------------
def test_duplicate_model_is_resource_already_exists(http: httpx.Client) -> None:
    name = new_model(http)
    assert error(http, "POST", "/registered-models/create", {"name": name}) == (400, "RESOURCE_ALREADY_EXISTS")
    other = new_model(http)
    assert error(http, "POST", "/registered-models/rename", {"name": other, "new_name": name}) == (
        400,
        "RESOURCE_ALREADY_EXISTS",
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        ("GET", "/registered-models/get", None, {"name": "no-such-model"}),
        ("PATCH", "/registered-models/update", {"name": "no-such-model", "description": "x"}, None),
        ("DELETE", "/registered-models/delete", {"name": "no-such-model"}, None),
        ("POST", "/registered-models/set-tag", {"name": "no-such-model", "key": "k", "value": "v"}, None),
        ("POST", "/registered-models/get-latest-versions", {"name": "no-such-model"}, None),
        ("GET", "/registered-models/alias", None, {"name": "no-such-model", "alias": "a"}),
        ("GET", "/model-versions/get", None, {"name": "no-such-model", "version": "1"}),
        ("GET", "/model-versions/get-download-uri", None, {"name": "no-such-model", "version": "1"}),
        ("POST", "/model-versions/create", {"name": "no-such-model", "source": "s3://bucket/model"}, None),
    ],
)
def test_missing_resources_are_404(
    http: httpx.Client, method: str, path: str, body: dict[str, Any] | None, params: dict[str, str] | None
) -> None:
    assert error(http, method, path, body, params=params) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_missing_version_of_existing_model_is_404(http: httpx.Client) -> None:
    name = new_model(http)
    assert error(http, "GET", "/model-versions/get", params={"name": name, "version": "7"}) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    body = {"name": name, "version": "7", "stage": "Staging"}
    assert error(http, "POST", "/model-versions/transition-stage", body)[0] == 404
    run_id = uuid.uuid4().hex
    body = {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id}
    assert error(http, "POST", "/model-versions/create", body) == (404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        ("POST", "/registered-models/create", {}, None),  # name missing
        ("POST", "/registered-models/create", {"name": 5}, None),  # wrong type
        ("POST", "/registered-models/create", {"name": ""}, None),
        ("POST", "/registered-models/create", {"name": "a/b"}, None),
        ("POST", "/registered-models/create", {"name": "m", "tags": "x"}, None),
        ("GET", "/registered-models/get", None, None),  # query field missing
        ("GET", "/registered-models/search", None, {"max_results": "1001"}),
        ("GET", "/registered-models/search", None, {"max_results": "many"}),
        ("GET", "/registered-models/search", None, {"filter": "name = 'a' OR name = 'b'"}),
        ("GET", "/registered-models/search", None, {"page_token": "not-a-token"}),
        ("GET", "/model-versions/search", None, {"max_results": "200001"}),
        ("GET", "/model-versions/search", None, {"order_by": "nonsense DESC"}),
        ("GET", "/model-versions/get", None, {"name": "m", "version": "abc"}),
        ("DELETE", "/registered-models/delete", None, None),  # DELETE without its JSON body
        ("POST", "/model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Prod"}, None),
        (
            "POST",
            "/model-versions/transition-stage",
            {"name": "m", "version": "1", "stage": "Staging", "archive_existing_versions": "perhaps"},
            None,
        ),
        ("POST", "/model-versions/create", {"name": "m"}, None),  # source missing
    ],
)
def test_bad_input_is_invalid_parameter_value(
    http: httpx.Client, method: str, path: str, body: dict[str, Any] | None, params: dict[str, str] | None
) -> None:
    assert error(http, method, path, body, params=params) == (400, "INVALID_PARAMETER_VALUE")


def test_stage_and_archive_combination_errors(http: httpx.Client) -> None:
    name = new_model(http)
    new_version(http, name)
    body: dict[str, Any] = {"name": name, "version": "1", "stage": "Prod"}
    assert error(http, "POST", "/model-versions/transition-stage", body) == (400, "INVALID_PARAMETER_VALUE")
    body = {"name": name, "version": "1", "stage": "Archived", "archive_existing_versions": True}
    assert error(http, "POST", "/model-versions/transition-stage", body) == (400, "INVALID_PARAMETER_VALUE")


# -- search --------------------------------------------------------------------------------------
def test_prompt_filter_matches_models_without_the_tag(http: httpx.Client) -> None:
    prefix = unique("prompt")
    plain = new_model(http, f"{prefix}-plain")
    marked_false = new_model(http, f"{prefix}-false", tags=[{"key": "mlflow.prompt.is_prompt", "value": "false"}])
    new_model(http, f"{prefix}-prompt", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
    params = {"filter": f"{PROMPT_FILTER} AND name LIKE '{prefix}%'", "max_results": "100"}
    found = call(http, "GET", "/registered-models/search", params=params)
    assert [m["name"] for m in found["registered_models"]] == sorted([plain, marked_false])
    assert "next_page_token" not in found
    # The exact query MLflow 3's search_registered_models() sends must work too.
    everything = call(http, "GET", "/registered-models/search", params={"filter": PROMPT_FILTER, "max_results": 100})
    names = {m["name"] for m in everything["registered_models"]}
    assert {plain, marked_false} <= names and f"{prefix}-prompt" not in names


def test_search_pages_with_tokens_and_order_by(http: httpx.Client) -> None:
    prefix = unique("page")
    names = [new_model(http, f"{prefix}-{i}") for i in range(5)]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params: dict[str, Any] = {"filter": f"name LIKE '{prefix}-%'", "max_results": 2, "order_by": ["name DESC"]}
        if token:
            params["page_token"] = token
        page = call(http, "GET", "/registered-models/search", params=params)
        seen += [m["name"] for m in page["registered_models"]]
        pages += 1
        token = page.get("next_page_token")
        if not token:
            break
    assert pages == 3
    assert seen == sorted(names, reverse=True)
    empty = call(http, "GET", "/registered-models/search", params={"filter": "name = 'no-such-model-at-all'"})
    assert empty == {}


def test_model_version_search_filters_orders_and_pages(http: httpx.Client) -> None:
    name = new_model(http)
    run = new_run(http)
    for _ in range(3):
        new_version(http, name, run)
    params: dict[str, Any] = {
        "filter": f"name='{name}'",
        "max_results": 2,
        "order_by": ["version_number ASC"],
    }
    first = call(http, "GET", "/model-versions/search", params=params)
    assert [v["version"] for v in first["model_versions"]] == ["1", "2"]
    second = call(http, "GET", "/model-versions/search", params={**params, "page_token": first["next_page_token"]})
    assert [v["version"] for v in second["model_versions"]] == ["3"]
    assert "next_page_token" not in second
    by_run = call(http, "GET", "/model-versions/search", params={"filter": f"run_id = '{run['run_id']}'"})
    assert sorted(v["version"] for v in by_run["model_versions"]) == ["1", "2", "3"]
    # The default order: newest update first.
    default = call(http, "GET", "/model-versions/search", params={"filter": f"name='{name}'", "max_results": 10000})
    assert default["model_versions"][0]["version"] == "3"


# -- aliases -------------------------------------------------------------------------------------
def test_aliases_move_reserved_names_are_refused_and_missing_delete_is_ok(http: httpx.Client) -> None:
    name = new_model(http)
    new_version(http, name)
    new_version(http, name)
    for reserved in ("latest", "LATEST", "v1", "V12"):
        body = {"name": name, "alias": reserved, "version": "1"}
        assert error(http, "POST", "/registered-models/alias", body) == (400, "INVALID_PARAMETER_VALUE"), reserved
    body = {"name": name, "alias": "bad alias!", "version": "1"}
    assert error(http, "POST", "/registered-models/alias", body) == (400, "INVALID_PARAMETER_VALUE")
    body = {"name": name, "alias": "champion", "version": "9"}
    assert error(http, "POST", "/registered-models/alias", body) == (404, "RESOURCE_DOES_NOT_EXIST")

    call(http, "POST", "/registered-models/alias", {"name": name, "alias": "champion", "version": "1"})
    call(http, "POST", "/registered-models/alias", {"name": name, "alias": "champion", "version": "2"})
    got = call(http, "GET", "/registered-models/alias", params={"name": name, "alias": "champion"})
    assert got["model_version"]["version"] == "2"
    latest = call(http, "GET", "/registered-models/alias", params={"name": name, "alias": "latest"})
    assert latest["model_version"]["version"] == "2"  # 'latest' is looked up, never stored

    assert call(http, "DELETE", "/registered-models/alias", {"name": name, "alias": "never-set"}) == {}
    assert error(http, "DELETE", "/registered-models/alias", {"name": "no-such-model", "alias": "a"})[0] == 404
    # Deleting the version removes the aliases that pointed at it.
    call(http, "DELETE", "/model-versions/delete", {"name": name, "version": "2"})
    model = call(http, "GET", "/registered-models/get", params={"name": name})["registered_model"]
    assert "aliases" not in model


# -- stages --------------------------------------------------------------------------------------
def test_transition_archives_existing_versions_and_latest_versions(http: httpx.Client) -> None:
    name = new_model(http)
    for _ in range(3):
        new_version(http, name)
    stage = "/model-versions/transition-stage"
    call(http, "POST", stage, {"name": name, "version": "1", "stage": "Production", "archive_existing_versions": False})
    call(http, "POST", stage, {"name": name, "version": "2", "stage": "Staging", "archive_existing_versions": False})
    # A JSON bool, as MLflow's client sends it: v1 (Production) is archived, v2 (Staging) is not.
    body = {"name": name, "version": "3", "stage": "Production", "archive_existing_versions": True}
    assert call(http, "POST", stage, body)["model_version"]["current_stage"] == "Production"
    stages = {
        v["version"]: v["current_stage"]
        for v in call(http, "GET", "/model-versions/search", params={"filter": f"name='{name}'"})["model_versions"]
    }
    assert stages == {"1": "Archived", "2": "Staging", "3": "Production"}

    # And as a string: v3 is archived when v2 is promoted.
    body = {"name": name, "version": "2", "stage": "production", "archive_existing_versions": "true"}
    call(http, "POST", stage, body)
    got = call(http, "GET", "/model-versions/get", params={"name": name, "version": "3"})["model_version"]
    assert got["current_stage"] == "Archived"

    latest = call(http, "POST", "/registered-models/get-latest-versions", {"name": name, "stages": ["Production"]})
    assert [(v["version"], v["current_stage"]) for v in latest["model_versions"]] == [("2", "Production")]
    every = call(http, "GET", "/registered-models/get-latest-versions", params={"name": name})
    assert sorted((v["version"], v["current_stage"]) for v in every["model_versions"]) == [
        ("2", "Production"),
        ("3", "Archived"),
    ]
    only = call(http, "GET", "/registered-models/get-latest-versions", params=[("name", name), ("stages", "archived")])
    assert [v["version"] for v in only["model_versions"]] == ["3"]
    none = call(http, "POST", "/registered-models/get-latest-versions", {"name": name, "stages": ["Staging"]})
    assert none == {}


# -- sources -------------------------------------------------------------------------------------
def test_source_refusals(http: httpx.Client, live_server: LiveServer) -> None:
    name = new_model(http)
    run = new_run(http)
    other = new_run(http)
    root = live_server.config.artifacts_destination
    refused = [
        (f"runs:/{run['run_id']}/../other/model", run["run_id"]),
        (f"{root}/0/../../../etc", None),
        ("file:///etc", None),
        ("file:///etc/passwd", run["run_id"]),
        ("/etc/passwd", None),
        ("http://169.254.169.254/latest/meta-data", None),
        ("https://example.com/model.tar.gz", run["run_id"]),
        (f"runs:/{other['run_id']}/model", run["run_id"]),  # a runs:/ URI of another run
        ("mlflow-artifacts:/0/%2e%2e/%2e%2e/etc", None),
        ("s3://user:secret@bucket/model", None),
        ("models:/", None),
    ]
    for source, run_id in refused:
        body = {"name": name, "source": source, **({"run_id": run_id} if run_id else {})}
        assert error(http, "POST", "/model-versions/create", body) == (400, "INVALID_PARAMETER_VALUE"), source
    # Nothing was registered by the refused requests.
    assert call(http, "GET", "/model-versions/search", params={"filter": f"name='{name}'"}) == {}


def test_good_sources_are_accepted_and_resolved_for_download(http: httpx.Client, live_server: LiveServer) -> None:
    name = new_model(http)
    run = new_run(http)
    root = live_server.config.artifacts_destination
    inside = f"{root}/0/{run['run_id']}/artifacts/model"
    accepted = [
        (f"runs:/{run['run_id']}/model", run["run_id"], f"{run['artifact_uri']}/model"),
        (f"runs:/{run['run_id']}/model", None, f"{run['artifact_uri']}/model"),
        (f"{run['artifact_uri']}/model", run["run_id"], f"{run['artifact_uri']}/model"),
        ("s3://team-bucket/models/iris", None, "s3://team-bucket/models/iris"),
        (inside, None, inside),
        (f"file://{inside}", run["run_id"], f"file://{inside}"),
    ]
    for number, (source, run_id, download) in enumerate(accepted, start=1):
        body = {"name": name, "source": source, **({"run_id": run_id} if run_id else {})}
        version = call(http, "POST", "/model-versions/create", body)["model_version"]
        assert (version["version"], version["source"]) == (str(number), source)
        uri = call(http, "GET", "/model-versions/get-download-uri", params={"name": name, "version": str(number)})
        assert uri == {"artifact_uri": download}, source
    # A models:/ source names another registered version and downloads from its files.
    copy = new_model(http)
    call(http, "POST", "/model-versions/create", {"name": copy, "source": f"models:/{name}/1"})
    uri = call(http, "GET", "/model-versions/get-download-uri", params={"name": copy, "version": "1"})
    assert uri == {"artifact_uri": f"{run['artifact_uri']}/model"}


# -- MLflow's own client -------------------------------------------------------------------------
_MLFLOW_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from mlflow import MlflowClient

    url, name, run_id = sys.argv[1:4]
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    out = {}
    out["created"] = client.create_registered_model(name, tags={"team": "vision"}, description="d").name
    mv = client.create_model_version(name, source=f"runs:/{run_id}/model", run_id=run_id)
    out["version"] = [mv.version, mv.status, mv.current_stage, mv.run_id]
    out["second"] = client.create_model_version(name, source=f"runs:/{run_id}/model", run_id=run_id).version
    moved = client.transition_model_version_stage(name, "1", "Staging", archive_existing_versions=True)
    out["stage"] = moved.current_stage
    client.set_registered_model_alias(name, "champion", "1")
    by_alias = client.get_model_version_by_alias(name, "champion")
    out["by_alias"] = [by_alias.version, list(by_alias.aliases)]
    model = client.get_registered_model(name)
    out["model"] = [model.name, model.description, dict(model.tags), dict(model.aliases)]
    out["search_models"] = sorted(m.name for m in client.search_registered_models() if m.name == name)
    out["search_versions"] = sorted(v.version for v in client.search_model_versions(f"name='{name}'"))
    out["latest"] = sorted((v.version, v.current_stage) for v in client.get_latest_versions(name))
    out["download"] = client.get_model_version_download_uri(name, "1")
    client.delete_registered_model_alias(name, "champion")
    out["aliases_after"] = dict(client.get_registered_model(name).aliases)
    try:
        client.create_registered_model(name)
    except Exception as exc:
        out["duplicate"] = getattr(exc, "error_code", type(exc).__name__)
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not MLFLOW_PYTHON.exists(), reason="MLflow's venv (.venv-mlflow, `make test` builds it) is missing")
def test_mlflow_client_against_the_registry(http: httpx.Client, live_server: LiveServer) -> None:
    run = new_run(http)
    name = unique("mlflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
    env.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    done = subprocess.run(
        [str(MLFLOW_PYTHON), "-c", _MLFLOW_SCRIPT, live_server.url, name, run["run_id"]],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["created"] == name
    assert out["version"] == ["1", "READY", "None", run["run_id"]]
    assert out["second"] == "2"
    assert out["stage"] == "Staging"
    assert out["by_alias"] == ["1", ["champion"]]
    assert out["model"] == [name, "d", {"team": "vision"}, {"champion": "1"}]
    assert out["search_models"] == [name]
    assert out["search_versions"] == ["1", "2"]
    assert out["latest"] == [["1", "Staging"], ["2", "None"]]
    assert out["download"] == f"{run['artifact_uri']}/model"
    assert out["aliases_after"] == {}
    assert out["duplicate"] == "RESOURCE_ALREADY_EXISTS"
