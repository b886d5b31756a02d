"""``mltrack registry``: list, describe, transition, alias — against a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import prefect_mltrack as mlflow
from prefect_mltrack.cli import app


@pytest.fixture
def registry(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'reg.db'}"
    client = mlflow.MlflowClient(uri)
    run = client.create_run("0")
    client.create_registered_model("IrisClassifier", description="iris")
    for _ in range(2):
        client.create_model_version("IrisClassifier", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    return uri


def _invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


def test_transition_alias_list_and_describe(registry: str) -> None:
    result = _invoke("registry", "transition", "IrisClassifier", "1", "production", "--tracking-uri", registry)
    assert result.exit_code == 0, result.output
    assert "stage Production" in result.output
    assert _invoke("registry", "alias", "IrisClassifier", "champion", "2", "--tracking-uri", registry).exit_code == 0
    listed = _invoke("registry", "list", "--tracking-uri", registry)
    assert "IrisClassifier" in listed.output and "@champion→v2" in listed.output
    described = _invoke("registry", "describe", "IrisClassifier", "--json", "--tracking-uri", registry)
    body = json.loads(described.output)
    assert [(v["version"], v["stage"], v["aliases"]) for v in body["versions"]] == [
        ("1", "Production", []),
        ("2", "None", ["champion"]),
    ]
    assert (
        _invoke("registry", "alias", "IrisClassifier", "champion", "--delete", "--tracking-uri", registry).exit_code
        == 0
    )
    assert mlflow.MlflowClient(registry).get_registered_model("IrisClassifier").aliases == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["registry", "describe", "Nope"], "RESOURCE_DOES_NOT_EXIST"),
        (["registry", "transition", "IrisClassifier", "1", "Shipped"], "INVALID_PARAMETER_VALUE"),
        (["registry", "transition", "IrisClassifier", "9", "Staging"], "RESOURCE_DOES_NOT_EXIST"),
        (["registry", "alias", "IrisClassifier", "latest", "1"], "INVALID_PARAMETER_VALUE"),
    ],
)
def test_errors_exit_1_with_the_error_code(registry: str, args: list[str], message: str) -> None:
    result = _invoke(*args, "--tracking-uri", registry)
    assert result.exit_code == 1
    assert message in result.output


def test_alias_needs_a_version_or_delete(registry: str) -> None:
    result = _invoke("registry", "alias", "IrisClassifier", "champion", "--tracking-uri", registry)
    assert result.exit_code == 2
