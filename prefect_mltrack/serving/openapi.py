"""The OpenAPI description of ``POST /invocations``, derived from the model's signature.

Each of MLflow's JSON forms (``dataframe_split``, ``dataframe_records``, ``instances``,
``inputs``, the older ``data``) gets a JSON Schema built from the signature's columns and types
(or tensor dtype and shape), plus ``params`` from the params schema; the saved serving input
example is the request example. JSON Schema here is OpenAPI 3.1's (``prefixItems`` for rows).

Example:
    >>> from prefect_mltrack.models.schema import ColSpec, Schema
    >>> body = input_body_schema(Schema([ColSpec("double", "x"), ColSpec("long", "n")]), None)
    >>> body["oneOf"][1]["properties"]["dataframe_records"]["items"]["properties"]["n"]
    {'type': 'integer', 'format': 'int64'}
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from prefect_mltrack.models.schema import AnyType, Array, ColSpec, DataType, Map, Object, TensorSpec

__all__ = ["input_body_schema", "invocations_openapi", "json_schema_for_type"]

logger = logging.getLogger(__name__)

_SCALARS: dict[DataType, dict[str, Any]] = {
    DataType.boolean: {"type": "boolean"},
    DataType.integer: {"type": "integer", "format": "int32"},
    DataType.long: {"type": "integer", "format": "int64"},
    DataType.float: {"type": "number", "format": "float"},
    DataType.double: {"type": "number", "format": "double"},
    DataType.string: {"type": "string"},
    DataType.binary: {"type": "string", "contentEncoding": "base64"},
    DataType.datetime: {"type": "string", "format": "date-time"},
}
_ERROR = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}


def json_schema_for_type(col_type: Any) -> dict[str, Any]:
    """JSON Schema for one signature type (a DataType, Array, Object, Map or AnyType)."""
    if isinstance(col_type, DataType):
        return dict(_SCALARS[col_type])
    if isinstance(col_type, Array):
        return {"type": "array", "items": json_schema_for_type(col_type.dtype)}
    if isinstance(col_type, Object):
        return {
            "type": "object",
            "properties": {p.name: json_schema_for_type(p.dtype) for p in col_type.properties},
            "required": [p.name for p in col_type.properties if p.required],
        }
    if isinstance(col_type, Map):
        return {"type": "object", "additionalProperties": json_schema_for_type(col_type.value_type)}
    if isinstance(col_type, AnyType):
        return {}
    return {}


def _tensor(spec: TensorSpec) -> dict[str, Any]:
    kind = spec.type.kind
    item: dict[str, Any] = (
        {"type": "number"}
        if kind == "f"
        else {"type": "integer"}
        if kind in "iu"
        else {"type": "boolean"}
        if kind == "b"
        else {"type": "string"}
    )
    item["format"] = spec.type.name
    for size in reversed(spec.shape[1:]):
        item = {"type": "array", "items": item}
        if size != -1:
            item.update(minItems=size, maxItems=size)
    return {"type": "array", "items": item}


def _form(field: str, schema: dict[str, Any], params: dict[str, Any] | None) -> dict[str, Any]:
    properties = {field: schema}
    if params is not None:
        properties["params"] = params
    return {"type": "object", "title": field, "required": [field], "properties": properties}


def input_body_schema(inputs: Any, params: Any) -> dict[str, Any]:
    """JSON Schema of the JSON request body: one of MLflow's input forms, with optional ``params``."""
    params_schema = None
    if params is not None:
        params_schema = {
            "type": "object",
            "properties": {
                spec.name: {
                    **(
                        {"type": "array", "items": json_schema_for_type(spec.dtype)}
                        if spec.shape
                        else json_schema_for_type(spec.dtype)
                    ),
                    "default": spec.to_dict()["default"],
                }
                for spec in params.params
            },
        }
    if inputs is None or not inputs.inputs:
        described = {"description": "Any of MLflow's input forms; the model has no signature."}
        return {
            "oneOf": [
                _form(field, described, params_schema)
                for field in ("dataframe_split", "dataframe_records", "instances", "inputs")
            ]
        }
    if inputs.is_tensor_spec():
        specs = [spec for spec in inputs.inputs if isinstance(spec, TensorSpec)]
        if inputs.has_input_names():
            named = {
                "type": "object",
                "properties": {s.name: _tensor(s) for s in specs},
                "required": inputs.input_names(),
            }
            return {"oneOf": [_form("inputs", named, params_schema), _form("instances", named, params_schema)]}
        tensor = _tensor(specs[0])
        return {"oneOf": [_form(field, tensor, params_schema) for field in ("inputs", "instances", "data")]}
    columns = [spec for spec in inputs.inputs if isinstance(spec, ColSpec)]
    names = [str(spec.name) for spec in columns if spec.name is not None]
    row = {
        "type": "array",
        "prefixItems": [json_schema_for_type(spec.type) for spec in columns],
        "minItems": len([s for s in columns if s.required]),
        "maxItems": len(columns),
    }
    forms = [
        _form(
            "dataframe_split",
            {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}, "example": names},
                    "data": {"type": "array", "items": row},
                    "index": {"type": "array"},
                },
            },
            params_schema,
        )
    ]
    if names:
        record = {
            "type": "object",
            "properties": {str(s.name): json_schema_for_type(s.type) for s in columns},
            "required": [str(s.name) for s in columns if s.required],
        }
        columnar = {
            "type": "object",
            "properties": {str(s.name): {"type": "array", "items": json_schema_for_type(s.type)} for s in columns},
        }
        forms.append(_form("dataframe_records", {"type": "array", "items": record}, params_schema))
        forms.append(_form("instances", {"type": "array", "items": {"anyOf": [record, row]}}, params_schema))
        forms.append(
            _form("inputs", {"anyOf": [{"type": "array", "items": {"anyOf": [record, row]}}, columnar]}, params_schema)
        )
    else:
        forms.append(_form("instances", {"type": "array", "items": row}, params_schema))
        forms.append(_form("inputs", {"type": "array", "items": row}, params_schema))
    forms.append(_form("data", {"type": "array", "items": row, "description": "MLflow 1.x rows"}, params_schema))
    return {"oneOf": forms}


def _serving_example(model: Any, model_dir: Path) -> Any:
    from prefect_mltrack.models.integrity import model_file

    info = model.saved_input_example_info or {}
    path = info.get("serving_input_path")
    if not path:
        return None
    try:
        return json.loads(model_file(model_dir, path, "saved_input_example_info.serving_input_path").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("Could not read the serving input example: %s", exc)
        return None


def invocations_openapi(model: Any, model_dir: Path) -> dict[str, Any]:
    """``openapi_extra`` for the ``/invocations`` route of the model whose MLmodel is ``model``."""
    inputs = model.get_input_schema()
    json_body: dict[str, Any] = {"schema": input_body_schema(inputs, model.get_params_schema())}
    example = _serving_example(model, model_dir)
    if example is not None:
        json_body["example"] = example
    names = inputs.input_names() if inputs is not None and not inputs.is_tensor_spec() else []
    csv_hint = f" Header: {','.join(names)}." if names else ""
    error = {"application/json": {"schema": _ERROR}}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": json_body,
                "text/csv": {"schema": {"type": "string", "description": f"CSV with a header row.{csv_hint}"}},
            },
        },
        "responses": {
            "200": {
                "description": "Predictions",
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "required": ["predictions"], "properties": {"predictions": {}}}
                    }
                },
            },
            "400": {"description": "Malformed input or input that breaks the signature", "content": error},
            "413": {"description": "Body larger than the server accepts", "content": error},
            "415": {"description": "Not application/json or text/csv (UTF-8)", "content": {"text/plain": {}}},
        },
    }
