"""The seed walkthrough's model examples, with only the import changed, plus what log_model writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

import prefect_mltrack as mlflow
import prefect_mltrack.pyfunc
import prefect_mltrack.sklearn
from prefect_mltrack.models import ModelInfo, ModelSignature
from prefect_mltrack.models.uris import download_model


def test_seed_tracking_example_logs_a_model(iris: Any, tmp_path: Path, monkeypatch: Any) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score

    monkeypatch.chdir(tmp_path)
    x_train, x_test, y_train, y_test = iris
    mlflow.set_experiment("Iris_Classification")
    with mlflow.start_run(run_name="RandomForest_Experiment") as run:
        clf = RandomForestClassifier(n_estimators=100, max_depth=5)
        clf.fit(x_train, y_train)
        accuracy = accuracy_score(y_test, clf.predict(x_test))
        mlflow.log_param("n_estimators", 100)
        mlflow.log_metric("accuracy", accuracy)
        mlflow.sklearn.log_model(clf, "random_forest_model")
    loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/random_forest_model")
    assert (loaded.predict(x_test) == clf.predict(x_test)).all()
    tags = mlflow.get_run(run.info.run_id).data.tags
    history = json.loads(tags["mlflow.log-model.history"])
    assert [h["artifact_path"] for h in history] == ["random_forest_model"]


def test_seed_models_example_with_input_example(iris: Any) -> None:
    """Log with input_example, load by runs:/, predict with numpy and a DataFrame."""
    from sklearn.ensemble import RandomForestClassifier

    x_train, x_test, y_train, _ = iris
    with mlflow.start_run() as run:
        clf = RandomForestClassifier(n_estimators=100).fit(x_train, y_train)
        info = mlflow.sklearn.log_model(clf, "iris_model", input_example=x_train[:3])
    uri = f"runs:/{run.info.run_id}/iris_model"
    assert isinstance(info, ModelInfo)
    assert info.model_uri == uri
    assert info.run_id == run.info.run_id and info.artifact_path == "iris_model"
    assert set(info.flavors) == {"python_function", "sklearn"}
    assert len(info.model_uuid) == 32

    model = mlflow.sklearn.load_model(uri)
    expected = clf.predict(x_test)
    assert (model.predict(x_test) == expected).all()

    pyfunc_model = mlflow.pyfunc.load_model(uri)
    assert (pyfunc_model.predict(x_test) == expected).all()
    assert (pyfunc_model.predict(pd.DataFrame(x_test)) == expected).all()
    assert (pyfunc_model.predict(x_test.tolist()) == expected).all()
    assert pyfunc_model.metadata.run_id == run.info.run_id
    signature = pyfunc_model.metadata.signature
    assert isinstance(signature, ModelSignature)
    assert signature.to_dict() == {
        "inputs": '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]',
        "outputs": '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]',
        "params": None,
    }
    assert info.signature == signature
    np.testing.assert_array_equal(pyfunc_model.input_example, x_train[:3])


def test_dataframe_example_gives_column_signature(iris_frame: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = iris_frame.data, iris_frame.target
    with mlflow.start_run():
        clf = LogisticRegression(max_iter=500).fit(x, y)
        info = mlflow.sklearn.log_model(clf, name="logreg", input_example=x.head(3))
    assert info.signature is not None
    assert json.loads(info.signature.to_dict()["inputs"] or "")[0] == {
        "type": "double",
        "name": "sepal length (cm)",
        "required": True,
    }
    # A 1-D prediction on column input is one output column, as MLflow infers it.
    assert info.signature.to_dict()["outputs"] == '[{"type": "long", "required": true}]'
    model = mlflow.pyfunc.load_model(info.model_uri)
    assert (model.predict(x) == clf.predict(x)).all()
    # Columns in another order, and rows given as records or column dicts, are all accepted.
    assert (model.predict(x[x.columns[::-1]]) == clf.predict(x)).all()
    assert (model.predict(x.head(2).to_dict(orient="records")) == clf.predict(x.head(2))).all()
    assert (model.predict(x.head(2).to_dict(orient="list")) == clf.predict(x.head(2))).all()
    # Rows without names (the scoring server's "instances") are matched to the columns by position.
    assert (model.predict(x.to_numpy()[:4]) == clf.predict(x.head(4))).all()


def test_mlmodel_fields_and_files(iris: Any) -> None:
    x_train, _, y_train, _ = iris
    from sklearn.tree import DecisionTreeClassifier

    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            DecisionTreeClassifier().fit(pd.DataFrame(x_train, columns=list("abcd")), y_train),
            "tree",
            input_example=pd.DataFrame(x_train[:2], columns=list("abcd")),
            metadata={"owner": "team-a"},
        )
    model_dir = download_model(info.model_uri)
    names = {p.name for p in model_dir.iterdir()}
    assert names == {
        "MLmodel",
        "model.pkl",
        "requirements.txt",
        "python_env.yaml",
        "conda.yaml",
        "input_example.json",
        "serving_input_example.json",
        "checksums.sha256",
    }
    raw = yaml.safe_load((model_dir / "MLmodel").read_text())
    for key in ("artifact_path", "flavors", "model_uuid", "run_id", "utc_time_created", "mlflow_version",
                "signature", "saved_input_example_info", "model_size_bytes", "metadata"):  # fmt: skip
        assert key in raw, key
    assert raw["artifact_path"] == "tree" and raw["run_id"] == run.info.run_id
    assert raw["mlflow_version"] == "3.17.2"
    assert raw["metadata"] == {"owner": "team-a"}
    assert len(raw["utc_time_created"]) == len("2026-01-01 12:00:00.000000")
    assert raw["utc_time_created"][4] == "-" and raw["utc_time_created"][10] == " "
    assert isinstance(raw["signature"]["inputs"], str) and raw["signature"]["params"] is None
    assert raw["saved_input_example_info"] == {
        "artifact_path": "input_example.json",
        "type": "dataframe",
        "pandas_orient": "split",
        "serving_input_path": "serving_input_example.json",
    }
    pyfunc_conf = raw["flavors"]["python_function"]
    assert pyfunc_conf["loader_module"] == "mlflow.sklearn"
    assert pyfunc_conf["model_path"] == "model.pkl" and pyfunc_conf["predict_fn"] == "predict"
    assert pyfunc_conf["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert pyfunc_conf["python_version"].count(".") == 2
    sk_conf = raw["flavors"]["sklearn"]
    assert sk_conf["pickled_model"] == "model.pkl" and sk_conf["serialization_format"] == "cloudpickle"
    import sklearn

    assert sk_conf["sklearn_version"] == sklearn.__version__
    requirements = (model_dir / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("scikit-learn==") for r in requirements)
    assert any(r.startswith("cloudpickle==") for r in requirements)
    assert any(r.startswith("numpy==") for r in requirements)
    python_env = yaml.safe_load((model_dir / "python_env.yaml").read_text())
    assert python_env["dependencies"] == ["-r requirements.txt"]
    conda = yaml.safe_load((model_dir / "conda.yaml").read_text())
    assert conda["dependencies"][-1] == {"pip": requirements}
    assert json.loads((model_dir / "input_example.json").read_text()) == {
        "columns": ["a", "b", "c", "d"],
        "data": x_train[:2].tolist(),
    }
    serving = json.loads((model_dir / "serving_input_example.json").read_text())
    assert serving == {"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": x_train[:2].tolist()}}
    assert raw["model_size_bytes"] > (model_dir / "model.pkl").stat().st_size


def test_log_model_without_active_run_starts_one(forest: Any) -> None:
    assert mlflow.active_run() is None
    info = mlflow.sklearn.log_model(forest, name="implicit")
    active = mlflow.active_run()
    assert active is not None and active.info.run_id == info.run_id
    mlflow.end_run()


def test_submodules_are_lazy_attributes() -> None:
    import subprocess
    import sys

    code = (
        "import sys, prefect_mltrack as mlflow; "
        "assert 'sklearn' not in sys.modules and 'pandas' not in sys.modules; "
        "f = mlflow.sklearn.log_model; g = mlflow.pyfunc.load_model; s = mlflow.models.infer_signature; "
        "from prefect_mltrack.types.schema import ColSpec; "
        "print(sorted(m for m in ('sklearn', 'pandas', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # importing the flavors loads none of the heavy libraries
