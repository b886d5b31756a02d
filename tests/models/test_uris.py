"""Model URIs: runs:/, local paths and file: URIs, models:/ through the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import prefect_mltrack as mlflow
import prefect_mltrack.pyfunc
import prefect_mltrack.sklearn
from prefect_mltrack.artifacts.paths import local_path_from_uri
from prefect_mltrack.exceptions import MLTrackError, ResourceNotFoundError
from prefect_mltrack.models import get_model_info
from prefect_mltrack.models.uris import download_model


def test_runs_uri_reads_in_place_or_downloads(forest: Any, tmp_path: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(forest, "m")
    uri = f"runs:/{run.info.run_id}/m"
    in_place = download_model(uri)
    root = local_path_from_uri(mlflow.get_run(run.info.run_id).info.artifact_uri)
    assert in_place == root / "m"  # local artifacts are read where they are stored
    copied = download_model(uri, tmp_path / "dst")
    assert copied == tmp_path / "dst" / "m" and (copied / "model.pkl").is_file()
    loaded = mlflow.sklearn.load_model(uri, dst_path=tmp_path / "dst2")
    assert (loaded.predict([[5.1, 3.5, 1.4, 0.2]]) == forest.predict([[5.1, 3.5, 1.4, 0.2]])).all()
    info = get_model_info(uri)
    assert info.run_id == run.info.run_id and info.artifact_path == "m"


def test_local_path_and_file_uri(forest: Any, tmp_path: Path) -> None:
    mlflow.sklearn.save_model(forest, tmp_path / "my model")
    for uri in (str(tmp_path / "my model"), (tmp_path / "my model").as_uri(), tmp_path / "my model"):
        assert mlflow.pyfunc.load_model(uri).predict([[5.1, 3.5, 1.4, 0.2]]).shape == (1,)


def test_missing_models(forest: Any, tmp_path: Path) -> None:
    with pytest.raises(ResourceNotFoundError):
        download_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResourceNotFoundError, match="No MLmodel"):
        download_model(tmp_path / "empty")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(forest, "m")
    with pytest.raises(ResourceNotFoundError):
        download_model(f"runs:/{run.info.run_id}/other")
    with pytest.raises(MLTrackError):
        download_model("runs:/")
    with pytest.raises(MLTrackError):
        download_model(f"runs:/{run.info.run_id}/../../etc")


def test_models_uri_through_registry(forest: Any) -> None:
    pytest.importorskip("prefect_mltrack.registry_client", reason="the model registry module is not in this build")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(forest, "m", registered_model_name="iris-forest")
    assert info.registered_model_version == 1
    model = mlflow.pyfunc.load_model("models:/iris-forest/1")
    assert (model.predict([[5.1, 3.5, 1.4, 0.2]]) == forest.predict([[5.1, 3.5, 1.4, 0.2]])).all()
    assert mlflow.sklearn.load_model("models:/iris-forest/latest").n_estimators == forest.n_estimators
