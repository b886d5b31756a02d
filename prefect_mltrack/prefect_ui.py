"""What a tracked flow run shows in the Prefect UI: a summary table, a link to our run page, progress.

Publishing is best effort: the Prefect API being slow or down never fails the flow (a warning is
logged instead), because the tracking run itself is already stored.

    >>> rows = summary_rows({"max_depth": "5"}, {"accuracy": 0.97})
    >>> rows[0]["kind"], rows[1]["key"]
    ('param', 'accuracy')
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect_mltrack import settings

if TYPE_CHECKING:
    from prefect_mltrack.entities import Run

logger = logging.getLogger(__name__)


def summary_rows(params: Mapping[str, str], metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    """One row per final param and metric, params first, each group sorted by key."""
    rows: list[dict[str, Any]] = [{"kind": "param", "key": k, "value": params[k]} for k in sorted(params)]
    rows += [{"kind": "metric", "key": k, "value": metrics[k]} for k in sorted(metrics)]
    return rows


def _describe(run: Run) -> tuple[list[dict[str, Any]], str, str]:
    rows = summary_rows(run.data.params, run.data.metrics)
    link = settings.run_page_url(run.info.experiment_id, run.info.run_id)
    text = f"Tracking run {run.info.run_name} ({run.info.status})"
    return rows, link, text


def publish_run_summary(run: Run) -> None:
    """Attach the run's final params/metrics table and a link to its page to the current flow run."""
    from prefect.artifacts import create_link_artifact, create_table_artifact

    rows, link, text = _describe(run)
    try:
        if rows:
            create_table_artifact(rows, description=f"Final params and metrics of tracking run {run.info.run_id}.")
        create_link_artifact(link, link_text=text, description="The tracking run's page in the mltrack UI.")
    except Exception as exc:  # the run is stored; a UI extra must not fail the flow
        logger.warning("Could not publish the tracking summary to Prefect: %s", exc)


async def apublish_run_summary(run: Run) -> None:
    """``publish_run_summary`` for async flows."""
    from prefect.artifacts import acreate_link_artifact, acreate_table_artifact

    rows, link, text = _describe(run)
    try:
        if rows:
            await acreate_table_artifact(
                rows, description=f"Final params and metrics of tracking run {run.info.run_id}."
            )
        await acreate_link_artifact(link, link_text=text, description="The tracking run's page in the mltrack UI.")
    except Exception as exc:
        logger.warning("Could not publish the tracking summary to Prefect: %s", exc)


class SweepProgress:
    """A Prefect progress artifact for long work (a sweep's trials), updated as items finish.

    Example::

        progress = SweepProgress(total=len(grid), description="Depth sweep")
        for future in futures:
            future.result()
            progress.advance()
    """

    def __init__(self, total: int, description: str = "Progress of the sweep.") -> None:
        from prefect.artifacts import create_progress_artifact

        if total < 0:
            raise ValueError(f"total must be 0 or more, got {total}")
        self.total = total
        self.done = 0
        self.artifact_id: UUID | None = None
        try:
            # _sync: a plain call even inside an async flow (Prefect dispatches on the calling context).
            self.artifact_id = create_progress_artifact(  # type: ignore[call-arg,assignment]
                0.0 if total else 100.0, description=description, _sync=True
            )
        except Exception as exc:
            logger.warning("Could not create a Prefect progress artifact: %s", exc)

    @property
    def percent(self) -> float:
        return 100.0 if not self.total else round(100.0 * min(self.done, self.total) / self.total, 2)

    def advance(self, n: int = 1) -> None:
        from prefect.artifacts import update_progress_artifact

        self.done += n
        if self.artifact_id is None:
            return
        try:
            update_progress_artifact(self.artifact_id, self.percent, _sync=True)  # type: ignore[call-arg]
        except Exception as exc:
            logger.warning("Could not update the Prefect progress artifact: %s", exc)
