"""Project entry points compiled into tracked Prefect flows, ``projects.run`` and ``mltrack run``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.utilities.callables import parameter_schema
from typer.testing import CliRunner

import prefect_mltrack as mltrack
from prefect_mltrack.cli import app
from prefect_mltrack.flow_tracking import run_id_for_flow_run
from prefect_mltrack.projects import ProjectExecutionError, load_project, run

IRIS = Path(__file__).parents[2] / "docs" / "examples" / "projects" / "iris"

TYPED = """
name: typed
entry_points:
  main:
    parameters:
      alpha: float
      epochs: {type: int, default: 3}
      name: {type: string, default: hello world}
      data: {type: path, default: data.csv}
      model: {type: uri, default: "runs:/abc/model"}
    command: "python -c 'import sys; print(sys.argv[1] + chr(33)); sys.exit(int(sys.argv[1]))' {epochs}"
"""


@pytest.fixture
def typed(tmp_path: Path) -> Path:
    (tmp_path / "MLproject").write_text(TYPED)
    return tmp_path


def test_compiled_flow_has_the_mlproject_types_and_defaults(typed: Path):
    flow = load_project(typed).entry_point("main").as_flow()
    assert flow.name == "typed-main"
    schema = parameter_schema(flow).model_dump()
    props = schema["properties"]
    assert schema["required"] == ["alpha"]
    assert props["alpha"]["type"] == "number" and "default" not in props["alpha"]
    assert (props["epochs"]["type"], props["epochs"]["default"]) == ("integer", 3)
    assert (props["name"]["type"], props["name"]["default"]) == ("string", "hello world")
    assert props["data"]["type"] == props["model"]["type"] == "string"
    assert flow.parameters.model_dump()["properties"].keys() == props.keys()


def test_flow_run_is_one_tracking_run_finished_or_failed(typed: Path, caplog: pytest.LogCaptureFixture):
    flow = load_project(typed).entry_point("main").as_flow(experiment="typed-exp")
    ok = flow(alpha=0.5, epochs=0, return_state=True)
    run_ok = mltrack.get_run(run_id_for_flow_run(ok.state_details.flow_run_id))
    assert ok.is_completed() and run_ok.info.status == "FINISHED"
    assert any(r.name == "prefect.flow_runs" and r.getMessage() == "0!" for r in caplog.records)  # streamed
    assert run_ok.data.params["alpha"] == "0.5" and run_ok.data.tags["prefect.flow_name"] == "typed-main"
    assert mltrack.get_experiment(run_ok.info.experiment_id).name == "typed-exp"
    bad = flow(alpha=0.5, epochs=4, return_state=True)
    run_bad = mltrack.get_run(run_id_for_flow_run(bad.state_details.flow_run_id))
    assert bad.is_failed() and run_bad.info.status == "FAILED"
    assert run_bad.data.tags["mltrack.project.exit_code"] == "4"


def test_run_raises_with_the_run_id_and_exit_code(typed: Path):
    with pytest.raises(ProjectExecutionError) as info:
        run(typed, parameters={"alpha": 1, "epochs": 2})
    assert info.value.exit_code == 2
    assert mltrack.get_run(info.value.run_id or "").info.status == "FAILED"


def test_seed_iris_project_runs_as_shown(tmp_path: Path):
    project = tmp_path / "iris"
    shutil.copytree(IRIS, project)
    submitted = run(project, parameters={"n_estimators": 5, "max_depth": 3}, experiment_name="iris")
    assert submitted.get_status() == "FINISHED" and submitted.wait()
    finished = mltrack.get_run(submitted.run_id)
    assert finished.data.params == {"n_estimators": "5", "max_depth": "3"}
    assert finished.data.metrics["accuracy"] > 0.8
    assert "model" in {a.path for a in mltrack.MlflowClient().list_artifacts(submitted.run_id)}


def test_cli_run(typed: Path):
    result = CliRunner().invoke(app, ["run", str(typed), "-P", "alpha=0.1", "-P", "epochs=0", "-P", "extra=x y"])
    assert result.exit_code == 0, result.output
    [found] = mltrack.search_runs(experiment_names=["typed"], output_format="list")
    assert found.data.params["extra"] == "x y" and found.info.status == "FINISHED"
    bad = CliRunner().invoke(app, ["run", str(typed), "-P", "alpha=abc"])
    assert bad.exit_code == 2 and "Invalid value 'abc' for parameter 'alpha'" in bad.output
    failed = CliRunner().invoke(app, ["run", str(typed), "-P", "alpha=1", "-P", "epochs=5"])
    assert failed.exit_code == 5 and "exit code 5" in failed.output


def test_project_deploy_creates_a_typed_scheduled_deployment(typed: Path, prefect_api: str):
    from prefect.client.orchestration import get_client
    from prefect.flows import load_flow_from_entrypoint

    result = CliRunner().invoke(
        app, ["project", "deploy", str(typed), "--name", "nightly", "--cron", "0 3 * * *", "-P", "alpha=0.2"]
    )
    assert result.exit_code == 0, result.output
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("typed-main/nightly")
    assert deployment.parameters == {"alpha": 0.2}
    props = deployment.parameter_openapi_schema["properties"]
    assert props["alpha"]["type"] == "number" and props["epochs"]["default"] == 3
    assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * *"]
    loaded = load_flow_from_entrypoint(deployment.entrypoint)  # what a worker or runner imports
    assert loaded.name == "typed-main"
    state = loaded(alpha=0.2, epochs=0, return_state=True)
    assert mltrack.get_run(run_id_for_flow_run(state.state_details.flow_run_id)).info.status == "FINISHED"


SLEEPER = """
import sys, time
from pathlib import Path
from prefect_mltrack.projects import load_project

flow = load_project(sys.argv[1]).entry_point("main").as_flow(experiment="cancel")
flow()
"""


def test_termination_stops_the_child_and_ends_the_run_killed(tmp_path: Path, prefect_api: str, isolated_home: Path):
    """Prefect cancels a deployed flow run by sending SIGTERM to its process."""
    project = tmp_path / "sleeper"
    project.mkdir()
    (project / "MLproject").write_text(
        'name: sleeper\nentry_points: {main: {command: \'python -c "import time; open(\\"ready\\", \\"w\\"); '
        "time.sleep(60)\"'}}\n"
    )
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "MLTRACK_HOME": str(isolated_home)}
    proc = subprocess.Popen([sys.executable, str(script), str(project)], env=env)
    try:
        for _ in range(600):
            if (project / "ready").exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert (project / "ready").exists(), "the entry point never started"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    [killed] = mltrack.search_runs(experiment_names=["cancel"], output_format="list")
    assert killed.info.status == "KILLED"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "time.sleep(60)" not in ps


def test_cli_run_honours_the_tracking_uri_option(typed: Path, tmp_path: Path):
    uri = f"sqlite:///{tmp_path}/other.db"
    result = CliRunner().invoke(app, ["-t", uri, "run", str(typed), "-P", "alpha=1", "-P", "epochs=0"])
    assert result.exit_code == 0, result.output
    [found] = mltrack.MlflowClient(uri).search_runs(
        [mltrack.MlflowClient(uri).get_experiment_by_name("typed").experiment_id]
    )
    assert found.info.status == "FINISHED" and found.data.tags["mltrack.project.exit_code"] == "0"
