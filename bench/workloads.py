"""One benchmark workload, run against MLflow or prefect-mltrack with the same code.

Usage::

    python bench/workloads.py <workload> <impl> <workdir> [--quick]

``impl`` is ``mltrack`` (imports ``prefect_mltrack as mlflow``) or ``mlflow`` (imports ``mlflow``);
run it with a Python that has that package installed. ``workdir`` is a fresh, empty directory that
holds the SQLite store (``mltrack.db`` / ``mlflow.db``) and any artifacts; run it with that
directory as the working directory (MLflow puts a SQLite store's default artifacts under ``./mlruns``).

The workload prints exactly one JSON line on stdout as its last line::

    {"workload": ..., "impl": ..., "version": ..., "size": {...},
     "measures": {name: {"value": float, "unit": str, "better": "higher"|"lower", "compare": bool}},
     "checks": {...}}

``checks`` holds results that must be equal for both implementations (counts, values); ``run.py``
compares them. Timings use ``time.perf_counter()``; setup is never timed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from types import ModuleType
from typing import Any

IMPL_MODULES = {"mltrack": "prefect_mltrack", "mlflow": "mlflow"}
DB_FILES = {"mltrack": "mltrack.db", "mlflow": "mlflow.db"}
SEARCH_REPEATS = 3
HISTORY_REPEATS = 3
IMPORT_REPEATS = 5
TIMING_BLOCKS = 5


# -- implementation --------------------------------------------------------------------------------
@dataclass
class Impl:
    """The package under test, pointed at ``workdir``: its fluent API, entities and a client."""

    name: str
    workdir: Path

    @property
    def module_name(self) -> str:
        return IMPL_MODULES[self.name]

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.workdir / DB_FILES[self.name]}"

    @cached_property
    def api(self) -> ModuleType:
        """``import mlflow`` or ``import prefect_mltrack as mlflow``, with the tracking URI set."""
        if self.name == "mltrack":
            os.environ["MLTRACK_HOME"] = str(self.workdir)
        mlflow = importlib.import_module(self.module_name)
        mlflow.set_tracking_uri(self.tracking_uri)
        return mlflow

    @cached_property
    def entities(self) -> ModuleType:
        """``mlflow.entities`` or ``prefect_mltrack.entities`` (``Metric``, ``Param``, ``RunTag``)."""
        return importlib.import_module(f"{self.module_name}.entities")

    @cached_property
    def client(self) -> Any:
        return self.api.MlflowClient(self.tracking_uri)

    @property
    def version(self) -> str:
        return str(importlib.import_module(self.module_name).__version__)


@dataclass
class Result:
    """What a workload prints: measured figures plus values both implementations must agree on."""

    measures: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)

    def measure(self, name: str, value: float, unit: str, better: str, compare: bool = True) -> None:
        self.measures[name] = {"value": value, "unit": unit, "better": better, "compare": compare}


def size(quick: bool, full: int, small: int) -> int:
    return small if quick else full


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn()`` took, and what it returned."""
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds over ``repeats`` calls of ``fn``, and the last call's return value."""
    times, value = [], None
    for _ in range(repeats):
        seconds, value = timed(fn)
        times.append(seconds)
    return statistics.median(times), value


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- 1. log_metric ---------------------------------------------------------------------------------
def bench_log_metric(impl: Impl, quick: bool) -> Result:
    """Synchronous ``mlflow.log_metric("m", float(i), step=i)`` calls inside one run.

    The N calls are timed in TIMING_BLOCKS consecutive blocks; calls/s = block size / median block time.
    """
    n = size(quick, 3000, 500)
    block = n // TIMING_BLOCKS
    mlflow = impl.api

    def log_steps(start: int) -> None:
        for i in range(start, start + block):
            mlflow.log_metric("m", float(i), step=i, synchronous=True)

    with mlflow.start_run() as run:
        block_times = [timed(partial(log_steps, b * block))[0] for b in range(TIMING_BLOCKS)]
    stored = len(impl.client.get_metric_history(run.info.run_id, "m"))
    result = Result(size={"calls": n})
    result.measure("log_metric", block / statistics.median(block_times), "calls/s", "higher")
    result.checks = {"stored_points": stored}
    return result


# -- 2. log_batch ----------------------------------------------------------------------------------
def bench_log_batch(impl: Impl, quick: bool) -> Result:
    """``client.log_batch(run_id, metrics=[1000 Metric])`` repeated R times (keys k0..k999, step i).

    Metric lists are built before timing; metrics/s = 1000 / median seconds per call.
    """
    repeats, width = size(quick, 30, 5), 1000
    metric_cls = impl.entities.Metric
    ts = now_ms()
    batches = [
        [metric_cls(key=f"k{j}", value=float(i), timestamp=ts, step=i) for j in range(width)] for i in range(repeats)
    ]
    client = impl.client
    run_id = client.create_run("0").info.run_id
    call_times = [timed(partial(client.log_batch, run_id, metrics=batch))[0] for batch in batches]
    result = Result(size={"calls": repeats, "metrics_per_call": width})
    result.measure("log_batch", width / statistics.median(call_times), "metrics/s", "higher")
    result.checks = {"k0_points": len(client.get_metric_history(run_id, "k0"))}
    return result


# -- 3. search -------------------------------------------------------------------------------------
def populate_runs(impl: Impl, experiment_id: str, n_runs: int) -> None:
    """``n_runs`` runs, each with param p = str(i % 10), tag t, and metric acc (seeded random)."""
    ents, client, rng = impl.entities, impl.client, random.Random(0)
    for i in range(n_runs):
        run_id = client.create_run(experiment_id).info.run_id
        client.log_batch(
            run_id,
            metrics=[ents.Metric(key="acc", value=rng.random(), timestamp=now_ms(), step=0)],
            params=[ents.Param("p", str(i % 10))],
            tags=[ents.RunTag("t", f"run-{i}")],
        )


def bench_search(impl: Impl, quick: bool) -> Result:
    """Three ``mlflow.search_runs(..., max_results=1000, output_format="list")`` queries over N runs.

    (a) filter ``params.p = '3'``; (b) no filter, default order; (c) ordered by ``metrics.acc DESC``.
    Seconds are the median of SEARCH_REPEATS calls; populating the experiment is timed separately.
    """
    n_runs = size(quick, 10_000, 2_000)
    mlflow = impl.api
    experiment_id = impl.client.create_experiment("search")
    setup_seconds, _ = timed(lambda: populate_runs(impl, experiment_id, n_runs))
    queries: dict[str, dict[str, Any]] = {
        "search_filter_param": {"filter_string": "params.p = '3'"},
        "search_unordered": {},
        "search_order_metric": {"order_by": ["metrics.acc DESC"]},
    }
    result = Result(size={"runs": n_runs})
    for name, kwargs in queries.items():
        query = partial(
            mlflow.search_runs, experiment_ids=[experiment_id], max_results=1000, output_format="list", **kwargs
        )
        seconds, runs = median_time(query, SEARCH_REPEATS)
        result.measure(name, seconds, "s", "lower")
        result.checks[f"{name}_count"] = len(runs)
        if name == "search_filter_param":
            result.checks[f"{name}_p_values"] = sorted({r.data.params.get("p") for r in runs})
        if name == "search_order_metric":
            result.checks[f"{name}_top5_acc"] = [round(r.data.metrics["acc"], 12) for r in runs[:5]]
    result.measure("search_setup", setup_seconds, "s", "lower", compare=False)
    return result


# -- 4. history ------------------------------------------------------------------------------------
def bench_history(impl: Impl, quick: bool) -> Result:
    """``client.get_metric_history(run_id, "loss")`` on one metric with N steps (median of 3).

    The N points are logged beforehand, untimed, with log_batch in chunks of 1000.
    """
    n, chunk = size(quick, 100_000, 20_000), 1000
    metric_cls, client = impl.entities.Metric, impl.client
    run_id = client.create_run("0").info.run_id
    ts = now_ms()
    for start in range(0, n, chunk):
        points = [
            metric_cls(key="loss", value=1.0 / (i + 1), timestamp=ts, step=i) for i in range(start, start + chunk)
        ]
        client.log_batch(run_id, metrics=points)
    seconds, history = median_time(lambda: client.get_metric_history(run_id, "loss"), HISTORY_REPEATS)
    assert len(history) == n, f"get_metric_history returned {len(history)} points, expected {n}"
    result = Result(size={"points": n})
    result.measure("history", seconds, "s", "lower")
    result.checks = {"length": len(history), "steps": sorted(m.step for m in history) == list(range(n))}
    return result


# -- 5. import -------------------------------------------------------------------------------------
# Runs the command in argv[1:] once and reports its wall time and the peak RSS of that child alone
# (a fresh wrapper per measurement, since RUSAGE_CHILDREN keeps the maximum over all children).
RSS_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "max_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
sys.exit(code)
"""


@dataclass
class PythonCall:
    """``python -c code`` run in ``cwd`` with ``env``."""

    code: str
    cwd: Path
    env: dict[str, str]


def run_python(call: PythonCall) -> dict[str, float]:
    """Wall seconds and peak RSS (kB) of ``call`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, sys.executable, "-c", call.code],
        cwd=call.cwd,
        env=call.env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"python -c {call.code!r} failed:\n{out.stderr}")
    sample: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return sample


def median_python(calls: list[PythonCall]) -> tuple[float, float]:
    """Median wall seconds and median peak RSS (MB) over ``calls``, one fresh interpreter each."""
    samples = [run_python(call) for call in calls]
    return (
        statistics.median(s["seconds"] for s in samples),
        statistics.median(s["max_rss_kb"] for s in samples) / 1024,
    )


def first_call(impl: Impl, k: int) -> PythonCall:
    """Import, point at a fresh SQLite store, log one metric (the store is created on the way)."""
    workdir = impl.workdir / f"first_call_{k}"
    workdir.mkdir()
    uri = f"sqlite:///{workdir / DB_FILES[impl.name]}"
    code = f"import {impl.module_name} as mlflow; mlflow.set_tracking_uri({uri!r}); mlflow.log_metric('a', 1.0)"
    env = dict(os.environ)
    if impl.name == "mltrack":
        env["MLTRACK_HOME"] = str(workdir)
    return PythonCall(code, workdir, env)


def bench_import(impl: Impl, quick: bool) -> Result:
    """``python -c "import X"`` and a first tracking call, each in fresh interpreters (median of 5).

    Seconds are the subprocess's wall time, interpreter start-up included (shown on its own as
    ``python_startup``, i.e. ``python -c pass``); RSS is that process's peak resident set size.
    ``first_call`` is ``import X as mlflow; mlflow.set_tracking_uri(<new sqlite>); mlflow.log_metric('a', 1.0)``.
    """
    same = [PythonCall("", impl.workdir, dict(os.environ))] * IMPORT_REPEATS
    startup_s, _ = median_python([PythonCall("pass", c.cwd, c.env) for c in same])
    import_s, import_mb = median_python([PythonCall(f"import {impl.module_name}", c.cwd, c.env) for c in same])
    first_s, first_mb = median_python([first_call(impl, k) for k in range(IMPORT_REPEATS)])
    result = Result(size={"repeats": IMPORT_REPEATS})
    result.measure("python_startup", startup_s, "s", "lower", compare=False)
    result.measure("import", import_s, "s", "lower")
    result.measure("import_rss", import_mb, "MB", "lower")
    result.measure("first_call", first_s, "s", "lower")
    result.measure("first_call_rss", first_mb, "MB", "lower")
    return result


# -- 6. concurrency --------------------------------------------------------------------------------
def concurrency_worker(impl_name: str, workdir: str, run_id: str, n_metrics: int, barrier: Any, results: Any) -> None:
    """One process: wait for the others, then log ``n_metrics`` synchronous points, counting errors."""
    mlflow = Impl(impl_name, Path(workdir)).api
    mlflow.get_run(run_id)  # opens the store before the clock starts
    errors: list[str] = []
    barrier.wait()
    for i in range(n_metrics):
        try:
            mlflow.log_metric("m", float(i), step=i, synchronous=True, run_id=run_id)
        except Exception as exc:  # counted, not fatal: that is what the workload measures
            first_line = (str(exc).splitlines() or [""])[0]
            errors.append(f"{type(exc).__name__}: {first_line[:200]}")
    results.put(errors)


def bench_concurrency(impl: Impl, quick: bool) -> Result:
    """P spawned processes, one run each, logging M synchronous metrics at once into one SQLite store.

    The runs are created first and each process opens the store (untimed). Wall time runs from
    the moment all P processes are ready (a barrier) until the last one reports that it has finished
    logging. Errors raised to the callers are counted; the stored count is the sum of
    get_metric_history lengths (expected P * M).
    """
    procs, per_proc = size(quick, 8, 4), size(quick, 500, 200)
    client = impl.client
    experiment_id = client.create_experiment("concurrency")
    run_ids = [client.create_run(experiment_id).info.run_id for _ in range(procs)]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [
        ctx.Process(target=concurrency_worker, args=(impl.name, str(impl.workdir), rid, per_proc, barrier, results))
        for rid in run_ids
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=600)
    start = time.perf_counter()
    errors = [e for _ in workers for e in results.get(timeout=1800)]
    wall = time.perf_counter() - start
    for worker in workers:
        worker.join()
    stored = sum(len(client.get_metric_history(rid, "m")) for rid in run_ids)
    result = Result(size={"processes": procs, "metrics_per_process": per_proc})
    result.measure("concurrency_wall", wall, "s", "lower")
    result.measure("concurrency_throughput", procs * per_proc / wall, "metrics/s", "higher")
    result.measure("concurrency_errors", len(errors), "errors", "lower", compare=False)
    result.measure("concurrency_stored", stored, "points", "higher", compare=False)
    result.checks = {"stored_points": stored, "expected_points": procs * per_proc}
    result.notes = {"error_samples": sorted(set(errors))[:5]}
    return result


# -- 7. models -------------------------------------------------------------------------------------
MODEL_REPEATS = 3
LOAD_REPEATS = 10


def bench_models(impl: Impl, quick: bool) -> Result:
    """The seed's RandomForest (n_estimators=100) logged with cloudpickle, then loaded back.

    ``model_log``: ``sklearn.log_model(clf, name="iris_model", serialization_format="cloudpickle")``
    inside a run (median of MODEL_REPEATS runs). ``model_load_warm``: ``sklearn.load_model("runs:/…")``
    in the same process after one untimed load (median of LOAD_REPEATS). ``model_load_fresh``: a new
    interpreter that imports the package, points at the store, loads the model by ``runs:/`` URI and
    predicts one row (median of MODEL_REPEATS; interpreter start-up included). ``sklearn_import_floor``
    is ``python -c "import sklearn.ensemble"`` alone: the part of a fresh load no model loader can avoid.
    """
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    x, y = load_iris(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=42)
    clf = RandomForestClassifier(n_estimators=100, random_state=0).fit(x_train, y_train)
    mlflow = impl.api
    flavor = importlib.import_module(f"{impl.module_name}.sklearn")
    repeats = size(quick, MODEL_REPEATS, 1)

    def log_once() -> str:
        with mlflow.start_run() as run:
            flavor.log_model(clf, name="iris_model", serialization_format="cloudpickle")
        return f"runs:/{run.info.run_id}/iris_model"

    log_times, uris = [], []
    for _ in range(repeats):
        seconds, uri = timed(log_once)
        log_times.append(seconds)
        uris.append(uri)
    uri = uris[-1]
    flavor.load_model(uri)  # warm: imports and caches are in place
    load_s, model = median_time(lambda: flavor.load_model(uri), size(quick, LOAD_REPEATS, 3))
    code = (
        f"import {impl.module_name} as mlflow, {impl.module_name}.sklearn; "
        f"mlflow.set_tracking_uri({impl.tracking_uri!r}); "
        f"mlflow.sklearn.load_model({uri!r}).predict([[5.1, 3.5, 1.4, 0.2]])"
    )
    fresh_s, fresh_mb = median_python([PythonCall(code, impl.workdir, dict(os.environ))] * repeats)
    # What unpickling a forest costs any loader: importing scikit-learn's ensemble package (and exiting).
    floor_s, _ = median_python([PythonCall("import sklearn.ensemble", impl.workdir, dict(os.environ))] * repeats)
    result = Result(size={"n_estimators": 100, "repeats": repeats})
    result.measure("model_log", statistics.median(log_times), "s", "lower")
    result.measure("model_load_warm", load_s, "s", "lower")
    result.measure("model_load_fresh", fresh_s, "s", "lower")
    result.measure("model_load_fresh_rss", fresh_mb, "MB", "lower")
    result.measure("sklearn_import_floor", floor_s, "s", "lower", compare=False)
    result.checks = {"predictions": [int(v) for v in model.predict(x_test)]}
    return result


WORKLOADS: dict[str, Callable[[Impl, bool], Result]] = {
    "log_metric": bench_log_metric,
    "log_batch": bench_log_batch,
    "search": bench_search,
    "history": bench_history,
    "import": bench_import,
    "concurrency": bench_concurrency,
    "models": bench_models,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("impl", choices=sorted(IMPL_MODULES))
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args(argv)
    impl = Impl(args.impl, args.workdir.resolve())
    result = WORKLOADS[args.workload](impl, args.quick)
    print(
        json.dumps(
            {
                "workload": args.workload,
                "impl": args.impl,
                "version": impl.version,
                "size": result.size,
                "measures": result.measures,
                "checks": result.checks,
                "notes": result.notes,
            }
        )
    )


if __name__ == "__main__":
    main()
