"""MLflow 3's LoggedModel endpoints, and the run inputs/outputs that link runs to models and datasets.

Paths are relative to ``/api/2.0/mlflow`` (the app mounts them there and under ``/ajax-api``).
``mlflow.<flavor>.log_model`` in MLflow 3 calls, in order: ``POST logged-models`` (a PENDING model
whose ``artifact_uri`` is ``<experiment artifact root>/models/<model_id>/artifacts``), ``POST
runs/outputs``, ``runs/log-batch`` (the run's metrics re-logged with ``model_id``), the artifact
uploads, ``PATCH logged-models/<id>`` (READY) and, when registering, ``PATCH
logged-models/<id>/tags`` (``mlflow.modelVersions``). ``load_model("runs:/<run>/<name>")`` finds
the model through ``POST logged-models/search`` with ``name = '<name>'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter

from prefect_mltrack import wire
from prefect_mltrack.entities import Dataset, DatasetInput, InputTag
from prefect_mltrack.entities.logged_model import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    ModelMetric,
)
from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.server import logged_model_schemas as ls
from prefect_mltrack.server import schemas as s
from prefect_mltrack.server.http import ConfigDep, JSONBody, StoreDep, empty_response, json_response
from prefect_mltrack.store.base import AbstractStore

router = APIRouter()


def link_metrics_to_models(store: AbstractStore, run_id: str, metrics: Iterable[Any]) -> None:
    """Also record, as their model's metrics, the points of a ``runs/log-metric`` or
    ``runs/log-batch`` request that carry a ``model_id`` (MLflow 3 re-logs a run's metrics with the
    id of the model it just logged). Called by the tracking routes after the run's own write;
    points without a model id cost nothing.

    Example:
        >>> link_metrics_to_models(None, "r1", [])  # nothing linked, the store is not touched
    """
    linked = [m for m in metrics if getattr(m, "model_id", None)]
    if linked:
        store.log_model_metrics(
            [
                ModelMetric(
                    key=m.key,
                    value=wire.float_from_json(m.value),
                    timestamp=m.timestamp,
                    step=m.step,
                    run_id=run_id,
                    model_id=m.model_id,
                    dataset_name=getattr(m, "dataset_name", None) or None,
                    dataset_digest=getattr(m, "dataset_digest", None) or None,
                )
                for m in linked
            ]
        )


def _model_answer(model: LoggedModel) -> JSONBody:
    return json_response({"model": wire.logged_model_json(model)})


def _check_path_id(path_id: str, body_id: str | None) -> None:
    # MLflow's client repeats the id in the body; a different one is a caller's bug, not a choice.
    if body_id and body_id != path_id:
        raise InvalidParameterError(f"model_id {body_id!r} in the body differs from {path_id!r} in the path.")


# -- logged models ---------------------------------------------------------------------------------
@router.post("/logged-models", response_model=ls.LoggedModelAnswer)
def create_logged_model(body: ls.CreateLoggedModel, store: StoreDep) -> JSONBody:
    model = store.create_logged_model(
        body.experiment_id,
        name=body.name or None,
        source_run_id=body.source_run_id or None,
        tags=[LoggedModelTag(key=t.key, value=t.value or "") for t in body.tags],
        params=[LoggedModelParameter(key=p.key, value=p.value or "") for p in body.params],
        model_type=body.model_type or None,
    )
    return _model_answer(model)


@router.post("/logged-models/search", response_model=ls.LoggedModelsPage)
def search_logged_models(body: ls.SearchLoggedModels, store: StoreDep) -> JSONBody:
    page = store.search_logged_models(
        body.experiment_ids,
        filter_string=body.filter or None,
        datasets=[d.model_dump(exclude_none=True) for d in body.datasets] or None,
        max_results=body.max_results,
        order_by=[o.model_dump(exclude_none=True) for o in body.order_by] or None,
        page_token=body.page_token or None,
    )
    answer: dict[str, object] = {}
    if page:
        answer["models"] = [wire.logged_model_json(m) for m in page]
    if page.token:
        answer["next_page_token"] = page.token
    return json_response(answer)


@router.get("/logged-models/{model_id}", response_model=ls.LoggedModelAnswer)
def get_logged_model(model_id: str, store: StoreDep, allow_deleted: bool = False) -> JSONBody:
    return _model_answer(store.get_logged_model(model_id, allow_deleted=allow_deleted))


@router.patch("/logged-models/{model_id}", response_model=ls.LoggedModelAnswer)
def finalize_logged_model(model_id: str, body: ls.FinalizeLoggedModel, store: StoreDep) -> JSONBody:
    _check_path_id(model_id, body.model_id)
    return _model_answer(store.finalize_logged_model(model_id, LoggedModelStatus.from_wire(body.status)))


@router.delete("/logged-models/{model_id}", response_model=s.Empty)
def delete_logged_model(model_id: str, store: StoreDep) -> JSONBody:
    store.delete_logged_model(model_id)
    return empty_response()


@router.patch("/logged-models/{model_id}/tags", response_model=s.Empty)
def set_logged_model_tags(model_id: str, body: ls.SetLoggedModelTags, store: StoreDep) -> JSONBody:
    store.set_logged_model_tags(model_id, [LoggedModelTag(key=t.key, value=t.value or "") for t in body.tags])
    return empty_response()


@router.delete("/logged-models/{model_id}/tags/{tag_key:path}", response_model=s.Empty)
def delete_logged_model_tag(model_id: str, tag_key: str, store: StoreDep) -> JSONBody:
    store.delete_logged_model_tag(model_id, tag_key)
    return empty_response()


@router.post("/logged-models/{model_id}/params", response_model=s.Empty)
def log_logged_model_params(model_id: str, body: ls.LogLoggedModelParams, store: StoreDep) -> JSONBody:
    _check_path_id(model_id, body.model_id)
    store.log_logged_model_params(model_id, [LoggedModelParameter(key=p.key, value=p.value or "") for p in body.params])
    return empty_response()


@router.get("/logged-models/{model_id}/artifacts/directories", response_model=ls.LoggedModelArtifacts)
def list_logged_model_artifacts(
    model_id: str,
    store: StoreDep,
    config: ConfigDep,
    artifact_directory_path: str | None = None,
    page_token: str | None = None,
) -> JSONBody:
    """One level of the model's files, paths relative to its artifact root (MLflow's web UI and
    Databricks-style clients list a model this way)."""
    from prefect_mltrack.server.artifact_access import run_artifact_repository

    root = store.get_logged_model(model_id).artifact_location
    files = run_artifact_repository(root, config).list_artifacts(artifact_directory_path or None)
    answer: dict[str, object] = {"root_uri": root}
    if files:
        answer["files"] = [wire.file_info_json(f) for f in files]
    return json_response(answer)


# -- run outputs and inputs ------------------------------------------------------------------------
@router.post("/runs/outputs", response_model=s.Empty)
def log_outputs(body: ls.LogOutputs, store: StoreDep) -> JSONBody:
    store.log_outputs(body.run_id, [LoggedModelOutput(model_id=m.model_id, step=m.step) for m in body.models])
    return empty_response()


@router.post("/runs/log-inputs", response_model=s.Empty)
def log_inputs(body: ls.LogInputs, store: StoreDep) -> JSONBody:
    datasets = [
        DatasetInput(
            dataset=Dataset(
                name=item.dataset.name,
                digest=item.dataset.digest,
                source_type=item.dataset.source_type,
                source=item.dataset.source,
                schema=item.dataset.schema_ or None,
                profile=item.dataset.profile or None,
            ),
            tags=[InputTag(key=t.key, value=t.value) for t in item.tags],
        )
        for item in body.datasets
    ]
    store.log_inputs(body.run_id, datasets, [LoggedModelInput(model_id=m.model_id) for m in body.models])
    return empty_response()
