"""Reliability on real processes: concurrent writers, a writer killed mid-flight."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WRITERS = 8
METRICS_PER_WRITER = 60


def _log_metrics(uri: str, run_id: str, count: int) -> list[str]:
    """Child process: log ``count`` metrics one call at a time; return the errors callers saw."""
    from prefect_mltrack.client import TrackingClient

    client = TrackingClient(uri)
    errors = []
    for step in range(count):
        try:
            client.log_metric(run_id, "m", float(step), step=step)
        except Exception as exc:
            errors.append(repr(exc))
    return errors


def test_concurrent_writers_lose_nothing(store_uri):
    from prefect_mltrack.client import TrackingClient

    client = TrackingClient(store_uri)
    run_ids = [client.create_run("0").info.run_id for _ in range(WRITERS)]
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
        results = pool.starmap(_log_metrics, [(store_uri, run_id, METRICS_PER_WRITER) for run_id in run_ids])
    assert [error for errors in results for error in errors] == []
    for run_id in run_ids:
        history = client.get_metric_history(run_id, "m")
        assert [m.step for m in history] == list(range(METRICS_PER_WRITER))


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from prefect_mltrack.client import TrackingClient
    client = TrackingClient(sys.argv[1])
    run_id = sys.argv[2]
    step = 0
    while True:
        client.log_metric(run_id, "m", float(step), step=step)
        print(step, flush=True)  # printed only after the call returned
        step += 1
    """
)


def test_sigkill_mid_logging_keeps_every_returned_call(tmp_path: Path):
    from prefect_mltrack.client import TrackingClient

    db = tmp_path / "killed.db"
    uri = f"sqlite:///{db}"
    run_id = TrackingClient(uri).create_run("0").info.run_id
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, uri, run_id], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert child.stdout is not None
    returned = []
    for line in child.stdout:
        returned.append(int(line))
        if len(returned) >= 300:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    from prefect_mltrack.store import reset_stores

    reset_stores()
    stored = {m.step for m in TrackingClient(uri).get_metric_history(run_id, "m")}
    assert set(returned) <= stored
    assert stored == set(range(len(stored)))  # no hole: each step was written whole or not at all
