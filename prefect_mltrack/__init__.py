"""prefect-mltrack: MLflow-compatible experiment tracking, models and registry for Prefect.

Use it where you used MLflow::

    import prefect_mltrack as mlflow

    mlflow.set_experiment("iris")
    with mlflow.start_run(run_name="baseline"):
        mlflow.log_param("max_depth", 5)
        mlflow.log_metric("accuracy", 0.97)

Attributes load on first use (PEP 562), so ``import prefect_mltrack`` stays cheap: SQLAlchemy,
pandas and Prefect are imported only by the calls that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "ActiveRun",
            "active_run",
            "create_experiment",
            "delete_experiment",
            "delete_run",
            "delete_tag",
            "end_run",
            "flush_async_logging",
            "get_artifact_uri",
            "get_experiment",
            "get_experiment_by_name",
            "get_parent_run",
            "get_run",
            "last_active_run",
            "log_artifact",
            "log_artifacts",
            "log_dict",
            "log_figure",
            "log_metric",
            "log_metrics",
            "log_param",
            "log_params",
            "log_text",
            "search_experiments",
            "search_runs",
            "set_experiment",
            "set_experiment_tag",
            "set_experiment_tags",
            "set_tag",
            "set_tags",
            "start_run",
        ],
        "prefect_mltrack.fluent",
    ),
    **dict.fromkeys(["get_tracking_uri", "is_tracking_uri_set", "set_tracking_uri"], "prefect_mltrack.settings"),
    **dict.fromkeys(["MlflowClient", "TrackingClient"], "prefect_mltrack.client"),
    "register_model": "prefect_mltrack.registry_client",
    **dict.fromkeys(["MLTrackError", "MlflowException"], "prefect_mltrack.exceptions"),
    **dict.fromkeys(["Metric", "Param", "RunTag", "RunStatus", "ViewType"], "prefect_mltrack.entities"),
    # The Prefect face: importing these loads Prefect.
    **dict.fromkeys(["track", "tracked_flow"], "prefect_mltrack.flow_tracking"),
    **dict.fromkeys(["RunHandle", "active_run_handle"], "prefect_mltrack.run_handle"),
    **dict.fromkeys(
        ["load_model_task", "log_artifacts_task", "log_metrics_task", "log_model_task", "log_params_task"],
        "prefect_mltrack.tasks",
    ),
    **dict.fromkeys(
        ["promote_model", "register_model_task", "set_model_alias_task", "transition_model_stage_task"],
        "prefect_mltrack.promotion",
    ),
    **dict.fromkeys(["ArtifactStorage", "ModelServer", "TrackingStore"], "prefect_mltrack.blocks"),
}

__all__ = sorted(_EXPORTS)

# Submodules reachable as attributes, as mlflow.sklearn / mlflow.pyfunc are after `import mlflow`.
_SUBMODULES = frozenset({"models", "pyfunc", "sklearn", "types"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"prefect_mltrack.{name}")  # the import system sets the attribute
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prefect_mltrack' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)


if TYPE_CHECKING:
    from prefect_mltrack.blocks import ArtifactStorage, ModelServer, TrackingStore
    from prefect_mltrack.client import MlflowClient, TrackingClient
    from prefect_mltrack.entities import Metric, Param, RunStatus, RunTag, ViewType
    from prefect_mltrack.exceptions import MlflowException, MLTrackError
    from prefect_mltrack.flow_tracking import track, tracked_flow
    from prefect_mltrack.fluent import (
        ActiveRun,
        active_run,
        create_experiment,
        delete_experiment,
        delete_run,
        delete_tag,
        end_run,
        flush_async_logging,
        get_artifact_uri,
        get_experiment,
        get_experiment_by_name,
        get_parent_run,
        get_run,
        last_active_run,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        search_experiments,
        search_runs,
        set_experiment,
        set_experiment_tag,
        set_experiment_tags,
        set_tag,
        set_tags,
        start_run,
    )
    from prefect_mltrack.promotion import (
        promote_model,
        register_model_task,
        set_model_alias_task,
        transition_model_stage_task,
    )
    from prefect_mltrack.registry_client import register_model
    from prefect_mltrack.run_handle import RunHandle, active_run_handle
    from prefect_mltrack.settings import get_tracking_uri, is_tracking_uri_set, set_tracking_uri
    from prefect_mltrack.tasks import (
        load_model_task,
        log_artifacts_task,
        log_metrics_task,
        log_model_task,
        log_params_task,
    )
