"""Signature enforcement at predict time, with MLflow's conversion rules.

Column schemas (the input becomes a pandas DataFrame first):

* a missing required column is an error; extra columns are dropped; columns come out in schema order;
* a column whose dtype differs is converted only when no value can change: int -> long, float ->
  double, (u)int up to 32 bits -> double, any datetime64 precision -> datetime, object -> string,
  and int64 columns holding only 0/1 -> float/double (what MLflow allows); anything else (double
  -> long, string -> double...) is refused with :class:`SchemaEnforcementError` naming the
  column and the type it expects.

An extension over MLflow: a 2-D array or list of rows without column names, with exactly as many
columns as a named schema, is matched to the schema's columns by position (what the scoring
server's ``instances`` form sends).

Tensor schemas check the shape (``-1`` matches any size) and the dtype; a dtype numpy can cast
safely (``int32`` -> ``float64``) is cast, a list is read with the expected dtype.

Params: unknown names are dropped, missing ones take their default, ints become floats where asked.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prefect_mltrack.exceptions import SchemaEnforcementError
from prefect_mltrack.models.schema import (
    AnyType,
    Array,
    ColSpec,
    DataType,
    Map,
    Object,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["enforce_param", "enforce_params", "enforce_schema"]

logger = logging.getLogger(__name__)


def enforce_schema(data: Any, schema: Schema) -> Any:
    """Check ``data`` against ``schema`` and convert it where that is safe.

    Returns:
        A DataFrame for column schemas; an ndarray (or a dict of them) for tensor schemas.

    Raises:
        SchemaEnforcementError: a missing column or tensor, or a type that cannot be converted
            safely; the message names the column and the expected type.
    """
    if schema.is_tensor_spec():
        return _enforce_tensors(data, schema)
    frame = _to_frame(data, schema)
    if schema.has_input_names():
        return _enforce_named_columns(frame, schema)
    specs = [spec for spec in schema.inputs if isinstance(spec, ColSpec)]
    if len(frame.columns) < len(specs):
        raise SchemaEnforcementError(
            f"The model signature declares {len(specs)} unnamed input columns but the input has only "
            f"{len(frame.columns)}; the columns are matched by position"
        )
    import pandas as pd

    columns = {
        col: _enforce_column(str(col), frame[col], spec) for col, spec in zip(frame.columns, specs, strict=False)
    }
    return pd.DataFrame(columns, index=frame.index)


# -- columns ----------------------------------------------------------------------------------------
def _to_frame(data: Any, schema: Schema) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, pd.Series):
        frame = data.to_frame()
    elif data is None or np.isscalar(data):
        frame = pd.DataFrame([data])
    elif isinstance(data, dict):
        composite = any(
            isinstance(spec.type, (Array, Object, Map)) for spec in schema.inputs if isinstance(spec, ColSpec)
        )
        one_row = composite or all(
            value is None or np.isscalar(value) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            for value in data.values()
        )
        try:
            if one_row:
                frame = pd.DataFrame([data])
            else:
                frame = pd.DataFrame(
                    {k: v.tolist() if isinstance(v, np.ndarray) and v.ndim > 1 else v for k, v in data.items()}
                )
        except ValueError as exc:
            raise SchemaEnforcementError(
                f"This model has a column-based signature, so a dict input must map column names to "
                f"values or to equally long lists: {exc}"
            ) from exc
    elif isinstance(data, (list, tuple, np.ndarray)):
        frame = pd.DataFrame(list(data) if isinstance(data, tuple) else data)
    else:
        raise SchemaEnforcementError(
            f"Expected a DataFrame, Series, numpy array, dict, list or scalar for a column-based signature, "
            f"got {type(data).__name__}"
        )
    names = schema.input_names()
    positional = list(frame.columns) == list(range(len(frame.columns)))
    if names and positional and len(frame.columns) == len(names) and not set(names) & set(frame.columns):
        frame = frame.set_axis(names, axis=1)  # rows without column names: match by position
    return frame


def _enforce_named_columns(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    import pandas as pd

    present = set(frame.columns)
    missing = [
        spec for spec in schema.inputs if isinstance(spec, ColSpec) and spec.required and spec.name not in present
    ]
    if missing:
        described = ", ".join(f"{spec.name!r} ({_type_name(spec.type)})" for spec in missing)
        raise SchemaEnforcementError(
            f"Model is missing inputs: {described} required by the model signature; "
            f"the input has columns {[str(c) for c in frame.columns]}"
        )
    known = set(schema.input_names())
    extra = [str(c) for c in frame.columns if c not in known]
    if extra:
        logger.warning("Input columns %s are not in the model signature and are ignored", extra)
    columns = {
        spec.name: _enforce_column(str(spec.name), frame[spec.name], spec)
        for spec in schema.inputs
        if isinstance(spec, ColSpec) and spec.name in present
    }
    return pd.DataFrame(columns, index=frame.index)


def _enforce_column(name: str, values: Any, spec: ColSpec) -> Any:
    import pandas as pd

    if isinstance(spec.type, DataType):
        return _enforce_datatype(name, values, spec.type)
    checked = [_enforce_value(v, spec.type, name, spec.required) for v in values]
    return pd.Series(checked, index=values.index, name=values.name, dtype=object)


def _enforce_datatype(name: str, values: Any, expected: DataType) -> Any:
    """One pandas column converted to ``expected``, following MLflow's safe-conversion table."""
    import numpy as np
    import pandas as pd

    if values.dtype == object and expected not in (DataType.string, DataType.binary):
        values = values.infer_objects()
    is_text = values.dtype == object or isinstance(values.dtype, pd.StringDtype)
    if expected in (DataType.string, DataType.binary) and is_text:
        return values
    target = expected.to_numpy()
    if values.dtype == target:
        return values
    if expected is DataType.binary and values.dtype.kind == "S":
        return values
    if expected is DataType.datetime and (values.dtype.kind == "M" or values.dtype == object):
        try:
            return values.astype("datetime64[ns]")
        except (TypeError, ValueError) as exc:
            raise _column_error(name, values, expected, f" ({exc})") from exc
    if expected is DataType.boolean and values.dtype == object:
        return values  # keeps None as None instead of turning it into False
    if is_text:
        raise _column_error(name, values, expected, "")
    kind, size = values.dtype.kind, values.dtype.itemsize
    if kind == target.kind:
        upcast = size <= target.itemsize
    elif kind == "u" and target.kind == "i":
        upcast = size < target.itemsize
    elif kind in "iu" and target == np.float64:
        upcast = size <= 6  # up to 32-bit ints fit exactly in a double
    else:
        upcast = False
    if upcast:
        return values.astype(target)
    if values.dtype == np.int64 and target.kind == "f" and values.isin([0, 1]).all():
        return values.astype(target)
    hint = ""
    if values.dtype == np.float64 and target.kind in "iu" and values.hasnans:
        hint = (
            "; the column has missing values, which turn integer columns into floats: declare the column "
            "as double in the signature, or infer it from data that has missing values"
        )
    raise _column_error(name, values, expected, hint)


def _column_error(name: str, values: Any, expected: DataType, hint: str) -> SchemaEnforcementError:
    return SchemaEnforcementError(
        f"Incompatible input types for column {name!r}: the model signature expects {expected.name} "
        f"({expected.to_numpy()}), got {values.dtype}, which cannot be converted safely{hint}"
    )


def _enforce_value(value: Any, expected: Any, where: str, required: bool = True) -> Any:
    """A JSON-like value checked against a (possibly composite) type; used for Array/Object/Map columns."""
    import numpy as np

    if isinstance(expected, AnyType):
        return value
    if value is None or (isinstance(value, float) and value != value):
        if required:
            raise SchemaEnforcementError(f"Input {where!r} is required by the model signature but is missing (None)")
        return None
    if isinstance(expected, Array):
        if not isinstance(value, (list, np.ndarray)):
            raise SchemaEnforcementError(
                f"Input {where!r} expects a list ({_type_name(expected)}), got {type(value).__name__}"
            )
        return [_enforce_value(v, expected.dtype, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(expected, Object):
        if not isinstance(value, dict):
            raise SchemaEnforcementError(
                f"Input {where!r} expects an object ({_type_name(expected)}), got {type(value).__name__}"
            )
        allowed = {p.name for p in expected.properties}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise SchemaEnforcementError(
                f"Input {where!r} has properties {unknown} that the model signature does not define"
            )
        return {
            p.name: _enforce_value(value.get(p.name), p.dtype, f"{where}.{p.name}", p.required)
            for p in expected.properties
            if p.name in value or p.required
        }
    if isinstance(expected, Map):
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise SchemaEnforcementError(f"Input {where!r} expects a map with string keys, got {type(value).__name__}")
        return {k: _enforce_value(v, expected.value_type, f"{where}.{k}") for k, v in value.items()}
    assert isinstance(expected, DataType)
    if _matches(expected, value):
        return value
    if expected in _SAFE_PARAM_UPCASTS and any(_matches(t, value) for t in _SAFE_PARAM_UPCASTS[expected]):
        return expected.to_python()(value)
    raise SchemaEnforcementError(
        f"Input {where!r} expects {expected.name}, got {type(value).__name__} {value!r}, "
        "which cannot be converted safely"
    )


def _type_name(value: Any) -> str:
    return value.name if isinstance(value, DataType) else repr(value)


# -- tensors ----------------------------------------------------------------------------------------
def _enforce_tensors(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    specs = [spec for spec in schema.inputs if isinstance(spec, TensorSpec)]
    if schema.has_input_names():
        if isinstance(data, pd.DataFrame):
            data = {
                name: np.vstack(data[name].tolist()) if data[name].dtype == object else data[name].to_numpy()
                for name in schema.input_names()
                if name in data
            }
        if not isinstance(data, dict):
            raise SchemaEnforcementError(
                f"This model's signature names its tensors {schema.input_names()}; pass a dict of arrays, got "
                f"{type(data).__name__}"
            )
        missing = [name for name in schema.input_names() if name not in data]
        if missing:
            raise SchemaEnforcementError(f"Model is missing input tensors {missing} required by the model signature")
        return {spec.name: _enforce_tensor(data[spec.name], spec, str(spec.name)) for spec in specs}
    spec = specs[0]
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise SchemaEnforcementError("Input DataFrame is empty")
        if len(data.columns) == 1 and spec.shape in ((-1,), (-1, 1)):
            return _enforce_tensor(data.iloc[:, 0].to_numpy().reshape(spec.shape), spec, "input")
        return _enforce_tensor(data.to_numpy(), spec, "input")
    return _enforce_tensor(data, spec, "input")


def _enforce_tensor(values: Any, spec: TensorSpec, name: str) -> Any:
    import numpy as np

    if isinstance(values, (list, tuple)):
        try:
            values = np.asarray(values, dtype=spec.type)
        except (TypeError, ValueError) as exc:
            raise SchemaEnforcementError(f"Input {name!r} cannot be read as a {spec.type} tensor: {exc}") from exc
    if not isinstance(values, np.ndarray):
        if type(values).__module__.startswith("scipy.sparse"):
            return values
        raise SchemaEnforcementError(
            f"Input {name!r}: the model signature expects a tensor ({spec.type}, shape {spec.shape}), got "
            f"{type(values).__name__}"
        )
    expected = spec.shape
    ragged = values.ndim == 1 and values.dtype == object and (expected == (-1,) or -1 in expected[1:])
    if ragged:
        return values
    if len(expected) != values.ndim or any(e not in (-1, a) for e, a in zip(expected, values.shape, strict=True)):
        raise SchemaEnforcementError(
            f"Shape of input {name!r} {values.shape} does not match the shape {expected} in the model signature"
        )
    actual = values.dtype
    if actual.char == "U":
        actual = np.dtype("str")
    if actual == spec.type:
        return values
    if np.can_cast(values.dtype, spec.type, casting="safe"):
        return values.astype(spec.type)
    raise SchemaEnforcementError(
        f"Input {name!r} has dtype {values.dtype}; the model signature expects {spec.type}, "
        "and it cannot be converted safely"
    )


# -- params -----------------------------------------------------------------------------------------
_SAFE_PARAM_UPCASTS = {
    DataType.long: (DataType.integer,),
    DataType.float: (DataType.integer, DataType.long),
    DataType.double: (DataType.integer, DataType.long, DataType.float),
}


def _matches(dtype: DataType, value: Any) -> bool:
    """Whether ``value``'s own type is one that ``dtype`` stands for (bool is not an int here)."""
    kind = type(value)
    if dtype is DataType.datetime:
        import numpy as np

        return isinstance(value, (dt.date, np.datetime64))
    if dtype is DataType.binary:
        return kind in (bytes, bytearray) or kind.__name__ == "bytes_"
    if dtype is DataType.string:
        return kind is str or kind.__name__ == "str_"
    if kind is dtype.to_python():
        return True
    if kind.__module__ == "numpy":
        import numpy as np

        return bool(np.dtype(kind) == dtype.to_numpy())
    return False


def enforce_params(params: Mapping[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any] | None:
    """Params checked against the schema, with defaults filled in.

    Without a params schema, params are ignored with a warning (as MLflow does).
    """
    if schema is None:
        if params:
            logger.warning("The model signature declares no params; ignoring params %s", list(params))
            return None
        return params if params is None else {}
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise SchemaEnforcementError(f"Params must be a dict, got {type(params).__name__}")
    known = {spec.name for spec in schema.params}
    unknown = [str(k) for k in params if str(k) not in known]
    if unknown:
        logger.warning(
            "Params %s are not in the model signature and are ignored; it declares %s", unknown, sorted(known)
        )
    given = {str(k): v for k, v in params.items()}
    result: dict[str, Any] = {}
    for spec in schema.params:
        result[spec.name] = enforce_param(spec, given[spec.name]) if spec.name in given else spec.default
    return result


def enforce_param(spec: ParamSpec, value: Any) -> Any:
    """One param value converted to the spec's type (int -> float where asked), or an error naming it."""
    import numpy as np

    if value is None:
        return None
    if spec.shape == (-1,):
        if not isinstance(value, (list, np.ndarray)) or np.asarray(value, dtype=object).ndim != 1:
            raise SchemaEnforcementError(
                f"Param {spec.name!r} expects a 1-D list of {_type_name(spec.dtype)}, got {value!r}"
            )
        return [_enforce_scalar_param(spec, v) for v in value]
    if isinstance(spec.dtype, Object):
        _enforce_value(value, spec.dtype, spec.name)
        return value
    return _enforce_scalar_param(spec, value)


def _enforce_scalar_param(spec: ParamSpec, value: Any) -> Any:
    import numpy as np

    dtype = spec.dtype
    assert isinstance(dtype, DataType)
    if dtype is DataType.datetime:
        if isinstance(value, dt.date):
            return value
        try:
            converted = np.datetime64(value).item()
        except ValueError as exc:
            raise SchemaEnforcementError(f"Param {spec.name!r} expects a datetime, got {value!r}") from exc
        if not isinstance(converted, dt.date):
            raise SchemaEnforcementError(f"Param {spec.name!r} expects a datetime, got {value!r}")
        return converted
    if not np.isscalar(value):
        raise SchemaEnforcementError(f"Param {spec.name!r} expects a scalar {dtype.name}, got {value!r}")
    if _matches(dtype, value) or (
        dtype in _SAFE_PARAM_UPCASTS and any(_matches(t, value) for t in _SAFE_PARAM_UPCASTS[dtype])
    ):
        return dtype.to_python()(value)
    raise SchemaEnforcementError(
        f"Param {spec.name!r} expects {dtype.name}, got {type(value).__name__} {value!r}, "
        "which cannot be converted safely"
    )
