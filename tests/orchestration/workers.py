"""Tasks that run in other processes (process pool, Dask); imported there by module name."""

from __future__ import annotations

from prefect import task

import prefect_mltrack as mlflow
from prefect_mltrack.run_handle import RunHandle


@task
def child_trial(i: int, parent: RunHandle) -> str:
    with parent.child_run(run_name=f"trial-{i}") as run:
        mlflow.log_metric("score", i / 10)
        return str(run.info.run_id)


@task
def log_into_parent(i: int, parent: RunHandle) -> None:
    with parent.activate():
        mlflow.log_metric("from_worker", float(i), step=i)
