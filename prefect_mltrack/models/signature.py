"""Model signatures: what a model takes and returns, inferred from data as MLflow infers them.

* pandas DataFrame / Series, dicts of scalars or lists, lists of dicts, lists and scalars give
  column specs (``ColSpec``); a DataFrame column's dtype decides its type (``int64`` -> ``long``,
  ``float64`` -> ``double``, ``object`` holding ``str`` -> ``string``...).
* numpy arrays and dicts of numpy arrays give tensor specs (``TensorSpec``) with the first
  dimension variable (``-1``).

Example:
    >>> import pandas as pd
    >>> sig = infer_signature(pd.DataFrame({"x": [1.0, 2.0], "n": [1, 2]}), [0, 1])
    >>> sig.inputs
    ['x': double (required), 'n': long (required)]
    >>> sig.outputs
    [long (required)]
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.models.schema import (
    AnyType,
    Array,
    ColSpec,
    ColType,
    DataType,
    Map,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
)

__all__ = ["ModelSignature", "infer_schema", "infer_signature"]

logger = logging.getLogger(__name__)


class ModelSignature:
    """Input schema, output schema and params schema of a model; each may be None.

    Stored in ``MLmodel`` as ``signature: {inputs: '<json>', outputs: '<json>', params: '<json>'|null}``.

    Example:
        >>> sig = ModelSignature(Schema([ColSpec("double", "x")]))
        >>> sig.to_dict()
        {'inputs': '[{"type": "double", "name": "x", "required": true}]', 'outputs': None, 'params': None}
    """

    def __init__(
        self,
        inputs: Schema | None = None,
        outputs: Schema | None = None,
        params: ParamSchema | None = None,
    ) -> None:
        for label, value, kind in (
            ("inputs", inputs, Schema),
            ("outputs", outputs, Schema),
            ("params", params, ParamSchema),
        ):
            if value is not None and not isinstance(value, kind):
                raise InvalidParameterError(f"ModelSignature {label} must be a {kind.__name__} or None")
        self.inputs = inputs
        self.outputs = outputs
        self.params = params

    def to_dict(self) -> dict[str, str | None]:
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSignature:
        inputs, outputs, params = data.get("inputs"), data.get("outputs"), data.get("params")
        return cls(
            Schema.from_json(inputs) if inputs else None,
            Schema.from_json(outputs) if outputs else None,
            ParamSchema.from_json(params) if params else None,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelSignature) and (self.inputs, self.outputs, self.params) == (
            other.inputs,
            other.outputs,
            other.params,
        )

    def __hash__(self) -> int:
        return hash((self.inputs, self.outputs, self.params))

    def __repr__(self) -> str:
        return f"inputs: \n  {self.inputs!r}\noutputs: \n  {self.outputs!r}\nparams: \n  {self.params!r}\n"


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: dict[str, Any] | None = None
) -> ModelSignature:
    """Infer a signature from example input, the model's output on it, and example params.

    Like MLflow, a part that cannot be inferred is left out with a warning rather than failing.

    Args:
        model_input: A DataFrame, Series, numpy array, dict or list, as the model receives it.
        model_output: What the model returned for ``model_input``.
        params: Example inference parameters, e.g. ``{"threshold": 0.5}``.

    Example:
        >>> import numpy as np
        >>> infer_signature(np.zeros((3, 4))).inputs
        [Tensor('float64', (-1, 4))]
    """
    schemas: dict[str, Any] = {}
    for label, data in (("inputs", model_input), ("outputs", model_output)):
        if data is None:
            schemas[label] = None
            continue
        try:
            schemas[label] = infer_schema(data)
        except Exception as exc:
            logger.warning("Could not infer the model %s schema from %s: %s", label, type(data).__name__, exc)
            schemas[label] = None
    param_schema = infer_param_schema(params) if params else None
    return ModelSignature(schemas["inputs"], schemas["outputs"], param_schema)


def infer_schema(data: Any) -> Schema:
    """The schema of one dataset (see the module docstring for the rules)."""
    import numpy as np
    import pandas as pd

    if isinstance(data, list) and data == []:
        return Schema([ColSpec(DataType.string)])
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        columns: dict[str, list[Any]] = {}
        for item in data:
            for key, value in item.items():
                columns.setdefault(key, []).append(value)
        return Schema(
            ColSpec(
                _array_type(values).dtype,
                name=name,
                required=all(item.get(name) is not None for item in data),
            )
            for name, values in columns.items()
        )
    if isinstance(data, dict):
        if data and all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema(TensorSpec(v.dtype, _tensor_shape(v), name=str(k)) for k, v in data.items())
        if any(not isinstance(key, str) for key in data):
            raise InvalidParameterError("The dictionary keys of a model input are not all strings")
        return Schema(ColSpec(infer_type(v), name=k, required=not _is_missing(v)) for k, v in data.items())
    if isinstance(data, pd.Series):
        name = None if data.name is None else str(data.name)
        return Schema([ColSpec(_pandas_column_type(data), name=name, required=not data.isna().any())])
    if isinstance(data, pd.DataFrame):
        return Schema(
            ColSpec(_pandas_column_type(data[col]), name=str(col), required=not data[col].isna().any())
            for col in data.columns
        )
    if isinstance(data, np.ndarray):
        return Schema([TensorSpec(data.dtype, _tensor_shape(data))])
    if _is_sparse(data):
        return Schema([TensorSpec(data.data.dtype, _tensor_shape(data))])
    if isinstance(data, (list, tuple)):
        return Schema([ColSpec(_array_type(list(data)).dtype)])
    return Schema([ColSpec(infer_type(data))])


def infer_param_schema(params: Mapping[str, Any]) -> ParamSchema:
    """A params schema whose defaults are the example values."""
    import numpy as np

    if not isinstance(params, Mapping):
        raise InvalidParameterError(f"Params must be a dict, got {type(params).__name__}")
    specs = []
    for name, value in params.items():
        if isinstance(value, (list, np.ndarray)):
            items = list(value)
            if any(isinstance(v, (list, dict, np.ndarray)) for v in items):
                raise InvalidParameterError(f"Param {name!r}: only scalars or 1-D lists are supported")
            scalar = _scalar_type(items[0]) if items else DataType.string
            specs.append(ParamSpec(name, scalar, items, (-1,)))
        elif isinstance(value, dict):
            obj = infer_type(value)
            assert isinstance(obj, (Object, AnyType))
            specs.append(ParamSpec(name, obj if isinstance(obj, Object) else DataType.string, value))
        else:
            specs.append(ParamSpec(name, _scalar_type(value), value))
    return ParamSchema(specs)


def infer_type(value: Any) -> ColType:
    """The column type of one value: scalar -> DataType, list -> Array, dict -> Object, None -> Any."""
    import numpy as np

    if _is_missing(value) or (isinstance(value, (list, dict)) and not value):
        return AnyType()
    if isinstance(value, dict):
        properties = []
        for key, item in value.items():
            item_type = infer_type(item)
            properties.append(Property(str(key), item_type, required=not isinstance(item_type, AnyType)))
        return Object(properties)
    if isinstance(value, (list, np.ndarray)):
        return _array_type(list(value))
    return _scalar_type(value)


def _array_type(values: list[Any]) -> Array:
    """Array of the common item type; None items are allowed (they make nothing optional here)."""
    result: ColType | None = None
    for value in values:
        item = infer_type(value)
        if isinstance(item, AnyType):
            continue
        if result is None:
            result = item
        elif item != result:
            merged = _merge(result, item)
            if merged is None:
                raise InvalidParameterError(
                    f"Expected all values in a list to have one type, found {result!r} and {item!r}"
                )
            result = merged
    return Array(result if result is not None else AnyType())


def _merge(left: ColType, right: ColType) -> ColType | None:
    """Two object types merge into one whose properties present in only one side are optional."""
    if isinstance(left, Object) and isinstance(right, Object):
        lprops = {p.name: p for p in left.properties}
        rprops = {p.name: p for p in right.properties}
        merged = []
        for name in sorted(set(lprops) | set(rprops)):
            lp, rp = lprops.get(name), rprops.get(name)
            if lp is not None and rp is not None:
                dtype = lp.dtype if lp.dtype == rp.dtype else _merge(lp.dtype, rp.dtype)
                if dtype is None:
                    return None
                merged.append(Property(name, dtype, lp.required and rp.required))
            else:
                present = lp or rp
                assert present is not None
                merged.append(Property(name, present.dtype, required=False))
        return Object(merged)
    if isinstance(left, Array) and isinstance(right, Array):
        inner = _merge(left.dtype, right.dtype) if left.dtype != right.dtype else left.dtype
        return Array(inner) if inner is not None else None
    if isinstance(left, Map) and isinstance(right, Map) and left.value_type == right.value_type:
        return left
    return None


def _scalar_type(value: Any) -> DataType:
    import numpy as np

    exact = _SCALAR_TYPES.get(type(value).__name__)
    if exact is not None and type(value).__module__ in ("builtins", "numpy"):
        return exact
    if isinstance(value, (dt.date, np.datetime64)):
        return DataType.datetime
    raise InvalidParameterError(f"Value {value!r} of type {type(value).__name__} has no MLflow data type")


_SCALAR_TYPES = {
    "bool": DataType.boolean,
    "bool_": DataType.boolean,
    "int": DataType.long,
    "int64": DataType.long,
    "int32": DataType.integer,
    "float": DataType.double,
    "float64": DataType.double,
    "float32": DataType.float,
    "str": DataType.string,
    "str_": DataType.string,
    "bytes": DataType.binary,
    "bytes_": DataType.binary,
    "bytearray": DataType.binary,
}


def numpy_dtype_type(dtype: Any) -> DataType:
    """The DataType of a numpy dtype or pandas extension dtype (``int64`` -> long)."""
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return DataType.boolean
    if kind in "iu":
        if size < 4 or (kind == "i" and size == 4):
            return DataType.integer
        if size < 8 or (kind == "i" and size == 8):
            return DataType.long
    if kind == "f":
        return DataType.float if size <= 4 else DataType.double
    if kind == "U":
        return DataType.string
    if kind == "S":
        return DataType.binary
    if kind == "M":
        return DataType.datetime
    raise InvalidParameterError(f"Unsupported data type {dtype!s} (kind {kind!r}) for a model signature")


def _pandas_column_type(column: Any) -> ColType:
    import pandas as pd

    if column.ndim > 1:
        raise InvalidParameterError(f"Expected 1-D columns, got shape {column.shape}")
    if isinstance(column.dtype, pd.StringDtype):
        return DataType.string
    if column.dtype.kind == "O":
        column = column.infer_objects()
    if column.dtype.kind == "O" or isinstance(column.dtype, pd.StringDtype):
        try:
            return _array_type(column.to_list()).dtype
        except InvalidParameterError:
            if pd.api.types.is_string_dtype(column):
                return DataType.string
            raise
    return numpy_dtype_type(column.dtype)


def _tensor_shape(data: Any) -> tuple[int, ...]:
    shape = list(data.shape)
    if shape:
        shape[0] = -1
    return tuple(shape)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return value != value  # NaN
    import pandas as pd

    return value is pd.NA or value is pd.NaT


def _is_sparse(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("scipy.sparse") and type(data).__name__ in ("csr_matrix", "csc_matrix")
