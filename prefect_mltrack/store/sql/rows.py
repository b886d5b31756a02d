"""Rows read back into entities: a page of runs or experiments costs a fixed number of queries.

Entities built here skip pydantic validation (``trusted``): the values come from our own store,
already validated on the way in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from prefect_mltrack.entities import Experiment, LifecycleStage, Metric, Run, RunData, RunInfo, RunInputs, RunStatus
from prefect_mltrack.entities._base import trusted
from prefect_mltrack.store.sql import schema
from prefect_mltrack.store.sql.schema import SPECIAL_NAN, SPECIAL_NEG_ZERO, SPECIAL_NONE

_IN_CHUNK = 500  # ids per IN (...) when reading a page of runs back


def encode_metric_value(value: float) -> tuple[float, int]:
    """(stored value, special flag): NaN and -0.0 do not survive SQLite as plain REALs."""
    if math.isnan(value):
        return 0.0, SPECIAL_NAN
    if value == 0.0 and math.copysign(1.0, value) < 0:
        return 0.0, SPECIAL_NEG_ZERO
    return value, SPECIAL_NONE


def decode_metric_value(value: float, special: int) -> float:
    if special == SPECIAL_NAN:
        return math.nan
    if special == SPECIAL_NEG_ZERO:
        return -0.0
    return value


def load_experiments(conn: Connection, rows: Sequence[Row[Any]]) -> list[Experiment]:
    ids = [row.experiment_id for row in rows]
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    if ids:
        tag_table = schema.experiment_tags
        for tag in conn.execute(select(tag_table).where(tag_table.c.experiment_id.in_(ids))):
            tags[tag.experiment_id][tag.key] = tag.value
    return [
        trusted(
            Experiment,
            experiment_id=str(row.experiment_id),
            name=row.name,
            artifact_location=row.artifact_location,
            lifecycle_stage=LifecycleStage(row.lifecycle_stage),
            tags=tags[row.experiment_id],
            creation_time=row.creation_time,
            last_update_time=row.last_update_time,
        )
        for row in rows
    ]


def load_runs(conn: Connection, rows: Sequence[Row[Any]]) -> list[Run]:
    """Turn a page of run rows into Runs with three more queries per chunk of ids, never one per run."""
    ids = [row.run_id for row in rows]
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        for table, target in ((schema.params, params), (schema.tags, tags)):
            query = select(table.c.run_id, table.c.key, table.c.value).where(table.c.run_id.in_(chunk))
            for run_id, key, value in conn.execute(query):
                target[run_id][key] = value
        latest = schema.latest_metrics
        latest_query = select(latest.c.run_id, latest.c.key, latest.c.value, latest.c.special).where(
            latest.c.run_id.in_(chunk)
        )
        for run_id, key, number, special in conn.execute(latest_query):
            metrics[run_id][key] = decode_metric_value(number, special)
    empty_inputs = RunInputs()
    return [
        trusted(
            Run,
            info=run_info(row),
            data=trusted(RunData, metrics=metrics[row.run_id], params=params[row.run_id], tags=tags[row.run_id]),
            inputs=empty_inputs,
        )
        for row in rows
    ]


def run_info(row: Row[Any]) -> RunInfo:
    return trusted(
        RunInfo,
        run_id=row.run_id,
        experiment_id=str(row.experiment_id),
        run_name=row.name,
        user_id=row.user_id,
        status=RunStatus(row.status),
        start_time=row.start_time,
        end_time=row.end_time,
        artifact_uri=row.artifact_uri,
        lifecycle_stage=LifecycleStage(row.lifecycle_stage),
    )


def metric_points(run_id: str, rows: Sequence[Sequence[Any]]) -> list[Metric]:
    """History rows ``(key, value, special, timestamp, step)`` as Metrics; the hot loop of a
    100,000-step history read, hence a plain comprehension over ``trusted``."""
    decode = decode_metric_value
    return [
        trusted(Metric, key=key, value=decode(value, special), timestamp=timestamp, step=step, run_id=run_id)
        for key, value, special, timestamp, step in rows
    ]
