"""The compiled tree predictor gives exactly scikit-learn's answers, or declines (``None``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from prefect_mltrack.serving import fast_predict
from prefect_mltrack.serving.fast_predict import compile_fast_predict_proba, compile_fast_predictor

RNG_SEED = 20261130


def _iris_split() -> tuple[np.ndarray, np.ndarray]:
    iris = load_iris()
    X_train, _, y_train, _ = train_test_split(iris.data, iris.target, test_size=0.2, random_state=42)
    return X_train, y_train


def _multiclass() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(600, 6, n_informative=4, n_classes=4, random_state=0)


def _binary_strings() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(600, 5, random_state=1)
    return X, np.where(y == 1, "yes", "no")


def _odd_labels() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(600, 5, n_informative=3, n_classes=3, random_state=2)
    return X, np.array([-7, 3, 40])[y]


def _regression() -> tuple[np.ndarray, np.ndarray]:
    return make_regression(600, 6, noise=10.0, random_state=0)


# (id, estimator factory, data factory): fitted once per module.
CASES: list[tuple[str, Callable[[], Any], Callable[[], tuple[np.ndarray, np.ndarray]]]] = [
    ("walkthrough-forest", lambda: RandomForestClassifier(n_estimators=100, random_state=0), _iris_split),
    ("walkthrough-forest-depth5", lambda: RandomForestClassifier(n_estimators=100, max_depth=5), _iris_split),
    ("forest-multiclass", lambda: RandomForestClassifier(n_estimators=30, random_state=0), _multiclass),
    ("forest-strings", lambda: RandomForestClassifier(n_estimators=7, random_state=0), _binary_strings),
    ("forest-odd-labels", lambda: RandomForestClassifier(n_estimators=3, random_state=0), _odd_labels),
    ("extra-trees", lambda: ExtraTreesClassifier(n_estimators=25, random_state=0), _multiclass),
    ("forest-regressor", lambda: RandomForestRegressor(n_estimators=20, random_state=0), _regression),
    ("extra-trees-regressor", lambda: ExtraTreesRegressor(n_estimators=20, random_state=0), _regression),
    ("tree", lambda: DecisionTreeClassifier(random_state=0), _multiclass),
    ("tree-strings", lambda: DecisionTreeClassifier(max_depth=4, random_state=0), _binary_strings),
    ("tree-regressor", lambda: DecisionTreeRegressor(random_state=0), _regression),
    ("boosting-binary", lambda: GradientBoostingClassifier(n_estimators=50, random_state=0), _binary_strings),
    ("boosting-multiclass", lambda: GradientBoostingClassifier(n_estimators=30, random_state=0), _multiclass),
    (
        "boosting-exponential-zero-init",
        lambda: GradientBoostingClassifier(loss="exponential", init="zero", n_estimators=30, random_state=0),
        _binary_strings,
    ),
    ("boosting-regressor", lambda: GradientBoostingRegressor(n_estimators=50, random_state=0), _regression),
    (
        "boosting-huber",
        lambda: GradientBoostingRegressor(loss="huber", learning_rate=0.3, n_estimators=40, random_state=0),
        _regression,
    ),
    (
        "boosting-quantile-dummy-init",
        lambda: GradientBoostingRegressor(
            loss="quantile", alpha=0.7, init=DummyRegressor(strategy="median"), n_estimators=30, random_state=0
        ),
        _regression,
    ),
]


@pytest.fixture(scope="module", params=CASES, ids=[case[0] for case in CASES])
def fitted(request: pytest.FixtureRequest) -> tuple[Any, np.ndarray]:
    _, make_estimator, make_data = request.param
    X, y = make_data()
    return make_estimator().fit(X, y), X


def assert_identical(got: Any, want: Any) -> None:
    """Same type, dtype, shape and bytes: -0.0 and 0.0 differ, so do float32 and float64."""
    assert type(got) is np.ndarray and type(want) is np.ndarray
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    if want.dtype.hasobject:
        assert got.tolist() == want.tolist()
    else:
        assert got.tobytes() == want.tobytes(), np.flatnonzero(got != want)[:10]


def threshold_rows(estimator: Any, X: np.ndarray, n_rows: int, seed: int = RNG_SEED) -> np.ndarray:
    """Rows mixing training-like values with values exactly at, and a float32 step around, splits."""
    rng = np.random.default_rng(seed)
    trees = [estimator] if hasattr(estimator, "tree_") else list(np.ravel(estimator.estimators_))
    features = np.concatenate([t.tree_.feature for t in trees])
    thresholds = np.concatenate([t.tree_.threshold for t in trees])
    rows = X[rng.integers(0, len(X), n_rows)] + rng.normal(scale=0.5, size=(n_rows, X.shape[1]))
    for f in range(X.shape[1]):
        at = thresholds[(features == f) & np.isfinite(thresholds)]
        if not at.size:
            continue
        near = at.astype(np.float32)
        pool = np.concatenate(
            [at, near, np.nextafter(near, np.float32(-np.inf)), np.nextafter(near, np.float32(np.inf))]
        ).astype(np.float64)
        pick = rng.random(n_rows) < 0.6
        rows[pick, f] = rng.choice(pool, size=int(pick.sum()))
    return rows


def predictor(estimator: Any) -> Callable[[np.ndarray], np.ndarray]:
    compiled = compile_fast_predictor(estimator)
    assert compiled is not None, f"{estimator!r} should be supported"
    return compiled


def test_thousands_of_rows_match(fitted: tuple[Any, np.ndarray]) -> None:
    estimator, X = fitted
    rows = threshold_rows(estimator, X, 5000)
    assert_identical(predictor(estimator)(rows), estimator.predict(rows))


def test_one_row_at_a_time_matches(fitted: tuple[Any, np.ndarray]) -> None:
    estimator, X = fitted
    predict = predictor(estimator)
    rows = threshold_rows(estimator, X, 300, seed=1)
    for i in range(len(rows)):
        assert_identical(predict(rows[i : i + 1]), estimator.predict(rows[i : i + 1]))


@pytest.mark.parametrize("n_rows", [2, 3, 17, 44, 45, 46, 100, 1000])
def test_every_batch_size_and_both_walks_match(fitted: tuple[Any, np.ndarray], n_rows: int) -> None:
    estimator, X = fitted
    rows = threshold_rows(estimator, X, n_rows, seed=n_rows)
    assert_identical(predictor(estimator)(rows), estimator.predict(rows))


def test_level_walk_and_tree_apply_agree_around_the_switch(fitted: tuple[Any, np.ndarray]) -> None:
    estimator, X = fitted
    predict = predictor(estimator)
    switch = predict.packed.level_rows_max  # type: ignore[attr-defined]
    for n_rows in {1, max(1, switch), switch + 1}:
        rows = threshold_rows(estimator, X, n_rows, seed=7)
        assert_identical(predict(rows), estimator.predict(rows))


def test_large_batches_are_split_into_blocks() -> None:
    X, y = _multiclass()
    estimator = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    predict = predictor(estimator)
    predict.block_rows = 7  # type: ignore[attr-defined]
    rows = threshold_rows(estimator, X, 1000)
    assert_identical(predict(rows), estimator.predict(rows))


def test_input_dtypes_and_layouts_match(fitted: tuple[Any, np.ndarray]) -> None:
    estimator, X = fitted
    predict = predictor(estimator)
    rows = threshold_rows(estimator, X, 200, seed=3)
    variants = [
        rows.astype(np.float32),
        np.asfortranarray(rows),
        np.repeat(rows, 2, axis=1)[:, ::2],  # a strided view
        np.round(rows * 3).astype(np.int64),
        np.round(rows).astype(np.int16),
        rows * 1e30,  # still finite once cast to float32
    ]
    for variant in variants:
        assert_identical(predict(variant), estimator.predict(variant))


@pytest.mark.parametrize(
    ("make_estimator", "make_data"),
    [
        # Fully grown trees have pure leaves: whenever the trees split their votes evenly, the
        # averaged probabilities tie exactly and argmax takes the first class.
        (lambda: RandomForestClassifier(n_estimators=2, random_state=0), _binary_strings),
        (lambda: RandomForestClassifier(n_estimators=4, random_state=3), _multiclass),
        (lambda: ExtraTreesClassifier(n_estimators=6, random_state=0), _odd_labels),
    ],
)
def test_ties_in_averaged_probabilities_break_as_sklearn(make_estimator: Callable[[], Any], make_data: Any) -> None:
    X, y = make_data()
    estimator = make_estimator().fit(X, y)
    rows = threshold_rows(estimator, X, 3000)
    proba = estimator.predict_proba(rows)
    top = np.sort(proba, axis=1)
    assert (top[:, -1] == top[:, -2]).any(), "the case must contain ties"
    assert_identical(predictor(estimator)(rows), estimator.predict(rows))
    for i in np.flatnonzero(top[:, -1] == top[:, -2])[:20]:
        assert_identical(predictor(estimator)(rows[i : i + 1]), estimator.predict(rows[i : i + 1]))


@pytest.mark.parametrize("n_estimators", [3, 7, 10, 11, 49])
def test_averaging_rounds_as_sklearn(n_estimators: int) -> None:
    # Sums of fractions such as 1/3 + 1/3 + 1/3 round differently in another order; compare bytes.
    X, y = _multiclass()
    estimator = RandomForestClassifier(n_estimators=n_estimators, max_depth=3, random_state=n_estimators)
    estimator.fit(X, y)
    rows = threshold_rows(estimator, X, 2000)
    proba = compile_fast_predict_proba(estimator)
    assert proba is not None
    assert_identical(proba(rows), estimator.predict_proba(rows))
    assert_identical(proba(rows[:1]), estimator.predict_proba(rows[:1]))


def test_predict_proba_matches_for_classifiers(fitted: tuple[Any, np.ndarray]) -> None:
    estimator, X = fitted
    proba = compile_fast_predict_proba(estimator)
    if not isinstance(estimator, RandomForestClassifier | ExtraTreesClassifier | DecisionTreeClassifier):
        assert proba is None
        return
    assert proba is not None
    rows = threshold_rows(estimator, X, 2000)
    assert_identical(proba(rows), estimator.predict_proba(rows))
    for i in range(50):
        assert_identical(proba(rows[i : i + 1]), estimator.predict_proba(rows[i : i + 1]))


@pytest.mark.parametrize(
    "make_estimator",
    [
        lambda: RandomForestClassifier(n_estimators=20, random_state=0),
        lambda: ExtraTreesClassifier(n_estimators=20, random_state=0),
        lambda: DecisionTreeClassifier(random_state=0),
        lambda: RandomForestRegressor(n_estimators=10, random_state=0),
        lambda: DecisionTreeRegressor(random_state=0),
    ],
)
@pytest.mark.parametrize("trained_with_nan", [True, False])
def test_missing_values_go_where_sklearn_sends_them(make_estimator: Callable[[], Any], trained_with_nan: bool) -> None:
    X, y = _multiclass()
    if trained_with_nan:
        X = X.copy()
        X[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    estimator = make_estimator().fit(X, y)
    rows = threshold_rows(estimator, np.nan_to_num(X), 2000)
    rows[np.random.default_rng(1).random(rows.shape) < 0.15] = np.nan
    rows[0] = np.nan
    predict = predictor(estimator)
    assert_identical(predict(rows), estimator.predict(rows))
    for i in range(30):
        assert_identical(predict(rows[i : i + 1]), estimator.predict(rows[i : i + 1]))


@pytest.mark.parametrize(
    "bad",
    [
        np.array([[np.nan, 0.0, 0.0, 0.0, 0.0, 0.0]]),  # boosting refuses missing values
        np.array([[np.inf, 0.0, 0.0, 0.0, 0.0, 0.0]]),
        np.array([[1e39, 0.0, 0.0, 0.0, 0.0, 0.0]]),  # infinite once cast to float32
        np.zeros((1, 5)),
        np.zeros((0, 6)),
        np.zeros(6),
    ],
    ids=["nan", "inf", "float32-overflow", "too-few-columns", "no-rows", "one-dimension"],
)
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # sklearn's own cast
def test_bad_input_raises_sklearns_error(bad: np.ndarray) -> None:
    X, y = _regression()
    for estimator in (
        GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, y),
        RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y),
    ):
        if np.isnan(bad).any() and isinstance(estimator, RandomForestRegressor):
            continue  # forests accept NaN (tested above)
        with pytest.raises(ValueError) as theirs:
            estimator.predict(bad)
        with pytest.raises(ValueError) as ours:
            predictor(estimator)(bad)
        assert str(ours.value) == str(theirs.value)


def test_dataframes_and_feature_names_keep_sklearns_behaviour() -> None:
    X, y = _iris_split()
    columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    estimator = RandomForestClassifier(n_estimators=10, random_state=0).fit(pd.DataFrame(X, columns=columns), y)
    predict = predictor(estimator)
    frame = pd.DataFrame(X[:20], columns=columns)
    assert_identical(predict(frame), estimator.predict(frame))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="feature names"):
        predict(frame[columns[::-1]])  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that a bare array has no feature names
        assert_identical(predict(X[:20]), estimator.predict(X[:20]))


def test_concurrent_calls_from_threads_agree() -> None:
    X, y = _iris_split()
    estimator = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    predict = predictor(estimator)
    batches = [threshold_rows(estimator, X, n, seed=n) for n in (1, 5, 60, 400) * 10]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(predict, batches))
    for rows, got in zip(batches, results, strict=True):
        assert_identical(got, estimator.predict(rows))


class _CustomForest(RandomForestClassifier):
    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X), dtype=int)


def _fit(estimator: Any, data: Callable[[], tuple[np.ndarray, np.ndarray]]) -> Any:
    X, y = data()
    return estimator.fit(X, y)


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: object(),
        lambda: _fit(LogisticRegression(max_iter=500), _iris_split),
        lambda: _fit(LinearRegression(), _regression),
        lambda: _fit(HistGradientBoostingClassifier(max_iter=5), _multiclass),
        lambda: _fit(make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3)), _iris_split),
        lambda: _fit(_CustomForest(n_estimators=3), _iris_split),
        lambda: RandomForestClassifier(n_estimators=3),  # not fitted
        lambda: DecisionTreeRegressor(),  # not fitted
        lambda: GradientBoostingRegressor(n_estimators=3, init=LinearRegression()).fit(*_regression()),
        lambda: RandomForestRegressor(n_estimators=3).fit(_regression()[0], np.c_[_regression()[1], _regression()[1]]),
        lambda: DecisionTreeClassifier().fit(_multiclass()[0], np.c_[_multiclass()[1], _multiclass()[1]]),
    ],
    ids=[
        "not-an-estimator",
        "logistic-regression",
        "linear-regression",
        "hist-gradient-boosting",
        "pipeline",
        "subclass-overriding-predict",
        "unfitted-forest",
        "unfitted-tree",
        "boosting-with-a-fitted-init",
        "multi-output-forest",
        "multi-output-tree",
    ],
)
def test_unsupported_models_give_none(make_model: Callable[[], Any]) -> None:
    model = make_model()
    assert compile_fast_predictor(model) is None
    assert compile_fast_predict_proba(model) is None


def test_regressors_and_boosting_have_no_predict_proba() -> None:
    X, y = _regression()
    assert compile_fast_predict_proba(RandomForestRegressor(n_estimators=3).fit(X, y)) is None
    Xc, yc = _multiclass()
    assert compile_fast_predict_proba(GradientBoostingClassifier(n_estimators=3).fit(Xc, yc)) is None


def test_a_predictor_that_disagrees_is_not_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _iris_split()
    estimator = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    real = fast_predict._FastPredictor._predict

    def off_by_one_class(self: Any, X32: np.ndarray, by_level: bool) -> np.ndarray:
        out = real(self, X32, by_level)
        return np.asarray(self.classes)[(np.searchsorted(self.classes, out) + 1) % len(self.classes)]

    monkeypatch.setattr(fast_predict._FastPredictor, "_predict", off_by_one_class)
    assert compile_fast_predictor(estimator) is None


def test_one_row_of_the_walkthrough_forest_is_much_faster() -> None:
    # Loose on purpose (shared CI machines): the issue measured 5.4 ms for sklearn here.
    import time

    X, y = _iris_split()
    estimator = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    predict = predictor(estimator)
    row = X[:1]

    def best_of(function: Callable[[np.ndarray], Any], repeat: int) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            function(row)
            times.append(time.perf_counter() - start)
        return min(times)

    assert best_of(predict, 200) * 10 < best_of(estimator.predict, 20)
