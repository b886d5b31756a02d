"""The shared request path on custom models: timeouts, errors raised by models, non-array outputs."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

import prefect_mltrack.pyfunc as pyfunc
from prefect_mltrack.exceptions import MLTrackError
from prefect_mltrack.serving.scoring import Scorer


class Sleepy(pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        time.sleep(float(model_input.iloc[0, 0]))
        return [1]


class Raises(pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        raise MLTrackError("backend exploded", error_code="INTERNAL_ERROR")


class Frames(pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return pd.DataFrame({"label": ["setosa"] * len(model_input), "when": pd.Timestamp("2026-01-02")})


def _load(tmp_path: Path, model: pyfunc.PythonModel, **kwargs: Any) -> Scorer:
    path = tmp_path / type(model).__name__
    pyfunc.save_model(path, python_model=model)
    return Scorer.load(str(path), **kwargs)


def _score(scorer: Scorer, body: Any) -> tuple[int, Any]:
    result = asyncio.run(scorer.score(json.dumps(body).encode(), "application/json"))
    return result.status, json.loads(result.body)


def test_a_slow_prediction_answers_504_and_a_fast_one_still_works(tmp_path: Path) -> None:
    scorer = _load(tmp_path, Sleepy(), timeout_s=0.1)
    assert scorer.warm() is False  # no input example: nothing to warm on
    status, body = _score(scorer, {"data": [[0.5]]})
    assert status == 504 and body["error_code"] == "DEADLINE_EXCEEDED" and "0.1 s" in body["message"]
    assert _score(scorer, {"data": [[0.0]]}) == (200, {"predictions": [1]})


def test_a_server_side_error_from_a_model_is_reported_as_a_400(tmp_path: Path) -> None:
    status, body = _score(_load(tmp_path, Raises()), {"inputs": [1]})
    assert status == 400 and body["error_code"] == "BAD_REQUEST"
    assert body["message"].startswith("Encountered an unexpected error while evaluating the model")
    assert "backend exploded" in body["message"]


def test_dataframe_predictions_are_records(tmp_path: Path) -> None:
    assert _score(_load(tmp_path, Frames()), {"dataframe_records": [{"x": 1}]}) == (
        200,
        {"predictions": [{"label": "setosa", "when": "2026-01-02T00:00:00"}]},
    )
