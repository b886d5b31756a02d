"""The ready flows under flows/: run for real, on the thread pool and on a local Dask cluster."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

import prefect_mltrack as mlflow
from prefect_mltrack.flow_tracking import run_id_for_flow_run

FLOWS = Path(__file__).resolve().parents[2] / "flows"


@pytest.fixture
def flows(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import flows/*.py as top-level modules (as Prefect's entrypoints do), importable by workers too."""
    monkeypatch.syspath_prepend(str(FLOWS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FLOWS), os.environ.get("PYTHONPATH")])))

    def load(name: str) -> ModuleType:
        return importlib.import_module(name)

    return load


def _children(parent_run_id: str, experiment_id: str) -> list[Any]:
    return mlflow.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'", output_format="list"
    )


def test_train_iris_tracks_one_run_with_task_metrics_and_registers_the_model(flows: Any) -> None:
    state = flows("train_iris").train_iris(n_estimators=20, max_depth=3, return_state=True)
    result = state.result()
    accuracy = result["accuracy"]
    run = mlflow.get_run(run_id_for_flow_run(state.state_details.flow_run_id))
    assert run.info.run_id == result["run_id"]
    assert run.data.params == {"n_estimators": "20", "max_depth": "3", "registered_model_name": "IrisClassifier"}
    assert run.data.metrics["accuracy"] == pytest.approx(accuracy) and 0.8 < accuracy <= 1.0
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "cv_accuracy")
    assert [m.step for m in history] == [1, 2, 3, 4, 5]
    assert mlflow.get_experiment(run.info.experiment_id).name == "Iris_Classification"
    assert {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)} == {"output.txt", "iris_model"}
    version = mlflow.MlflowClient().get_model_version("IrisClassifier", result["version"])
    assert version.run_id == run.info.run_id
    model = mlflow.pyfunc.load_model("models:/IrisClassifier/latest")
    assert list(model.predict([[5.1, 3.5, 1.4, 0.2]])) == [0]


def _check_sweep(state: Any, expected_trials: int) -> None:
    scores = state.result()
    sweep = mlflow.get_run(run_id_for_flow_run(state.state_details.flow_run_id))
    trials = _children(sweep.info.run_id, sweep.info.experiment_id)
    assert len(trials) == expected_trials
    assert {t.info.run_name for t in trials} == set(scores)
    assert all(t.info.status == "FINISHED" for t in trials)
    assert {t.data.metrics["accuracy"] for t in trials} == set(scores.values())
    assert sweep.data.metrics["best_accuracy"] == max(scores.values())


def test_sweep_on_the_thread_pool_gives_one_nested_run_per_trial(flows: Any) -> None:
    state = flows("sweep_iris").sweep_iris(n_estimators=[5, 10], max_depths=[2, 3], return_state=True)
    _check_sweep(state, 4)


@pytest.mark.slow
def test_sweep_on_a_dask_cluster_gives_one_nested_run_per_trial(flows: Any, tmp_path: Path) -> None:
    from prefect_dask import DaskTaskRunner

    module = flows("sweep_iris")
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})
    # A store file both the flow and the worker processes open: the handle carries its URI.
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'dask.db'}")
    state = module.sweep_iris.with_options(task_runner=runner)(
        n_estimators=[5], max_depths=[2, 3, 4], return_state=True
    )
    _check_sweep(state, 3)


def test_prefect_yaml_declares_scheduled_deployments_for_the_ready_flows(prefect_api: str) -> None:
    spec = yaml.safe_load((FLOWS / "prefect.yaml").read_text())
    entrypoints = {d["entrypoint"] for d in spec["deployments"]}
    assert entrypoints == {
        "train_iris.py:train_iris",
        "sweep_iris.py:sweep_iris",
        "deploy_on_promotion.py:deploy_model",
    }
    assert all(d["schedules"][0]["cron"] for d in spec["deployments"] if "schedules" in d)
    # PWD as a shell sets it after `cd flows`: prefect.yaml resolves {{ $PWD }} when deploying.
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "DO_NOT_TRACK": "1", "PWD": str(FLOWS)}
    subprocess.run(
        [sys.executable, "-m", "prefect", "work-pool", "create", "local", "--type", "process"],
        env=env,
        cwd=FLOWS,
        capture_output=True,
        timeout=120,
    )
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        env=env,
        cwd=FLOWS,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("train-iris/nightly")
    assert deployment.entrypoint == "train_iris.py:train_iris"
    assert deployment.parameters == {"n_estimators": 100, "max_depth": 5}
    assert deployment.schedules and deployment.schedules[0].schedule.cron == "0 3 * * *"
    directory = deployment.pull_steps[0]["prefect.deployments.steps.set_working_directory"]["directory"]
    assert directory == str(FLOWS)
    with get_client(sync_client=True) as client:
        on_promotion = client.read_deployment_by_name("deploy-model/on-promotion")
        automations = [a for a in client.read_automations() if a.name.startswith("on-promotion__")]
    assert on_promotion.parameters["server"] == "team"
    (automation,) = automations
    assert automation.trigger.expect == {"mltrack.model.version.promoted"}
    assert automation.actions[0].parameters == {"alias_or_version": "{{ event.payload.version }}"}
