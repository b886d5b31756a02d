"""MLflow's scoring input formats, parsed into what ``PyFuncModel.predict`` takes.

A JSON body is a dict with exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs`` (plus optional ``params``); the older ``{"data": [[...]]}`` form is
read as rows. CSV is read with its header. The same parser serves ``mltrack models predict`` and
the scoring server, so both accept exactly the same inputs::

    >>> data, params = parse_json_payload({"dataframe_split": {"columns": ["a"], "data": [[1], [2]]}})
    >>> list(data["a"]), params
    ([1, 2], None)
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

from prefect_mltrack.exceptions import MLTrackError

INPUT_FIELDS = ("dataframe_split", "dataframe_records", "instances", "inputs")
LEGACY_FIELD = "data"


class BadRequestError(MLTrackError):
    """A scoring request that is not in one of MLflow's input formats."""

    default_error_code = "BAD_REQUEST"


def parse_json_payload(body: bytes | str | Mapping[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """(model input, params) from a JSON scoring request."""
    import numpy as np
    import pandas as pd

    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise BadRequestError(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, Mapping):
        kind = "a list" if isinstance(body, list) else type(body).__name__
        raise BadRequestError(
            f"The input must be a JSON dictionary with exactly one of the input fields {set(INPUT_FIELDS)}. "
            f"Received {kind}."
        )
    present = [field for field in (*INPUT_FIELDS, LEGACY_FIELD) if field in body]
    if len(present) != 1:
        raise BadRequestError(
            f"The input must be a JSON dictionary with exactly one of the input fields {set(INPUT_FIELDS)}. "
            f"Received dictionary with input fields: {sorted(body)}."
        )
    params = body.get("params")
    if params is not None and not isinstance(params, Mapping):
        raise BadRequestError(f"'params' must be a JSON object, not {type(params).__name__}.")
    field = present[0]
    value = body[field]
    try:
        if field == "dataframe_split":
            if not isinstance(value, Mapping) or "data" not in value:
                raise BadRequestError(
                    "'dataframe_split' must be an object with 'columns' and 'data' (and optional 'index')."
                )
            data: Any = pd.DataFrame(data=value["data"], columns=value.get("columns"), index=value.get("index"))
        elif field == "dataframe_records":
            if not isinstance(value, list):
                raise BadRequestError("'dataframe_records' must be a list of records (objects).")
            data = pd.DataFrame.from_records(value)
        elif field == "data":  # the pre-2.0 form: a list of rows
            data = pd.DataFrame(value) if isinstance(value, list) else pd.DataFrame(**value)
        elif isinstance(value, Mapping):  # instances/inputs in columnar form
            data = {key: np.asarray(column) for key, column in value.items()}
        elif isinstance(value, list) and value and all(isinstance(row, Mapping) for row in value):
            data = pd.DataFrame.from_records(value)
        else:
            data = np.asarray(value)
    except BadRequestError:
        raise
    except (ValueError, TypeError) as exc:
        raise BadRequestError(f"Could not read '{field}' as model input: {exc}") from None
    return data, dict(params) if params is not None else None


def parse_csv_payload(body: bytes | str) -> Any:
    """A pandas DataFrame from CSV text with a header row."""
    import pandas as pd

    text = body.decode("utf-8") if isinstance(body, bytes) else body
    try:
        return pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as exc:
        raise BadRequestError(f"Could not read the CSV input: {exc}") from None


def predictions_to_json(predictions: Any) -> dict[str, Any]:
    """``{"predictions": ...}``: lists for arrays and Series, a list of records for DataFrames."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        value: Any = predictions.to_dict(orient="records")
    elif isinstance(predictions, (pd.Series, np.ndarray)):
        value = predictions.tolist()
    elif isinstance(predictions, Mapping):
        value = {k: (v.tolist() if isinstance(v, (np.ndarray, pd.Series)) else v) for k, v in predictions.items()}
    else:
        value = predictions
    return {"predictions": value}
