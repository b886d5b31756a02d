"""MLflow's scoring input formats, parsed the same way for the CLI and the scoring server."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from prefect_mltrack.serving.payload import (
    BadRequestError,
    parse_csv_payload,
    parse_json_payload,
    predictions_to_json,
)

ROW = [5.1, 3.5, 1.4, 0.2]
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": COLUMNS, "data": [ROW]}},
        {"dataframe_records": [dict(zip(COLUMNS, ROW, strict=True))]},
        {"instances": [dict(zip(COLUMNS, ROW, strict=True))]},
    ],
)
def test_frame_forms_give_the_same_dataframe(body: dict) -> None:
    data, params = parse_json_payload(json.dumps(body))
    pd.testing.assert_frame_equal(data, pd.DataFrame([ROW], columns=COLUMNS))
    assert params is None


def test_legacy_data_form_and_tensor_inputs() -> None:
    data, _ = parse_json_payload(b'{"data": [[5.1, 3.5, 1.4, 0.2]]}')
    assert data.values.tolist() == [ROW]
    tensor, params = parse_json_payload({"inputs": [[1, 2], [3, 4]], "params": {"k": 1}})
    assert isinstance(tensor, np.ndarray) and tensor.shape == (2, 2) and params == {"k": 1}
    columnar, _ = parse_json_payload({"inputs": {"a": [1, 2], "b": [3, 4]}})
    assert set(columnar) == {"a", "b"} and columnar["b"].tolist() == [3, 4]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[[1, 2]]", "Received a list"),
        (b'{"dataframe_split": {}, "instances": []}', "exactly one of the input fields"),
        (b'{"columns": ["a"]}', "exactly one of the input fields"),
        (b'{"dataframe_records": {"a": 1}}', "must be a list of records"),
        (b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}', "Could not read 'dataframe_split'"),
        (b'{"inputs": [1], "params": [1]}', "'params' must be a JSON object"),
    ],
)
def test_malformed_bodies_get_a_bad_request_that_says_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(BadRequestError, match=message) as caught:
        parse_json_payload(body)
    assert caught.value.error_code == "BAD_REQUEST" and caught.value.http_status == 400


def test_csv_and_predictions() -> None:
    frame = parse_csv_payload(b"a,b\n1,2\n3,4\n")
    assert frame.to_dict(orient="list") == {"a": [1, 3], "b": [2, 4]}
    with pytest.raises(BadRequestError, match="CSV"):
        parse_csv_payload(b"")
    assert predictions_to_json(np.array([0, 1])) == {"predictions": [0, 1]}
    assert predictions_to_json(pd.DataFrame({"p": [0.5]})) == {"predictions": [{"p": 0.5}]}
    assert predictions_to_json(pd.Series([2])) == {"predictions": [2]}
