"""A tracked flow that waits to be killed; run as a script by test_crash.py."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from prefect.runtime import flow_run

import prefect_mltrack as mlflow
from prefect_mltrack.flow_tracking import tracked_flow


@tracked_flow(experiment="crashing", name="crash-me")
def crash_me(marker: str) -> None:
    mlflow.log_metric("progress", 1.0)
    with mlflow.start_run(run_name="trial", nested=True):  # a child still running when the process dies
        mlflow.log_metric("trial_progress", 0.5)
        Path(marker).write_text(str(flow_run.id))
        time.sleep(120)


if __name__ == "__main__":
    crash_me(sys.argv[1])
