"""The store seam: one typed interface for every tracking and registry backend.

``log_batch`` is the single write primitive for run data and must be atomic (all or nothing);
``log_metric``/``log_param``/``set_tag`` are thin calls to it. Backends (SQL now, REST later)
are chosen by URI scheme in :func:`prefect_mltrack.store.get_store`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from prefect_mltrack.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    ModelVersion,
    ModelVersionTag,
    PagedList,
    Param,
    RegisteredModel,
    RegisteredModelTag,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from prefect_mltrack.entities.logged_model import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    ModelMetric,
)
from prefect_mltrack.exceptions import MLTrackError

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


class AbstractStore(abc.ABC):
    """Tracking backend interface.

    Example:
        >>> from prefect_mltrack.store import get_store
        >>> store = get_store("sqlite:///:memory:")     # doctest: +SKIP
        >>> store.get_experiment("0").name                 # doctest: +SKIP
        'Default'
    """

    # -- experiments -------------------------------------------------------------------------
    @abc.abstractmethod
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] = ()
    ) -> str: ...

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment: ...

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    @abc.abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None: ...

    @abc.abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]: ...

    # -- runs ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(
        self,
        experiment_id: str,
        user_id: str = "",
        start_time: int | None = None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Create a run; ``run_id`` (an extension of MLflow's contract) lets an orchestrator derive the
        id from its own, e.g. a Prefect flow run id, and raises ``RESOURCE_ALREADY_EXISTS`` if taken."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    @abc.abstractmethod
    def update_run_info(
        self,
        run_id: str,
        run_status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo: ...

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Write metrics, params and tags in one transaction: all of them or none."""

    def log_metric(self, run_id: str, metric: Metric) -> None:
        self.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, param: Param) -> None:
        self.log_batch(run_id, params=[param])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self.log_batch(run_id, tags=[tag])

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def get_metric_history(
        self, run_id: str, metric_key: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Metric]: ...

    def get_metric_history_sampled(
        self,
        run_id: str,
        metric_key: str,
        max_points: int,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> list[Metric]:
        """About ``max_points`` points of a history between two steps, extremes kept, for charts.

        This default reads the whole history; the SQL store groups it in the database instead.
        """
        from prefect_mltrack.metric_sampling import downsample

        history: list[Metric] = self.get_metric_history(run_id, metric_key)
        if start_step is not None or end_step is not None:
            lo = start_step if start_step is not None else -(2**63)
            hi = end_step if end_step is not None else 2**63
            history = [m for m in history if lo <= m.step <= hi]
        return downsample(history, max_points)

    @abc.abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]: ...

    # -- maintenance (mltrack gc) --------------------------------------------------------------
    @abc.abstractmethod
    def deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        """Runs in the deleted stage whose deletion is older than ``older_than_ms`` (all when None)."""

    @abc.abstractmethod
    def purge_run(self, run_id: str) -> None:
        """Remove a deleted run and everything it logged, for good."""

    @abc.abstractmethod
    def deleted_experiment_ids(self, older_than_ms: int | None = None) -> list[str]: ...

    @abc.abstractmethod
    def purge_experiment(self, experiment_id: str) -> None:
        """Remove a deleted experiment (its runs must be purged first) so its name can be reused."""

    # ==========================================================================================
    # -- registry: registered models, versions, stages, aliases (MLflow's names and rules) ----
    # ==========================================================================================
    # Names are validated by the store; versions are numbered 1, 2, ... per model and never reused.

    @abc.abstractmethod
    def create_registered_model(
        self, name: str, tags: Sequence[RegisteredModelTag] | None = None, description: str | None = None
    ) -> RegisteredModel:
        """Create an empty registered model; ``RESOURCE_ALREADY_EXISTS`` if the name is taken."""

    @abc.abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abc.abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; its versions, tags and aliases follow it."""

    @abc.abstractmethod
    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel: ...

    @abc.abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """Hard delete: the model with every version, tag and alias."""

    @abc.abstractmethod
    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]: ...

    @abc.abstractmethod
    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None: ...

    @abc.abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    @abc.abstractmethod
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Add version max+1 (deleted versions count) of an existing model, in stage None."""

    @abc.abstractmethod
    def get_model_version(self, name: str, version: str | int) -> ModelVersion: ...

    @abc.abstractmethod
    def update_model_version(self, name: str, version: str | int, description: str | None) -> ModelVersion: ...

    @abc.abstractmethod
    def delete_model_version(self, name: str, version: str | int) -> None:
        """Soft delete: invisible afterwards, number kept, aliases on it removed."""

    @abc.abstractmethod
    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]: ...

    @abc.abstractmethod
    def get_model_version_download_uri(self, name: str, version: str | int) -> str: ...

    @abc.abstractmethod
    def set_model_version_tag(self, name: str, version: str | int, tag: ModelVersionTag) -> None: ...

    @abc.abstractmethod
    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None: ...

    @abc.abstractmethod
    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        """Move a version to a stage; ``archive_existing_versions`` (Staging/Production only) moves the
        other versions already in that stage to Archived."""

    @abc.abstractmethod
    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]: ...

    @abc.abstractmethod
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None: ...

    @abc.abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...

    @abc.abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    def close(self) -> None:  # noqa: B027 - optional hook; stores without connections need nothing
        """Release connections; the store must not be used afterwards."""

    # ==========================================================================================
    # -- logged models and run inputs/outputs (MLflow 3) ---------------------------------------
    # ==========================================================================================
    # Deliberately not abstract: a store without support (one still being written, or an older
    # server behind a REST store) still instantiates and answers NOT_IMPLEMENTED for these calls.

    def _not_implemented(self, what: str) -> MLTrackError:
        return MLTrackError(
            f"{type(self).__name__} does not support {what}; use a SQL store or a server that does.",
            error_code="NOT_IMPLEMENTED",
        )

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[LoggedModelTag] | None = None,
        params: Sequence[LoggedModelParameter] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """Create a PENDING logged model (id ``m-<32 hex>``, a generated name when None) whose
        artifacts go to ``<experiment artifact location>/models/<model_id>/artifacts``."""
        raise self._not_implemented("logged models")

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        raise self._not_implemented("logged models")

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        """Set the upload status (READY or FAILED) once the artifacts are written."""
        raise self._not_implemented("logged models")

    def delete_logged_model(self, model_id: str) -> None:
        """Soft delete: hidden from get (unless ``allow_deleted``) and search."""
        raise self._not_implemented("logged models")

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        raise self._not_implemented("logged models")

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        raise self._not_implemented("logged models")

    def log_logged_model_params(self, model_id: str, params: Sequence[LoggedModelParameter]) -> None:
        raise self._not_implemented("logged models")

    def log_model_metrics(self, metrics: Sequence[ModelMetric]) -> None:
        """Link metric points to the models named by their ``model_id`` (an exact duplicate is
        ignored); the run's own history is written by ``log_batch``, not here."""
        raise self._not_implemented("logged models")

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: Sequence[Mapping[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """Live logged models of the experiments. ``order_by`` items are MLflow's dicts
        (``{"field_name": "creation_timestamp", "ascending": False}``) or ``"name DESC"`` strings;
        the default order is newest first."""
        raise self._not_implemented("logged models")

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record models as the run's outputs (logging one again updates its step)."""
        raise self._not_implemented("run outputs")

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        """Record datasets (with input tags such as ``mlflow.data.context``) and models as the run's
        inputs; a dataset is stored once per experiment by (name, digest)."""
        raise self._not_implemented("run inputs")
