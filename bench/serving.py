"""Serve the walkthrough's random forest with prefect-mltrack and with ``mlflow models serve``; compare.

Usage::

    python bench/serving.py [--quick] [--variant seed|signature|both] [--mlflow-python PATH]

Run it with the project's Python (``prefect_mltrack`` and ``httpx`` installed); MLflow's side uses
``--mlflow-python`` (default: ``.venv-mlflow`` at the repository root, else ``bench/.venv-mlflow``).

For each side, in its own fresh temporary directory and SQLite store, a subprocess trains the seed's
model (``RandomForestClassifier(n_estimators=100)`` on the iris split of the walkthrough's "Serving a
Model" section, ``random_state=0`` so both sides hold the same trees) and logs it as ``iris_model``
with that side's ``sklearn.log_model``; then the script starts that side's server on a free loopback
port and measures, with the same load generator:

* ``start``: ``Popen`` of the CLI to the first ``200`` from ``GET /ping`` (median of ``--starts``);
* one-row ``POST /invocations`` at concurrency 1 and 8: p50, p99 and requests/s over a fixed number
  of requests (one keep-alive ``httpx.Client`` per thread, warm-up requests excluded, the clock
  runs from a barrier to the last answer);
* one 1,000-row request (median and p90 of ``--big-requests`` sequential requests, after warm-up);
* for context, ``GET /ping`` at concurrency 8: the ceiling of this load generator on this machine.

Before the servers, in this process: ``compile_fast_predictor`` against the forest's own ``predict``
on 1 and 1,000 rows (best of 7 repeats; the outputs must be equal).

Both servers must give the same predictions (checked on the 1,000-row body and on one row).
Prints a markdown table on stdout, progress on stderr, every figure to ``bench/results/serving.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_OUTPUT = BENCH_DIR / "results" / "serving.json"
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
START_TIMEOUT_S = 180.0
REQUEST_TIMEOUT_S = 60.0
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]

# Trains and logs the seed's model; ``{module}`` is prefect_mltrack or mlflow. MLflow 3.17 saves
# scikit-learn models with skops by default, which refuses a forest's Tree objects; cloudpickle
# (what the walkthrough's MLflow versions used) works on both sides.
LOG_MODEL = """
import json, sys
import {module} as mlflow
import {module}.sklearn
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

iris = load_iris()
X, y = iris.data, iris.target
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
with mlflow.start_run() as run:
    clf = RandomForestClassifier(n_estimators=100, random_state=0)
    clf.fit(X_train, y_train)
    extra = {{"input_example": X_train[:5]}} if {signature!r} else {{}}
    mlflow.sklearn.log_model(clf, name="iris_model", serialization_format="cloudpickle", **extra)
print(json.dumps({{"uri": f"runs:/{{run.info.run_id}}/iris_model", "x_test": X_test.tolist()}}))
"""

VARIANTS = {
    "seed": "logged as in the walkthrough: no signature",
    "signature": "logged with input_example=X_train[:5] (signature: float64 tensor (-1, 4))",
}


@dataclass(frozen=True)
class Sizes:
    starts: int = 3
    c1_requests: int = 1000
    c8_requests: int = 2000
    warmup: int = 50
    big_requests: int = 30
    ping_requests: int = 2000

    @classmethod
    def quick(cls) -> Sizes:
        return cls(starts=1, c1_requests=300, c8_requests=600, warmup=20, big_requests=10, ping_requests=600)


@dataclass
class Side:
    """One implementation: how to log the model and start its server."""

    name: str
    python: Path
    cli: list[str]
    module: str
    db_file: str
    uri_env: str
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, workdir: Path) -> dict[str, str]:
        env = {**os.environ, **QUIET_ENV, **self.extra_env}
        for name in ("MLFLOW_TRACKING_URI", "MLTRACK_TRACKING_URI", "MLTRACK_HOME"):
            env.pop(name, None)
        env[self.uri_env] = f"sqlite:///{workdir / self.db_file}"
        if self.name == "prefect-mltrack":
            env["MLTRACK_HOME"] = str(workdir)
        return env


@dataclass
class Load:
    """What one load run gave."""

    latencies_s: list[float]
    wall_s: float
    errors: int

    @property
    def rate(self) -> float:
        return len(self.latencies_s) / self.wall_s

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def log(message: str) -> None:
    print(f"[serving-bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- servers -----------------------------------------------------------------------------------------
def log_model(side: Side, workdir: Path, signature: bool) -> tuple[str, list[list[float]]]:
    code = LOG_MODEL.format(module=side.module, signature=signature)
    out = subprocess.run(
        [str(side.python), "-c", code], cwd=workdir, env=side.env(workdir), capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"{side.name}: logging the model failed:\n{out.stderr[-3000:]}")
    document = json.loads(out.stdout.strip().splitlines()[-1])
    return document["uri"], document["x_test"]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    start_s: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """End the server's process group (the CLI and any worker it spawned), which we started."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_server(side: Side, workdir: Path, uri: str, attempt: int) -> Server:
    port = free_port()
    log_path = workdir / f"server-{attempt}.log"
    command = [*side.cli, "-m", uri, "-p", str(port)]
    with log_path.open("wb") as sink:
        started = time.perf_counter()
        # Own session, so that stop() can end the CLI and the uvicorn process MLflow spawns under it.
        process = subprocess.Popen(
            command, cwd=workdir, env=side.env(workdir), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, port, log_path, 0.0)
    with httpx.Client(timeout=1.0) as client:
        while True:
            if process.poll() is not None:
                sys.exit(f"{side.name}: server exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
            if time.perf_counter() - started > START_TIMEOUT_S:
                server.stop()
                sys.exit(f"{side.name}: no /ping answer after {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")
            try:
                if client.get(f"{server.url}/ping").status_code == 200:
                    server.start_s = time.perf_counter() - started
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.01)


@contextmanager
def running(side: Side, workdir: Path, uri: str, starts: int) -> Iterator[tuple[Server, list[float]]]:
    """Start the server ``starts`` times (timing each), keep the last one running for the load."""
    start_times: list[float] = []
    server: Server | None = None
    try:
        for attempt in range(starts):
            if server is not None:
                server.stop()
            server = start_server(side, workdir, uri, attempt)
            start_times.append(server.start_s)
            log(f"{side.name}: start {attempt + 1}/{starts}: {server.start_s:.3f} s")
        assert server is not None
        yield server, start_times
    finally:
        if server is not None:
            server.stop()


# -- load generator ----------------------------------------------------------------------------------
def run_load(url: str, bodies: list[bytes], concurrency: int, requests: int, warmup: int, method: str = "POST") -> Load:
    """``requests`` requests from ``concurrency`` threads, one keep-alive client each, after warm-up."""
    headers = {"Content-Type": "application/json"}
    lock = threading.Lock()
    remaining = [requests]
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    barrier = threading.Barrier(concurrency + 1)
    done = threading.Barrier(concurrency + 1)

    def send(client: httpx.Client, body: bytes) -> bool:
        if method == "GET":
            return client.get(url).status_code == 200
        return client.post(url, content=body, headers=headers).status_code == 200

    def worker(index: int) -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
            for i in range(warmup):
                send(client, bodies[i % len(bodies)])
            barrier.wait()
            mine, i = latencies[index], index
            while True:
                with lock:
                    if remaining[0] == 0:
                        break
                    remaining[0] -= 1
                body = bodies[i % len(bodies)]
                i += concurrency
                started = time.perf_counter()
                ok = send(client, body)
                mine.append(time.perf_counter() - started)
                if not ok:
                    errors[index] += 1
            done.wait()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    done.wait()
    wall = time.perf_counter() - started
    for thread in threads:
        thread.join()
    return Load([s for mine in latencies for s in mine], wall, sum(errors))


def one_answer(url: str, body: bytes) -> Any:
    response = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=REQUEST_TIMEOUT_S)
    return {"status": response.status_code, "body": response.json()}


def measure_side(side: Side, workdir: Path, signature: bool, sizes: Sizes) -> tuple[dict[str, float], dict[str, Any]]:
    uri, x_test = log_model(side, workdir, signature)
    log(f"{side.name}: logged {uri}")
    one_row = [json.dumps({"inputs": [row]}).encode() for row in x_test]
    big_rows = [
        [round(v + 0.01 * ((i * 7 + j) % 13), 4) for j, v in enumerate(x_test[i % len(x_test)])] for i in range(1000)
    ]
    big = json.dumps({"inputs": big_rows}).encode()
    figures: dict[str, float] = {}
    with running(side, workdir, uri, sizes.starts) as (server, start_times):
        invocations = f"{server.url}/invocations"
        answers = {"one_row": one_answer(invocations, one_row[0]), "big": one_answer(invocations, big)}
        figures["start"] = statistics.median(start_times)
        for concurrency, requests in ((1, sizes.c1_requests), (8, sizes.c8_requests)):
            warmup = sizes.warmup if concurrency == 1 else max(5, sizes.warmup // concurrency)
            load = run_load(invocations, one_row, concurrency, requests, warmup)
            figures[f"c{concurrency}_p50"] = load.quantile(0.5)
            figures[f"c{concurrency}_p99"] = load.quantile(0.99)
            figures[f"c{concurrency}_rate"] = load.rate
            figures[f"c{concurrency}_errors"] = load.errors
            log(
                f"{side.name}: c={concurrency}: p50 {load.quantile(0.5) * 1e3:.2f} ms, "
                f"p99 {load.quantile(0.99) * 1e3:.2f} ms, {load.rate:.0f} req/s, {load.errors} errors"
            )
        load = run_load(invocations, [big], 1, sizes.big_requests, 3)
        figures["big_p50"] = load.quantile(0.5)
        figures["big_p90"] = load.quantile(0.9)
        figures["big_errors"] = load.errors
        log(f"{side.name}: 1,000 rows: p50 {load.quantile(0.5) * 1e3:.2f} ms")
        ping = run_load(f"{server.url}/ping", [b""], 8, sizes.ping_requests, 5, method="GET")
        figures["ping_c8_rate"] = ping.rate
    return figures, answers


# -- the predictor alone ------------------------------------------------------------------------------
def predictor_lines() -> list[str]:
    """The fast tree predictor vs scikit-learn's ``predict`` on the same forest, in this process."""
    import timeit

    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    from prefect_mltrack.serving.fast_predict import compile_fast_predictor

    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=42)
    clf = RandomForestClassifier(n_estimators=100, random_state=0).fit(X_train, y_train)
    fast = compile_fast_predictor(clf)
    if fast is None:
        return ["compile_fast_predictor declined the forest"]
    lines = ["| rows | sklearn `predict` | `compile_fast_predictor` | speed-up |", "|---:|---:|---:|---:|"]
    for rows in (X_test[:1], np.tile(X, (7, 1))[:1000]):
        if not np.array_equal(fast(rows), clf.predict(rows)):
            sys.exit("the fast predictor disagrees with predict()")
        theirs = min(timeit.repeat(partial(clf.predict, rows), number=20, repeat=7)) / 20
        ours = min(timeit.repeat(partial(fast, rows), number=200, repeat=7)) / 200
        lines.append(f"| {len(rows):,} | {theirs * 1e3:.3f} ms | {ours * 1e3:.3f} ms | {theirs / ours:.0f}x |")
    return lines


# -- report ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    unit: str  # "s", "ms", "req/s" or "count"
    better: str  # "lower" or "higher"
    target: float | None = None  # minimum "ours vs MLflow" ratio


MEASURES = [
    Measure("start", "server start to first /ping", "s", "lower", 3),
    Measure("c1_p50", "1 row, concurrency 1: p50", "ms", "lower", 3),
    Measure("c1_p99", "1 row, concurrency 1: p99", "ms", "lower"),
    Measure("c1_rate", "1 row, concurrency 1: throughput", "req/s", "higher"),
    Measure("c8_p50", "1 row, concurrency 8: p50", "ms", "lower"),
    Measure("c8_p99", "1 row, concurrency 8: p99", "ms", "lower"),
    Measure("c8_rate", "1 row, concurrency 8: throughput", "req/s", "higher", 5),
    Measure("big_p50", "1,000-row request: p50", "ms", "lower", 1),
    Measure("big_p90", "1,000-row request: p90", "ms", "lower"),
    Measure("c1_errors", "errors (one-row, c=1)", "count", "lower"),
    Measure("c8_errors", "errors (one-row, c=8)", "count", "lower"),
    Measure("big_errors", "errors (1,000 rows)", "count", "lower"),
    Measure("ping_c8_rate", "context: GET /ping, concurrency 8", "req/s", "higher"),
]


def show(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value * 1e3:.2f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    return f"{value:.0f}"


def table(variant: str, ours: dict[str, float], theirs: dict[str, float]) -> tuple[list[str], list[dict[str, Any]]]:
    lines = [
        f"| {variant} | prefect-mltrack | MLflow | ours vs MLflow | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    rows = []
    for m in MEASURES:
        a, b = ours[m.key], theirs[m.key]
        ratio = None
        if m.unit != "count" and a > 0 and b > 0:
            ratio = b / a if m.better == "lower" else a / b
        met = None if m.target is None or ratio is None else ratio >= m.target
        target = "" if m.target is None else (f"≥ {m.target:g}x" if m.target != 1 else "no slower")
        shown_ratio = "—" if ratio is None else f"{ratio:.1f}x"
        shown_met = "" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {m.label} | {show(a, m.unit)} | {show(b, m.unit)} | {shown_ratio} | {target} | {shown_met} |")
        rows.append({"measure": m.key, "ours": a, "mlflow": b, "ratio": ratio, "target": m.target, "met": met})
    return lines, rows


def predictions(answer: dict[str, Any]) -> Any:
    return answer["body"].get("predictions") if answer["status"] == 200 else answer


def mlflow_python(requested: str | None) -> Path:
    candidates = (
        [Path(requested)]
        if requested
        else [REPO_DIR / ".venv-mlflow/bin/python", BENCH_DIR / ".venv-mlflow/bin/python"]
    )
    for candidate in candidates:
        if candidate.exists():
            return candidate
    sys.exit(f"no MLflow interpreter at {', '.join(map(str, candidates))}; pass --mlflow-python")


def version(python: Path, module: str) -> str:
    out = subprocess.run(
        [str(python), "-c", f"import {module}; print({module}.__version__)"],
        capture_output=True,
        text=True,
        env={**os.environ, **QUIET_ENV},
    )
    return out.stdout.strip() or f"unknown ({out.stderr.strip()[-200:]})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer starts and requests")
    parser.add_argument("--variant", choices=[*VARIANTS, "both"], default="both")
    parser.add_argument("--mlflow-python", help="interpreter with mlflow installed")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    their_python = mlflow_python(args.mlflow_python)
    our_bin, their_bin = Path(sys.executable).parent, their_python.parent
    sides = [
        Side(
            "prefect-mltrack",
            Path(sys.executable),
            [str(our_bin / "mltrack"), "models", "serve"],
            "prefect_mltrack",
            "mltrack.db",
            "MLTRACK_TRACKING_URI",
        ),
        # MLflow's CLI execs `uvicorn` by name: its environment's bin must come first on PATH.
        Side(
            "MLflow",
            their_python,
            [str(their_bin / "mlflow"), "models", "serve", "--env-manager", "local"],
            "mlflow",
            "mlflow.db",
            "MLFLOW_TRACKING_URI",
            {"PATH": f"{their_bin}{os.pathsep}{os.environ.get('PATH', '')}"},
        ),
    ]
    versions = {
        "prefect-mltrack": version(Path(sys.executable), "prefect_mltrack"),
        "MLflow": version(their_python, "mlflow"),
    }
    variants = list(VARIANTS) if args.variant == "both" else [args.variant]
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "versions": versions,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg": os.getloadavg(),
        },
        "sizes": sizes.__dict__,
        "variants": {},
    }
    out_lines = [
        f"prefect-mltrack {versions['prefect-mltrack']} vs MLflow {versions['MLflow']}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start"
    ]
    log("timing the fast predictor in-process")
    out_lines += ["", *predictor_lines()]
    discrepancies: list[str] = []
    for variant in variants:
        figures, answers = {}, {}
        for side in sides:
            workdir = Path(tempfile.mkdtemp(prefix=f"mltrack-serving-{variant}-{side.module}-"))
            try:
                log(f"{variant}: {side.name} in {workdir}")
                figures[side.name], answers[side.name] = measure_side(side, workdir, variant == "signature", sizes)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        for body in ("one_row", "big"):
            ours, theirs = (predictions(answers[s.name][body]) for s in sides)
            if ours != theirs:
                discrepancies.append(
                    f"{variant}: {body} predictions differ: ours {str(ours)[:200]} vs {str(theirs)[:200]}"
                )
        lines, rows = table(f"{variant} ({VARIANTS[variant]})", figures["prefect-mltrack"], figures["MLflow"])
        out_lines += ["", *lines]
        report["variants"][variant] = {"figures": figures, "rows": rows}
    report["discrepancies"] = discrepancies
    report["elapsed_s"] = time.perf_counter() - started
    out_lines += ["", "Discrepancies: " + ("; ".join(discrepancies) if discrepancies else "none (same predictions)")]
    print("\n".join(out_lines))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    log(f"done in {report['elapsed_s']:.0f} s; figures in {args.output}")


if __name__ == "__main__":
    main()
