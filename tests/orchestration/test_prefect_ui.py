"""What a tracked flow run shows in Prefect: a params/metrics table, a link to our run page, progress."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

import prefect_mltrack as mlflow
from prefect_mltrack.flow_tracking import run_id_for_flow_run, track
from prefect_mltrack.prefect_ui import SweepProgress


def _artifacts(flow_run_id: Any) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def test_each_tracked_flow_run_gets_a_summary_table_and_a_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACK_UI_URL", "http://mltrack.internal:5000/")

    @flow
    @track(experiment="ui")
    def summarised(depth: int = 4) -> None:
        mlflow.log_metric("accuracy", 0.9)
        mlflow.log_metric("accuracy", 0.95, step=1)

    state = summarised(return_state=True)
    run = mlflow.get_run(run_id_for_flow_run(state.state_details.flow_run_id))
    by_type = {a.type: a for a in _artifacts(state.state_details.flow_run_id)}
    assert set(by_type) == {"table", "markdown"}
    table = by_type["table"].data
    table = json.loads(table) if isinstance(table, str) else table
    assert table == [
        {"kind": "param", "key": "depth", "value": "4"},
        {"kind": "metric", "key": "accuracy", "value": 0.95},
    ]
    link = f"http://mltrack.internal:5000/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    assert link in by_type["markdown"].data


def test_failed_and_async_flow_runs_get_the_summary_too() -> None:
    @flow
    @track(experiment="ui-failed")
    def fails() -> None:
        mlflow.log_metric("seen", 1.0)
        raise RuntimeError("boom")

    state = fails(return_state=True)
    assert state.is_failed()
    # Prefect adds its own untyped artifact for the failure; ours are the table and the link.
    assert {a.type for a in _artifacts(state.state_details.flow_run_id)} >= {"table", "markdown"}

    @flow
    @track(experiment="ui-async")
    async def async_flow() -> None:
        mlflow.log_metric("seen", 1.0)

    state = asyncio.run(async_flow(return_state=True))
    assert {a.type for a in _artifacts(state.state_details.flow_run_id)} == {"table", "markdown"}


def test_summary_can_be_switched_off() -> None:
    @flow
    @track(experiment="ui-off", publish_summary=False)
    def quiet() -> None:
        mlflow.log_metric("x", 1.0)

    state = quiet(return_state=True)
    assert _artifacts(state.state_details.flow_run_id) == []


def test_sweep_progress_reaches_100_percent() -> None:
    @flow
    def with_progress() -> float:
        progress = SweepProgress(total=4, description="Trials finished.")
        for _ in range(4):
            progress.advance()
        return progress.percent

    state = with_progress(return_state=True)
    assert state.result() == 100.0
    (artifact,) = _artifacts(state.state_details.flow_run_id)
    assert artifact.type == "progress" and float(artifact.data) == 100.0
