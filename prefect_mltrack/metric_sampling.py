"""Downsampling of metric histories for charts: fewer points, same shape, extremes kept.

A chart of a million points cannot be drawn point by point, and plain striding hides spikes (the
complaint MLflow users raise about its ~320-point sampling). Each bucket of consecutive points
keeps its first, lowest, highest and last point, in step order.

Example:
    >>> from prefect_mltrack.entities import Metric
    >>> points = [Metric("m", float(v), 0, i) for i, v in enumerate([0, 9, 0, 0, 0, 0, -5, 0])]
    >>> [m.value for m in downsample(points, 4)]
    [0.0, 9.0, -5.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from prefect_mltrack.entities import Metric

M = TypeVar("M", bound=Metric)


def downsample(points: Sequence[M], max_points: int) -> list[M]:
    """At most ``max_points`` of ``points`` (plus the very last one), keeping every bucket's extremes."""
    n = len(points)
    if n <= max_points:
        return list(points)
    if max_points < 4:
        step = max(1, n // max(max_points, 1))
        return list(points[::step][:max_points])
    buckets = max_points // 4
    size = n / buckets
    keep: set[int] = {0, n - 1}
    for b in range(buckets):
        start, stop = int(b * size), min(n, int((b + 1) * size))
        if start >= stop:
            continue
        keep.add(start)
        keep.add(stop - 1)
        finite = [i for i in range(start, stop) if math.isfinite(points[i].value)]
        if finite:
            keep.add(min(finite, key=lambda i: points[i].value))
            keep.add(max(finite, key=lambda i: points[i].value))
    return [points[i] for i in sorted(keep)]
