"""MLflow's model-registry endpoints (ModelRegistryService): registered models, versions, stages,
aliases, tags, search and download URIs.

Paths are relative to ``/api/2.0/mlflow`` (the app mounts them there and under ``/ajax-api``), with
MLflow's methods: reads are GET with a query string, writes POST or PATCH with a JSON body, and
deletes are DELETE **with a JSON body** (``{"name": ..., "alias": ...}``), as MLflow's client sends
them. Each route validates the request with a model from
:mod:`prefect_mltrack.server.registry_schemas`, makes one store call (the store checks names,
versions, aliases and tags) and answers with a dict from :mod:`prefect_mltrack.wire`.

Example (what MLflow's client does for ``set_registered_model_alias``)::

    POST /api/2.0/mlflow/registered-models/alias {"name": "iris", "alias": "champion", "version": "2"}
    -> 200 {}
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Query

from prefect_mltrack import validation as v
from prefect_mltrack import wire
from prefect_mltrack.entities import ModelVersion, ModelVersionTag, RegisteredModel, RegisteredModelTag
from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.model_uris import is_runs_uri, join_artifact_uri, parse_runs_uri
from prefect_mltrack.server import registry_schemas as rs
from prefect_mltrack.server import schemas as s
from prefect_mltrack.server.http import ConfigDep, JSONBody, StoreDep, empty_response, json_response
from prefect_mltrack.store.base import AbstractStore

router = APIRouter()

_LOGGED_MODEL_PREFIX = "models:/m-"


def _model_answer(model: RegisteredModel) -> JSONBody:
    return json_response({"registered_model": wire.registered_model_json(model)})


def _version_answer(version: ModelVersion) -> JSONBody:
    return json_response({"model_version": wire.model_version_json(version)})


# -- download URIs -------------------------------------------------------------------------------
def logged_model_artifact_uri(model_id: str, store: AbstractStore) -> str:
    """The artifact URI of the LoggedModel ``model_id`` (MLflow 3's ``models:/m-<id>`` sources)."""
    return store.get_logged_model(model_id).artifact_location


def download_uri_for(source: str, store: AbstractStore) -> str:
    """Where the files of a model version with this source (or stored location) are.

    ``runs:/<run_id>/<path>`` becomes the run's artifact URI + ``/<path>``; ``models:/m-<id>``
    (MLflow 3's LoggedModel sources) goes to :func:`logged_model_artifact_uri`; anything else is
    already a location and is returned as it is.

    Example:
        >>> download_uri_for("mlflow-artifacts:/1/abc/artifacts/model", store=None)
        'mlflow-artifacts:/1/abc/artifacts/model'
    """
    if source.startswith("runs:/"):
        run_id, path = parse_runs_uri(source)
        return join_artifact_uri(store.get_run(run_id).info.artifact_uri or "", path)
    if source.startswith(_LOGGED_MODEL_PREFIX) and "/" not in source[len(_LOGGED_MODEL_PREFIX) :]:
        return logged_model_artifact_uri(source[len("models:/") :], store)
    return source


# -- registered models ---------------------------------------------------------------------------
@router.post("/registered-models/create", response_model=rs.RegisteredModelAnswer)
def create_registered_model(body: rs.CreateRegisteredModel, store: StoreDep) -> JSONBody:
    tags = [RegisteredModelTag(key=t.key, value=t.value or "") for t in body.tags]
    return _model_answer(store.create_registered_model(body.name, tags, body.description))


@router.post("/registered-models/rename", response_model=rs.RegisteredModelAnswer)
def rename_registered_model(body: rs.RenameRegisteredModel, store: StoreDep) -> JSONBody:
    return _model_answer(store.rename_registered_model(body.name, body.new_name))


@router.patch("/registered-models/update", response_model=rs.RegisteredModelAnswer)
def update_registered_model(body: rs.UpdateRegisteredModel, store: StoreDep) -> JSONBody:
    return _model_answer(store.update_registered_model(body.name, body.description))


@router.delete("/registered-models/delete", response_model=s.Empty)
def delete_registered_model(body: rs.RegisteredModelName, store: StoreDep) -> JSONBody:
    store.delete_registered_model(body.name)
    return empty_response()


@router.get("/registered-models/get", response_model=rs.RegisteredModelAnswer)
def get_registered_model(name: str, store: StoreDep) -> JSONBody:
    return _model_answer(store.get_registered_model(name))


@router.get("/registered-models/search", response_model=rs.RegisteredModelsPage)
def search_registered_models(
    store: StoreDep,
    filter: str | None = None,  # MLflow's field name
    max_results: int = 100,
    order_by: Annotated[list[str] | None, Query()] = None,
    page_token: str | None = None,
) -> JSONBody:
    page = store.search_registered_models(filter or None, max_results, order_by or None, page_token or None)
    answer: dict[str, object] = {}
    if page:
        answer["registered_models"] = [wire.registered_model_json(m) for m in page]
    if page.token:
        answer["next_page_token"] = page.token
    return json_response(answer)


def _latest_versions(name: str, stages: list[str], store: AbstractStore) -> JSONBody:
    versions = store.get_latest_versions(name, stages or None)
    return json_response({"model_versions": [wire.model_version_json(v) for v in versions]} if versions else {})


@router.post("/registered-models/get-latest-versions", response_model=rs.ModelVersionsList)
def get_latest_versions(body: rs.GetLatestVersions, store: StoreDep) -> JSONBody:
    return _latest_versions(body.name, body.stages, store)


@router.get("/registered-models/get-latest-versions", response_model=rs.ModelVersionsList)
def get_latest_versions_get(
    name: str, store: StoreDep, stages: Annotated[list[str] | None, Query()] = None
) -> JSONBody:
    return _latest_versions(name, stages or [], store)


@router.post("/registered-models/set-tag", response_model=s.Empty)
def set_registered_model_tag(body: rs.SetRegisteredModelTag, store: StoreDep) -> JSONBody:
    store.set_registered_model_tag(body.name, RegisteredModelTag(key=body.key, value=body.value))
    return empty_response()


@router.delete("/registered-models/delete-tag", response_model=s.Empty)
def delete_registered_model_tag(body: rs.DeleteRegisteredModelTag, store: StoreDep) -> JSONBody:
    store.delete_registered_model_tag(body.name, body.key)
    return empty_response()


# -- aliases -------------------------------------------------------------------------------------
@router.post("/registered-models/alias", response_model=s.Empty)
def set_registered_model_alias(body: rs.SetAlias, store: StoreDep) -> JSONBody:
    store.set_registered_model_alias(body.name, body.alias, body.version)
    return empty_response()


@router.delete("/registered-models/alias", response_model=s.Empty)
def delete_registered_model_alias(body: rs.DeleteAlias, store: StoreDep) -> JSONBody:
    store.delete_registered_model_alias(body.name, body.alias)  # an alias that is not set is no error
    return empty_response()


@router.get("/registered-models/alias", response_model=rs.ModelVersionAnswer)
def get_model_version_by_alias(name: str, alias: str, store: StoreDep) -> JSONBody:
    return _version_answer(store.get_model_version_by_alias(name, alias))


# -- model versions ------------------------------------------------------------------------------
def _is_local(source: str) -> bool:
    scheme = urlparse(source).scheme.lower()
    return scheme in ("", "file") or len(scheme) == 1  # one letter: a Windows drive


def _check_source_run(source: str, run_id: str) -> None:
    """A ``runs:/`` source must name the run the version is created for.

    The URI policy refuses a mismatch too; checking it first, with the store's words, makes the answer
    read the same through the server as on a SQL store. A malformed URI is left to the policy.
    """
    if not is_runs_uri(source):
        return
    try:
        source_run_id, _ = parse_runs_uri(source)
    except InvalidParameterError:
        return
    if source_run_id != run_id:
        raise InvalidParameterError(
            f"The source {source!r} belongs to run {source_run_id}, but run_id={run_id!r} was given; "
            "pass the run id of the source (or leave run_id out)."
        )


@router.post("/model-versions/create", response_model=rs.ModelVersionAnswer)
def create_model_version(body: rs.CreateModelVersion, store: StoreDep, config: ConfigDep) -> JSONBody:
    """Register ``source`` as the next version. The source is checked against the run's artifact
    location and the server's artifact root first, so a client cannot register (and later have the
    server hand out) files it has no business reading. ``model_id`` is not kept: the store seam has
    no place for it yet."""
    from prefect_mltrack.server.uri_policy import validate_model_version_source

    run_id = body.run_id or None
    if run_id is None and body.source.startswith(_LOGGED_MODEL_PREFIX):
        # MLflow 3 registers a logged model without naming its run; the version still belongs to it.
        run_id = store.get_logged_model(body.source.removeprefix("models:/")).source_run_id or None
    run_artifact_uri = None
    if run_id:
        v.validate_run_id(run_id)
        _check_source_run(body.source, run_id)
        # As MLflow's server: the run is only looked up when a local source must lie inside its artifacts.
        if _is_local(body.source):
            run_artifact_uri = store.get_run(run_id).info.artifact_uri
    validate_model_version_source(
        body.source, run_id=run_id, run_artifact_uri=run_artifact_uri, artifact_root=config.artifacts_destination
    )
    tags = [ModelVersionTag(key=t.key, value=t.value or "") for t in body.tags]
    version = store.create_model_version(body.name, body.source, run_id, tags, body.run_link or None, body.description)
    return _version_answer(version)


@router.patch("/model-versions/update", response_model=rs.ModelVersionAnswer)
def update_model_version(body: rs.UpdateModelVersion, store: StoreDep) -> JSONBody:
    return _version_answer(store.update_model_version(body.name, body.version, body.description))


@router.post("/model-versions/transition-stage", response_model=rs.ModelVersionAnswer)
def transition_model_version_stage(body: rs.TransitionStage, store: StoreDep) -> JSONBody:
    version = store.transition_model_version_stage(body.name, body.version, body.stage, body.archive_existing_versions)
    return _version_answer(version)


@router.delete("/model-versions/delete", response_model=s.Empty)
def delete_model_version(body: rs.ModelVersionRef, store: StoreDep) -> JSONBody:
    store.delete_model_version(body.name, body.version)
    return empty_response()


@router.get("/model-versions/get", response_model=rs.ModelVersionAnswer)
def get_model_version(name: str, version: str, store: StoreDep) -> JSONBody:
    return _version_answer(store.get_model_version(name, version))


@router.get("/model-versions/search", response_model=rs.ModelVersionsPage)
def search_model_versions(
    store: StoreDep,
    filter: str | None = None,  # MLflow's field name
    max_results: int = 10_000,
    order_by: Annotated[list[str] | None, Query()] = None,
    page_token: str | None = None,
) -> JSONBody:
    page = store.search_model_versions(filter or None, max_results, order_by or None, page_token or None)
    answer: dict[str, object] = {}
    if page:
        answer["model_versions"] = [wire.model_version_json(v) for v in page]
    if page.token:
        answer["next_page_token"] = page.token
    return json_response(answer)


@router.get("/model-versions/get-download-uri", response_model=rs.DownloadUriAnswer)
def get_model_version_download_uri(name: str, version: str, store: StoreDep) -> JSONBody:
    # The store keeps the resolved location (runs:/ sources resolved at registration); only
    # locations it could not resolve itself cost a second look-up.
    location = store.get_model_version_download_uri(name, version)
    return json_response({"artifact_uri": download_uri_for(location, store)})


@router.post("/model-versions/set-tag", response_model=s.Empty)
def set_model_version_tag(body: rs.SetModelVersionTag, store: StoreDep) -> JSONBody:
    store.set_model_version_tag(body.name, body.version, ModelVersionTag(key=body.key, value=body.value))
    return empty_response()


@router.delete("/model-versions/delete-tag", response_model=s.Empty)
def delete_model_version_tag(body: rs.DeleteModelVersionTag, store: StoreDep) -> JSONBody:
    store.delete_model_version_tag(body.name, body.version, body.key)
    return empty_response()
