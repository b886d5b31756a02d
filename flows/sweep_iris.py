"""A hyper-parameter sweep: one tracked flow run, one nested run per trial.

Trials are Prefect tasks mapped over the grid. Each gets a ``RunHandle`` of the sweep's run, so it
opens its nested run the same way on the default thread pool, a process pool, or Dask workers:

    python flows/sweep_iris.py                     # thread pool
    python flows/sweep_iris.py --dask              # a local Dask cluster (pip install prefect-dask)

A Prefect progress artifact shows how many trials have finished.
"""

from __future__ import annotations

import sys

from prefect import flow, task, unmapped
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score

import prefect_mltrack as mlflow
from prefect_mltrack.flow_tracking import track
from prefect_mltrack.prefect_ui import SweepProgress
from prefect_mltrack.run_handle import RunHandle, active_run_handle


@task(name="Run trial", retries=1)
def run_trial(n_estimators: int, max_depth: int, sweep: RunHandle) -> float:
    """Cross-validate one setting inside its own run, nested under the sweep's run."""
    with sweep.child_run(run_name=f"rf-{n_estimators}-{max_depth}"):
        mlflow.log_params({"n_estimators": n_estimators, "max_depth": max_depth})
        X, y = load_iris(return_X_y=True)
        clf = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=0)
        scores = cross_val_score(clf, X, y, cv=3)
        for fold, score in enumerate(scores, start=1):
            mlflow.log_metric("cv_accuracy", float(score), step=fold)
        mean = float(scores.mean())
        mlflow.log_metric("accuracy", mean)
        return mean


@flow(name="sweep-iris")
@track(experiment="Iris_Sweep")
def sweep_iris(n_estimators: list[int] = [10, 50], max_depths: list[int] = [2, 5]) -> dict[str, float]:  # noqa: B006
    """Try every (n_estimators, max_depth) pair; log the best score on the sweep's run."""
    grid = [(n, d) for n in n_estimators for d in max_depths]
    progress = SweepProgress(total=len(grid), description="Trials finished.")
    futures = run_trial.map(
        n_estimators=[n for n, _ in grid], max_depth=[d for _, d in grid], sweep=unmapped(active_run_handle())
    )
    scores: dict[str, float] = {}
    for (n, d), future in zip(grid, futures, strict=True):
        scores[f"rf-{n}-{d}"] = future.result()
        progress.advance()
    best = max(scores, key=lambda name: scores[name])
    mlflow.log_metric("best_accuracy", scores[best])
    mlflow.set_tag("best_trial", best)
    return scores


if __name__ == "__main__":
    if "--dask" in sys.argv:
        from prefect_dask import DaskTaskRunner

        sweep_iris.with_options(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 2}))()
    else:
        sweep_iris()
