"""Exact, fast ``predict`` for fitted scikit-learn tree models, for the scoring server.

scikit-learn spends milliseconds on one ``predict`` call of a forest (input validation, joblib
dispatch, a Python call and a fresh array per tree) where the arithmetic takes microseconds.
:func:`compile_fast_predictor` packs the trees' arrays once and then, per call:

* casts the input to float32 exactly as scikit-learn does;
* finds every tree's leaf: for small batches by walking all trees and all rows one depth level at a
  time with numpy (a handful of array operations per level), for larger batches with each tree's
  own compiled ``Tree.apply`` (what scikit-learn itself runs, minus the per-call overhead);
* combines the leaf values with the estimator's own arithmetic in the estimator's order (a running
  sum over the trees from zero then one division for forests, the initial raw prediction plus
  ``learning_rate * leaf`` stage by stage for gradient boosting) and maps ``argmax`` to ``classes_``.

The result is bit-for-bit ``estimator.predict(X)``: same dtype, same values, same tie-breaking.
Missing values (NaN) take the ``Tree.apply`` route, which sends them where scikit-learn does, when
the estimator accepts them. Everything else the fast path does not reproduce is handed to
``estimator.predict`` itself, so errors stay scikit-learn's: NaN the estimator refuses, infinite
values (after the cast), a shape other than ``(rows >= 1, n_features_in_)``, a non-numeric dtype,
anything that is not a plain ``np.ndarray``. So are gradient-boosting batches too large for the
level walk: its single compiled loop over the stages is as fast there. A forest predicted with
``n_jobs > 1`` sums its trees in whatever order its threads finish; the fast path uses the
estimators' order, one of those orders.

Supported (single output): ``DecisionTreeClassifier``/``Regressor``, ``RandomForestClassifier``/
``Regressor``, ``ExtraTreesClassifier``/``Regressor``, ``GradientBoostingClassifier``/``Regressor``
with the default (or ``'zero'``) init. Anything else, including subclasses, gives ``None``. Each
compiled predictor is checked against ``estimator.predict`` on rows built from the model's own split
thresholds before it is returned; a disagreement gives ``None`` too.

Example:
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, X[:, 0] > 0)
    >>> predict = compile_fast_predictor(model)
    >>> bool(np.array_equal(predict(X), model.predict(X)))
    True
    >>> compile_fast_predictor(object()) is None
    True
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["compile_fast_predict_proba", "compile_fast_predictor"]

logger = logging.getLogger(__name__)

# Exact classes only: a subclass may override predict.
_KINDS = {
    "sklearn.tree._classes.DecisionTreeClassifier": "tree_classifier",
    "sklearn.tree._classes.DecisionTreeRegressor": "tree_regressor",
    "sklearn.ensemble._forest.RandomForestClassifier": "forest_classifier",
    "sklearn.ensemble._forest.RandomForestRegressor": "forest_regressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier": "forest_classifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor": "forest_regressor",
    "sklearn.ensemble._gb.GradientBoostingClassifier": "boosting_classifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor": "boosting_regressor",
}
_PROBA_KINDS = frozenset({"tree_classifier", "forest_classifier"})
# Dummy strategies whose prediction is the same for every row (GradientBoosting's init).
_CONSTANT_INIT = {
    "sklearn.dummy.DummyClassifier": frozenset({"prior", "most_frequent", "uniform", "constant"}),
    "sklearn.dummy.DummyRegressor": frozenset({"mean", "median", "quantile", "constant"}),
}
# Cost model for choosing the level-wise walk or per-tree Tree.apply (microseconds, measured on a
# 2-vCPU EPYC with numpy 2.4): a level costs ~2 us plus ~5 ns per (row, tree); Tree.apply and its
# gather cost ~1.9 us per tree plus ~2 ns per row. Only the crossover matters, and it is not sharp
# (for the walkthrough's 100-tree forest it sits near 45 rows).
_LEVEL_FIXED_US, _LEVEL_PER_CELL_US = 2.0, 0.005
_APPLY_FIXED_US, _APPLY_PER_ROW_US = 1.9, 0.002
# Never walk more rows than this by levels (nor check more rows at compile time).
_LEVEL_ROWS_CAP = 4096
# Rows per block, bounding the (trees x rows x outputs) float64 scratch array to ~16 MB.
_BLOCK_CELLS = 1 << 21


def compile_fast_predictor(sk_model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function computing exactly ``sk_model.predict(X)``, much faster; ``None`` if unsupported.

    Args:
        sk_model: a fitted scikit-learn estimator.

    Returns:
        ``predict(X)`` for a 2-D ``np.ndarray`` ``X``, or ``None`` when ``sk_model`` is not a
        supported tree model (see the module docstring) or the compiled function disagreed with
        ``sk_model.predict`` on the check rows.

    Example:
        >>> import numpy as np
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> X = np.arange(20.0).reshape(10, 2)
        >>> tree = DecisionTreeRegressor(random_state=0).fit(X, X[:, 0] ** 2)
        >>> compile_fast_predictor(tree)(X[:2])
        array([0., 4.])
    """
    return _compile(sk_model, proba=False)


def compile_fast_predict_proba(sk_model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """Like :func:`compile_fast_predictor`, for ``sk_model.predict_proba`` (tree and forest classifiers).

    Example:
        >>> import numpy as np
        >>> from sklearn.ensemble import ExtraTreesClassifier
        >>> X = np.random.default_rng(1).normal(size=(100, 3))
        >>> model = ExtraTreesClassifier(n_estimators=5, random_state=0).fit(X, X[:, 1] > 0)
        >>> bool(np.array_equal(compile_fast_predict_proba(model)(X), model.predict_proba(X)))
        True
    """
    return _compile(sk_model, proba=True)


def _compile(sk_model: Any, *, proba: bool) -> _FastPredictor | None:
    cls = type(sk_model)
    kind = _KINDS.get(f"{cls.__module__}.{cls.__qualname__}")
    if kind is None or (proba and kind not in _PROBA_KINDS):
        return None
    try:
        predictor = _FastPredictor(sk_model, kind, proba=proba)
        agrees = predictor.agrees_with_estimator()
    except _Unsupported as exc:
        logger.debug("No fast predictor for %s: %s", cls.__name__, exc)
        return None
    except Exception:  # unfitted, or a scikit-learn whose internals moved: pyfunc serves it
        logger.debug("No fast predictor for %s", cls.__name__, exc_info=True)
        return None
    if not agrees:
        logger.warning("Fast predictor for %s disagreed with its predict(); not using it", cls.__name__)
        return None
    return predictor


class _Unsupported(Exception):
    """The estimator is of a supported class but in a configuration the fast path does not cover."""


class _PackedTrees:
    """Many trees' nodes in flat arrays, indexed by ``2 * global node id``.

    Leaves point to themselves, so walking ``depth`` levels from the roots lands every row on its
    leaf whatever the depth of its own tree. ``values`` (one row of ``width`` floats per node) is
    what each leaf contributes: class fractions, a regression value, or a boosting step.
    """

    def __init__(self, trees: Sequence[Any], values: Sequence[np.ndarray]) -> None:
        counts = [int(tree.node_count) for tree in trees]
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
        features, thresholds, children = [], [], []
        for tree, offset in zip(trees, offsets, strict=True):
            ids = np.arange(tree.node_count, dtype=np.intp)
            leaf = tree.children_left < 0
            left = np.where(leaf, ids, tree.children_left) + offset
            right = np.where(leaf, ids, tree.children_right) + offset
            features.append(np.where(leaf, 0, tree.feature))
            thresholds.append(tree.threshold)
            # children[2n] is where "x <= threshold" False goes, children[2n + 1] where True goes;
            # stored doubled so that the next index is children[node2 + go].
            children.append(np.stack([2 * right, 2 * left], axis=1).ravel())
        self.trees = tuple(trees)
        self.n_trees = len(trees)
        self.depth = max(int(tree.max_depth) for tree in trees)
        self.width = int(values[0].shape[1])
        self.roots2 = 2 * offsets
        self.feature2 = np.repeat(np.concatenate(features).astype(np.intp), 2)
        self.threshold2 = np.repeat(np.concatenate(thresholds).astype(np.float64), 2)
        self.children2 = np.concatenate(children).astype(np.intp)
        self.values2 = np.repeat(np.concatenate(values).astype(np.float64), 2, axis=0)
        self.tree_values = [np.ascontiguousarray(v, dtype=np.float64) for v in values]
        self.level_rows_max = _level_rows_max(self.n_trees, self.depth)

    def leaf_ids(self, X32: np.ndarray) -> list[np.ndarray]:
        """Per tree, the leaf of each row, by scikit-learn's own traversal (missing values included)."""
        return [tree.apply(X32) for tree in self.trees]

    def leaf_values_by_level(self, X32: np.ndarray) -> np.ndarray:
        """(trees, rows, width) leaf values for C-contiguous, NaN-free float32 ``X32``."""
        n_rows, n_features = X32.shape
        flat = X32.ravel()
        feature2, threshold2, children2 = self.feature2, self.threshold2, self.children2
        if n_rows == 1:
            node2 = self.roots2
            for _ in range(self.depth):
                go = flat[feature2[node2]] <= threshold2[node2]  # float32 widened to float64, as in Cython
                node2 = children2[node2 + go]
        else:
            node2 = np.repeat(self.roots2, n_rows)  # tree-major: index = tree * n_rows + row
            row_start = np.tile(np.arange(0, n_rows * n_features, n_features, dtype=np.intp), self.n_trees)
            for _ in range(self.depth):
                go = flat[feature2[node2] + row_start] <= threshold2[node2]
                node2 = children2[node2 + go]
        return self.values2[node2].reshape(self.n_trees, n_rows, self.width)


def _level_rows_max(n_trees: int, depth: int) -> int:
    """Largest batch for which walking by levels is expected to beat per-tree Tree.apply."""
    gain = n_trees * _APPLY_FIXED_US - depth * _LEVEL_FIXED_US
    slope = depth * n_trees * _LEVEL_PER_CELL_US - n_trees * _APPLY_PER_ROW_US
    if gain <= 0:
        return 0
    return min(int(gain / slope), _LEVEL_ROWS_CAP) if slope > 0 else _LEVEL_ROWS_CAP


class _FastPredictor:
    """``predict`` (or ``predict_proba``) of one supported estimator; see the module docstring."""

    def __init__(self, estimator: Any, kind: str, *, proba: bool) -> None:
        if int(getattr(estimator, "n_outputs_", 1)) != 1:
            raise _Unsupported("more than one output")
        self.estimator = estimator
        self.kind = kind
        self.proba = proba
        self.n_features = int(estimator.n_features_in_)
        self._fallback = estimator.predict_proba if proba else estimator.predict
        self.classes: np.ndarray | None = getattr(estimator, "classes_", None)
        self.init: np.ndarray | None = None
        if kind.startswith("boosting"):
            estimators = list(np.asarray(estimator.estimators_).ravel())  # stage-major, as predict_stages
            self.n_per_stage = int(np.asarray(estimator.estimators_).shape[1])
            scale = float(estimator.learning_rate)
            trees = [e.tree_ for e in estimators]
            values = [scale * tree.value[:, 0, :] for tree in trees]
            self.init = self._boosting_init()
        else:
            estimators = list(estimator.estimators_) if kind.startswith("forest") else [estimator]
            trees = [e.tree_ for e in estimators]
            values = [tree.value[:, 0, :] for tree in trees]
        self.packed = _PackedTrees(trees, values)
        self.block_rows = max(1, _BLOCK_CELLS // (self.packed.n_trees * self.packed.width))
        self.nan_ok = self._accepts_nan()

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if (
            type(X) is not np.ndarray
            or X.ndim != 2
            or X.shape[1] != self.n_features
            or X.shape[0] == 0
            or X.dtype.kind not in "fiu"
            or X.dtype.itemsize > 8
        ):
            return self._fallback(X)
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, and predict() says so below
            X32 = np.ascontiguousarray(X, dtype=np.float32)  # scikit-learn's DTYPE, same rounding
        by_level = X32.shape[0] <= self.packed.level_rows_max
        if not np.isfinite(X32).all():
            if not self.nan_ok or np.isinf(X32).any():
                return self._fallback(X)  # scikit-learn raises its own error
            by_level = False  # Tree.apply routes missing values
        if not by_level and self.kind.startswith("boosting"):
            return self._fallback(X)  # its one compiled loop over all stages is as fast for big batches
        if X32.shape[0] <= self.block_rows:
            return self._predict(X32, by_level)
        blocks = range(0, X32.shape[0], self.block_rows)
        return np.concatenate([self._predict(X32[i : i + self.block_rows], by_level) for i in blocks])

    def __repr__(self) -> str:
        return f"<fast {'predict_proba' if self.proba else 'predict'} of {self.estimator!r}>"

    def _predict(self, X32: np.ndarray, by_level: bool) -> np.ndarray:
        out = self._combine_by_level(X32) if by_level else self._combine_per_tree(X32)
        kind = self.kind
        if kind.endswith("regressor"):
            return out[:, 0].copy()
        assert self.classes is not None
        if self.proba:
            return out[:, : len(self.classes)].copy()
        if kind == "boosting_classifier" and self.n_per_stage == 1:
            return self.classes[(out[:, 0] >= 0).astype(int)]
        return self.classes.take(np.argmax(out, axis=1), axis=0)

    def _combine_per_tree(self, X32: np.ndarray) -> np.ndarray:
        """(rows, width) raw output, the estimator's own operations in its own order."""
        packed = self.packed
        leaf_ids = packed.leaf_ids(X32)
        if self.kind.startswith("tree"):
            return packed.tree_values[0].take(leaf_ids[0], axis=0)
        # ForestClassifier.predict_proba / ForestRegressor.predict: zeros, += each tree, /= n.
        out = np.zeros((X32.shape[0], packed.width))
        for values, leaves in zip(packed.tree_values, leaf_ids, strict=True):
            out += values.take(leaves, axis=0)
        out /= packed.n_trees
        return out

    def _combine_by_level(self, X32: np.ndarray) -> np.ndarray:
        """Same as :meth:`_combine_per_tree` (and boosting's predict_stages), vectorised over trees."""
        leaves = self.packed.leaf_values_by_level(X32)
        kind = self.kind
        if kind.startswith("tree"):
            return leaves[0]
        if kind.startswith("forest"):
            # add.accumulate is sequential by definition, like the += loop (add.reduce may sum
            # pairwise); adding 0.0 turns an all-(-0.0) sum into the +0.0 that zeros + ... gives.
            out = np.add.accumulate(leaves, axis=0)[-1]
            out += 0.0
            out /= self.packed.n_trees
            return out
        # predict_stages: out = init; then stage by stage out[:, k] += learning_rate * value.
        n_rows = X32.shape[0]
        raw = np.empty((leaves.shape[0] // self.n_per_stage + 1, n_rows, self.n_per_stage))
        raw[0] = self.init
        raw[1:] = leaves.reshape(-1, self.n_per_stage, n_rows).transpose(0, 2, 1)
        return np.add.accumulate(raw, axis=0)[-1]

    def _boosting_init(self) -> np.ndarray:
        """The init estimator's raw prediction, the same for every row (else unsupported)."""
        init = self.estimator.init_
        if isinstance(init, str):
            if init != "zero":
                raise _Unsupported(f"init {init!r}")
        else:
            cls = type(init)
            strategies = _CONSTANT_INIT.get(f"{cls.__module__}.{cls.__qualname__}", frozenset())
            if getattr(init, "strategy", None) not in strategies:
                raise _Unsupported(f"init {init!r} may vary per row")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = self.estimator._raw_predict_init(np.zeros((1, self.n_features), dtype=np.float32))
        return np.asarray(raw, dtype=np.float64)[0]

    def _accepts_nan(self) -> bool:
        """Whether ``predict`` takes NaN (missing values) rather than raising, asked of the estimator."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self._fallback(np.full((1, self.n_features), np.nan))
            except ValueError:
                return False
        return True

    def agrees_with_estimator(self) -> bool:
        """Compare with the estimator on rows at, just below and just above its split thresholds."""
        rows = _check_rows(self.packed, self.n_features, max(64, self.packed.level_rows_max + 1))
        small = min(len(rows), max(1, self.packed.level_rows_max))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "X does not have valid feature names"
            samples = [rows[:1], rows[:small], rows]
            if self.nan_ok:
                with_nan = rows.copy()
                with_nan[::3, 0] = np.nan
                samples.append(with_nan)
            return all(_identical(self(X), self._fallback(X)) for X in samples)


def _check_rows(packed: _PackedTrees, n_features: int, n_rows: int) -> np.ndarray:
    """Rows whose values sit on, and one float32 step either side of, the model's thresholds."""
    rng = np.random.default_rng(0)
    thresholds = packed.threshold2[0::2]
    # Leaves, and the infinite thresholds of "missing or not" splits, give no useful value.
    split = (packed.children2[0::2] != 2 * np.arange(len(thresholds))) & np.isfinite(thresholds)
    features, thresholds = packed.feature2[0::2][split], thresholds[split]
    rows = rng.normal(size=(n_rows, n_features))
    for f in range(n_features):
        candidates = thresholds[features == f]
        if candidates.size:
            near = candidates.astype(np.float32)
            candidates = np.concatenate(
                [candidates, near, np.nextafter(near, np.float32(-np.inf)), np.nextafter(near, np.float32(np.inf))]
            )
            rows[:, f] = rng.choice(candidates.astype(np.float64), size=n_rows)
    return rows


def _identical(got: Any, want: Any) -> bool:
    """Same dtype, shape and bytes (so -0.0 differs from 0.0); object arrays compare by value."""
    if not isinstance(got, np.ndarray) or not isinstance(want, np.ndarray):
        return False
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    if got.dtype.hasobject:
        return bool(got.tolist() == want.tolist())
    return got.tobytes() == want.tobytes()
