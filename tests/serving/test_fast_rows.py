"""The fast path: which requests skip pandas, that they get pyfunc's exact answer, and its fallbacks.

A stand-in ``fast_predict`` module (scikit-learn's own ``predict`` on the matrix, recording each
call) shows what the compiled predictor receives; the real one brings its own equality tests.
"""

from __future__ import annotations

import asyncio
import json
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serving_helpers import SEED_ROW, IrisRegistry  # type: ignore[import-not-found]

from prefect_mltrack import settings
from prefect_mltrack.serving.fast_rows import FAST_PREDICT_MODULE, FastRows
from prefect_mltrack.serving.scoring import Scorer

pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[np.ndarray]]:
    """Install a stand-in fast_predict module; yields the matrices it was called with."""
    calls: list[np.ndarray] = []

    def compile_fast_predictor(sk_model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
        def predict(matrix: np.ndarray) -> np.ndarray:
            calls.append(matrix)
            return np.asarray(sk_model.predict(matrix))

        return predict if hasattr(sk_model, "estimators_") else None  # ensembles only, like the real one

    module = types.ModuleType(FAST_PREDICT_MODULE)
    module.compile_fast_predictor = compile_fast_predictor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FAST_PREDICT_MODULE, module)
    yield calls


def _scorer(registry: IrisRegistry, uri: str = "models:/Iris/1") -> Scorer:
    with settings.tracking_uri_scope(registry.tracking_uri):
        return Scorer.load(uri)


def _score(scorer: Scorer, body: Any, content_type: str = "application/json") -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result = asyncio.run(scorer.score(raw, content_type))
    return result.status, json.loads(result.body)


def test_numeric_rows_go_to_the_compiled_predictor_with_pyfuncs_answers(
    iris_registry: IrisRegistry, compiled: list[np.ndarray]
) -> None:
    scorer = _scorer(iris_registry)
    assert scorer.fast is not None and scorer.fast.columns == tuple(iris_registry.X.columns)
    rng = np.random.default_rng(3)
    X = iris_registry.X
    rows = rng.uniform(X.min().to_numpy(), X.max().to_numpy(), size=(300, 4)).round(2)
    columns = list(X.columns)
    frame = pd.DataFrame(rows, columns=columns)
    records = [dict(zip(columns[::-1], row[::-1], strict=True)) for row in rows.tolist()]  # other key order
    bodies = [
        {"data": rows.tolist()},
        {"instances": rows.tolist()},
        {"inputs": rows.tolist()},
        {"dataframe_split": {"columns": columns, "data": rows.tolist()}},
        {"dataframe_split": {"data": rows.tolist()}},
        {"dataframe_records": records},
        {"instances": records},
    ]
    expected = scorer.model.predict(frame).tolist()
    for body in bodies:
        compiled.clear()
        assert _score(scorer, body) == (200, {"predictions": expected})
        assert len(compiled) == 1 and np.array_equal(compiled[0], rows), body.keys()
    for row, want in zip(rows[:50].tolist(), expected[:50], strict=True):
        assert _score(scorer, {"data": [row]}) == (200, {"predictions": [want]})


@pytest.mark.parametrize(
    "body",
    [
        {"data": [[5, 3.5, 1.4, 0.2]]},  # a JSON integer: pyfunc's column rules decide
        {"data": [[5.1, 3.5, 1.4]]},
        {"data": [[5.1, 3.5, 1.4, 0.2, 9.9]]},
        {"data": [[5.1, None, 1.4, 0.2]]},
        {"data": [[5.1, "3.5", 1.4, 0.2]]},
        {"data": [[5.1, True, 1.4, 0.2]]},
        {"data": [[1e300, 3.5, 1.4, 0.2]]},
        {"data": [SEED_ROW], "params": {"x": 1}},
        {"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [SEED_ROW]}},
        {"dataframe_split": {"data": [SEED_ROW], "index": [7]}},
        {"dataframe_records": [SEED_ROW]},
        {"dataframe_records": [{"sepal length (cm)": 5.1}]},
        {"inputs": {"sepal length (cm)": [5.1]}},
        {"instances": SEED_ROW},
        {"data": []},
    ],
)
def test_anything_else_takes_the_pyfunc_path_with_the_same_outcome(
    iris_registry: IrisRegistry, compiled: list[np.ndarray], body: dict[str, Any]
) -> None:
    scorer = _scorer(iris_registry)
    compiled.clear()
    fast_answer = _score(scorer, body)
    assert compiled == []
    scorer.fast = None
    assert _score(scorer, body) == fast_answer


def test_models_that_do_not_qualify_have_no_fast_path(iris_registry: IrisRegistry, compiled: list[Any]) -> None:
    assert _scorer(iris_registry, "models:/Iris/2").fast is None  # the stand-in compiles ensembles only
    from prefect_mltrack.models.schema import ColSpec, Schema, TensorSpec
    from prefect_mltrack.serving.fast_rows import _layout

    assert _layout(Schema([ColSpec("double", "a"), ColSpec("long", "b")])) is None
    assert _layout(Schema([ColSpec("double", "a", required=False)])) is None
    assert _layout(Schema([TensorSpec("float64", (-1, 4))])) == (None, 4)
    assert _layout(Schema([TensorSpec("float32", (-1, 4))])) is None
    assert _layout(Schema([TensorSpec("float64", (-1, 2, 2))])) is None
    assert _layout(None) is None


def test_a_missing_module_a_failing_predictor_or_a_disagreement_fall_back_to_pyfunc(
    iris_registry: IrisRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, FAST_PREDICT_MODULE, None)  # import raises ImportError
    assert _scorer(iris_registry).fast is None

    scorer = _scorer(iris_registry)
    scorer.fast = FastRows(lambda matrix: 1 / 0, tuple(iris_registry.X.columns))
    assert _score(scorer, {"data": [SEED_ROW]}) == (200, {"predictions": [0]})

    scorer.fast = FastRows(lambda matrix: np.full(len(matrix), 2), tuple(iris_registry.X.columns))
    assert scorer.warm() is True
    assert scorer.fast is None  # it disagreed with pyfunc on the input example, so it is not used


def test_a_tensor_signature_takes_rows_only(iris_registry: IrisRegistry, tmp_path: Any) -> None:
    import prefect_mltrack.sklearn

    path = tmp_path / "tensor"
    prefect_mltrack.sklearn.save_model(iris_registry.v1, path, input_example=iris_registry.X.to_numpy()[:2])
    fast = FastRows(lambda m: m, None, 4)
    assert fast.rows({"inputs": [SEED_ROW]}) is not None
    assert fast.rows({"dataframe_records": [dict(a=1.0)]}) is None
    assert fast.rows({"dataframe_split": {"data": [SEED_ROW]}}) is None
    scorer = Scorer.load(str(path))
    scorer.fast = FastRows(lambda m: np.asarray(iris_registry.v1.predict(m)), None, 4)
    assert _score(scorer, {"data": [SEED_ROW]}) == (200, {"predictions": [0]})


def test_a_model_without_signature_takes_unnamed_rows_only_when_fitted_without_names(
    iris_registry: IrisRegistry, compiled: list[Any], tmp_path: Any
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    import prefect_mltrack.sklearn

    X = iris_registry.X
    y = iris_registry.v1.predict(X)
    unnamed = RandomForestClassifier(n_estimators=5, random_state=0).fit(X.to_numpy(), y)
    prefect_mltrack.sklearn.save_model(unnamed, tmp_path / "unnamed")  # the walkthrough logs no signature
    scorer = Scorer.load(str(tmp_path / "unnamed"))
    assert scorer.fast is not None and scorer.fast.columns is None and scorer.fast.width == 4
    assert _score(scorer, {"data": [SEED_ROW]}) == (200, {"predictions": unnamed.predict([SEED_ROW]).tolist()})
    assert len(compiled) == 1  # the row went through the compiled predictor

    named = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    prefect_mltrack.sklearn.save_model(named, tmp_path / "named")
    assert Scorer.load(str(tmp_path / "named")).fast is None  # feature names: sklearn checks them, so pyfunc
