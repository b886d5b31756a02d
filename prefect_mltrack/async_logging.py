"""``synchronous=False`` logging: a background thread that writes queued data in batches.

Calls return at once with a :class:`RunOperations`; the thread groups what is queued per run
and writes it with ``log_batch`` within MLflow's batch limits. ``flush()`` (called by
``end_run`` and at interpreter exit) returns only when everything queued is durable.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from prefect_mltrack.entities import Metric, Param, RunTag
from prefect_mltrack.validation import split_batch

log = logging.getLogger(__name__)

LogBatch = Callable[[str, Sequence[Metric], Sequence[Param], Sequence[RunTag]], None]


class RunOperations:
    """Handle on queued writes; ``wait()`` blocks until they are stored and re-raises a failure."""

    def __init__(self, futures: Sequence[Future[None]] = ()) -> None:
        self._futures = list(futures)

    def wait(self) -> None:
        for future in self._futures:
            future.result()


@dataclass
class _Pending:
    run_id: str
    metrics: list[Metric] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    tags: list[RunTag] = field(default_factory=list)
    future: Future[None] = field(default_factory=Future)


class AsyncBatchLogger:
    """One background writer per process and store."""

    def __init__(self, log_batch: LogBatch) -> None:
        self._log_batch = log_batch
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()
        self._in_flight = 0
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="mltrack-async-logging", daemon=True)
        self._thread.start()
        atexit.register(self.flush)

    def enqueue(
        self, run_id: str, metrics: Sequence[Metric] = (), params: Sequence[Param] = (), tags: Sequence[RunTag] = ()
    ) -> RunOperations:
        pending = _Pending(run_id, list(metrics), list(params), list(tags))
        with self._cond:
            self._queue.append(pending)
            self._cond.notify_all()
        return RunOperations([pending.future])

    def flush(self) -> None:
        """Block until everything queued so far is written; raise the first write error seen."""
        with self._cond:
            self._cond.wait_for(lambda: not self._queue and self._in_flight == 0)
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue))
                batch, self._queue = self._queue, []
                self._in_flight = len(batch)
            try:
                self._write(batch)
            finally:
                with self._cond:
                    self._in_flight = 0
                    self._cond.notify_all()

    def _write(self, batch: list[_Pending]) -> None:
        by_run: dict[str, list[_Pending]] = defaultdict(list)
        for pending in batch:
            by_run[pending.run_id].append(pending)
        for run_id, items in by_run.items():
            metrics = [m for p in items for m in p.metrics]
            params = [x for p in items for x in p.params]
            tags = [t for p in items for t in p.tags]
            error: BaseException | None = None
            try:
                for chunk in split_batch(metrics, params, tags):
                    self._log_batch(run_id, *chunk)
            except Exception as exc:  # reported through the futures and flush()
                log.error("asynchronous logging to run %s failed: %s", run_id, exc)
                error = exc
                with self._cond:
                    self._errors.append(exc)
            for pending in items:
                if error is None:
                    pending.future.set_result(None)
                else:
                    pending.future.set_exception(error)
