"""Coarse tracking operations as Prefect tasks: one task run per bulk call, retried when transient.

Per-step logging (``log_metric`` in a training loop) stays a plain function call; use these for
the operations worth seeing in the Prefect UI. Each task writes to the active run (thread-pool
runner) or to the run passed as ``run=`` (a ``RunHandle`` or a run id, for process and Dask runners).

    from prefect_mltrack.tasks import log_metrics_task, log_params_task

    @flow
    @track(experiment="iris")
    def train():
        log_params_task({"max_depth": 5})
        log_metrics_task({"accuracy": 0.97})
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from prefect_mltrack import fluent, settings
from prefect_mltrack.entities import Metric, Param
from prefect_mltrack.exceptions import MLTrackError
from prefect_mltrack.run_handle import RunHandle, resolve_run

__all__ = [
    "load_model_task",
    "log_artifacts_task",
    "log_metrics_task",
    "log_model_task",
    "log_params_task",
    "retry_on_transient_errors",
]


def retry_on_transient_errors(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only failures that can pass: a store that is busy or unreachable, not bad input.

    Errors with a 4xx code (invalid value, missing run, already exists) fail at once.
    """
    try:
        state.result()
    except MLTrackError as exc:
        return exc.http_status >= 500
    except Exception:
        return True
    return False


_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [1, 5],
    "retry_condition_fn": retry_on_transient_errors,
}


def _client_for(run: RunHandle | str | None) -> tuple[Any, str]:
    run_id, uri = resolve_run(run)
    with settings.tracking_uri_scope(uri):
        return fluent._client(), run_id


@task(name="Log params", description="Log a mapping of params to a tracking run in one write.", **_RETRIES)
def log_params_task(params: Mapping[str, Any], run: RunHandle | str | None = None) -> None:
    """Log params in one atomic write (same value again: no-op; a different one: an error)."""
    client, run_id = _client_for(run)
    client.log_batch(run_id, params=[Param(key=str(k), value=str(val)) for k, val in params.items()])


@task(name="Log metrics", description="Log a mapping of metrics to a tracking run in one write.", **_RETRIES)
def log_metrics_task(metrics: Mapping[str, float], step: int | None = None, run: RunHandle | str | None = None) -> None:
    """Log metric values at ``step`` (default 0) in one atomic write."""
    from prefect_mltrack.client import now_ms

    client, run_id = _client_for(run)
    timestamp = now_ms()
    points = [Metric(key=str(k), value=val, timestamp=timestamp, step=step or 0) for k, val in metrics.items()]
    client.log_batch(run_id, metrics=points)


@task(name="Log artifacts", description="Copy a local file or folder into a tracking run's artifacts.", **_RETRIES)
def log_artifacts_task(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run: RunHandle | str | None = None
) -> None:
    """Log a file, or every file under a folder, under ``artifact_path`` of the run's artifacts."""
    client, run_id = _client_for(run)
    if os.path.isdir(local_path):
        client.log_artifacts(run_id, local_path, artifact_path)
    else:
        client.log_artifact(run_id, local_path, artifact_path)


@task(
    name="Log model",
    description="Save a model in MLflow's format into a tracking run's artifacts (optionally registering it).",
    cache_policy=NO_CACHE,  # a fitted model is not worth hashing for a cache key
    **_RETRIES,
)
def log_model_task(
    model: Any, artifact_path: str = "model", flavor: str = "sklearn", run: RunHandle | str | None = None, **kwargs: Any
) -> Any:
    """``prefect_mltrack.<flavor>.log_model`` as a task; returns the ``ModelInfo``.

    ``flavor`` is ``sklearn`` (``model`` is the estimator) or ``pyfunc`` (``model`` is a
    ``PythonModel``); other keyword arguments (``input_example``, ``registered_model_name``, …) pass through.
    """
    import importlib

    if flavor not in ("sklearn", "pyfunc"):
        raise MLTrackError(f"flavor must be 'sklearn' or 'pyfunc', not {flavor!r}", "INVALID_PARAMETER_VALUE")
    module = importlib.import_module(f"prefect_mltrack.{flavor}")
    run_id, uri = resolve_run(run)
    handle = RunHandle(run_id=run_id, tracking_uri=uri or settings.get_tracking_uri())
    active = fluent.active_run()
    if active is not None and active.info.run_id == run_id and uri is None:
        return _log(module, flavor, model, artifact_path, kwargs)
    with handle.activate():
        return _log(module, flavor, model, artifact_path, kwargs)


def _log(module: Any, flavor: str, model: Any, artifact_path: str, kwargs: dict[str, Any]) -> Any:
    if flavor == "pyfunc":
        return module.log_model(artifact_path, python_model=model, **kwargs)
    return module.log_model(model, artifact_path, **kwargs)


@task(name="Load model", description="Load a model as a pyfunc model from a runs:/ or models:/ URI.", **_RETRIES)
def load_model_task(model_uri: str) -> Any:
    """``pyfunc.load_model`` as a task; returns the ``PyFuncModel``."""
    from prefect_mltrack import pyfunc

    return pyfunc.load_model(model_uri)
