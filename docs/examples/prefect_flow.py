"""The Prefect guide's example: a tracked training flow and a sweep whose trials are nested runs.

Run it with ``python docs/examples/prefect_flow.py`` (Prefect starts a temporary API server when
none is configured); the test suite runs it against its own Prefect API.
"""

from __future__ import annotations

from prefect import flow, task, unmapped

from prefect_mltrack import RunHandle, active_run_handle, log_metric, log_params_task, track


@task
def fit(n_estimators: int, max_depth: int) -> float:
    for epoch in range(1, 4):
        log_metric("loss", 1.0 / (epoch * max_depth), step=epoch)  # a plain call: no task per metric
    return 0.9 + max_depth / 100


@flow
@track(experiment="iris")  # the flow run becomes one tracking run
def train(n_estimators: int = 100, max_depth: int = 5) -> float:
    accuracy = fit(n_estimators, max_depth)
    log_metric("accuracy", accuracy)
    return accuracy


@task
def trial(depth: int, sweep: RunHandle) -> float:
    with sweep.child_run(run_name=f"depth={depth}"):  # a nested run, from any task runner
        log_params_task.fn({"max_depth": depth})
        score = 0.9 + depth / 100
        log_metric("accuracy", score)
        return score


@flow
@track(experiment="iris-sweep")
def sweep(depths: list[int] = [2, 4, 8]) -> float:  # noqa: B006
    scores = trial.map(depth=depths, sweep=unmapped(active_run_handle())).result()
    log_metric("best_accuracy", max(scores))
    return max(scores)


if __name__ == "__main__":
    print("train accuracy", train())
    print("best sweep accuracy", sweep())
