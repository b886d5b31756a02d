"""``TrackingClient`` (also ``MlflowClient``): the explicit, run-id based API over a store,
tracking here and the model registry in :mod:`prefect_mltrack.registry_client`.

Example:
    >>> from prefect_mltrack.client import MlflowClient
    >>> client = MlflowClient()                                    # doctest: +SKIP
    >>> run = client.create_run("0", run_name="manual")             # doctest: +SKIP
    >>> client.log_metric(run.info.run_id, "loss", 0.5, step=1)     # doctest: +SKIP
    >>> client.set_terminated(run.info.run_id)                      # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prefect_mltrack.entities import (
    Experiment,
    ExperimentTag,
    FileInfo,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from prefect_mltrack.entities._base import trusted
from prefect_mltrack.exceptions import InvalidParameterError, ResourceNotFoundError
from prefect_mltrack.registry_client import RegistryClientMixin
from prefect_mltrack.store import get_store

if TYPE_CHECKING:
    from prefect_mltrack.artifacts import ArtifactRepository
    from prefect_mltrack.async_logging import AsyncBatchLogger, RunOperations
    from prefect_mltrack.store.base import AbstractStore

PARENT_RUN_TAG = "mlflow.parentRunId"
_HISTORY_PAGE = 25_000


def now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


class TrackingClient(RegistryClientMixin):
    """Tracking operations addressed by experiment and run id, under MLflow's ``MlflowClient`` names;
    the model-registry operations come from :class:`~prefect_mltrack.registry_client.RegistryClientMixin`."""

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        from prefect_mltrack.settings import get_tracking_uri, normalize_tracking_uri

        self.tracking_uri = normalize_tracking_uri(tracking_uri) if tracking_uri else get_tracking_uri()
        self._registry_uri = registry_uri or self.tracking_uri
        self._store: AbstractStore | None = None
        self._artifact_repos: dict[str, ArtifactRepository] = {}
        self._async_logger: AsyncBatchLogger | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> AbstractStore:
        if self._store is None:
            self._store = get_store(self.tracking_uri)
        return self._store

    # -- experiments ---------------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> str:
        return self.store.create_experiment(
            name, artifact_location, [ExperimentTag(key=k, value=v) for k, v in (tags or {}).items()]
        )

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.store.rename_experiment(str(experiment_id), new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(str(experiment_id))

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.store.set_experiment_tag(str(experiment_id), ExperimentTag(key=key, value=value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.store.delete_experiment_tag(str(experiment_id), key)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        return self.store.search_experiments(view_type, max_results, filter_string, order_by, page_token)

    # -- runs ----------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
        *,
        run_id: str | None = None,
    ) -> Run:
        """Create a run; ``run_id`` picks its id (e.g. derived from a Prefect flow run id) instead of a new one."""
        from prefect_mltrack.run_context import default_run_tags

        merged = {**default_run_tags(), **{k: str(v) for k, v in (tags or {}).items()}}
        return self.store.create_run(
            str(experiment_id),
            user_id=merged.get("mlflow.user", ""),
            start_time=start_time,
            tags=[RunTag(key=k, value=v) for k, v in merged.items()],
            run_name=run_name,
            run_id=run_id,
        )

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        parent_id = self.get_run(run_id).data.tags.get(PARENT_RUN_TAG)
        return self.get_run(parent_id) if parent_id else None

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> RunInfo:
        return self.store.update_run_info(run_id, RunStatus(status) if status else None, run_name=name)

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        self.flush_async_logging()
        self.store.update_run_info(
            run_id, RunStatus(status or RunStatus.FINISHED), end_time=end_time if end_time is not None else now_ms()
        )

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(run_id)

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        ids = [experiment_ids] if isinstance(experiment_ids, str) else [str(i) for i in experiment_ids]
        return self.store.search_runs(ids, filter_string, run_view_type, max_results, order_by, page_token)

    # -- params, metrics, tags -----------------------------------------------------------------
    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        self._log(run_id, params=[Param(key=key, value=value)], synchronous=synchronous)
        return value

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        # Validated by the store; skipping pydantic here keeps per-step logging cheap.
        metric = trusted(
            Metric,
            key=key,
            value=value,
            timestamp=now_ms() if timestamp is None else timestamp,
            step=step or 0,
            run_id=None,
        )
        return self._log(run_id, metrics=[metric], synchronous=synchronous)

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> RunOperations | None:
        return self._log(run_id, tags=[RunTag(key=key, value=value)], synchronous=synchronous)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        return self._log(run_id, list(metrics), list(params), list(tags), synchronous=synchronous)

    def _log(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        if not _is_synchronous(synchronous):
            return self._async().enqueue(run_id, metrics, params, tags)
        from prefect_mltrack.validation import split_batch

        # Larger requests are split as MLflow's client splits them; each chunk is atomic.
        for chunk in split_batch(list(metrics), list(params), list(tags)):
            self.store.log_batch(run_id, *chunk)
        return None

    def _async(self) -> AsyncBatchLogger:
        with self._lock:
            if self._async_logger is None:
                from prefect_mltrack.async_logging import AsyncBatchLogger

                self._async_logger = AsyncBatchLogger(self.store.log_batch)
            return self._async_logger

    def flush_async_logging(self) -> None:
        if self._async_logger is not None:
            self._async_logger.flush()

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        history: list[Metric] = []
        token: str | None = None
        while True:
            page = self.store.get_metric_history(run_id, key, max_results=None, page_token=token)
            history.extend(page)
            token = page.token
            if not token:
                return history

    # -- artifacts -----------------------------------------------------------------------------
    def _artifact_repo(self, run_id: str) -> ArtifactRepository:
        repo = self._artifact_repos.get(run_id)
        if repo is None:
            from prefect_mltrack.artifacts import get_artifact_repository
            from prefect_mltrack.settings import tracking_uri_scope

            artifact_uri = self.get_run(run_id).info.artifact_uri
            if not artifact_uri:
                raise ResourceNotFoundError(f"Run {run_id} has no artifact location")
            # A proxy URI (mlflow-artifacts:/...) is reached through this client's server.
            with tracking_uri_scope(self.tracking_uri):
                repo = self._artifact_repos[run_id] = get_artifact_repository(artifact_uri)
        return repo

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        self._artifact_repo(run_id).log_artifact(local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        self._artifact_repo(run_id).log_artifacts(local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        if not isinstance(text, str):
            raise InvalidParameterError(f"log_text needs a str; got {type(text).__name__}")
        self._artifact_repo(run_id).write_bytes(text.encode("utf-8"), artifact_file)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        extension = posixpath.splitext(artifact_file)[1].lower()
        if extension in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(dictionary, default_flow_style=False, sort_keys=False)
        else:
            text = json.dumps(dictionary, indent=2, allow_nan=True)
        self.log_text(run_id, text, artifact_file)

    def log_figure(
        self, run_id: str, figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None
    ) -> None:
        """Save a matplotlib figure (any format savefig knows) or a plotly figure (``.html``)."""
        extension = posixpath.splitext(artifact_file)[1].lower().lstrip(".")
        if type(figure).__module__.startswith("plotly"):
            if extension != "html":
                raise InvalidParameterError(f"Plotly figures are saved as .html; got {artifact_file!r}")
            data = figure.to_html(**(save_kwargs or {})).encode("utf-8")
        elif hasattr(figure, "savefig"):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=extension or "png", **(save_kwargs or {}))
            data = buffer.getvalue()
        else:
            raise InvalidParameterError(f"log_figure takes a matplotlib or plotly figure; got {type(figure).__name__}")
        self._artifact_repo(run_id).write_bytes(data, artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self._artifact_repo(run_id).list_artifacts(path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | os.PathLike[str] | None = None) -> str:
        if dst_path is None:
            dst_path = tempfile.mkdtemp(prefix="mltrack-artifacts-")
        return self._artifact_repo(run_id).download_artifacts(path, dst_path)


def _is_synchronous(synchronous: bool | None) -> bool:
    if synchronous is not None:
        return synchronous
    flag = os.environ.get("MLTRACK_ENABLE_ASYNC_LOGGING") or os.environ.get("MLFLOW_ENABLE_ASYNC_LOGGING") or ""
    return flag.strip().lower() not in ("1", "true", "yes", "on")


# MLflow's name for the same class.
MlflowClient = TrackingClient
