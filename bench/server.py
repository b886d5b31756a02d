"""The tracking server under load: prefect-mltrack's ``mltrack server`` vs ``mlflow server``, side by side.

Usage::

    python bench/server.py [--quick] [--ours-url URL | --ours-server mltrack|mlflow] [--mlflow-url URL]
                           [--mlflow-python PATH] [--workers N] [--search-runs N] [--only W,...] [--output PATH]

Run it with the project's Python (``httpx`` installed). Each side is a server URL given on the
command line, or a server this script starts on a free loopback port with a fresh SQLite store and
artifact folder in a temporary directory: ``mltrack server`` (from this interpreter's ``bin``) for
ours, ``mlflow server`` (from ``--mlflow-python``'s ``bin``; default ``.venv-mlflow`` at the
repository root, else ``bench/.venv-mlflow``) for MLflow. ``--ours-server mlflow`` starts a second
MLflow server in our place: a check of the bench itself, where every ratio should be near 1.

Workloads, the same requests against both servers (setup never timed):

* ``latency``: per-call p50/p95 of ``log_metric``, ``log_param``, ``set_tag``, ``get_run``
  (on a run with 10 params, 10 metrics, 5 tags) through (i) the raw HTTP client: one keep-alive
  ``httpx.Client`` posting MLflow's JSON, (ii) MLflow's ``MlflowClient`` in a subprocess of
  MLflow's interpreter (``bench/_mlflow_client_worker.py``), and (iii) for context the raw client
  with ``Connection: close`` (a new connection per call); warm-up calls excluded. Why (iii): uvicorn
  run with ``--workers`` > 1 (``mlflow server`` runs 4 by default) serves sockets without
  ``TCP_NODELAY``, so on a kept-alive connection a response written in two pieces (headers, then
  body) waits for the client's delayed ACK, about 40 ms on Linux; a fresh connection shows the
  server's own time;
* ``log_batch``: 1000 metrics per ``runs/log-batch`` call, metrics/s = 1000 / median call time,
  through both clients;
* ``search``: ``runs/search`` over N runs (each: metric ``acc`` seeded-random, param ``p``, tag
  ``t``; created through the REST API by 4 threads, one connection per request, timed apart as
  ``search_setup``), max_results 1000: (a) ``metrics.acc > 0.5`` ordered by ``metrics.acc DESC``,
  (b) no filter; median of R calls, time to the last byte of the answer (parsing excluded); counts
  and top-5 values compared;
* ``concurrency``: P processes with MLflow's client, one run each, each logging K ``log_metric``
  calls at once (released together once all are connected); wall time until the last one has
  reported its last call returned (interpreter shutdown not timed); the stored points are
  counted with ``metrics/get-history`` (expected P x K).

Prints a markdown table on stdout ("ours vs MLflow" is how many times better ours is: ours / MLflow
for rates, MLflow / ours for times), progress on stderr, every figure to ``bench/results/server.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WORKER = BENCH_DIR / "_mlflow_client_worker.py"
DEFAULT_OUTPUT = BENCH_DIR / "results" / "server.json"
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
API = "/api/2.0/mlflow"
START_TIMEOUT_S = 120.0
OPS = ("log_metric", "log_param", "set_tag", "get_run")
BATCH_WIDTH = 1000
SETUP_THREADS = 4


@dataclass(frozen=True)
class Sizes:
    latency_calls: int = 300
    warmup: int = 20
    batches: int = 30
    search_runs: int = 10_000
    search_repeats: int = 5
    processes: int = 8
    metrics_per_process: int = 500

    @classmethod
    def quick(cls) -> Sizes:
        return cls(latency_calls=100, warmup=10, batches=5, search_runs=1_000, search_repeats=3, metrics_per_process=50)


def log(message: str) -> None:
    print(f"[server-bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- servers -----------------------------------------------------------------------------------------
@contextmanager
def started_server(name: str, command: list[str], env: dict[str, str], workdir: Path) -> Iterator[str]:
    """Run ``command`` (which must serve on the port it was given) until the block ends; yield its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "server.log"
    full = [*command, "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as sink:
        # Own session, so that the server and any worker processes it forks end together.
        process = subprocess.Popen(
            full, cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        started = time.perf_counter()
        with httpx.Client(timeout=2.0) as client:
            while True:
                if process.poll() is not None:
                    sys.exit(f"{name}: server exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
                if time.perf_counter() - started > START_TIMEOUT_S:
                    sys.exit(f"{name}: no /health answer after {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")
                try:
                    if client.get(f"{url}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        log(f"{name}: {' '.join(full[:2])} ready at {url} after {time.perf_counter() - started:.1f} s")
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def server_command(kind: str, mlflow_bin: Path, workdir: Path, workers: int | None) -> tuple[list[str], dict[str, str]]:
    """The CLI that starts a ``kind`` server on a fresh SQLite store in ``workdir``, and its environment."""
    env = {**os.environ, **QUIET_ENV}
    for name in ("MLFLOW_TRACKING_URI", "MLTRACK_TRACKING_URI"):
        env.pop(name, None)
    if kind == "mltrack":
        executable = Path(sys.executable).parent / "mltrack"
        if not executable.exists():
            sys.exit(f"{executable} not found: install the project, or pass --ours-url")
        command = [str(executable), "server", "--backend-store-uri", f"sqlite:///{workdir / 'mltrack.db'}"]
        env["MLTRACK_HOME"] = str(workdir)
    else:
        # MLflow's CLI execs `uvicorn` by name: its environment's bin must come first on PATH.
        env["PATH"] = f"{mlflow_bin}{os.pathsep}{env.get('PATH', '')}"
        command = [str(mlflow_bin / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(workdir / "artifacts")]
    if workers is not None:
        command += ["--workers", str(workers)]
    return command, env


# -- the raw HTTP client -------------------------------------------------------------------------------
class Raw:
    """MLflow's REST protocol over one keep-alive ``httpx.Client``; any non-200 answer raises."""

    def __init__(self, url: str, fresh: bool = False) -> None:
        headers = {"Content-Type": "application/json"}
        if fresh:  # a new connection per request (see "fresh" in the module docstring)
            headers["Connection"] = "close"
        self.client = httpx.Client(base_url=url, timeout=600.0, headers=headers)

    def post(self, path: str, body: dict[str, Any] | bytes) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.check(self.client.post(f"{API}/{path}", content=content))

    def get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        return self.check(self.client.get(f"{API}/{path}", params=params))

    @staticmethod
    def check(response: httpx.Response) -> httpx.Response:
        if response.status_code != 200:
            raise RuntimeError(
                f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}"
            )
        return response

    def experiment(self, prefix: str) -> str:
        return str(
            self.post("experiments/create", {"name": f"{prefix}-{uuid.uuid4().hex[:8]}"}).json()["experiment_id"]
        )

    def run(self, experiment_id: str) -> str:
        body = {"experiment_id": experiment_id, "start_time": now_ms()}
        return str(self.post("runs/create", body).json()["run"]["info"]["run_id"])

    def history_length(self, run_id: str, key: str) -> int:
        count, token = 0, None
        while True:
            params = {
                "run_id": run_id,
                "metric_key": key,
                "max_results": 25000,
                **({"page_token": token} if token else {}),
            }
            answer = self.get("metrics/get-history", params).json()
            count += len(answer.get("metrics", []))
            token = answer.get("next_page_token")
            if not token:
                return count

    def close(self) -> None:
        self.client.close()


def worker(python: Path, *args: str) -> dict[str, Any]:
    """Run MLflow's client in a subprocess of MLflow's interpreter; its last stdout line is JSON."""
    out = subprocess.run(
        [str(python), str(WORKER), *args], capture_output=True, text=True, env={**os.environ, **QUIET_ENV}
    )
    if out.returncode != 0:
        raise RuntimeError(f"MLflow client worker {args[0]} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- workloads -----------------------------------------------------------------------------------------
Figures = dict[str, float]
Checks = dict[str, Any]


def raw_calls(raw: Raw, run_id: str, read_run: str, prefix: str) -> dict[str, Callable[[int], Any]]:
    """The four timed calls in MLflow's JSON; ``prefix`` keeps param and tag keys of two clients apart."""
    return {
        "log_metric": lambda i: raw.post(
            "runs/log-metric",
            {"run_id": run_id, "key": f"{prefix}m", "value": float(i), "timestamp": now_ms(), "step": i},
        ),
        "log_param": lambda i: raw.post(
            "runs/log-parameter", {"run_id": run_id, "key": f"{prefix}p{i}", "value": str(i)}
        ),
        "set_tag": lambda i: raw.post("runs/set-tag", {"run_id": run_id, "key": f"{prefix}t{i}", "value": str(i)}),
        "get_run": lambda i: raw.get("runs/get", {"run_id": read_run}).content,
    }


def package_calls(url: str, run_id: str, read_run: str) -> dict[str, Callable[[int], Any]]:
    """The four timed calls through prefect_mltrack's own client (its REST store speaks MLflow's
    protocol, so it runs against both servers)."""
    from prefect_mltrack.client import MlflowClient

    client = MlflowClient(url)
    return {
        "log_metric": lambda i: client.log_metric(run_id, "pkgm", float(i), step=i),
        "log_param": lambda i: client.log_param(run_id, f"pkgp{i}", str(i)),
        "set_tag": lambda i: client.set_tag(run_id, f"pkgt{i}", str(i)),
        "get_run": lambda i: client.get_run(read_run),
    }


def time_calls(calls: dict[str, Callable[[int], Any]], sizes: Sizes) -> dict[str, list[float]]:
    latencies = {}
    for op, call in calls.items():
        for i in range(sizes.warmup):
            call(1_000_000 + i)  # warm-up keys never collide with timed ones
        mine = []
        for i in range(sizes.latency_calls):
            started = time.perf_counter()
            call(i)
            mine.append(time.perf_counter() - started)
        latencies[op] = mine
    return latencies


def bench_latency(url: str, sizes: Sizes, python: Path) -> tuple[Figures, Checks]:
    raw, fresh = Raw(url), Raw(url, fresh=True)
    try:
        experiment_id = raw.experiment("latency")
        read_run = raw.run(experiment_id)
        raw.post(
            "runs/log-batch",
            {
                "run_id": read_run,
                "metrics": [{"key": f"m{i}", "value": i / 10, "timestamp": now_ms(), "step": 0} for i in range(10)],
                "params": [{"key": f"p{i}", "value": str(i)} for i in range(10)],
                "tags": [{"key": f"t{i}", "value": str(i)} for i in range(5)],
            },
        )
        run_id = raw.run(experiment_id)
        latencies = {
            "raw": time_calls(raw_calls(raw, run_id, read_run, "keep"), sizes),
            "fresh": time_calls(raw_calls(fresh, run_id, read_run, "fresh"), sizes),
            "package": time_calls(package_calls(url, run_id, read_run), sizes),
        }
        theirs_run = raw.run(experiment_id)
        args = ["--run-id", theirs_run, "--read-run-id", read_run]
        args += ["--calls", str(sizes.latency_calls), "--warmup", str(sizes.warmup)]
        latencies["mlflow"] = worker(python, "latency", url, *args)["latencies_s"]
        stored = {key: raw.history_length(run_id, key) for key in ("keepm", "freshm")}
        stored["mlflow"] = raw.history_length(theirs_run, "m")
    finally:
        raw.close()
        fresh.close()
    figures = {
        f"{client}_{op}_{q}": quantile(latencies[client][op], level)
        for client in CLIENTS
        for op in OPS
        for q, level in (("p50", 0.5), ("p95", 0.95))
    }
    expected = sizes.warmup + sizes.latency_calls
    return figures, {"log_metric_points": stored, "expected_points_each": expected}


def bench_log_batch(url: str, sizes: Sizes, python: Path) -> tuple[Figures, Checks]:
    raw = Raw(url)
    try:
        experiment_id = raw.experiment("log-batch")
        run_id = raw.run(experiment_id)
        ts = now_ms()
        bodies = [
            json.dumps(
                {
                    "run_id": run_id,
                    "metrics": [
                        {"key": f"k{j}", "value": float(i), "timestamp": ts, "step": i} for j in range(BATCH_WIDTH)
                    ],
                }
            ).encode()
            for i in range(sizes.batches + 1)
        ]
        raw.post("runs/log-batch", bodies[-1])  # warm-up, on a step of its own
        seconds = []
        for body in bodies[:-1]:
            started = time.perf_counter()
            raw.post("runs/log-batch", body)
            seconds.append(time.perf_counter() - started)
        stored = raw.history_length(run_id, "k0")
        theirs_run = raw.run(experiment_id)
        theirs = worker(python, "batch", url, "--run-id", theirs_run, "--batches", str(sizes.batches))
        theirs_stored = raw.history_length(theirs_run, "k0")
    finally:
        raw.close()
    figures = {
        "raw_log_batch": BATCH_WIDTH / statistics.median(seconds),
        "mlflow_log_batch": BATCH_WIDTH / statistics.median(theirs["seconds"]),
    }
    return figures, {"raw_k0_points": stored, "mlflow_k0_points": theirs_stored}


def populate(url: str, experiment_id: str, n_runs: int) -> None:
    """``n_runs`` runs through the REST API: metric acc (seeded random), param p = i % 10, tag t."""
    rng = random.Random(0)
    accs = [rng.random() for _ in range(n_runs)]

    def create(indices: range) -> None:
        raw = Raw(url, fresh=True)  # setup only: dodges the keep-alive stall described above
        try:
            for i in indices:
                run_id = raw.run(experiment_id)
                raw.post(
                    "runs/log-batch",
                    {
                        "run_id": run_id,
                        "metrics": [{"key": "acc", "value": accs[i], "timestamp": now_ms(), "step": 0}],
                        "params": [{"key": "p", "value": str(i % 10)}],
                        "tags": [{"key": "t", "value": f"run-{i}"}],
                    },
                )
        finally:
            raw.close()

    chunks = [range(k, n_runs, SETUP_THREADS) for k in range(SETUP_THREADS)]
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        list(pool.map(create, chunks))


def bench_search(url: str, sizes: Sizes, python: Path) -> tuple[Figures, Checks]:
    raw = Raw(url)
    try:
        experiment_id = raw.experiment("search")
        started = time.perf_counter()
        populate(url, experiment_id, sizes.search_runs)
        figures: Figures = {"search_setup": time.perf_counter() - started}
        queries = {
            "search_metric": {"filter": "metrics.acc > 0.5", "order_by": ["metrics.acc DESC"]},
            "search_plain": {},
        }
        checks: Checks = {}
        for name, query in queries.items():
            body = json.dumps({"experiment_ids": [experiment_id], "max_results": 1000, **query}).encode()
            seconds, answer = [], b""
            for _ in range(sizes.search_repeats):
                started = time.perf_counter()
                answer = raw.post("runs/search", body).content
                seconds.append(time.perf_counter() - started)
            figures[name] = statistics.median(seconds)
            runs = json.loads(answer).get("runs", [])
            checks[f"{name}_count"] = len(runs)
            checks[f"{name}_has_next_page"] = bool(json.loads(answer).get("next_page_token"))
            if name == "search_metric":
                checks[f"{name}_top5_acc"] = [
                    round(next(m["value"] for m in r["data"]["metrics"] if m["key"] == "acc"), 12) for r in runs[:5]
                ]
    finally:
        raw.close()
    return figures, checks


def stop_all(processes: list[subprocess.Popen[str]]) -> None:
    """End the worker processes this workload started that are still running (after a failure)."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def bench_concurrency(url: str, sizes: Sizes, python: Path) -> tuple[Figures, Checks]:
    raw = Raw(url)
    with ExitStack() as stack:
        stack.callback(raw.close)
        experiment_id = raw.experiment("concurrency")
        run_ids = [raw.run(experiment_id) for _ in range(sizes.processes)]
        command = [str(python), str(WORKER), "concurrent", url, "--metrics", str(sizes.metrics_per_process)]
        processes: list[subprocess.Popen[str]] = []
        stack.callback(stop_all, processes)
        for run_id in run_ids:
            processes.append(
                subprocess.Popen(
                    [*command, "--run-id", run_id],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env={**os.environ, **QUIET_ENV},
                )
            )
        for process in processes:  # each has imported MLflow and reached the server
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a concurrency worker did not start: {process.communicate()[1][-2000:]}")
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        # Each worker prints its result as soon as its last call returned; the clock stops at the
        # last of those lines, so interpreter shutdown (seconds for MLflow, x P on 2 CPUs) is not timed.
        results = [process.stdout.readline() if process.stdout else "" for process in processes]
        wall = time.perf_counter() - started
        errors: list[str] = []
        for process, line in zip(processes, results, strict=True):
            _, err = process.communicate()
            if process.returncode != 0 or not line.strip():
                raise RuntimeError(f"a concurrency worker failed:\n{err[-2000:]}")
            errors += json.loads(line)["errors"]
        stored = sum(raw.history_length(run_id, "m") for run_id in run_ids)
    expected = sizes.processes * sizes.metrics_per_process
    figures = {
        "concurrency_wall": wall,
        "concurrency_throughput": expected / wall,
        "concurrency_errors": float(len(errors)),
        "concurrency_stored": float(stored),
    }
    return figures, {"stored_points": stored, "expected_points": expected, "error_samples": sorted(set(errors))[:5]}


WORKLOADS: dict[str, Callable[[str, Sizes, Path], tuple[Figures, Checks]]] = {
    "latency": bench_latency,
    "log_batch": bench_log_batch,
    "search": bench_search,
    "concurrency": bench_concurrency,
}


# -- report --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measure:
    workload: str
    key: str
    label: str
    unit: str  # "ms", "s", "metrics/s" or "count"
    better: str  # "lower" or "higher"


CLIENTS = {
    "package": "prefect_mltrack client",
    "raw": "raw HTTP client",
    "mlflow": "MLflow client",
    "fresh": "raw HTTP client, new connection per call",
}
MEASURES = [
    *(
        Measure("latency", f"{c}_{op}_{q}", f"{op} {q} ({label})", "ms", "lower")
        for c, label in CLIENTS.items()
        for op in OPS
        for q in ("p50", "p95")
    ),
    *(
        Measure("log_batch", f"{c}_log_batch", f"log_batch, 1000 metrics/call ({CLIENTS[c]})", "metrics/s", "higher")
        for c in ("raw", "mlflow")
    ),
    Measure("search", "search_metric", "metrics.acc > 0.5 ORDER BY metrics.acc DESC, 1000 of N", "ms", "lower"),
    Measure("search", "search_plain", "no filter, 1000 of N", "ms", "lower"),
    Measure("search", "search_setup", "context: creating the N runs over REST", "s", "lower"),
    Measure("concurrency", "concurrency_wall", "P processes x K log_metric: wall", "s", "lower"),
    Measure("concurrency", "concurrency_throughput", "P processes x K log_metric: throughput", "metrics/s", "higher"),
    Measure("concurrency", "concurrency_errors", "errors raised to callers", "count", "lower"),
    Measure("concurrency", "concurrency_stored", "points stored (get-history)", "count", "higher"),
]


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value * 1e3:.2f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "metrics/s":
        return f"{value:,.0f} metrics/s"
    return f"{value:,.0f}"


def table(ours: Figures, theirs: Figures, workloads: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    lines = ["| workload | measure | ours | MLflow | ours vs MLflow |", "|---|---|---:|---:|---:|"]
    rows = []
    for m in (m for m in MEASURES if m.workload in workloads):
        a, b = ours.get(m.key), theirs.get(m.key)
        ratio = None
        if m.unit != "count" and m.key != "search_setup" and a and b:
            ratio = b / a if m.better == "lower" else a / b
        shown = "—" if ratio is None else f"{ratio:.1f}x"
        lines.append(f"| {m.workload} | {m.label} | {show(a, m.unit)} | {show(b, m.unit)} | {shown} |")
        rows.append({"measure": m.key, "ours": a, "mlflow": b, "ratio": ratio})
    return lines, rows


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


def server_version(url: str) -> str:
    try:
        answer = httpx.get(f"{url}/version", timeout=5.0)
        return answer.text.strip()[:40] if answer.status_code == 200 else f"unknown (/version: {answer.status_code})"
    except httpx.HTTPError as exc:
        return f"unknown ({exc})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--ours-url", help="our server's URL (default: start `mltrack server`)")
    parser.add_argument(
        "--ours-server",
        choices=["mltrack", "mlflow"],
        default="mltrack",
        help="what to start on our side when --ours-url is not given",
    )
    parser.add_argument("--mlflow-url", help="MLflow server's URL (default: start `mlflow server`)")
    parser.add_argument("--mlflow-python", help="interpreter with mlflow installed (runs MLflow's client and server)")
    parser.add_argument("--workers", type=int, help="--workers for the servers this script starts (default: theirs)")
    parser.add_argument("--search-runs", type=int, help="N, the runs searched (default: 10,000; 1,000 with --quick)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    if args.search_runs:
        sizes = replace(sizes, search_runs=args.search_runs)
    python = mlflow_python(args.mlflow_python)
    selected = [w for w in WORKLOADS if not args.only or w in args.only.split(",")]
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg": os.getloadavg(),
        },
        "sizes": asdict(sizes),
    }
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        report["servers"] = {}
        for side, given, kind in (("ours", args.ours_url, args.ours_server), ("MLflow", args.mlflow_url, "mlflow")):
            if given:
                urls[side] = given.rstrip("/")
            else:
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"mltrack-server-bench-{kind}-")))
                command, env = server_command(kind, python.parent, workdir, args.workers)
                urls[side] = stack.enter_context(started_server(f"{side} ({kind})", command, env, workdir))
            report["servers"][side] = {
                "url": urls[side],
                "version": server_version(urls[side]),
                "started": None if given else kind,
                "workers": "as given" if given else (args.workers or "the CLI's default"),
            }
        figures: dict[str, Figures] = {"ours": {}, "MLflow": {}}
        checks: dict[str, dict[str, Checks]] = {"ours": {}, "MLflow": {}}
        discrepancies: list[str] = []
        for k, workload in enumerate(selected):
            # Alternate which side goes first, so that neither always meets a cold (or busy) machine.
            for side in ("ours", "MLflow") if k % 2 == 0 else ("MLflow", "ours"):
                log(f"{workload}: {side}")
                try:
                    got, checked = WORKLOADS[workload](urls[side], sizes, python)
                except Exception as exc:  # one failed workload must not hide the others' figures
                    discrepancies.append(f"{workload} on {side} failed: {type(exc).__name__}: {str(exc)[:500]}")
                    log(discrepancies[-1])
                    continue
                figures[side].update(got)
                checks[side][workload] = checked
                log(f"{workload}: {side}: " + ", ".join(f"{k}={v:.4g}" for k, v in got.items()))
            ours, theirs = checks["ours"].get(workload), checks["MLflow"].get(workload)
            if ours is not None and theirs is not None and ours != theirs:
                discrepancies.append(f"{workload}: checks differ: ours {ours} vs MLflow {theirs}")
    for side in ("ours", "MLflow"):
        concurrency = checks[side].get("concurrency")
        if concurrency and concurrency["stored_points"] != concurrency["expected_points"]:
            discrepancies.append(
                f"concurrency on {side}: {concurrency['stored_points']} points stored, "
                f"{concurrency['expected_points']} logged"
            )
    lines, rows = table(figures["ours"], figures["MLflow"], selected)
    servers = report["servers"]
    header = (
        f"ours: {servers['ours']['url']} (version {servers['ours']['version']}) vs MLflow: {servers['MLflow']['url']} "
        f"(version {servers['MLflow']['version']}); {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"N = {sizes.search_runs:,} runs, P = {sizes.processes}, K = {sizes.metrics_per_process}, "
        f"{sizes.latency_calls} calls per latency figure"
    )
    report.update(
        figures=figures, checks=checks, rows=rows, discrepancies=discrepancies, elapsed_s=time.perf_counter() - started
    )
    print("\n".join([header, "", *lines, "", "Discrepancies: " + ("; ".join(discrepancies) or "none")]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    log(f"done in {report['elapsed_s']:.0f} s; figures in {args.output}")


if __name__ == "__main__":
    main()
