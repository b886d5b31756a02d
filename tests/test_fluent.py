"""The fluent API under MLflow's names, on the embedded default store (SQLite in MLTRACK_HOME)."""

from __future__ import annotations

import asyncio
import contextvars
import math
import threading

import pandas as pd
import pytest

import prefect_mltrack as mlflow
from prefect_mltrack.entities import RunStatus, ViewType
from prefect_mltrack.exceptions import MLTrackError


def test_default_store_lives_in_mltrack_home(isolated_home):
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0)
    assert mlflow.get_tracking_uri() == f"sqlite:///{isolated_home / 'mltrack.db'}"
    assert (isolated_home / "mltrack.db").exists()
    assert run.info.experiment_id == "0"


def test_context_manager_ends_finished_or_failed():
    with mlflow.start_run() as ok:
        pass
    assert mlflow.get_run(ok.info.run_id).info.status == RunStatus.FINISHED
    assert mlflow.get_run(ok.info.run_id).info.end_time is not None
    with pytest.raises(ZeroDivisionError), mlflow.start_run() as failed:
        1 / 0  # noqa: B018
    assert mlflow.get_run(failed.info.run_id).info.status == RunStatus.FAILED
    with pytest.raises(KeyboardInterrupt), mlflow.start_run() as killed:
        raise KeyboardInterrupt
    assert mlflow.get_run(killed.info.run_id).info.status == RunStatus.KILLED
    assert mlflow.active_run() is None


def test_second_run_needs_nested():
    with mlflow.start_run() as outer:
        with pytest.raises(MLTrackError, match="already active"):
            mlflow.start_run()
        assert mlflow.active_run().info.run_id == outer.info.run_id


def test_nested_runs_at_any_depth():
    with mlflow.start_run(run_name="a") as a, mlflow.start_run(run_name="b", nested=True) as b:
        with mlflow.start_run(run_name="c", nested=True) as c:
            assert mlflow.active_run().info.run_id == c.info.run_id
        assert mlflow.active_run().info.run_id == b.info.run_id
    assert mlflow.get_run(b.info.run_id).data.tags["mlflow.parentRunId"] == a.info.run_id
    assert mlflow.get_run(c.info.run_id).data.tags["mlflow.parentRunId"] == b.info.run_id
    assert mlflow.get_parent_run(c.info.run_id).info.run_id == b.info.run_id
    assert mlflow.get_parent_run(a.info.run_id) is None


def test_ending_an_outer_run_ends_the_inner_ones():
    outer = mlflow.start_run()
    inner = mlflow.start_run(nested=True)
    outer.__exit__(None, None, None)
    assert mlflow.active_run() is None
    assert mlflow.get_run(inner.info.run_id).info.status == RunStatus.FINISHED


def test_logging_without_a_run_starts_one():
    mlflow.log_metric("auto", 1.0)
    run = mlflow.active_run()
    assert run is not None
    mlflow.end_run()
    assert mlflow.get_run(run.info.run_id).data.metrics == {"auto": 1.0}
    assert mlflow.last_active_run().info.run_id == run.info.run_id


def test_logging_functions():
    with mlflow.start_run(description="**notes**") as run:
        assert mlflow.log_param("p", 1) == 1
        mlflow.log_params({"a": 1, "b": "two"})
        mlflow.log_metric("loss", 0.5, step=3, timestamp=1234)
        mlflow.log_metrics({"x": 1.0, "y": 2}, step=2)
        mlflow.set_tag("t", "v")
        mlflow.set_tags({"u": 1})
        mlflow.set_tag("gone", "soon")
        mlflow.delete_tag("gone")
    data = mlflow.get_run(run.info.run_id).data
    assert data.params == {"p": "1", "a": "1", "b": "two"}
    assert data.metrics == {"loss": 0.5, "x": 1.0, "y": 2.0}
    assert data.tags["t"] == "v" and data.tags["u"] == "1" and "gone" not in data.tags
    assert data.tags["mlflow.note.content"] == "**notes**"
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [(3, 1234, 0.5)]


def test_param_change_error_reaches_the_caller_and_keeps_the_old_value():
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
        with pytest.raises(MLTrackError, match="Changing param values is not allowed"):
            mlflow.log_param("lr", 0.2)
    assert mlflow.get_run(run.info.run_id).data.params == {"lr": "0.1"}


def test_more_than_100_params_are_split_like_mlflow():
    with mlflow.start_run() as run:
        mlflow.log_params({f"p{i}": i for i in range(250)})
        mlflow.log_metrics({f"m{i}": i for i in range(2500)})
    data = mlflow.get_run(run.info.run_id).data
    assert len(data.params) == 250 and len(data.metrics) == 2500


def test_set_experiment_creates_and_selects():
    experiment = mlflow.set_experiment("Iris")
    assert mlflow.set_experiment("Iris").experiment_id == experiment.experiment_id
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == experiment.experiment_id
    assert mlflow.set_experiment(experiment_id=experiment.experiment_id).name == "Iris"
    with pytest.raises(MLTrackError):
        mlflow.set_experiment()


def test_set_deleted_experiment_is_refused():
    experiment_id = mlflow.create_experiment("old")
    mlflow.delete_experiment(experiment_id)
    with pytest.raises(MLTrackError, match="deleted experiment"):
        mlflow.set_experiment("old")


def test_environment_variables(monkeypatch, tmp_path):
    uri = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("MLTRACK_TRACKING_URI", uri)
    monkeypatch.setenv("MLTRACK_EXPERIMENT_NAME", "from-env")
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0)
    assert mlflow.get_tracking_uri() == uri
    assert mlflow.get_experiment(run.info.experiment_id).name == "from-env"
    assert (tmp_path / "env.db").exists()


def test_resume_by_run_id_and_env(monkeypatch):
    with mlflow.start_run() as first:
        mlflow.log_metric("m", 1.0, step=0)
    with mlflow.start_run(run_id=first.info.run_id, tags={"resumed": "yes"}) as again:
        assert mlflow.get_run(first.info.run_id).info.status == RunStatus.RUNNING
        mlflow.log_metric("m", 2.0, step=1)
    assert again.info.run_id == first.info.run_id
    monkeypatch.setenv("MLTRACK_RUN_ID", first.info.run_id)
    with mlflow.start_run() as from_env:
        pass
    assert from_env.info.run_id == first.info.run_id
    assert "MLTRACK_RUN_ID" not in __import__("os").environ
    run = mlflow.get_run(first.info.run_id)
    assert run.data.tags["resumed"] == "yes" and run.data.metrics["m"] == 2.0
    mlflow.delete_run(first.info.run_id)
    with pytest.raises(MLTrackError, match="deleted"):
        mlflow.start_run(run_id=first.info.run_id)


def test_each_thread_has_its_own_stack():
    seen = {}
    with mlflow.start_run() as main_run:

        def worker() -> None:
            seen["fresh"] = mlflow.active_run()
            with mlflow.start_run() as own:
                seen["own"] = own.info.run_id

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        copied = contextvars.copy_context()  # what Prefect's thread-pool runner hands a task
        copied_thread = threading.Thread(target=lambda: copied.run(lambda: seen.update(copied=mlflow.active_run())))
        copied_thread.start()
        copied_thread.join()
        assert mlflow.active_run().info.run_id == main_run.info.run_id
    assert seen["fresh"] is None
    assert seen["own"] != main_run.info.run_id
    assert seen["copied"].info.run_id == main_run.info.run_id
    assert mlflow.get_run(seen["own"]).info.status == RunStatus.FINISHED


def test_asyncio_tasks_keep_separate_runs():
    async def trial(index: int) -> tuple[str, str]:
        with mlflow.start_run(nested=True) as run:
            await asyncio.sleep(0.01)
            mlflow.log_metric("trial", float(index))
            await asyncio.sleep(0.01)
            return run.info.run_id, mlflow.active_run().info.run_id

    async def sweep() -> list[tuple[str, str]]:
        return await asyncio.gather(*(trial(i) for i in range(5)))

    with mlflow.start_run() as parent:
        results = asyncio.run(sweep())
    for index, (started, active_at_end) in enumerate(results):
        assert started == active_at_end
        run = mlflow.get_run(started)
        assert run.data.metrics == {"trial": float(index)}
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_async_logging_is_durable_after_end_run():
    with mlflow.start_run() as run:
        operations = [mlflow.log_metric("m", float(i), step=i, synchronous=False) for i in range(300)]
        mlflow.log_param("p", "x", synchronous=False)
        mlflow.log_params({"q": 1}, synchronous=False)
        operations[-1].wait()
    assert len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "m")) == 300
    assert mlflow.get_run(run.info.run_id).data.params == {"p": "x", "q": "1"}


def test_async_logging_errors_surface(monkeypatch):
    monkeypatch.setenv("MLTRACK_ENABLE_ASYNC_LOGGING", "true")
    run = mlflow.start_run()
    operation = mlflow.log_metric("bad/../key", 1.0)
    with pytest.raises(MLTrackError, match="Invalid metric name"):
        operation.wait()
    with pytest.raises(MLTrackError, match="Invalid metric name"):
        mlflow.end_run()
    mlflow.MlflowClient().set_terminated(run.info.run_id)


def test_search_runs_dataframe_has_mlflows_columns():
    mlflow.set_experiment("df")
    for depth in (3, 5):
        with mlflow.start_run():
            mlflow.log_param("max_depth", depth)
            mlflow.log_metric("accuracy", {3: 0.93, 5: 0.95}[depth])
    with mlflow.start_run():
        mlflow.set_tag("only", "tag")
    frame = mlflow.search_runs(order_by=["metrics.accuracy DESC"])
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns[:6]) == ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    assert {"metrics.accuracy", "params.max_depth", "tags.mlflow.runName", "tags.only"} <= set(frame.columns)
    assert "run_name" not in frame.columns
    assert str(frame["start_time"].dt.tz) == "UTC"
    assert frame["metrics.accuracy"].tolist()[:2] == [0.95, 0.93]
    assert math.isnan(frame["metrics.accuracy"].tolist()[2])
    assert frame["params.max_depth"].tolist() == ["5", "3", None]
    filtered = mlflow.search_runs(filter_string="metrics.accuracy > 0.94 and params.max_depth = '5'")
    assert len(filtered) == 1
    runs = mlflow.search_runs(output_format="list", experiment_names=["df"], max_results=2)
    assert len(runs) == 2 and runs[0].info.run_id
    assert len(mlflow.search_runs(search_all_experiments=True)) == 3
    empty = mlflow.search_runs(filter_string="params.max_depth = 'none'")
    assert empty.empty and list(empty.columns[:2]) == ["run_id", "experiment_id"]


def test_search_runs_rejects_both_ids_and_names():
    with pytest.raises(MLTrackError, match="not both"):
        mlflow.search_runs(experiment_ids=["0"], experiment_names=["x"])


def test_search_experiments_fluent():
    for name in ("e1", "e2"):
        mlflow.create_experiment(name)
    assert [e.name for e in mlflow.search_experiments(filter_string="name LIKE 'e%'", order_by=["name"])] == [
        "e1",
        "e2",
    ]
    assert len(mlflow.search_experiments(view_type=ViewType.ALL, max_results=1)) == 1


def test_system_tags():
    with mlflow.start_run() as run:
        pass
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.user"]
    assert tags["mlflow.source.name"]
    assert mlflow.get_run(run.info.run_id).info.user_id == tags["mlflow.user"]
