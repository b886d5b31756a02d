"""Signature enforcement in pyfunc predict: MLflow's safe conversions, and errors that name the column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import prefect_mltrack.pyfunc as pyfunc
import prefect_mltrack.sklearn as mlflow_sklearn
from prefect_mltrack.exceptions import SchemaEnforcementError
from prefect_mltrack.models import ModelSignature, validate_schema
from prefect_mltrack.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec


class Echo(pyfunc.PythonModel):
    """Returns its input and params, so the tests see exactly what enforcement produced."""

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return {"input": model_input, "params": params}


def echo_model(tmp_path: Path, signature: ModelSignature) -> pyfunc.PyFuncModel:
    pyfunc.save_model(tmp_path / "echo", python_model=Echo(), signature=signature)
    return pyfunc.load_model(tmp_path / "echo")


@pytest.fixture
def columns(tmp_path: Path) -> pyfunc.PyFuncModel:
    schema = Schema(
        [ColSpec("double", "x"), ColSpec("long", "n"), ColSpec("string", "s"), ColSpec("float", "opt", required=False)]
    )
    return echo_model(tmp_path, ModelSignature(schema))


def test_safe_upcasts_are_applied(columns: pyfunc.PyFuncModel) -> None:
    # int32 -> long and int32 -> double are safe; int64 -> double is not (MLflow's table).
    frame = pd.DataFrame(
        {"n": np.array([1, 2], dtype="int32"), "x": np.array([1, 2], dtype="int32"), "s": ["a", "b"], "extra": [0, 0]}
    )
    out = columns.predict(frame)["input"]
    assert list(out.columns) == ["x", "n", "s"]  # schema order; extra column dropped; optional may be absent
    assert out["x"].dtype == np.float64 and out["n"].dtype == np.int64
    assert out["x"].tolist() == [1.0, 2.0]


def test_missing_required_column(columns: pyfunc.PyFuncModel) -> None:
    with pytest.raises(SchemaEnforcementError) as err:
        columns.predict(pd.DataFrame({"x": [1.0], "s": ["a"]}))
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "'n' (long)" in err.value.message and "missing" in err.value.message
    assert err.value.to_dict()["error_class"] == "SCHEMA_ENFORCEMENT_FAILED"


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("n", [1.5, 2.0], "long"),  # double -> long loses the fraction
        ("x", ["a", "b"], "double"),  # strings are not numbers
        ("opt", [1.0, 2.0], "float"),  # double -> float loses precision
    ],
)
def test_unsafe_conversion_names_column_and_type(
    columns: pyfunc.PyFuncModel, column: str, values: list[Any], expected: str
) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "n": [1, 2], "s": ["a", "b"]})
    frame[column] = values
    with pytest.raises(SchemaEnforcementError) as err:
        columns.predict(frame)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert f"column {column!r}" in err.value.message and f"expects {expected}" in err.value.message


def test_int64_zero_one_column_may_become_float(tmp_path: Path) -> None:
    model = echo_model(tmp_path, ModelSignature(Schema([ColSpec("float", "p")])))
    assert model.predict(pd.DataFrame({"p": [0, 1]}))["input"]["p"].dtype == np.float32


def test_dict_and_records_inputs(columns: pyfunc.PyFuncModel) -> None:
    one_row = columns.predict({"x": 1.0, "n": 2, "s": "a"})["input"]
    assert one_row.shape == (1, 3)
    many = columns.predict({"x": [1.0, 2.0], "n": [1, 2], "s": ["a", "b"]})["input"]
    assert many.shape == (2, 3)
    records = columns.predict([{"x": 1.5, "n": 2, "s": "a"}])["input"]
    assert records["x"].dtype == np.float64 and records["n"].tolist() == [2]


def test_tensor_signature(tmp_path: Path) -> None:
    model = echo_model(tmp_path, ModelSignature(Schema([TensorSpec("float64", (-1, 2))])))
    assert model.predict(np.ones((3, 2), dtype="int32"))["input"].dtype == np.float64  # safe cast
    assert model.predict([[1, 2]])["input"].dtype == np.float64  # lists are read with the expected dtype
    with pytest.raises(SchemaEnforcementError, match="Shape"):
        model.predict(np.ones((3, 3)))
    with pytest.raises(SchemaEnforcementError, match="dtype"):
        model.predict(np.ones((3, 2), dtype="complex128"))


def test_params_defaults_conversion_and_errors(tmp_path: Path) -> None:
    params = ParamSchema([ParamSpec("threshold", "double", 0.5), ParamSpec("k", "long", 3)])
    model = echo_model(tmp_path, ModelSignature(Schema([ColSpec("double", "x")]), params=params))
    assert model.predict({"x": 1.0})["params"] == {"threshold": 0.5, "k": 3}
    got = model.predict({"x": 1.0}, params={"threshold": 1, "unknown": 2})["params"]
    assert got == {"threshold": 1.0, "k": 3} and isinstance(got["threshold"], float)
    with pytest.raises(SchemaEnforcementError, match="'k' expects long"):
        model.predict({"x": 1.0}, params={"k": 2.5})


def test_sklearn_pyfunc_enforces_types(tmp_path: Path, iris_frame: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    x = iris_frame.data
    clf = LogisticRegression(max_iter=500).fit(x, iris_frame.target)
    mlflow_sklearn.save_model(clf, tmp_path / "m", input_example=x.head(2))
    model = pyfunc.load_model(tmp_path / "m")
    as_ints = x.round().astype("int64")  # int64 -> double is not a safe conversion in MLflow's table
    with pytest.raises(SchemaEnforcementError, match="sepal length"):
        model.predict(as_ints)
    assert (model.predict(x.round().astype("int32")) == clf.predict(x.round())).all()


def test_validate_schema() -> None:
    validate_schema(pd.DataFrame({"a": [1]}), Schema([ColSpec("long", "a")]))
    with pytest.raises(SchemaEnforcementError):
        validate_schema(pd.DataFrame({"b": [1]}), Schema([ColSpec("long", "a")]))
