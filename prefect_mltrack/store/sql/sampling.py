"""Metric histories downsampled inside the database, for charts of millions of points.

Reading a 1,000,000-point history into Python costs seconds; grouping it into step buckets in SQL
costs a fraction of that. Each bucket (a step range about one chart pixel wide) gives its lowest and
highest value, placed at the bucket's first and last step: values are exact, positions accurate to
one bucket, so spikes stay visible. NaN points are left out (charts skip them anyway).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Engine, text

from prefect_mltrack.entities import Metric
from prefect_mltrack.entities._base import trusted_many
from prefect_mltrack.store.sql.schema import SPECIAL_NAN

# Integer bucket arithmetic must not overflow int64: (step - lo) * buckets stays below this.
_INT64_SAFE: Final = 2**62

# min/max of the leading key columns after (run_id, key): two index probes, no scan.
_RANGE = text("SELECT min(step), max(step) FROM metrics WHERE run_id = :run_id AND key = :key")
_BUCKETS = text(
    "SELECT (step - :lo) * :buckets / :span AS b, min(step), max(step), min(timestamp), max(timestamp), "
    "min(value), max(value), count(*) FROM metrics "
    "WHERE run_id = :run_id AND key = :key AND special != :nan AND step >= :lo AND step <= :hi "
    "GROUP BY b ORDER BY b"
)


def sampled_history(
    engine: Engine, run_id: str, key: str, max_points: int, start_step: int | None, end_step: int | None
) -> list[Metric] | None:
    """At most ``max_points`` points of a history between two steps, or None when the history is
    small enough to read whole (the caller then reads it exactly)."""
    with engine.connect() as conn:
        first, last = conn.execute(_RANGE, {"run_id": run_id, "key": key}).one()
        if first is None:
            return None
        lo = max(first, start_step) if start_step is not None else first
        hi = min(last, end_step) if end_step is not None else last
        buckets = max(1, max_points // 2)
        span = hi - lo + 1
        if span <= 0 or span * buckets >= _INT64_SAFE:
            return None
        where = {"run_id": run_id, "key": key, "nan": SPECIAL_NAN, "lo": lo, "hi": hi, "buckets": buckets}
        rows = conn.execute(_BUCKETS, {**where, "span": span}).all()
    if sum(row[-1] for row in rows) <= max_points:
        return None  # small enough: the caller reads it exactly
    points: list[dict[str, object]] = []
    for _, first_step, last_step, first_ts, last_ts, low, high, _count in rows:
        points.append({"key": key, "value": low, "timestamp": first_ts, "step": first_step, "run_id": run_id})
        if last_step != first_step or high != low:
            points.append({"key": key, "value": high, "timestamp": last_ts, "step": last_step, "run_id": run_id})
    return trusted_many(Metric, points)
