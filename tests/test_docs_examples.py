"""Every example in docs/ runs as a user would run it, in a fresh folder and MLTRACK_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def _run(script: str, workdir: Path, home: Path) -> str:
    env = {**os.environ, "MLTRACK_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart(tmp_path: Path, isolated_home: Path):
    out = _run("quickstart.py", tmp_path, isolated_home)
    assert "RandomForest_Experiment" in out
    assert "loss history: [(1, 1.0), (2, 0.5), (3, 0.3333333333333333), (4, 0.25)]" in out
    assert "artifacts: ['output.txt', 'some_local_file.csv']" in out

    import prefect_mltrack as mlflow

    runs = mlflow.search_runs(experiment_names=["Iris_Classification"], output_format="list")
    assert sorted(r.info.run_name for r in runs) == ["RandomForest_Experiment", "child"]
    child = next(r for r in runs if r.info.run_name == "child")
    parent = next(r for r in runs if r.info.run_name != "child")
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert parent.data.params == {"n_estimators": "100", "max_depth": "5", "criterion": "gini"}


def test_tracking_demo(tmp_path: Path, isolated_home: Path):
    pytest.importorskip("sklearn")
    out = _run("tracking_demo.py", tmp_path, isolated_home)
    assert "Trials, best first:" in out
    assert out.count("rf-") >= 6
    import prefect_mltrack as mlflow

    trials = mlflow.search_runs(experiment_names=["Iris_Classification"], filter_string="tags.kind IS NULL")
    assert len(trials) == 6
    assert trials["metrics.accuracy"].between(0.5, 1.0).all()


def test_server_demo(tmp_path: Path, isolated_home: Path):
    pytest.importorskip("sklearn")
    out = _run("server_demo.py", tmp_path, isolated_home)
    assert "no token: 401" in out
    assert "artifact uri: mlflow-artifacts:/1/" in out
    assert "artifacts: ['model', 'notes.txt']" in out
    assert "predictions: [0, 0, 0]" in out
    assert "models stored by the server: 1" in out
    # Nothing went to the embedded store: everything was logged through the server.
    assert not (isolated_home / "mltrack.db").exists()
