"""MLflow's tracking endpoints: experiments, runs, metrics, params, tags, batches, search, history.

Paths are relative to ``/api/2.0/mlflow`` (the app mounts them there and under ``/ajax-api``).
Each route validates the request with a pydantic model, makes one store call and answers with a
dict from :mod:`prefect_mltrack.wire`. Routes are plain ``def``: the store blocks, so FastAPI
runs them in its thread pool and the event loop stays free.
"""

from __future__ import annotations

import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Query

from prefect_mltrack import validation as v
from prefect_mltrack import wire
from prefect_mltrack.entities import ExperimentTag, Metric, Param, RunStatus, RunTag, ViewType
from prefect_mltrack.exceptions import InvalidParameterError, ResourceNotFoundError
from prefect_mltrack.server import schemas as s
from prefect_mltrack.server.http import ConfigDep, JSONBody, StoreDep, empty_response, json_response
from prefect_mltrack.server.routes.logged_models import link_metrics_to_models

router = APIRouter()

MAX_HISTORY_PAGE = 25_000
MAX_BULK_RUNS = 100


def _view_type(value: str) -> ViewType:
    try:
        return ViewType.from_string(value) if not (value.isascii() and value.isdigit()) else ViewType(int(value))
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None


def _run_id(body: s.Body) -> str:
    run_id = getattr(body, "run_id", None) or getattr(body, "run_uuid", None)
    if not run_id:
        raise InvalidParameterError("Missing value for required parameter 'run_id'. Give the id of the run.")
    return str(run_id)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- experiments ---------------------------------------------------------------------------------
@router.post("/experiments/create", response_model=s.ExperimentIdOut)
def create_experiment(body: s.CreateExperiment, store: StoreDep, config: ConfigDep) -> JSONBody:
    location = body.artifact_location or None
    if location:
        from prefect_mltrack.server.uri_policy import validate_artifact_location

        location = validate_artifact_location(location, artifact_root=config.artifacts_destination)
    tags = [ExperimentTag(key=t.key, value=t.value or "") for t in body.tags]
    experiment_id = store.create_experiment(body.name, location, tags)
    return json_response({"experiment_id": experiment_id})


@router.get("/experiments/get", response_model=s.ExperimentAnswer)
def get_experiment(experiment_id: str, store: StoreDep) -> JSONBody:
    return json_response({"experiment": wire.experiment_json(store.get_experiment(experiment_id))})


@router.get("/experiments/get-by-name", response_model=s.ExperimentAnswer)
def get_experiment_by_name(experiment_name: str, store: StoreDep) -> JSONBody:
    experiment = store.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise ResourceNotFoundError(f"Could not find experiment with name '{experiment_name}'")
    return json_response({"experiment": wire.experiment_json(experiment)})


def _search_experiments(body: s.SearchExperiments, store: StoreDep) -> JSONBody:
    max_results = v.validate_max_results(body.max_results, v.MAX_RESULTS_SEARCH_EXPERIMENTS)
    page = store.search_experiments(
        _view_type(body.view_type), max_results, body.filter or None, body.order_by or None, body.page_token or None
    )
    answer: dict[str, object] = {}
    if page:
        answer["experiments"] = [wire.experiment_json(e) for e in page]
    if page.token:
        answer["next_page_token"] = page.token
    return json_response(answer)


@router.post("/experiments/search", response_model=s.ExperimentsPage)
def search_experiments(body: s.SearchExperiments, store: StoreDep) -> JSONBody:
    return _search_experiments(body, store)


@router.get("/experiments/search", response_model=s.ExperimentsPage)
def search_experiments_get(
    store: StoreDep,
    max_results: int = 1000,
    page_token: str | None = None,
    filter: str | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    view_type: str = "ACTIVE_ONLY",
) -> JSONBody:
    body = s.SearchExperiments(
        max_results=max_results, page_token=page_token, filter=filter, order_by=order_by or [], view_type=view_type
    )
    return _search_experiments(body, store)


@router.post("/experiments/delete", response_model=s.Empty)
def delete_experiment(body: s.ExperimentId, store: StoreDep) -> JSONBody:
    store.delete_experiment(body.experiment_id)
    return empty_response()


@router.post("/experiments/restore", response_model=s.Empty)
def restore_experiment(body: s.ExperimentId, store: StoreDep) -> JSONBody:
    store.restore_experiment(body.experiment_id)
    return empty_response()


@router.post("/experiments/update", response_model=s.Empty)
def update_experiment(body: s.UpdateExperiment, store: StoreDep) -> JSONBody:
    store.rename_experiment(body.experiment_id, body.new_name)
    return empty_response()


@router.post("/experiments/set-experiment-tag", response_model=s.Empty)
def set_experiment_tag(body: s.SetExperimentTag, store: StoreDep) -> JSONBody:
    store.set_experiment_tag(body.experiment_id, ExperimentTag(key=body.key, value=body.value))
    return empty_response()


@router.post("/experiments/delete-experiment-tag", response_model=s.Empty)
def delete_experiment_tag(body: s.DeleteExperimentTag, store: StoreDep) -> JSONBody:
    store.delete_experiment_tag(body.experiment_id, body.key)
    return empty_response()


# -- runs ----------------------------------------------------------------------------------------
@router.post("/runs/create", response_model=s.RunAnswer)
def create_run(body: s.CreateRun, store: StoreDep) -> JSONBody:
    tags = [RunTag(key=t.key, value=t.value or "") for t in body.tags]
    run = store.create_run(
        body.experiment_id,
        user_id=body.user_id,
        start_time=body.start_time if body.start_time is not None else _now_ms(),
        tags=tags,
        run_name=body.run_name or None,
        run_id=body.run_id or None,
    )
    return json_response({"run": wire.run_json(run)})


@router.post("/runs/update", response_model=s.RunInfoAnswer)
def update_run(body: s.UpdateRun, store: StoreDep) -> JSONBody:
    status = None
    if body.status:
        try:
            status = RunStatus.from_string(body.status)
        except ValueError:
            raise InvalidParameterError(
                f"Invalid run status {body.status!r}; use one of {', '.join(RunStatus)}"
            ) from None
    info = store.update_run_info(_run_id(body), status, body.end_time, body.run_name or None)
    return json_response({"run_info": wire.run_info_json(info)})


@router.post("/runs/delete", response_model=s.Empty)
def delete_run(body: s.RunId, store: StoreDep) -> JSONBody:
    store.delete_run(body.run_id)
    return empty_response()


@router.post("/runs/restore", response_model=s.Empty)
def restore_run(body: s.RunId, store: StoreDep) -> JSONBody:
    store.restore_run(body.run_id)
    return empty_response()


@router.get("/runs/get", response_model=s.RunAnswer)
def get_run(store: StoreDep, run_id: str | None = None, run_uuid: str | None = None) -> JSONBody:
    run_id = run_id or run_uuid
    if not run_id:
        raise InvalidParameterError("Missing value for required parameter 'run_id'. Give the id of the run.")
    return json_response({"run": wire.run_json(store.get_run(run_id))})


@router.post("/runs/search", response_model=s.RunsPage)
def search_runs(body: s.SearchRuns, store: StoreDep) -> JSONBody:
    max_results = v.validate_max_results(body.max_results, v.MAX_RESULTS_SEARCH_RUNS)
    page = store.search_runs(
        body.experiment_ids,
        body.filter or None,
        _view_type(body.run_view_type),
        max_results,
        body.order_by or None,
        body.page_token or None,
    )
    answer: dict[str, object] = {}
    if page:
        answer["runs"] = [wire.run_json(run) for run in page]
    if page.token:
        answer["next_page_token"] = page.token
    return json_response(answer)


@router.post("/runs/log-metric", response_model=s.Empty)
def log_metric(body: s.LogMetric, store: StoreDep) -> JSONBody:
    value = wire.float_from_json(body.value)
    run_id = _run_id(body)
    store.log_metric(run_id, Metric(key=body.key, value=value, timestamp=body.timestamp, step=body.step))
    link_metrics_to_models(store, run_id, [body])
    return empty_response()


@router.post("/runs/log-parameter", response_model=s.Empty)
def log_param(body: s.LogParam, store: StoreDep) -> JSONBody:
    store.log_param(_run_id(body), Param(key=body.key, value=body.value))
    return empty_response()


@router.post("/runs/set-tag", response_model=s.Empty)
def set_tag(body: s.SetTag, store: StoreDep) -> JSONBody:
    store.set_tag(_run_id(body), RunTag(key=body.key, value=body.value))
    return empty_response()


@router.post("/runs/delete-tag", response_model=s.Empty)
def delete_tag(body: s.DeleteTag, store: StoreDep) -> JSONBody:
    store.delete_tag(body.run_id, body.key)
    return empty_response()


@router.post("/runs/log-batch", response_model=s.Empty)
def log_batch(body: s.LogBatch, store: StoreDep) -> JSONBody:
    v.validate_batch_limits(len(body.metrics), len(body.params), len(body.tags))
    keys = [p.key for p in body.params]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise InvalidParameterError(
            f"Duplicate parameter keys have been submitted: {dupes}. Please ensure the request contains only "
            "one param value per param key."
        )
    store.log_batch(
        body.run_id,
        metrics=[
            Metric(key=m.key, value=wire.float_from_json(m.value), timestamp=m.timestamp, step=m.step)
            for m in body.metrics
        ],
        params=[Param(key=p.key, value=p.value or "") for p in body.params],
        tags=[RunTag(key=t.key, value=t.value or "") for t in body.tags],
    )
    link_metrics_to_models(store, body.run_id, body.metrics)
    return empty_response()


@router.post("/runs/log-model", response_model=s.Empty)
def log_model(body: s.LogModel, store: StoreDep) -> JSONBody:
    """MLflow 2's model history: append the model's JSON to the run's ``mlflow.log-model.history`` tag."""
    try:
        model = orjson.loads(body.model_json)
    except orjson.JSONDecodeError as exc:
        raise InvalidParameterError(f"model_json is not valid JSON: {exc}") from None
    if not isinstance(model, dict):
        raise InvalidParameterError("model_json must be a JSON object describing the logged model")
    from prefect_mltrack.models.saving import LOGGED_MODELS_TAG, append_model_history

    history = append_model_history(store.get_run(body.run_id).data.tags.get(LOGGED_MODELS_TAG), model)
    if history is None:
        raise InvalidParameterError("model_json is too large to record in the run's model history")
    store.set_tag(body.run_id, RunTag(key=LOGGED_MODELS_TAG, value=history))
    return empty_response()


# -- metric history ------------------------------------------------------------------------------
@router.get("/metrics/get-history", response_model=s.MetricsPage)
def get_metric_history(
    store: StoreDep,
    metric_key: str,
    run_id: str | None = None,
    run_uuid: str | None = None,
    page_token: str | None = None,
    max_results: int | None = None,
) -> JSONBody:
    run = run_id or run_uuid
    if not run:
        raise InvalidParameterError("Missing value for required parameter 'run_id'. Give the id of the run.")
    limit = v.validate_max_results(max_results, MAX_HISTORY_PAGE) if max_results is not None else None
    page = store.get_metric_history(run, metric_key, limit, page_token or None)
    answer: dict[str, object] = {}
    if page:
        answer["metrics"] = [wire.metric_json(m) for m in page]
    if page.token:
        answer["next_page_token"] = page.token
    return json_response(answer)


@router.get("/metrics/get-history-bulk-interval", response_model=s.MetricsPage)
def get_metric_history_bulk_interval(
    store: StoreDep,
    metric_key: str,
    run_ids: Annotated[list[str], Query()],
    start_step: int | None = None,
    end_step: int | None = None,
    max_results: int = 320,
) -> JSONBody:
    """Each run's history of one metric between two steps, downsampled to ``max_results`` points per
    run keeping the first, last, lowest and highest points of every bucket (so spikes stay visible)."""
    if not run_ids:
        raise InvalidParameterError("GetMetricHistoryBulkInterval needs at least one run id in 'run_ids'")
    if len(run_ids) > MAX_BULK_RUNS:
        raise InvalidParameterError(f"GetMetricHistoryBulkInterval takes at most {MAX_BULK_RUNS} run ids")
    if max_results < 1 or max_results > MAX_HISTORY_PAGE:
        raise InvalidParameterError(f"max_results must be between 1 and {MAX_HISTORY_PAGE}, got {max_results}")
    points: list[dict[str, object]] = []
    for run_id in dict.fromkeys(run_ids):
        sampled = store.get_metric_history_sampled(run_id, metric_key, max_results, start_step, end_step)
        points.extend(wire.metric_json(m, run_id) for m in sampled)
    return json_response({"metrics": points} if points else {})


# -- artifacts -----------------------------------------------------------------------------------
@router.get("/artifacts/list", response_model=s.ArtifactListing)
def list_artifacts(
    store: StoreDep,
    config: ConfigDep,
    run_id: str | None = None,
    run_uuid: str | None = None,
    path: str | None = None,
    page_token: str | None = None,
) -> JSONBody:
    from prefect_mltrack.server.artifact_access import run_artifact_repository

    run = store.get_run(run_id or run_uuid or "")
    root = run.info.artifact_uri or ""
    files = run_artifact_repository(root, config).list_artifacts(path or None)
    answer: dict[str, object] = {"root_uri": root}
    if files:
        answer["files"] = [wire.file_info_json(f) for f in files]
    return json_response(answer)
