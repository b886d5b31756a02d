"""Tracking tasks and run hand-over: the thread pool carries the active run, other processes a RunHandle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prefect import flow, task, unmapped
from prefect.task_runners import ProcessPoolTaskRunner

import prefect_mltrack as mlflow
from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.flow_tracking import run_id_for_flow_run, track
from prefect_mltrack.run_handle import RunHandle, active_run_handle
from prefect_mltrack.tasks import log_artifacts_task, log_metrics_task, log_params_task

HERE = Path(__file__).resolve().parent


def _run_of(state):  # type: ignore[no-untyped-def]
    return mlflow.get_run(run_id_for_flow_run(state.state_details.flow_run_id))


def test_bulk_tasks_write_to_the_flows_run(tmp_path: Path) -> None:
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "a.txt").write_text("a")
    (tmp_path / "single.csv").write_text("x,y\n1,2\n")

    @flow
    @track(experiment="tasks")
    def pipeline() -> None:
        log_params_task({"alpha": 0.5, "layers": 3})
        log_metrics_task.submit({"loss": 0.25, "acc": 0.9}, step=2).result()
        log_artifacts_task(tmp_path / "report", artifact_path="report")
        log_artifacts_task(str(tmp_path / "single.csv"))

    state = pipeline(return_state=True)
    run = _run_of(state)
    assert run.data.params == {"alpha": "0.5", "layers": "3"}
    assert run.data.metrics == {"loss": 0.25, "acc": 0.9}
    assert mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")[0].step == 2
    paths = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert paths == {"report", "single.csv"}


def test_tasks_have_readable_names_and_retries() -> None:
    assert (log_params_task.name, log_metrics_task.name, log_artifacts_task.name) == (
        "Log params",
        "Log metrics",
        "Log artifacts",
    )
    assert log_params_task.retries == 2


def test_bad_input_fails_the_task_once_without_retrying() -> None:
    calls: list[int] = []

    @task
    def count() -> None:
        calls.append(1)

    @flow
    @track(experiment="tasks-bad")
    def changes_a_param() -> None:
        log_params_task({"alpha": 1})
        log_params_task({"alpha": 2})  # params are immutable: INVALID_PARAMETER_VALUE

    state = changes_a_param(return_state=True)
    assert state.is_failed()
    run = _run_of(state)
    assert run.data.params == {"alpha": "1"} and run.info.status == "FAILED"
    assert "alpha" in run.data.tags["prefect.error"]
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    failed = [t for t in task_runs if t.state and t.state.is_failed()]
    assert len(failed) == 1 and failed[0].run_count == 1  # a client error is not retried


def test_task_outside_a_run_says_how_to_pass_one() -> None:
    with pytest.raises(InvalidParameterError, match="active_run_handle"):
        log_params_task.fn({"a": 1})


def test_thread_pool_tasks_see_the_active_run_and_can_nest() -> None:
    @task
    def trial(i: int) -> str:
        with mlflow.start_run(run_name=f"t{i}", nested=True) as run:
            mlflow.log_metric("score", i)
            return str(run.info.run_id)

    @flow
    @track(experiment="threads")
    def sweep() -> list[str]:
        return [f.result() for f in trial.map(i=[1, 2, 3])]

    state = sweep(return_state=True)
    parent = _run_of(state)
    for child_id in state.result():
        child = mlflow.get_run(child_id)
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.experiment_id == parent.info.experiment_id


@pytest.mark.slow
def test_process_pool_tasks_use_a_run_handle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    from workers import child_trial, log_into_parent  # type: ignore[import-not-found]

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'procs.db'}")

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    @track(experiment="processes")
    def sweep() -> list[str]:
        handle = active_run_handle()
        log_into_parent.map(i=[1, 2], parent=unmapped(handle)).wait()
        return [f.result() for f in child_trial.map(i=[1, 2, 3], parent=unmapped(handle))]

    state = sweep(return_state=True)
    parent = _run_of(state)
    children = [mlflow.get_run(rid) for rid in state.result()]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(c.data.metrics["score"] for c in children) == [0.1, 0.2, 0.3]
    history = mlflow.MlflowClient().get_metric_history(parent.info.run_id, "from_worker")
    assert sorted(m.step for m in history) == [1, 2]


def test_run_handle_pickles_and_refuses_without_an_active_run() -> None:
    import pickle

    handle = RunHandle(run_id="abc", tracking_uri="sqlite:///x.db")
    assert pickle.loads(pickle.dumps(handle)) == handle
    with pytest.raises(InvalidParameterError, match="No active run"):
        active_run_handle()
