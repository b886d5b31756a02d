"""Custom Python models: artifacts, code_paths, context, params, logging and loading by URI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import prefect_mltrack as mlflow
import prefect_mltrack.pyfunc
from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.pyfunc import PythonModel, PythonModelContext


class Scaler(PythonModel):
    """Multiplies column 'x' by a factor read from an artifact, through a helper from code_paths."""

    def load_context(self, context: PythonModelContext) -> None:
        self.factor = float(Path(context.artifacts["factor"]).read_text())
        self.offsets = json.loads((Path(context.artifacts["tables"]) / "offsets.json").read_text())
        self.config = context.model_config

    def predict(self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import scaler_helpers  # shipped in the model's code/ directory

        shift = (params or {}).get("shift", 0.0)
        return scaler_helpers.scale(model_input["x"], self.factor) + self.offsets["x"] + shift


class NoContext(PythonModel):
    def predict(self, model_input: Any) -> Any:
        return [len(model_input)]


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "factor.txt").write_text("2.5")
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "offsets.json").write_text('{"x": 1}')
    package = tmp_path / "src" / "scaler_helpers.py"
    package.parent.mkdir()
    package.write_text("def scale(values, factor):\n    return values * factor\n")
    return {"factor": tmp_path / "factor.txt", "tables": tables, "code": package}


def test_log_and_load_custom_model(sources: dict[str, Path]) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(
            "scaler",
            python_model=Scaler(),
            artifacts={"factor": str(sources["factor"]), "tables": sources["tables"].as_uri()},
            code_paths=[str(sources["code"])],
            input_example=(frame, {"shift": 0.5}),
            model_config={"mode": "fast"},
        )
    assert info.model_uri == f"runs:/{run.info.run_id}/scaler"
    model = mlflow.pyfunc.load_model(info.model_uri)
    assert model.predict(frame).tolist() == [4.0, 6.5]  # the example's shift=0.5 is the default
    assert model.predict(frame, params={"shift": 1}).tolist() == [4.5, 7.0]
    assert model.unwrap_python_model().config == {"mode": "fast"}
    conf = model.metadata.flavors["python_function"]
    assert conf["loader_module"] == "mlflow.pyfunc.model"
    assert conf["python_model"] == "python_model.pkl"
    assert conf["code"] == "code"
    assert conf["artifacts"]["factor"] == {"path": "artifacts/factor.txt", "uri": str(sources["factor"])}
    assert conf["artifacts"]["tables"]["path"] == "artifacts/tables"
    # the signature came from the example (with its params) and the model's prediction on it
    sig = model.metadata.signature.to_dict()
    assert json.loads(sig["inputs"]) == [{"type": "double", "name": "x", "required": True}]
    assert json.loads(sig["params"]) == [{"name": "shift", "type": "double", "default": 0.5, "shape": None}]
    # load_context ran on a loaded copy, never on the caller's instance
    assert not hasattr(Scaler(), "factor")
    # overriding model_config at load time
    assert mlflow.pyfunc.load_model(info.model_uri, model_config={"mode": "slow"}).model_config == {"mode": "slow"}


def test_saved_files_and_requirements(sources: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "model"
    mlflow.pyfunc.save_model(
        target,
        python_model=Scaler(),
        artifacts={"factor": str(sources["factor"]), "tables": str(sources["tables"])},
        code_paths=[str(sources["code"])],
        extra_pip_requirements=["scaler-helpers-lib==1.0"],
    )
    assert (target / "artifacts" / "factor.txt").read_text() == "2.5"
    assert (target / "code" / "scaler_helpers.py").is_file()
    requirements = (target / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("cloudpickle==") for r in requirements)
    assert "scaler-helpers-lib==1.0" in requirements
    raw = yaml.safe_load((target / "MLmodel").read_text())
    assert raw["flavors"]["python_function"]["cloudpickle_version"]
    assert "run_id" not in raw and "artifact_path" not in raw  # save_model is not tied to a run


def test_predict_without_context_argument(tmp_path: Path) -> None:
    mlflow.pyfunc.save_model(tmp_path / "m", python_model=NoContext())
    assert mlflow.pyfunc.load_model(tmp_path / "m").predict([1, 2, 3]) == [3]


def test_loader_module_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = tmp_path / "src" / "my_loader.py"
    code.parent.mkdir()
    code.write_text(
        "class _Model:\n"
        "    def __init__(self, path):\n"
        "        self.value = open(path).read()\n"
        "    def predict(self, data, params=None):\n"
        "        return [self.value] * len(data)\n"
        "def _load_pyfunc(path):\n"
        "    return _Model(path)\n"
    )
    (tmp_path / "weights.txt").write_text("w")
    mlflow.pyfunc.save_model(
        tmp_path / "m", loader_module="my_loader", data_path=tmp_path / "weights.txt", code_paths=[str(code)]
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # restored after the test; loading adds code/ itself
    assert mlflow.pyfunc.load_model(tmp_path / "m").predict([0, 0]) == ["w", "w"]


def test_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="either python_model"):
        mlflow.pyfunc.save_model(tmp_path / "a")
    with pytest.raises(InvalidParameterError, match="PythonModel instance"):
        mlflow.pyfunc.save_model(tmp_path / "b", python_model=object())  # type: ignore[arg-type]
    mlflow.pyfunc.save_model(tmp_path / "c", python_model=NoContext())
    with pytest.raises(mlflow.MLTrackError, match="already exists"):
        mlflow.pyfunc.save_model(tmp_path / "c", python_model=NoContext())
