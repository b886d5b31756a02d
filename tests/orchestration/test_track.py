"""@track on real Prefect flow runs: one tracking run per flow run, nested subflows, retries, failures."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task
from pydantic import BaseModel

import prefect_mltrack as mlflow
from prefect_mltrack.flow_tracking import ERROR_TAG, run_id_for_flow_run, track, tracked_flow


def _run_of(state: Any) -> Any:
    return mlflow.MlflowClient().get_run(run_id_for_flow_run(state.state_details.flow_run_id))


class Model(BaseModel):
    depth: int = 3
    kind: str = "rf"


@task
def fit(n: int) -> int:
    mlflow.log_metric("fit_n", n)  # a plain call from a thread-pool task reaches the flow's run
    return n


@flow
@track(experiment="iris")
def train(n_estimators: int = 100, model: Model = Model(), grid: list[int] = [1, 2]) -> int:  # noqa: B006, B008
    fit.submit(n_estimators).result()
    mlflow.log_metric("accuracy", 0.97)
    return n_estimators


def test_flow_run_becomes_one_finished_run_with_params_and_prefect_tags() -> None:
    state = train(n_estimators=7, return_state=True)
    assert state.is_completed() and state.result() == 7
    run = _run_of(state)
    flow_run_id = str(state.state_details.flow_run_id)
    assert run.info.run_id == flow_run_id.replace("-", "")
    assert run.info.status == "FINISHED" and run.info.end_time >= run.info.start_time
    assert mlflow.get_experiment(run.info.experiment_id).name == "iris"
    assert run.data.params == {"n_estimators": "7", "model.depth": "3", "model.kind": "rf", "grid": "[1, 2]"}
    assert run.data.metrics == {"accuracy": 0.97, "fit_n": 7.0}
    tags = run.data.tags
    assert tags["prefect.flow_run_id"] == flow_run_id
    assert tags["prefect.flow_name"] == "train"
    assert tags["mlflow.runName"] == tags["prefect.flow_run_name"] == run.info.run_name
    assert tags["prefect.run_count"] == "1"
    assert tags["prefect.flow_run_url"].endswith(flow_run_id)
    assert tags["mlflow.source.type"] == "JOB" and tags["mlflow.source.name"].endswith("test_track.py")
    assert "prefect.deployment_id" not in tags and ERROR_TAG not in tags
    assert mlflow.active_run() is None  # nothing leaks out of the flow


def test_exception_ends_the_run_failed_with_the_error_recorded() -> None:
    @flow
    @track(experiment="failing")
    def broken(x: int = 1) -> None:
        mlflow.log_metric("before", 1.0)
        raise ValueError("bad data in batch 3")

    state = broken(return_state=True)
    assert state.is_failed()
    run = _run_of(state)
    assert run.info.status == "FAILED"
    assert run.data.tags[ERROR_TAG] == "ValueError: bad data in batch 3"
    assert run.data.metrics == {"before": 1.0}  # what was logged before the error is kept


def test_retry_reopens_the_same_run_and_records_the_attempt() -> None:
    attempts: list[int] = []

    @tracked_flow(experiment="retried", retries=2)
    def flaky() -> str:
        attempts.append(1)
        mlflow.log_metric("attempt", len(attempts), step=len(attempts))
        if len(attempts) < 2:
            raise RuntimeError("transient")
        return "ok"

    state = flaky(return_state=True)
    assert state.is_completed() and len(attempts) == 2
    experiment = mlflow.get_experiment_by_name("retried")
    runs = mlflow.search_runs([experiment.experiment_id], output_format="list")
    assert len(runs) == 1  # one flow run, one tracking run
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["prefect.run_count"] == "2"
    assert ERROR_TAG not in run.data.tags  # the first attempt's error is gone after the retry succeeded
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "attempt")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 2.0)]


def test_subflows_become_nested_runs_in_the_parents_experiment() -> None:
    @flow
    @track(experiment="sweep")
    def sweep(depths: list[int] = [2, 4]) -> None:  # noqa: B006
        for depth in depths:
            train(n_estimators=depth)

    state = sweep(return_state=True)
    parent = _run_of(state)
    children = mlflow.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        order_by=["params.n_estimators"],
        output_format="list",
    )
    assert [c.data.params["n_estimators"] for c in children] == ["2", "4"]
    assert all(c.info.status == "FINISHED" for c in children)
    assert {c.info.experiment_id for c in children} == {parent.info.experiment_id}
    assert mlflow.get_experiment_by_name("iris") is None  # the subflow's own experiment is for top-level runs


def test_async_subflows_under_gather_nest_under_their_parent() -> None:
    @flow
    @track
    async def trial(i: int) -> int:
        await asyncio.sleep(0.01)
        mlflow.log_metric("score", i)
        return i

    @flow
    @track(experiment="async-sweep")
    async def fan_out() -> list[int]:
        return list(await asyncio.gather(*(trial(i) for i in range(3))))

    state = asyncio.run(fan_out(return_state=True))
    assert state.is_completed()
    parent = _run_of(state)
    children = mlflow.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        output_format="list",
    )
    assert sorted(c.data.metrics["score"] for c in children) == [0.0, 1.0, 2.0]
    assert {c.data.params["i"] for c in children} == {"0", "1", "2"}


def test_track_above_flow_adds_the_crash_hooks_and_keeps_the_flow() -> None:
    @track(experiment="hooks")
    @flow(name="hooked", retries=1)
    def hooked(x: int = 1) -> int:
        return x + 1

    assert hooked.name == "hooked" and hooked.retries == 1
    assert [h.func.__name__ for h in hooked.on_crashed_hooks] == ["end_run_for_flow_run"]
    assert [h.func.__name__ for h in hooked.on_cancellation_hooks] == ["end_run_for_flow_run"]
    state = hooked(x=2, return_state=True)
    assert state.result() == 3
    assert _run_of(state).data.params == {"x": "2"}


def test_interrupt_inside_the_body_ends_the_run_killed() -> None:
    @flow
    @track(experiment="interrupted")
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    runs = mlflow.search_runs([mlflow.get_experiment_by_name("interrupted").experiment_id], output_format="list")
    assert [r.info.status for r in runs] == ["KILLED"]


def test_store_option_sends_the_flow_and_its_tasks_to_that_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'team.db'}"

    @flow
    @track(experiment="elsewhere", store=uri)
    def elsewhere() -> None:
        fit.submit(5).result()
        mlflow.log_metric("m", 1.0)

    state = elsewhere(return_state=True)
    run_id = run_id_for_flow_run(state.state_details.flow_run_id)
    run = mlflow.MlflowClient(uri).get_run(run_id)
    assert run.data.metrics == {"m": 1.0, "fit_n": 5.0}
    assert mlflow.get_experiment_by_name("elsewhere") is None  # the default store saw nothing
    assert mlflow.get_tracking_uri() != uri


def test_long_and_invalid_parameter_names_and_values_are_handled_like_mlflow_autolog(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @flow
    @track(experiment="params")
    def odd(text: str = "x" * 7000, weird: dict[str, int] = {"bad key!": 1, "ok": 2}) -> None:  # noqa: B006
        pass

    with caplog.at_level(logging.WARNING, logger="prefect_mltrack.flow_tracking"):
        state = odd(return_state=True)
    params = _run_of(state).data.params
    assert len(params["text"]) == 6000
    assert params["weird.ok"] == "2" and "weird.bad key!" not in params
    assert "truncated" in caplog.text and "weird.bad key!" in caplog.text


def test_calling_the_body_outside_prefect_still_tracks_a_run() -> None:
    @flow
    @track(experiment="direct")
    def scored(x: int = 1) -> int:
        mlflow.log_metric("x", x)
        return x

    assert scored.fn(x=3) == 3
    run = mlflow.last_active_run()
    assert run is not None and run.info.status == "FINISHED"
    assert mlflow.get_experiment(run.info.experiment_id).name == "direct"
    assert run.data.metrics == {"x": 3.0}
    assert "prefect.flow_run_id" not in run.data.tags


def test_experiment_name_is_validated_at_decoration_time() -> None:
    with pytest.raises(mlflow.MLTrackError, match="experiment"):
        track(experiment="")


def test_a_deleted_experiment_is_not_silently_reused_or_recreated() -> None:
    @flow
    @track(experiment="short-lived")
    def short_lived() -> None:
        mlflow.log_metric("m", 1.0)

    assert short_lived(return_state=True).is_completed()
    experiment = mlflow.get_experiment_by_name("short-lived")
    mlflow.delete_experiment(experiment.experiment_id)
    state = short_lived(return_state=True)
    assert state.is_failed()
    with pytest.raises(mlflow.MLTrackError, match="is deleted; restore it"):
        state.result()
    mlflow.MlflowClient().restore_experiment(experiment.experiment_id)
    assert short_lived(return_state=True).is_completed()
    assert len(mlflow.search_runs([experiment.experiment_id], output_format="list")) == 2
