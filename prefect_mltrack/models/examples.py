"""Input examples: ``input_example.json`` and ``serving_input_example.json``, as MLflow writes them.

============================  ===============  ===============================================
example                       ``type``         ``input_example.json`` / serving body
============================  ===============  ===============================================
pandas DataFrame              ``dataframe``    ``{"columns": [...], "data": [[...]]}`` (split
                                               orient, no index) / ``{"dataframe_split": ...}``
numpy array, dict of arrays   ``ndarray``      nested lists / ``{"inputs": ...}``
dict, list, scalar            ``json_object``  the JSON value / ``{"inputs": ...}``
============================  ===============  ===============================================

A ``(data, params)`` tuple stores ``{"data": ..., "params": ...}`` and adds ``"params"`` to the
serving body. NaN becomes ``null``, bytes become base64, numpy scalars become Python numbers.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

from prefect_mltrack.exceptions import InvalidParameterError

__all__ = [
    "EXAMPLE_FILE",
    "SERVING_EXAMPLE_FILE",
    "InputExample",
    "convert_input_example_to_serving_input",
    "read_input_example",
]

EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"


def _jsonable(value: Any) -> Any:
    """``json.dumps`` default: numpy scalars and arrays, bytes, datetimes, pandas timestamps."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _no_nans(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, list):
        return [_no_nans(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_nans(v) for k, v in value.items()}
    return value


class InputExample:
    """An input example prepared for saving: its info for MLmodel, its JSON, and the data to score."""

    def __init__(self, example: Any) -> None:
        import numpy as np
        import pandas as pd

        params = None
        if isinstance(example, tuple) and len(example) == 2 and isinstance(example[1], dict):
            example, params = example
        self.data = example
        self.params: dict[str, Any] | None = params
        self.info: dict[str, Any] = {"artifact_path": EXAMPLE_FILE}
        stored: Any
        if isinstance(example, pd.DataFrame):
            split = example.astype(object).where(example.notna(), None).to_dict(orient="split")
            split.pop("index", None)
            if list(example.columns) == list(range(len(example.columns))):
                split.pop("columns", None)
            stored, serving = split, {"dataframe_split": split}
            self.info.update({"type": "dataframe", "pandas_orient": "split" if "columns" in split else "values"})
        elif isinstance(example, np.ndarray) or (
            isinstance(example, dict) and example and all(isinstance(v, np.ndarray) for v in example.values())
        ):
            if isinstance(example, dict):
                stored = {k: _no_nans(v.tolist()) for k, v in example.items()}
            else:
                stored = _no_nans(example.tolist())
            serving = {"inputs": stored}
            self.info["type"] = "ndarray"
        elif (
            isinstance(example, (dict, list))
            or example is None
            or np.isscalar(example)
            or isinstance(example, dt.datetime)
        ):
            if isinstance(example, dict) and any(isinstance(v, np.ndarray) for v in example.values()):
                raise InvalidParameterError("An input example dict mixes numpy arrays with other values")
            stored, serving = example, {"inputs": example}
            self.info["type"] = "json_object"
        else:
            raise InvalidParameterError(
                "An input example is a pandas DataFrame, a numpy array, a dict of numpy arrays, a dict, a list "
                f"or a scalar (optionally as a (data, params) tuple); got {type(example).__name__}"
            )
        if params is not None:
            stored = {"data": stored, "params": params}
            serving = {**serving, "params": params}
        self.json = json.dumps(_no_nans(stored), default=_jsonable)
        self.serving_json = json.dumps(_no_nans(serving), default=_jsonable, indent=2)
        self.info["serving_input_path"] = SERVING_EXAMPLE_FILE

    def save(self, model_dir: Path) -> None:
        (model_dir / EXAMPLE_FILE).write_text(self.json, encoding="utf-8")
        (model_dir / SERVING_EXAMPLE_FILE).write_text(self.serving_json, encoding="utf-8")


def convert_input_example_to_serving_input(input_example: Any) -> str | None:
    """The JSON body that ``POST /invocations`` takes for this example (MLflow's helper).

    Example:
        >>> print(convert_input_example_to_serving_input([1, 2]))
        {
          "inputs": [
            1,
            2
          ]
        }
    """
    return None if input_example is None else InputExample(input_example).serving_json


def read_input_example(model: Any, model_dir: Path) -> Any:
    """The saved example as data a model can score (a DataFrame, an ndarray, or JSON data)."""
    from prefect_mltrack.models.integrity import model_file

    info = model.saved_input_example_info
    if not info:
        return None
    path = model_file(model_dir, info.get("artifact_path"), "saved_input_example_info.artifact_path")
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and set(data) == {"data", "params"}:
        data = data["data"]
    kind = info.get("type")
    if kind == "dataframe":
        import pandas as pd

        if info.get("pandas_orient", "split") == "split":
            return pd.DataFrame(data["data"], columns=data.get("columns"))
        return pd.DataFrame(data)
    if kind == "ndarray":
        import numpy as np

        schema = model.get_input_schema()
        dtypes = [spec.type for spec in schema.inputs] if schema is not None and schema.is_tensor_spec() else None
        if isinstance(data, dict):
            names = list(data)
            return (
                {
                    k: np.array(v, dtype=dtypes[i] if dtypes and i < len(dtypes) else None)
                    for i, (k, v) in enumerate(data.items())
                }
                if names
                else {}
            )
        return np.array(data, dtype=dtypes[0] if dtypes else None)
    if kind in ("json_object", None):
        return data
    raise InvalidParameterError(f"Input example type {kind!r} is not supported here")
