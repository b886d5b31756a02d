"""``mltrack models predict``: the scoring server's input formats, from a file, on a real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import prefect_mltrack as mlflow
import prefect_mltrack.sklearn
from prefect_mltrack.cli import app


@pytest.fixture
def model_uri(tmp_path: Path) -> str:
    X, y = load_iris(return_X_y=True, as_frame=True)
    with mlflow.start_run() as run:
        prefect_mltrack.sklearn.log_model(LogisticRegression(max_iter=300).fit(X, y), "iris", input_example=X.head(2))
    return f"runs:/{run.info.run_id}/iris"


def test_predict_from_json_and_csv(model_uri: str, tmp_path: Path) -> None:
    X, _ = load_iris(return_X_y=True, as_frame=True)
    body = tmp_path / "in.json"
    body.write_text(json.dumps({"dataframe_split": X.head(3).to_dict(orient="split")}))
    result = CliRunner().invoke(app, ["models", "predict", "-m", model_uri, "-i", str(body)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"predictions": [0, 0, 0]}
    csv = tmp_path / "in.csv"
    X.tail(2).to_csv(csv, index=False)
    out = tmp_path / "out.json"
    assert (
        CliRunner().invoke(app, ["models", "predict", "-m", model_uri, "-i", str(csv), "-o", str(out)]).exit_code == 0
    )
    assert json.loads(out.read_text()) == {"predictions": [2, 2]}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"dataframe_split": {"columns": ["sepal length (cm)"], "data": [[1.0]]}}, "INVALID_PARAMETER_VALUE"),
        ([[1, 2, 3, 4]], "BAD_REQUEST"),
    ],
)
def test_bad_input_exits_1_with_the_error(model_uri: str, tmp_path: Path, payload: object, message: str) -> None:
    body = tmp_path / "bad.json"
    body.write_text(json.dumps(payload))
    result = CliRunner().invoke(app, ["models", "predict", "-m", model_uri, "-i", str(body)])
    assert result.exit_code == 1 and message in result.output


def test_unknown_model_uri_is_reported(tmp_path: Path) -> None:
    body = tmp_path / "in.json"
    body.write_text('{"inputs": [[1, 2, 3, 4]]}')
    result = CliRunner().invoke(app, ["models", "predict", "-m", "models:/Nope/1", "-i", str(body)])
    assert result.exit_code == 1 and "RESOURCE_DOES_NOT_EXIST" in result.output
