"""`make demo`'s story (docs/examples/end_to_end.py) as a real subprocess against the session's Prefect API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import prefect_mltrack as mlflow

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "end_to_end.py"


def test_end_to_end_demo_trains_registers_promotes_deploys_and_predicts(prefect_api: str, isolated_home: Path) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_LOGGING_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "v1: promoted" in done.stdout and "v2: promoted" in done.stdout
    assert "Served v1" in done.stdout and "Now serving v2" in done.stdout
    assert "-> {'predictions': [0]}" in done.stdout
    client = mlflow.MlflowClient()
    assert client.get_model_version_by_alias("IrisClassifier", "champion").version == "2"
    assert (
        client.get_model_version("IrisClassifier", "2")
        .tags["mltrack.deployment.server"]
        .startswith("http://127.0.0.1:")
    )
