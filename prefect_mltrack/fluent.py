"""The fluent API: module-level functions under MLflow's names, acting on the active run.

The active-run stack lives in a ContextVar holding an immutable tuple, so each thread and each
asyncio task sees its own stack (a copied context, as Prefect's task runners make, starts from the
parent's runs). It is reached only through these functions.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from prefect_mltrack import settings
from prefect_mltrack.client import PARENT_RUN_TAG, TrackingClient, now_ms
from prefect_mltrack.entities import (
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from prefect_mltrack.entities._base import trusted
from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError

if TYPE_CHECKING:
    import pandas as pd

    from prefect_mltrack.async_logging import RunOperations

NOTE_TAG = "mlflow.note.content"

_active_runs: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar("mltrack_active_runs", default=())
_active_experiment_id: str | None = None
_last_active_run_id: str | None = None
_clients: dict[str, TrackingClient] = {}
_clients_lock = threading.Lock()


def _client() -> TrackingClient:
    """One client per tracking URI, so set_tracking_uri switches stores without losing caches."""
    uri = settings.get_tracking_uri()
    client = _clients.get(uri)
    if client is None:
        with _clients_lock:
            client = _clients.setdefault(uri, TrackingClient(uri))
    return client


class ActiveRun:
    """The run ``start_run`` returns; use it as a context manager.

    Leaving the ``with`` block ends the run: FINISHED, or FAILED when an exception escaped
    (KILLED for KeyboardInterrupt).

    Example:
        >>> with start_run(run_name="demo") as run:          # doctest: +SKIP
        ...     log_metric("loss", 0.1)
    """

    def __init__(self, run: Run) -> None:
        self._run = run

    @property
    def info(self) -> Any:
        return self._run.info

    @property
    def data(self) -> Any:
        return self._run.data

    @property
    def inputs(self) -> Any:
        return self._run.inputs

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        if any(r.info.run_id == self.info.run_id for r in _active_runs.get()):
            end_run(status, _run_id=self.info.run_id)

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self.info.run_id!r}, run_name={self.info.run_name!r}>"


# -- experiments ---------------------------------------------------------------------------------
def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment the one new runs go to, creating it by name if it does not exist."""
    global _active_experiment_id
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameterError("set_experiment needs exactly one of experiment_name or experiment_id.")
    client = _client()
    experiment: Experiment | None
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    else:
        assert experiment_name is not None
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is None:
            try:
                new_id = client.create_experiment(experiment_name)
            except MLTrackError as exc:  # another process created it first
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                found = client.get_experiment_by_name(experiment_name)
                if found is None:
                    raise
                new_id = found.experiment_id
            experiment = client.get_experiment(new_id)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidParameterError(
            f"Cannot set a deleted experiment {experiment.name!r} as the active experiment. Restore it with "
            "MlflowClient().restore_experiment(), or permanently delete it with 'mltrack gc' and create it again."
        )
    _active_experiment_id = experiment.experiment_id
    return experiment


def create_experiment(name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None) -> str:
    return _client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _client().get_experiment_by_name(name)


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(experiment_id)


def search_experiments(
    view_type: ViewType = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[Experiment]:
    """Every matching experiment (all pages), or the first ``max_results``."""
    client, token = _client(), None
    found: list[Experiment] = []
    while True:
        want = 1000 if max_results is None else min(1000, max_results - len(found))
        page = client.search_experiments(view_type, want, filter_string, order_by, token)
        found.extend(page)
        token = page.token
        if not token or (max_results is not None and len(found) >= max_results):
            return found


def set_experiment_tag(key: str, value: Any) -> None:
    _client().set_experiment_tag(_current_experiment_id(), key, value)


def set_experiment_tags(tags: Mapping[str, Any]) -> None:
    for key, value in tags.items():
        set_experiment_tag(key, value)


def _current_experiment_id() -> str:
    if _active_experiment_id is not None:
        return _active_experiment_id
    name = settings.env("EXPERIMENT_NAME")
    if name:
        return set_experiment(experiment_name=name).experiment_id
    return settings.env("EXPERIMENT_ID") or "0"


# -- runs ----------------------------------------------------------------------------------------
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a new run, or resume one by id (``run_id`` or ``MLTRACK_RUN_ID``), and make it active.

    A child run (``nested=True`` or ``parent_run_id``) goes into its parent's experiment unless an
    experiment was chosen (``experiment_id``, ``set_experiment`` or the environment).
    """
    stack = _active_runs.get()
    env_run_id = os.environ.get("MLTRACK_RUN_ID") or os.environ.get("MLFLOW_RUN_ID")
    if run_id is None and env_run_id and not stack:
        run_id = env_run_id
        # Like MLflow: the hand-over id is used once, so a later start_run makes a new run.
        os.environ.pop("MLTRACK_RUN_ID", None)
        os.environ.pop("MLFLOW_RUN_ID", None)
    if stack and not nested and parent_run_id is None:
        raise InvalidParameterError(
            f"Run with UUID {stack[-1].info.run_id} is already active. To start a new run, first end the "
            "current run with end_run(). To start a nested run, call start_run with nested=True."
        )
    if parent_run_id is not None and stack and stack[-1].info.run_id != parent_run_id:
        raise InvalidParameterError(
            f"parent_run_id {parent_run_id} does not match the active run {stack[-1].info.run_id}; "
            "end the active run first or pass its id."
        )
    client = _client()
    extra_tags = {k: str(v) for k, v in (tags or {}).items()}
    if description is not None:
        extra_tags[NOTE_TAG] = description
    parent = parent_run_id or (stack[-1].info.run_id if stack and nested else None)
    if parent:
        extra_tags[PARENT_RUN_TAG] = parent
    if run_id is not None:
        run = _resume(client, run_id, run_name, extra_tags)
    else:
        if experiment_id is not None:
            target = str(experiment_id)
        elif parent and not _experiment_chosen():
            # A child started from a bare parent id (a task on a process or Dask worker) joins the
            # parent's experiment, where the UI shows it nested, rather than the default one.
            same = stack and stack[-1].info.run_id == parent
            target = stack[-1].info.experiment_id if same else client.get_run(parent).info.experiment_id
        else:
            target = _current_experiment_id()
        run = client.create_run(target, tags=extra_tags, run_name=run_name)
    return _attach(run)


def _experiment_chosen() -> bool:
    return _active_experiment_id is not None or bool(settings.env("EXPERIMENT_NAME") or settings.env("EXPERIMENT_ID"))


def _attach(run: Run) -> ActiveRun:
    """Make an existing run the active one (innermost); the Prefect integration opens runs this way."""
    global _last_active_run_id
    active = ActiveRun(run)
    _active_runs.set((*_active_runs.get(), active))
    _last_active_run_id = run.info.run_id
    return active


def _resume(client: TrackingClient, run_id: str, run_name: str | None, tags: dict[str, str]) -> Run:
    run = client.get_run(run_id)
    if run.info.lifecycle_stage == LifecycleStage.DELETED:
        raise InvalidParameterError(f"Cannot start run with ID {run_id} because it is in the deleted state.")
    client.update_run(run_id, status=RunStatus.RUNNING, name=run_name)
    if tags:
        client.log_batch(run_id, tags=[RunTag(key=k, value=v) for k, v in tags.items()])
    return client.get_run(run_id)


def end_run(status: str = "FINISHED", *, _run_id: str | None = None) -> None:
    """End the active run (the innermost one) with ``status``; queued async writes are flushed first."""
    stack = _active_runs.get()
    if not stack:
        return
    target = stack[-1] if _run_id is None else next(r for r in reversed(stack) if r.info.run_id == _run_id)
    # Ending an outer run ends the runs nested inside it first.
    index = stack.index(target)
    client = _client()
    for run in reversed(stack[index:]):
        client.set_terminated(run.info.run_id, RunStatus(status).value)
    _active_runs.set(stack[:index])


def active_run() -> ActiveRun | None:
    stack = _active_runs.get()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    run = active_run()
    if run is not None:
        return _client().get_run(run.info.run_id)
    return _client().get_run(_last_active_run_id) if _last_active_run_id else None


def get_run(run_id: str) -> Run:
    return _client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    return _client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    _client().delete_run(run_id)


def _run_id(run_id: str | None = None) -> str:
    """The run a logging call targets: the explicit one, else the active run, else a new run."""
    if run_id is not None:
        return run_id
    stack = _active_runs.get()
    if stack:
        return stack[-1].info.run_id
    return start_run().info.run_id  # MLflow starts a run implicitly on the first log call


# -- logging -------------------------------------------------------------------------------------
def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    return _client().log_param(_run_id(), key, value, synchronous=synchronous)


def log_params(
    params: Mapping[str, Any], synchronous: bool | None = None, run_id: str | None = None
) -> RunOperations | None:
    return _client().log_batch(
        _run_id(run_id), params=[Param(key=k, value=v) for k, v in params.items()], synchronous=synchronous
    )


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
) -> RunOperations | None:
    return _client().log_metric(_run_id(run_id), key, value, timestamp, step, synchronous=synchronous)


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
) -> RunOperations | None:
    ts = now_ms() if timestamp is None else timestamp
    batch = [trusted(Metric, key=k, value=v, timestamp=ts, step=step or 0, run_id=None) for k, v in metrics.items()]
    return _client().log_batch(_run_id(run_id), metrics=batch, synchronous=synchronous)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> RunOperations | None:
    return _client().set_tag(_run_id(), key, value, synchronous=synchronous)


def set_tags(tags: Mapping[str, Any], synchronous: bool | None = None) -> RunOperations | None:
    return _client().log_batch(
        _run_id(), tags=[RunTag(key=k, value=v) for k, v in tags.items()], synchronous=synchronous
    )


def delete_tag(key: str) -> None:
    _client().delete_tag(_run_id(), key)


def flush_async_logging() -> None:
    """Block until every ``synchronous=False`` call so far is stored."""
    for client in list(_clients.values()):
        client.flush_async_logging()


# -- artifacts -----------------------------------------------------------------------------------
def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    _client().log_artifact(_run_id(run_id), local_path, artifact_path)


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    _client().log_artifacts(_run_id(run_id), local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_text(_run_id(run_id), text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_dict(_run_id(run_id), dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None) -> None:
    _client().log_figure(_run_id(), figure, artifact_file, save_kwargs=save_kwargs)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    from prefect_mltrack.artifacts import safe_artifact_path

    run = _client().get_run(_run_id())
    base = run.info.artifact_uri or ""
    return f"{base}/{safe_artifact_path(artifact_path)}" if artifact_path else base


# -- search --------------------------------------------------------------------------------------
def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: ViewType = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    output_format: Literal["pandas", "list"] = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> pd.DataFrame | list[Run]:
    """Runs matching MLflow's filter syntax, as a pandas DataFrame (MLflow's columns) or a list."""
    client = _client()
    if experiment_ids and experiment_names:
        raise InvalidParameterError("Give experiment_ids or experiment_names, not both.")
    if experiment_names:
        ids = []
        for name in experiment_names:
            experiment = client.get_experiment_by_name(name)
            if experiment is not None:
                ids.append(experiment.experiment_id)
    elif experiment_ids:
        ids = [str(i) for i in ([experiment_ids] if isinstance(experiment_ids, str) else experiment_ids)]
    elif search_all_experiments:
        ids = [e.experiment_id for e in search_experiments(view_type=ViewType.ALL)]
    else:
        ids = [_current_experiment_id()]
    runs: list[Run] = []
    token: str | None = None
    while len(runs) < max_results and ids:
        page = client.search_runs(
            ids, filter_string, run_view_type, min(50_000, max_results - len(runs)), order_by, token
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    if output_format == "list":
        return runs
    if output_format != "pandas":
        raise InvalidParameterError(f"Unsupported output_format {output_format!r}; use 'pandas' or 'list'.")
    from prefect_mltrack.dataframes import runs_to_dataframe

    return runs_to_dataframe(runs)


def _reset_for_tests() -> None:
    """Forget the active experiment, runs and clients (the test suite calls this between tests)."""
    global _active_experiment_id, _last_active_run_id
    _active_experiment_id = None
    _last_active_run_id = None
    _active_runs.set(())
    _clients.clear()
