"""Signature inference and the MLflow JSON form of schemas."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.models import ModelSignature, infer_signature
from prefect_mltrack.models.signature import infer_schema
from prefect_mltrack.types import (
    AnyType,
    Array,
    ColSpec,
    DataType,
    Map,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
)


def specs(schema: Schema | None) -> list[dict]:
    assert schema is not None
    return json.loads(schema.to_json())


def test_dataframe_dtypes_map_to_mlflow_types() -> None:
    frame = pd.DataFrame(
        {
            "i64": np.array([1, 2], dtype="int64"),
            "i32": np.array([1, 2], dtype="int32"),
            "f64": [1.0, 2.5],
            "f32": np.array([1.0, 2.0], dtype="float32"),
            "flag": [True, False],
            "text": ["a", "b"],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "raw": [b"x", b"y"],
            "opt": [1.0, None],
        }
    )
    got = {s["name"]: (s["type"], s["required"]) for s in specs(infer_signature(frame).inputs)}
    assert got == {
        "i64": ("long", True),
        "i32": ("integer", True),
        "f64": ("double", True),
        "f32": ("float", True),
        "flag": ("boolean", True),
        "text": ("string", True),
        "when": ("datetime", True),
        "raw": ("binary", True),
        "opt": ("double", False),
    }


def test_numpy_arrays_give_tensor_specs() -> None:
    sig = infer_signature(np.zeros((5, 28, 28), dtype="float32"), np.zeros(5, dtype="int64"))
    assert specs(sig.inputs) == [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 28, 28]}}]
    assert specs(sig.outputs) == [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]
    named = infer_schema({"image": np.zeros((2, 3)), "mask": np.ones((2,), dtype=bool)})
    assert named.input_names() == ["image", "mask"] and named.is_tensor_spec()


def test_json_like_inputs_give_column_specs() -> None:
    records = [{"text": "hi", "ids": ["a"], "meta": {"k": "v"}}, {"text": "yo", "ids": ["a", "b"], "meta": None}]
    schema = infer_schema(records)
    assert specs(schema) == [
        {"type": "string", "name": "text", "required": True},
        {"type": "array", "items": {"type": "string"}, "name": "ids", "required": True},
        {
            "type": "object",
            "properties": {"k": {"type": "string", "required": True}},
            "name": "meta",
            "required": False,
        },
    ]
    assert specs(infer_schema({"a": 1, "b": "x"})) == [
        {"type": "long", "name": "a", "required": True},
        {"type": "string", "name": "b", "required": True},
    ]
    assert specs(infer_schema(["x", "y"])) == [{"type": "string", "required": True}]
    assert specs(infer_schema(1.5)) == [{"type": "double", "required": True}]
    with pytest.raises(InvalidParameterError, match="one type"):
        infer_schema([1, "a"])


def test_series_output_and_params() -> None:
    sig = infer_signature(
        pd.DataFrame({"x": [1.0]}),
        pd.Series([1, 0], name="label"),
        params={"threshold": 0.5, "k": 3, "tags": ["a", "b"], "when": dt.datetime(2024, 1, 2)},
    )
    assert specs(sig.outputs) == [{"type": "long", "name": "label", "required": True}]
    assert sig.params is not None
    assert json.loads(sig.params.to_json()) == [
        {"name": "threshold", "type": "double", "default": 0.5, "shape": None},
        {"name": "k", "type": "long", "default": 3, "shape": None},
        {"name": "tags", "type": "string", "default": ["a", "b"], "shape": [-1]},
        {"name": "when", "type": "datetime", "default": "2024-01-02T00:00:00", "shape": None},
    ]


def test_round_trip_of_every_type() -> None:
    schema = Schema(
        [
            ColSpec(DataType.double, "x"),
            ColSpec(Array(Array("long")), "nested", required=False),
            ColSpec(Object([Property("a", "string"), Property("b", Map("double"), required=False)]), "obj"),
            ColSpec(AnyType(), "anything"),
        ]
    )
    params = ParamSchema([ParamSpec("temperature", "float", 0.5), ParamSpec("n", DataType.long, [1, 2], (-1,))])
    sig = ModelSignature(schema, Schema([TensorSpec(np.dtype("int32"), (-1, 2), "out")]), params)
    again = ModelSignature.from_dict(sig.to_dict())
    assert again == sig
    assert all(isinstance(v, str) for v in sig.to_dict().values())


def test_mlflow_written_signature_parses() -> None:
    """Strings as MLflow 3.17.2 wrote them for an iris model."""
    sig = ModelSignature.from_dict(
        {
            "inputs": '[{"type": "double", "name": "sepal length (cm)", "required": true}]',
            "outputs": '[{"type": "long", "required": true}]',
            "params": '[{"name": "temperature", "default": 0.5, "shape": null, "type": "float"}]',
        }
    )
    assert sig.inputs == Schema([ColSpec("double", "sepal length (cm)")])
    assert sig.outputs == Schema([ColSpec("long")])
    assert sig.params is not None and sig.params.params[0].default == 0.5


def test_schema_rules() -> None:
    with pytest.raises(InvalidParameterError, match="not both"):
        Schema([ColSpec("long", "a"), TensorSpec("float64", (-1,), "b")])
    with pytest.raises(InvalidParameterError, match="every input"):
        Schema([ColSpec("long", "a"), ColSpec("long")])
    with pytest.raises(InvalidParameterError, match="Duplicate"):
        Schema([ColSpec("long", "a"), ColSpec("double", "a")])
    with pytest.raises(InvalidParameterError, match="Unsupported type"):
        Schema.from_json('[{"type": "decimal128"}]')
    with pytest.raises(InvalidParameterError, match="'k' expects long"):
        ParamSpec("k", "long", "three")
