"""A flow process killed with SIGKILL: the runner's crash and cancellation hooks close its runs.

The flow runs in a real separate process against the session's Prefect API and is killed mid-run,
so nothing inside it can react. The test then does what Prefect's runner does when its flow process
dies: it sets the flow run's state and runs the flow's hooks through Prefect's own ``HookRunner``,
which calls them by keyword (``flow=, flow_run=, state=``) in the runner's process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.flows import load_flow_from_entrypoint
from prefect.runner._hook_runner import HookRunner
from prefect.states import Cancelling, Crashed, State

import prefect_mltrack as mlflow
from prefect_mltrack.flow_tracking import ERROR_TAG, run_id_for_flow_run

FLOW_FILE = Path(__file__).with_name("crash_flow.py")


def _start_and_kill(prefect_api: str, tracking_uri: str, tmp_path: Path) -> str:
    marker = tmp_path / "flow_run_id"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "MLTRACK_TRACKING_URI": tracking_uri, "DO_NOT_TRACK": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(FLOW_FILE), str(marker)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 90
        while not (marker.exists() and marker.read_text()):
            if proc.poll() is not None:
                pytest.fail(f"the flow process exited early: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                pytest.fail("the flow process did not reach its body in 90 s")
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return marker.read_text()


async def _run_hooks_as_the_runner_does(flow_run_id: str, state: State, kind: str) -> None:
    async with get_client() as client:
        await client.set_flow_run_state(UUID(flow_run_id), state, force=True)
        flow_run = await client.read_flow_run(UUID(flow_run_id))

    async def resolve_flow(_flow_run: object):  # type: ignore[no-untyped-def]
        return load_flow_from_entrypoint(f"{FLOW_FILE}:crash_me")

    runner = HookRunner(resolve_flow=resolve_flow)
    if kind == "crashed":
        await runner.run_crashed_hooks(flow_run, state)
    else:
        await runner.run_cancellation_hooks(flow_run, state)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "state", "expected"),
    [
        ("crashed", Crashed(message="Flow run process exited with code -9"), "FAILED"),
        ("cancelled", Cancelling(message="Cancelled from the UI"), "KILLED"),
    ],
)
def test_killed_flow_process_is_closed_by_the_runner_hooks(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, state: State, expected: str
) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'crash.db'}"
    monkeypatch.setenv("MLTRACK_TRACKING_URI", tracking_uri)  # the "runner" process uses the same store
    flow_run_id = _start_and_kill(prefect_api, tracking_uri, tmp_path)

    client = mlflow.MlflowClient()
    run_id = run_id_for_flow_run(flow_run_id)
    before = client.get_run(run_id)
    assert before.info.status == "RUNNING"  # the store kept what returned; nobody closed it yet
    assert before.data.metrics == {"progress": 1.0}

    asyncio.run(_run_hooks_as_the_runner_does(flow_run_id, state, kind))

    run = client.get_run(run_id)
    assert run.info.status == expected and run.info.end_time is not None
    assert state.message in run.data.tags[ERROR_TAG]
    (child,) = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'")
    assert child.info.status == expected  # the in-flight child is closed with its parent
    assert child.data.metrics == {"trial_progress": 0.5}
