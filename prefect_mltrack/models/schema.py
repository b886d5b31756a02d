"""Schema types of a model signature, in MLflow's JSON format (``mlflow.types.schema``).

A :class:`Schema` is either a list of :class:`ColSpec` (named or unnamed columns, for DataFrames
and JSON-like input) or a list of :class:`TensorSpec` (numpy dtype + shape, ``-1`` = any size).
Column types are :class:`DataType` members or the composite :class:`Array`, :class:`Object`,
:class:`Map` and :class:`AnyType`. :class:`ParamSchema` describes inference-time ``params``.

In an ``MLmodel`` file each schema is stored as a JSON string::

    [{"type": "double", "name": "x", "required": true}]
    [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]

numpy is imported only when a tensor spec or a dtype conversion needs it.

Example:
    >>> schema = Schema([ColSpec("double", "x"), ColSpec(Array("string"), "tags", required=False)])
    >>> schema.to_json()
    '[{"type": "double", "name": "x", "required": true}, {"type": "array", "items": {"type": "string"}, \
"name": "tags", "required": false}]'
    >>> Schema.from_json(schema.to_json()) == schema
    True
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from prefect_mltrack.exceptions import InvalidParameterError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "AnyType",
    "Array",
    "ColSpec",
    "DataType",
    "Map",
    "Object",
    "ParamSchema",
    "ParamSpec",
    "Property",
    "Schema",
    "TensorSpec",
]

_NUMPY_NAMES = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "str",
    "binary": "bytes",
    "datetime": "datetime64[ns]",
}
_PYTHON_TYPES: dict[str, type] = {
    "boolean": bool,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "string": str,
    "binary": bytes,
    "datetime": dt.date,
}


class DataType(enum.Enum):
    """MLflow's scalar column types (the names are the JSON ``type`` values)."""

    boolean = 1
    integer = 2
    long = 3
    float = 4
    double = 5
    string = 6
    binary = 7
    datetime = 8

    def __repr__(self) -> str:
        return self.name

    def to_numpy(self) -> np.dtype[Any]:
        """The numpy dtype this type stands for (``long`` -> ``int64``)."""
        import numpy as np

        return np.dtype(_NUMPY_NAMES[self.name])

    def to_python(self) -> type:
        return _PYTHON_TYPES[self.name]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name}


class AnyType:
    """Any value, including None (``{"type": "any"}``)."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "any"}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnyType)

    def __hash__(self) -> int:
        return hash("any")

    def __repr__(self) -> str:
        return "Any"


class Array:
    """A list whose items all have one type (``{"type": "array", "items": {...}}``)."""

    def __init__(self, dtype: ColType | str) -> None:
        self.dtype = _coerce_type(dtype)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "array", "items": self.dtype.to_dict()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Array) and self.dtype == other.dtype

    def __hash__(self) -> int:
        return hash(("array", self.dtype))

    def __repr__(self) -> str:
        return f"Array({self.dtype!r})"


class Property:
    """One named field of an :class:`Object`."""

    def __init__(self, name: str, dtype: ColType | str, required: bool = True) -> None:
        self.name = name
        self.dtype = _coerce_type(dtype)
        self.required = required

    def to_dict(self) -> dict[str, Any]:
        return {self.name: {**self.dtype.to_dict(), "required": self.required}}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Property) and (self.name, self.dtype, self.required) == (
            other.name,
            other.dtype,
            other.required,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.dtype, self.required))

    def __repr__(self) -> str:
        return f"{self.name!r}: {self.dtype!r}{'' if self.required else ' (optional)'}"


class Object:
    """A dict with known fields (``{"type": "object", "properties": {name: {...}}}``)."""

    def __init__(self, properties: Iterable[Property]) -> None:
        self.properties = sorted(properties, key=lambda p: p.name)

    def to_dict(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for prop in self.properties:
            merged.update(prop.to_dict())
        return {"type": "object", "properties": merged}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Object) and self.properties == other.properties

    def __hash__(self) -> int:
        return hash(tuple(self.properties))

    def __repr__(self) -> str:
        return f"Object({self.properties!r})"


class Map:
    """A dict from strings to values of one type (``{"type": "map", "values": {...}}``)."""

    def __init__(self, value_type: ColType | str) -> None:
        self.value_type = _coerce_type(value_type)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "map", "values": self.value_type.to_dict()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Map) and self.value_type == other.value_type

    def __hash__(self) -> int:
        return hash(("map", self.value_type))

    def __repr__(self) -> str:
        return f"Map(str -> {self.value_type!r})"


ColType = DataType | Array | Object | Map | AnyType


def _coerce_type(value: ColType | str) -> ColType:
    if isinstance(value, str):
        try:
            return DataType[value]
        except KeyError:
            raise InvalidParameterError(
                f"Unknown column type {value!r}; use one of {[t.name for t in DataType]} "
                "or Array(...), Object(...), Map(...), AnyType()"
            ) from None
    if isinstance(value, (DataType, Array, Object, Map, AnyType)):
        return value
    raise InvalidParameterError(f"Expected a DataType, Array, Object, Map or AnyType, got {type(value).__name__}")


def type_from_dict(spec: dict[str, Any]) -> ColType:
    """Parse one type from its JSON form (the dict of a ColSpec, array item, property or map value)."""
    kind = spec.get("type")
    if kind == "array":
        return Array(type_from_dict(spec["items"]))
    if kind == "object":
        return Object(
            Property(name, type_from_dict(value), bool(value.get("required", True)))
            for name, value in spec["properties"].items()
        )
    if kind == "map":
        return Map(type_from_dict(spec["values"]))
    if kind == "any":
        return AnyType()
    if isinstance(kind, str) and kind in DataType.__members__:
        return DataType[kind]
    raise InvalidParameterError(f"Unsupported type {kind!r} in model signature {spec!r}")


class ColSpec:
    """A column: its type, an optional name, and whether it must be present.

    Example:
        >>> ColSpec("long", "age").to_dict()
        {'type': 'long', 'name': 'age', 'required': True}
    """

    def __init__(self, type: ColType | str, name: str | None = None, required: bool = True) -> None:
        self.type = _coerce_type(type)
        self.name = name
        self.required = required

    def to_dict(self) -> dict[str, Any]:
        spec = self.type.to_dict()
        if self.name is not None:
            spec["name"] = self.name
        spec["required"] = self.required
        return spec

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> ColSpec:
        body = {k: v for k, v in spec.items() if k not in ("name", "required")}
        return cls(type_from_dict(body), spec.get("name"), bool(spec.get("required", True)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColSpec) and (self.type, self.name, self.required) == (
            other.type,
            other.name,
            other.required,
        )

    def __hash__(self) -> int:
        return hash((self.type, self.name, self.required))

    def __repr__(self) -> str:
        required = "required" if self.required else "optional"
        return f"{self.type!r} ({required})" if self.name is None else f"{self.name!r}: {self.type!r} ({required})"


class TensorSpec:
    """A tensor: numpy dtype, shape (``-1`` for a dimension of any size) and an optional name.

    Example:
        >>> TensorSpec("float64", (-1, 4)).to_dict()
        {'type': 'tensor', 'tensor-spec': {'dtype': 'float64', 'shape': [-1, 4]}}
    """

    def __init__(self, type: Any, shape: Sequence[int], name: str | None = None) -> None:
        import numpy as np

        dtype = np.dtype(type)
        if dtype.char == "U":  # flexible types are stored without their size, as MLflow does
            dtype = np.dtype("str")
        elif dtype.char == "S":
            dtype = np.dtype("bytes")
        self.type = dtype
        self.shape = tuple(int(d) for d in shape)
        self.name = name

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {} if self.name is None else {"name": self.name}
        spec.update({"type": "tensor", "tensor-spec": {"dtype": self.type.name, "shape": list(self.shape)}})
        return spec

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> TensorSpec:
        info = spec.get("tensor-spec")
        if not isinstance(info, dict) or "dtype" not in info or "shape" not in info:
            raise InvalidParameterError(f"Tensor spec {spec!r} needs 'tensor-spec' with 'dtype' and 'shape'")
        return cls(info["dtype"], info["shape"], spec.get("name"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TensorSpec) and (self.type, self.shape, self.name) == (
            other.type,
            other.shape,
            other.name,
        )

    def __hash__(self) -> int:
        return hash((self.type, self.shape, self.name))

    def __repr__(self) -> str:
        tensor = f"Tensor({self.type.name!r}, {self.shape!r})"
        return tensor if self.name is None else f"{self.name!r}: {tensor}"


class Schema:
    """The inputs or outputs of a model: all column specs or all tensor specs, named all or none."""

    def __init__(self, inputs: Iterable[ColSpec | TensorSpec]) -> None:
        self.inputs: list[ColSpec | TensorSpec] = list(inputs)
        kinds = {type(spec) for spec in self.inputs}
        if len(kinds) > 1:
            raise InvalidParameterError("A schema holds either column specs or tensor specs, not both")
        named = [spec.name is not None for spec in self.inputs]
        if any(named) and not all(named):
            raise InvalidParameterError("Either every input of a schema has a name or none has")
        if not all(named) and len(self.inputs) > 1 and self.is_tensor_spec():
            raise InvalidParameterError("A tensor schema with several tensors must name each of them")
        names = [spec.name for spec in self.inputs if spec.name is not None]
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"Duplicate names in schema: {names}")

    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return bool(self.inputs) and self.inputs[0].name is not None

    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs if spec.name is not None]

    def required_input_names(self) -> list[str]:
        return [s.name for s in self.inputs if s.name is not None and getattr(s, "required", True)]

    def optional_input_names(self) -> list[str]:
        return [s.name for s in self.inputs if s.name is not None and not getattr(s, "required", True)]

    def input_types(self) -> list[Any]:
        return [spec.type for spec in self.inputs]

    def to_dict(self) -> list[dict[str, Any]]:
        return [spec.to_dict() for spec in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Schema:
        specs = json.loads(text)
        if not isinstance(specs, list):
            raise InvalidParameterError(f"A schema is a JSON list of specs, got {text[:100]!r}")
        return cls(TensorSpec.from_dict(s) if s.get("type") == "tensor" else ColSpec.from_dict(s) for s in specs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.inputs == other.inputs

    def __hash__(self) -> int:
        return hash(tuple(self.inputs))

    def __repr__(self) -> str:
        return "[" + ", ".join(repr(spec) for spec in self.inputs) + "]"


class ParamSpec:
    """One inference parameter: name, type, default, and shape (None for a scalar, ``(-1,)`` for a list).

    Example:
        >>> ParamSpec("temperature", "float", 0.5).to_dict()
        {'name': 'temperature', 'default': 0.5, 'shape': None, 'type': 'float'}
    """

    def __init__(self, name: str, dtype: DataType | Object | str, default: Any, shape: Sequence[int] | None = None):
        self.name = str(name)
        self.dtype: DataType | Object = dtype if isinstance(dtype, Object) else _coerce_scalar(dtype)
        self.shape = tuple(shape) if shape is not None else None
        if self.shape not in (None, (-1,)):
            raise InvalidParameterError(f"Param {name!r}: shape must be None (scalar) or (-1,) (a list)")
        from prefect_mltrack.models.enforcement import enforce_param

        self.default = enforce_param(self, default)

    def to_dict(self) -> dict[str, Any]:
        default = self.default
        if isinstance(self.dtype, DataType) and self.dtype is DataType.datetime and default is not None:
            default = [v.isoformat() for v in default] if self.shape else default.isoformat()
        # MLflow's key order, so the JSON strings in MLmodel are byte-identical to MLflow's.
        shape = list(self.shape) if self.shape else None
        return {"name": self.name, "default": default, "shape": shape, **self.dtype.to_dict()}

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> ParamSpec:
        kind = spec.get("type", spec.get("dtype"))
        dtype = type_from_dict(spec) if kind == "object" else _coerce_scalar(kind)
        assert isinstance(dtype, (DataType, Object))
        return cls(spec["name"], dtype, spec.get("default"), spec.get("shape"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSpec) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        shape = f" (shape: {self.shape})" if self.shape else ""
        return f"{self.name!r}: {self.dtype!r} (default: {self.default!r}){shape}"


def _coerce_scalar(dtype: Any) -> DataType:
    value = _coerce_type(dtype)
    if not isinstance(value, DataType) or value is DataType.binary:
        raise InvalidParameterError(f"Param types are scalar DataTypes (not binary) or Object, got {dtype!r}")
    return value


class ParamSchema:
    """The ``params`` a model accepts at predict time."""

    def __init__(self, params: Iterable[ParamSpec]) -> None:
        self.params = list(params)
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"Duplicate param names: {names}")

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        return cls(ParamSpec.from_dict(spec) for spec in json.loads(text))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.params == other.params

    def __hash__(self) -> int:
        return hash(tuple(self.params))

    def __repr__(self) -> str:
        return "[" + ", ".join(repr(p) for p in self.params) + "]"
