"""The public surface: exactly what __all__ names, and an import that stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import prefect_mltrack

EXPECTED_PUBLIC = {
    "ActiveRun", "MLTrackError", "Metric", "MlflowClient", "MlflowException", "Param", "RunStatus", "RunTag",
    "TrackingClient", "ViewType", "active_run", "create_experiment", "delete_experiment", "delete_run",
    "delete_tag", "end_run", "flush_async_logging", "get_artifact_uri", "get_experiment", "get_experiment_by_name",
    "get_parent_run", "get_run", "get_tracking_uri", "is_tracking_uri_set", "last_active_run", "log_artifact",
    "log_artifacts", "log_dict", "log_figure", "log_metric", "log_metrics", "log_param", "log_params", "log_text",
    "search_experiments", "search_runs", "set_experiment", "set_experiment_tag", "set_experiment_tags", "set_tag",
    "set_tags", "set_tracking_uri", "start_run", "register_model",
    # the Prefect face
    "track", "tracked_flow", "RunHandle", "active_run_handle", "log_params_task", "log_metrics_task",
    "log_artifacts_task", "TrackingStore", "ArtifactStorage", "ModelServer",
    "log_model_task", "load_model_task", "register_model_task", "transition_model_stage_task",
    "set_model_alias_task", "promote_model",
}  # fmt: skip


def test_all_is_exactly_the_public_surface():
    assert set(prefect_mltrack.__all__) == EXPECTED_PUBLIC
    for name in prefect_mltrack.__all__:
        assert getattr(prefect_mltrack, name) is not None


def test_mlflow_import_paths():
    from prefect_mltrack.client import MlflowClient
    from prefect_mltrack.tracking import MlflowClient as TrackingPathClient

    assert prefect_mltrack.MlflowClient is MlflowClient is TrackingPathClient


def test_unknown_attribute_is_an_attribute_error():
    try:
        prefect_mltrack.not_a_thing  # noqa: B018
    except AttributeError as exc:
        assert "not_a_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_light():
    code = (
        "import sys, json, prefect_mltrack; "
        "print(json.dumps(sorted(m for m in ('prefect', 'pandas', 'sqlalchemy', 'sklearn', 'pydantic', 'numpy') "
        "if m in sys.modules)))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert loaded == []
