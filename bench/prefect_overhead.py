"""What @track adds to a Prefect flow run, measured on real flow runs (heartbeat off, temporary API).

    .venv/bin/python bench/prefect_overhead.py [--runs 60]

Three flows with the same body (log 3 params' worth of parameters and one metric):
plain ``@flow``; ``@flow @track(publish_summary=False)``; ``@flow @track`` (with the Prefect
summary artifacts). Runs are interleaved so drift hits all three alike. Reported: the median
end-to-end call time of each, and the time spent inside the tracking code itself (opening and
closing the run, and publishing the summary), timed around those steps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    os.environ.setdefault("MLTRACK_HOME", tempfile.mkdtemp(prefix="mltrack-bench-"))
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"

    from prefect import flow
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    import prefect_mltrack as mlflow
    from prefect_mltrack import prefect_ui, track

    spent: dict[str, list[float]] = defaultdict(list)

    def timed(name: str, fn: Any) -> Any:
        def inner(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name].append(time.perf_counter() - start)

        return inner

    track_module = __import__("prefect_mltrack.flow_tracking", fromlist=["_TrackedRun"])
    track_module._TrackedRun.__enter__ = timed("open run", track_module._TrackedRun.__enter__)
    track_module._TrackedRun.__exit__ = timed("close run", track_module._TrackedRun.__exit__)
    prefect_ui.publish_run_summary = timed("publish summary", prefect_ui.publish_run_summary)

    def body(n_estimators: int, max_depth: int, criterion: str) -> None:
        mlflow.log_metric("accuracy", 0.97) if mlflow.active_run() else None

    plain = flow(name="plain")(body)
    quiet = flow(name="tracked-quiet")(track(experiment="bench", publish_summary=False)(body))
    full = flow(name="tracked")(track(experiment="bench")(body))
    flows = {"plain @flow": plain, "@track, no summary": quiet, "@track + summary": full}

    times: dict[str, list[float]] = defaultdict(list)
    with prefect_test_harness(), temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        for f in flows.values():  # warm-up: store creation, first API calls
            f(n_estimators=1, max_depth=1, criterion="gini")
        spent.clear()
        for i in range(args.runs):
            for name, f in flows.items():
                start = time.perf_counter()
                f(n_estimators=i, max_depth=5, criterion="gini")
                times[name].append(time.perf_counter() - start)

    base = statistics.median(times["plain @flow"])
    print(f"{args.runs} runs of each flow, interleaved; medians\n")
    print("| flow | median per flow run | vs plain |")
    print("|---|---:|---:|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| {name} | {med * 1000:.1f} ms | {(med - base) * 1000:+.1f} ms |")
    print("\n| tracking step (inside the flow run) | median | p90 |")
    print("|---|---:|---:|")
    for name, values in spent.items():
        values = sorted(values)
        p90 = values[int(len(values) * 0.9)]
        print(f"| {name} | {statistics.median(values) * 1000:.2f} ms | {p90 * 1000:.2f} ms |")


if __name__ == "__main__":
    main()
