"""Numeric JSON rows straight into a compiled scikit-learn predictor, skipping pandas.

The pyfunc path turns every request into a DataFrame, enforces the signature column by column and
lets scikit-learn validate it again: milliseconds per call for one row. :class:`FastRows` takes a
shorter way only where the answer cannot differ from pyfunc's:

* the model is a plain sklearn-flavor model whose pyfunc ``predict_fn`` is ``predict``;
* the signature is all-``double`` named columns, or one float64 tensor of shape ``(-1, n)``, or
  there is no signature and the estimator was fitted without feature names (unnamed rows only);
* :func:`prefect_mltrack.serving.fast_predict.compile_fast_predictor` (optional; its absence is
  fine) compiled the estimator;
* the body holds only rows (``dataframe_split`` without index, ``dataframe_records``,
  ``instances``, ``inputs``, the older ``data``) of exactly ``n`` JSON floats, in float32 range,
  and no ``params``. JSON integers, nulls, strings and anything else go to pyfunc, which decides.

Example:
    >>> fast = FastRows(lambda m: m.sum(axis=1), ("a", "b"))
    >>> fast.predict(fast.rows({"dataframe_records": [{"b": 2.0, "a": 1.5}]}))
    array([3.5])
    >>> fast.rows({"dataframe_records": [{"a": 1, "b": 2.0}]}) is None   # an int: pyfunc decides
    True
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from prefect_mltrack.models.pyfunc import PyFuncModel

__all__ = ["FastRows"]

logger = logging.getLogger(__name__)

FAST_PREDICT_MODULE = "prefect_mltrack.serving.fast_predict"
SKLEARN_LOADERS = frozenset({"mlflow.sklearn", "prefect_mltrack.models.sklearn"})
_ROW_FIELDS = ("instances", "inputs", "data")
_FLOAT32_MAX = 3.4028234663852886e38


class FastRows:
    """A compiled predictor and the input layout it accepts.

    Args:
        predict: float64 matrix (rows x features) -> predictions, identical to the estimator's.
        columns: the signature's column names in order, or ``None`` for a tensor signature
            (rows are then accepted only without names).
        width: features per row (defaults to ``len(columns)``).
    """

    def __init__(
        self,
        predict: Callable[[np.ndarray], np.ndarray],
        columns: Sequence[str] | None,
        width: int | None = None,
    ) -> None:
        self.predict = predict
        self.columns = tuple(columns) if columns is not None else None
        self.width = width if width is not None else len(self.columns or ())
        self._column_set = frozenset(self.columns or ())

    @classmethod
    def for_model(cls, model: PyFuncModel) -> FastRows | None:
        """The fast path for ``model``, or ``None`` when it does not qualify."""
        conf = model.metadata.flavors.get("python_function") or {}
        if conf.get("loader_module") not in SKLEARN_LOADERS or conf.get("predict_fn", "predict") != "predict":
            return None
        schema = model.metadata.get_input_schema()
        layout = _layout(schema)
        if layout is None and schema is None:
            # No signature (the walkthrough logs its forest this way): pyfunc hands the rows to
            # scikit-learn unchanged, so unnamed numeric rows may take the same exact shortcut when
            # the estimator was fitted without feature names.
            estimator = model.get_raw_model()
            width = getattr(estimator, "n_features_in_", None)
            if isinstance(width, int) and width > 0 and not hasattr(estimator, "feature_names_in_"):
                layout = (None, width)
        compile_fast_predictor = _compiler() if layout is not None else None
        if layout is None or compile_fast_predictor is None:
            return None
        columns, width = layout
        try:
            estimator = model.get_raw_model()
            if getattr(estimator, "n_features_in_", width) != width:
                return None
            predict = compile_fast_predictor(estimator)
        except Exception:
            logger.warning("Could not compile a fast predictor; serving through pyfunc", exc_info=True)
            return None
        return None if predict is None else cls(predict, columns, width)

    def rows(self, document: Any) -> np.ndarray | None:
        """A float64 matrix when ``document`` qualifies (see the module docstring), else ``None``."""
        if type(document) is not dict or len(document) != 1:
            return None
        ((field, value),) = document.items()
        rows: Any = None
        if field == "dataframe_split":
            if self.columns is not None and type(value) is dict and value.keys() <= {"columns", "data"}:
                columns = value.get("columns")
                if columns is None or (type(columns) is list and tuple(columns) == self.columns):
                    rows = value.get("data")
        elif field in _ROW_FIELDS or field == "dataframe_records":
            rows = value
            if type(rows) is list and rows and type(rows[0]) is dict:
                rows = self._records(rows) if self.columns is not None else None
            elif field == "dataframe_records":
                rows = None
        return self._matrix(rows)

    def _records(self, records: list[Any]) -> list[list[Any]] | None:
        columns, expected = self.columns or (), self._column_set
        if not all(type(record) is dict and record.keys() == expected for record in records):
            return None
        return [[record[name] for name in columns] for record in records]

    def _matrix(self, rows: Any) -> np.ndarray | None:
        if type(rows) is not list or not rows:
            return None
        width = self.width
        if not all(type(row) is list and len(row) == width for row in rows):
            return None
        if set(map(type, chain.from_iterable(rows))) != {float}:
            return None
        import numpy as np

        matrix = np.array(rows, dtype=np.float64)
        # scikit-learn refuses values beyond float32; let it say so through pyfunc.
        if not (np.abs(matrix) <= _FLOAT32_MAX).all():
            return None
        return matrix

    def agrees_with(self, example: Any, expected: Any) -> bool:
        """Whether the compiled predictor gives exactly ``expected`` (pyfunc's answer) on ``example``."""
        import numpy as np

        try:
            if hasattr(example, "columns"):
                frame = example[list(self.columns)] if self.columns is not None else example
                matrix = frame.to_numpy(dtype=np.float64)
            else:
                matrix = np.asarray(example, dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            return True  # nothing to compare on; the predictor's own tests vouch for it
        if matrix.ndim != 2 or matrix.shape[1] != self.width:
            return True
        got = self.predict(matrix)
        want = np.asarray(expected)
        return isinstance(got, np.ndarray) and got.dtype == want.dtype and np.array_equal(got, want)


def _layout(schema: Any) -> tuple[tuple[str, ...] | None, int] | None:
    """(column names or None, width) for the signatures the fast path serves."""
    from prefect_mltrack.models.schema import ColSpec, DataType, TensorSpec

    if schema is None or not schema.inputs:
        return None
    specs = list(schema.inputs)
    if schema.is_tensor_spec():
        (spec, *rest) = specs
        ok = not rest and isinstance(spec, TensorSpec) and spec.name is None and str(spec.type) == "float64"
        shape = tuple(spec.shape) if ok else ()
        return (None, shape[1]) if len(shape) == 2 and shape[0] == -1 and shape[1] > 0 else None
    if all(
        isinstance(spec, ColSpec) and spec.type is DataType.double and spec.required and spec.name for spec in specs
    ):
        return tuple(str(spec.name) for spec in specs), len(specs)
    return None


def _compiler() -> Callable[[Any], Callable[[np.ndarray], np.ndarray] | None] | None:
    try:
        module = importlib.import_module(FAST_PREDICT_MODULE)
    except ImportError:
        return None
    except Exception:
        logger.warning("Could not import %s; serving through pyfunc", FAST_PREDICT_MODULE, exc_info=True)
        return None
    return getattr(module, "compile_fast_predictor", None)
