"""``search_runs`` results as the pandas DataFrame MLflow returns (same columns, same dtypes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from prefect_mltrack.entities import Run

if TYPE_CHECKING:
    import pandas as pd

_INFO_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


def runs_to_dataframe(runs: Sequence[Run]) -> pd.DataFrame:
    """Columns ``run_id, experiment_id, status, artifact_uri, start_time, end_time`` (UTC datetimes),
    then ``metrics.<k>`` (float, NaN when missing), ``params.<k>`` and ``tags.<k>`` (str or None)."""
    import numpy as np
    import pandas as pd

    metric_keys: dict[str, None] = {}
    param_keys: dict[str, None] = {}
    tag_keys: dict[str, None] = {}
    for run in runs:
        metric_keys.update(dict.fromkeys(run.data.metrics))
        param_keys.update(dict.fromkeys(run.data.params))
        tag_keys.update(dict.fromkeys(run.data.tags))
    columns: dict[str, object] = {
        "run_id": [r.info.run_id for r in runs],
        "experiment_id": [r.info.experiment_id for r in runs],
        "status": [str(r.info.status) for r in runs],
        "artifact_uri": [r.info.artifact_uri for r in runs],
        "start_time": pd.to_datetime([r.info.start_time for r in runs], unit="ms", utc=True),
        "end_time": pd.to_datetime([r.info.end_time for r in runs], unit="ms", utc=True),
    }
    for key in metric_keys:
        columns[f"metrics.{key}"] = np.array([r.data.metrics.get(key, np.nan) for r in runs], dtype=float)
    for key in param_keys:
        columns[f"params.{key}"] = pd.Series([r.data.params.get(key) for r in runs], dtype=object)
    for key in tag_keys:
        columns[f"tags.{key}"] = pd.Series([r.data.tags.get(key) for r in runs], dtype=object)
    if not runs:
        return pd.DataFrame(columns=list(_INFO_COLUMNS))
    return pd.DataFrame(columns)
