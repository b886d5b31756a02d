"""Artifacts through the fluent API and the client: local files, text, dicts, figures, listing, download."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import prefect_mltrack as mlflow
from prefect_mltrack.exceptions import MLTrackError


def test_artifacts_round_trip(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("some_local_file.csv").write_text("a,b\n1,2\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "top.txt").write_text("top")
    (tree / "sub" / "deep.txt").write_text("deep")
    with mlflow.start_run() as run:
        mlflow.log_artifact("some_local_file.csv")
        mlflow.log_artifact("some_local_file.csv", artifact_path="data")
        mlflow.log_artifacts(str(tree), artifact_path="tree")
        mlflow.log_text("Model Accuracy: 0.97", "output.txt")
        mlflow.log_dict({"a": [1, 2], "nan": float("nan")}, "conf/params.json")
        mlflow.log_dict({"a": 1, "b": {"c": "d"}}, "conf/params.yaml")
        artifact_uri = mlflow.get_artifact_uri()
        assert mlflow.get_artifact_uri("output.txt") == f"{artifact_uri}/output.txt"
    client = mlflow.MlflowClient()
    listing = client.list_artifacts(run.info.run_id)
    assert [(f.path, f.is_dir) for f in listing] == [
        ("conf", True),
        ("data", True),
        ("output.txt", False),
        ("some_local_file.csv", False),
        ("tree", True),
    ]
    assert [f.path for f in client.list_artifacts(run.info.run_id, "tree")] == ["tree/sub", "tree/top.txt"]
    assert next(f for f in listing if f.path == "output.txt").file_size == len("Model Accuracy: 0.97")

    local = Path(client.download_artifacts(run.info.run_id, "tree", tmp_path / "dl"))
    assert (local / "sub" / "deep.txt").read_text() == "deep"
    conf = Path(client.download_artifacts(run.info.run_id, "conf"))
    assert json.loads((conf / "params.json").read_text())["a"] == [1, 2]
    assert yaml.safe_load((conf / "params.yaml").read_text()) == {"a": 1, "b": {"c": "d"}}
    assert artifact_uri.startswith("file://")


def test_log_figure_with_matplotlib():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([1, 2, 3], [1, 4, 9])
    with mlflow.start_run() as run:
        mlflow.log_figure(figure, "plots/curve.png")
        mlflow.log_figure(figure, "plots/curve.svg")
    plt.close(figure)
    client = mlflow.MlflowClient()
    png = Path(client.download_artifacts(run.info.run_id, "plots/curve.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = Path(client.download_artifacts(run.info.run_id, "plots/curve.svg"))
    assert b"<svg" in svg.read_bytes()[:500]
    with mlflow.start_run(), pytest.raises(MLTrackError, match="matplotlib or plotly"):
        mlflow.log_figure(object(), "x.png")


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../b.txt", "%2e%2e/x.txt", "a\\..\\b.txt"])
def test_paths_that_escape_the_run_are_refused(path, tmp_path):
    with mlflow.start_run() as run:
        mlflow.log_text("kept", "kept.txt")
        with pytest.raises(MLTrackError) as caught:
            mlflow.log_text("payload", path)
        assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    client = mlflow.MlflowClient()
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["kept.txt"]
    assert not (tmp_path / "escape.txt").exists()
    with pytest.raises(MLTrackError):
        client.download_artifacts(run.info.run_id, path, tmp_path / "out")


def test_missing_local_file_is_a_clear_error():
    with mlflow.start_run(), pytest.raises(MLTrackError) as caught:
        mlflow.log_artifact("does-not-exist.csv")
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "does-not-exist.csv" in caught.value.message


def test_log_text_needs_a_string():
    with mlflow.start_run(), pytest.raises(MLTrackError, match="needs a str"):
        mlflow.log_text(b"bytes", "x.txt")  # type: ignore[arg-type]
