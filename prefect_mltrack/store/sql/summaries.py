"""Read-only SQL the web UI needs beyond MLflow's API: experiment summaries and the keys runs use.

Both are single statements on the tracking tables, written for the indexes the store already has
(``runs(experiment_id, start_time)``, the primary keys of ``params``/``tags``/``latest_metrics``).

* :func:`experiment_summaries`: per experiment, the number of active runs, how many are RUNNING,
  and the last activity: the latest run start or end, or metric point of a running run (a running
  run that only logs metrics is active even though its start time is old). One grouped pass over
  the runs plus the latest metrics of running runs only, so it stays cheap at 100,000 runs.
* :func:`child_run_counts`: how many child runs each of some runs has (the runs table's tree).
* :func:`run_keys`: the distinct param, metric and tag keys of an experiment's most recent runs,
  for the runs table's column chooser; bounded by a sample of runs and a cap on keys.

Example:
    >>> from sqlalchemy import create_engine
    >>> engine = create_engine("sqlite:///mltrack.db")  # doctest: +SKIP
    >>> experiment_summaries(engine, ["1"])  # doctest: +SKIP
    [ExperimentSummary(experiment_id='1', run_count=12, running_count=1, last_activity=1718000000000)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, and_, case, func, literal, select, union_all

from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.store.sql import schema

__all__ = [
    "KEYS_RUN_SAMPLE",
    "MAX_KEYS",
    "PARENT_RUN_TAG",
    "ExperimentSummary",
    "RunKeys",
    "child_run_counts",
    "experiment_summaries",
    "run_keys",
]

KEYS_RUN_SAMPLE = 1000
"""How many of the most recent runs :func:`run_keys` looks at."""
MAX_KEYS = 500
"""At most this many keys of each kind come back."""
_ACTIVE = "active"
_RUNNING = "RUNNING"
PARENT_RUN_TAG = "mlflow.parentRunId"


@dataclass(frozen=True)
class ExperimentSummary:
    """Counts and last activity of one experiment; ``last_activity`` is epoch ms (None: no runs)."""

    experiment_id: str
    run_count: int
    running_count: int
    last_activity: int | None


@dataclass(frozen=True)
class RunKeys:
    """Sorted distinct keys found in the sampled runs."""

    params: list[str]
    metrics: list[str]
    tags: list[str]


def _experiment_ints(experiment_ids: Sequence[str]) -> list[int]:
    try:
        return [int(e) for e in experiment_ids]
    except ValueError:
        raise InvalidParameterError(
            f"Experiment ids must be integers, got {list(experiment_ids)!r}; pass ids such as '0' or '12'"
        ) from None


def experiment_summaries(engine: Engine, experiment_ids: Sequence[str] | None = None) -> list[ExperimentSummary]:
    """Run counts and last activity of the given experiments (default: every active experiment).

    Args:
        engine: The tracking database (SQLite or PostgreSQL).
        experiment_ids: Experiments to summarise; ids that do not exist are left out.

    Returns:
        One summary per experiment found, in experiment id order. Deleted runs are not counted.
        Last activity is the max of run start/end times and, for RUNNING runs, their latest metric
        timestamps; without runs it is the experiment's last update time.

    Example:
        >>> [s.run_count for s in experiment_summaries(engine, ["0"])]  # doctest: +SKIP
        [3]
    """
    e, r, lm = schema.experiments, schema.runs, schema.latest_metrics
    run_stats = (
        select(
            r.c.experiment_id,
            func.count().label("run_count"),
            func.sum(case((r.c.status == _RUNNING, 1), else_=0)).label("running_count"),
            func.max(r.c.start_time).label("last_start"),
            func.max(r.c.end_time).label("last_end"),
        )
        .where(r.c.lifecycle_stage == _ACTIVE)
        .group_by(r.c.experiment_id)
    )
    metric_stats = (
        select(r.c.experiment_id, func.max(lm.c.timestamp).label("last_metric"))
        .select_from(r.join(lm, lm.c.run_id == r.c.run_id))
        .where(and_(r.c.status == _RUNNING, r.c.lifecycle_stage == _ACTIVE))
        .group_by(r.c.experiment_id)
    )
    wanted = _experiment_ints(experiment_ids) if experiment_ids is not None else None
    if wanted is not None:
        if not wanted:
            return []
        run_stats = run_stats.where(r.c.experiment_id.in_(wanted))
        metric_stats = metric_stats.where(r.c.experiment_id.in_(wanted))
    runs_sq = run_stats.subquery("run_stats")
    metrics_sq = metric_stats.subquery("metric_stats")
    query = (
        select(
            e.c.experiment_id,
            e.c.last_update_time,
            runs_sq.c.run_count,
            runs_sq.c.running_count,
            runs_sq.c.last_start,
            runs_sq.c.last_end,
            metrics_sq.c.last_metric,
        )
        .select_from(
            e.outerjoin(runs_sq, runs_sq.c.experiment_id == e.c.experiment_id).outerjoin(
                metrics_sq, metrics_sq.c.experiment_id == e.c.experiment_id
            )
        )
        .order_by(e.c.experiment_id)
    )
    query = (
        query.where(e.c.experiment_id.in_(wanted))
        if wanted is not None
        else query.where(e.c.lifecycle_stage == _ACTIVE)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    summaries = []
    for row in rows:
        times = [t for t in (row.last_start, row.last_end, row.last_metric) if t is not None]
        count = int(row.run_count or 0)
        last = max(times) if times else (None if count else row.last_update_time)
        summaries.append(
            ExperimentSummary(
                experiment_id=str(row.experiment_id),
                run_count=count,
                running_count=int(row.running_count or 0),
                last_activity=int(last) if last is not None else None,
            )
        )
    return summaries


def run_keys(engine: Engine, experiment_ids: Sequence[str], sample: int = KEYS_RUN_SAMPLE) -> RunKeys:
    """Distinct param/metric/tag keys of the ``sample`` most recent active runs of the experiments.

    Example:
        >>> run_keys(engine, ["1"]).metrics  # doctest: +SKIP
        ['acc', 'loss']
    """
    wanted = _experiment_ints(experiment_ids)
    if not wanted:
        return RunKeys([], [], [])
    r = schema.runs
    recent = (
        select(r.c.run_id)
        .where(and_(r.c.experiment_id.in_(wanted), r.c.lifecycle_stage == _ACTIVE))
        .order_by(r.c.start_time.desc())
        .limit(sample)
        .subquery("recent")
    )
    parts = []
    for kind, table in (("params", schema.params), ("metrics", schema.latest_metrics), ("tags", schema.tags)):
        distinct_keys = (
            select(literal(kind).label("kind"), table.c.key)
            .where(table.c.run_id.in_(select(recent.c.run_id)))
            .distinct()
            .order_by(table.c.key)
            .limit(MAX_KEYS)
        )
        parts.append(distinct_keys.subquery(f"{kind}_keys").select())
    found: dict[str, list[str]] = {"params": [], "metrics": [], "tags": []}
    with engine.connect() as conn:
        for kind, key in conn.execute(union_all(*parts)):
            found[kind].append(key)
    return RunKeys(params=sorted(found["params"]), metrics=sorted(found["metrics"]), tags=sorted(found["tags"]))


def child_run_counts(engine: Engine, run_ids: Sequence[str], stages: Sequence[str] = (_ACTIVE,)) -> dict[str, int]:
    """How many runs name each of ``run_ids`` as parent (tag ``mlflow.parentRunId``), per run id.

    Runs whose lifecycle stage is not in ``stages`` are not counted; runs without children are left out.

    Example:
        >>> child_run_counts(engine, ["4f1c...", "9a2b..."])  # doctest: +SKIP
        {'4f1c...': 3}
    """
    if not run_ids:
        return {}
    t, r = schema.tags, schema.runs
    query = (
        select(t.c.value, func.count())
        .select_from(t.join(r, r.c.run_id == t.c.run_id))
        .where(t.c.key == PARENT_RUN_TAG, t.c.value.in_(list(run_ids)), r.c.lifecycle_stage.in_(list(stages)))
        .group_by(t.c.value)
    )
    with engine.connect() as conn:
        return {str(value): int(count) for value, count in conn.execute(query)}
