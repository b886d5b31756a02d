"""A picklable reference to a tracking run, for tasks that run in another process.

Prefect's thread-pool runner copies the context, so tasks there see the flow's active run. Process
pools and Dask workers do not; pass a ``RunHandle`` to those tasks instead. It carries the run id
and the tracking URI, nothing else, so it pickles and travels as a task argument::

    @task
    def trial(depth: int, parent: RunHandle) -> float:
        with parent.child_run(run_name=f"depth={depth}"):
            log_metric("accuracy", score(depth))

    @flow(task_runner=DaskTaskRunner())
    @track(experiment="sweep")
    def sweep(depths: list[int]):
        trial.map(depth=depths, parent=unmapped(active_run_handle()))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from prefect_mltrack import fluent, settings
from prefect_mltrack.exceptions import InvalidParameterError


class RunHandle(BaseModel):
    """Run id + tracking URI of a run, to reach it from any process."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    tracking_uri: str

    @contextlib.contextmanager
    def child_run(
        self, run_name: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> Iterator[fluent.ActiveRun]:
        """Start a run nested under this one (same store, same experiment); end it on exit."""
        with (
            settings.tracking_uri_scope(self.tracking_uri),
            fluent.start_run(parent_run_id=self.run_id, nested=True, run_name=run_name, tags=tags) as run,
        ):
            yield run

    @contextlib.contextmanager
    def activate(self) -> Iterator[fluent.ActiveRun]:
        """Make this run the active one for the block, without ending it on exit.

        For a task on another process that logs into its flow's run rather than a child of it.
        """
        with settings.tracking_uri_scope(self.tracking_uri):
            active = fluent._attach(fluent.get_run(self.run_id))
            try:
                yield active
            finally:
                stack = fluent._active_runs.get()
                if active in stack:
                    fluent._active_runs.set(stack[: stack.index(active)])


def active_run_handle() -> RunHandle:
    """A handle on the active run (the flow's run, inside a tracked flow)."""
    run = fluent.active_run()
    if run is None:
        raise InvalidParameterError(
            "No active run to hand over; call this inside a tracked flow or a start_run() block."
        )
    return RunHandle(run_id=run.info.run_id, tracking_uri=settings.get_tracking_uri())


def resolve_run(run: RunHandle | str | None) -> tuple[str, str | None]:
    """(run id, tracking URI or None for the current one) for a task's ``run`` argument."""
    if isinstance(run, RunHandle):
        return run.run_id, run.tracking_uri
    if isinstance(run, str) and run:
        return run, None
    if run is None:
        active = fluent.active_run()
        if active is not None:
            return active.info.run_id, None
        raise InvalidParameterError(
            "No active run: call this task inside a tracked flow on the thread-pool runner, or pass "
            "run=active_run_handle() (process and Dask runners do not carry the active run)."
        )
    raise InvalidParameterError(f"run must be a RunHandle, a run id or None, not {type(run).__name__}")
