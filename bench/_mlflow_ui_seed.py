"""Seed MLflow's own SQLite store for ``bench/ui.py``: run in MLflow's virtual environment, no HTTP.

Usage::

    python bench/_mlflow_ui_seed.py <db path> <artifact dir> <runs> [--points N]

Creates the experiment ``ui-bench`` through ``SqlAlchemyStore`` (MLflow's own store class) and ``runs``
runs shaped as ``bench/ui.py`` seeds ours: run ``i`` is named ``run-<i>``, starts 1 s after run
``i - 1``, has 3 params, 3 metrics (one point each) and 2 tags, is FINISHED, and every tenth run
(``i % 10 == 9``) is nested under run ``i - 1`` (tag ``mlflow.parentRunId``). One ``create_run``,
one ``log_batch`` and one ``update_run_info`` per run. ``--points N`` adds a run ``big`` with N points
of ``loss`` (``log_batch`` in chunks of 1000). Prints one JSON line: the experiment id, the big run's
id, and the seconds each part took.

Example::

    .venv-mlflow/bin/python bench/_mlflow_ui_seed.py /tmp/x/mlflow.db /tmp/x/artifacts 2000
"""

from __future__ import annotations

import argparse
import json
import time

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

CHUNK = 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("artifacts")
    parser.add_argument("runs", type=int)
    parser.add_argument("--points", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    store = SqlAlchemyStore(f"sqlite:///{args.db}", args.artifacts)
    experiment_id = store.create_experiment("ui-bench")
    opened = time.perf_counter()
    base = int(time.time() * 1000) - args.runs * 1000 - 60_000
    parent = ""
    for i in range(args.runs):
        start = base + i * 1000
        tags = [RunTag("mlflow.parentRunId", parent)] if i % 10 == 9 and parent else []
        run = store.create_run(experiment_id, "bench", start, tags, f"run-{i:06d}")
        run_id = run.info.run_id
        acc = ((i * 7919) % 1000) / 1000
        store.log_batch(
            run_id,
            metrics=[
                Metric("acc", acc, start + 100, 0),
                Metric("loss", 1 - acc, start + 100, 0),
                Metric("f1", acc / 2, start + 100, 0),
            ],
            params=[Param("lr", str(0.001 * (i % 5 + 1))), Param("depth", str(i % 7)), Param("optimizer", "adam")],
            tags=[RunTag("team", "vision" if i % 2 else "nlp"), RunTag("stage", "dev")],
        )
        store.update_run_info(run_id, RunStatus.FINISHED, start + 500, None)
        if i % 10 != 9:
            parent = run_id
    seeded = time.perf_counter()
    big_id = ""
    if args.points:
        run = store.create_run(experiment_id, "bench", base - 1000, [], "big")
        big_id = run.info.run_id
        for first in range(0, args.points, CHUNK):
            batch = [
                Metric("loss", 1.0 / (1 + s * 1e-4), base + s, s) for s in range(first, min(first + CHUNK, args.points))
            ]
            store.log_batch(big_id, metrics=batch, params=[], tags=[])
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "experiment_id": experiment_id,
                "big_run_id": big_id,
                "store_open_s": opened - started,
                "runs_s": seeded - opened,
                "points_s": done - seeded,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
