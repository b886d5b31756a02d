"""MLflow's own client against a tracking server: the client side of ``bench/server.py``.

Run with an interpreter that has ``mlflow`` installed (``bench/server.py`` starts it; it is not
meant to be run by hand)::

    python bench/_mlflow_client_worker.py latency URL --run-id R --read-run-id R2 --calls 500
    python bench/_mlflow_client_worker.py batch URL --run-id R --batches 30
    python bench/_mlflow_client_worker.py concurrent URL --run-id R --metrics 500

``latency`` times each ``MlflowClient`` call (``log_metric``, ``log_param``, ``set_tag``,
``get_run``) after a warm-up; ``batch`` times ``log_batch`` with 1000 metrics per call;
``concurrent`` prints ``ready``, waits for a line on stdin, then logs ``--metrics`` points with
``log_metric`` as fast as it can, counting (not raising) errors. Each mode prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

BATCH_WIDTH = 1000


def client_for(url: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=url)


def timed_calls(fn: Callable[[int], Any], calls: int, offset: int = 0) -> list[float]:
    seconds = []
    for i in range(offset, offset + calls):
        started = time.perf_counter()
        fn(i)
        seconds.append(time.perf_counter() - started)
    return seconds


def latency(args: argparse.Namespace) -> dict[str, Any]:
    client, run_id = client_for(args.url), args.run_id
    ops: dict[str, Callable[[int], Any]] = {
        "log_metric": lambda i: client.log_metric(run_id, "m", float(i), step=i),
        "log_param": lambda i: client.log_param(run_id, f"p{i}", str(i)),
        "set_tag": lambda i: client.set_tag(run_id, f"t{i}", str(i)),
        "get_run": lambda i: client.get_run(args.read_run_id),
    }
    result: dict[str, Any] = {}
    for name, fn in ops.items():
        timed_calls(fn, args.warmup, offset=1_000_000)  # warm-up keys never collide with timed ones
        result[name] = timed_calls(fn, args.calls)
    return {"latencies_s": result}


def batch(args: argparse.Namespace) -> dict[str, Any]:
    from mlflow.entities import Metric

    client, run_id = client_for(args.url), args.run_id
    ts = int(time.time() * 1000)
    batches = [[Metric(f"k{j}", float(i), ts, i) for j in range(BATCH_WIDTH)] for i in range(args.batches + 1)]
    client.log_batch(run_id, metrics=batches[-1])  # warm-up (its own step: not counted below)
    seconds = timed_calls(lambda i: client.log_batch(run_id, metrics=batches[i]), args.batches)
    return {"seconds": seconds, "width": BATCH_WIDTH}


def concurrent(args: argparse.Namespace) -> dict[str, Any]:
    client, run_id = client_for(args.url), args.run_id
    client.get_run(run_id)  # connection and imports ready before the clock starts
    print("ready", flush=True)
    sys.stdin.readline()
    errors: list[str] = []
    started = time.perf_counter()
    for i in range(args.metrics):
        try:
            client.log_metric(run_id, "m", float(i), step=i)
        except Exception as exc:  # counted, not fatal: that is what the workload measures
            errors.append(f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}")
    return {"seconds": time.perf_counter() - started, "errors": errors}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["latency", "batch", "concurrent"])
    parser.add_argument("url")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--read-run-id")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--metrics", type=int, default=200)
    args = parser.parse_args(argv)
    modes = {"latency": latency, "batch": batch, "concurrent": concurrent}
    print(json.dumps(modes[args.mode](args)), flush=True)


if __name__ == "__main__":
    main()
