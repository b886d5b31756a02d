"""What every route of the tracking server shares: JSON answers, the store, MLflow-style errors.

Answers are encoded with orjson straight from dicts built by :mod:`prefect_mltrack.wire`; FastAPI's
own response validation is skipped on purpose (it costs more than the store call on hot paths).
Response models are still declared on routes, so the OpenAPI document describes every answer.

Example:
    >>> json_response({"experiment_id": "1"}).body
    b'{"experiment_id":"1"}'
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from prefect_mltrack.exceptions import HTTP_STATUS_BY_CODE, MLTrackError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from prefect_mltrack.server.config import ServerConfig
    from prefect_mltrack.store.base import AbstractStore

logger = logging.getLogger(__name__)

EMPTY = b"{}"
_CODE_BY_STATUS = {404: "ENDPOINT_NOT_FOUND", 405: "BAD_REQUEST", 413: "RESOURCE_EXHAUSTED", 401: "UNAUTHENTICATED"}


class JSONBody(Response):
    """A JSON answer encoded by orjson (non-str dict keys allowed, NaN must be pre-encoded by wire)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)


def json_response(content: Any, status_code: int = 200) -> JSONBody:
    return JSONBody(content, status_code=status_code)


def empty_response() -> JSONBody:
    """The ``{}`` every void MLflow endpoint answers with."""
    return JSONBody(EMPTY)


def error_response(error_code: str, message: str, status_code: int | None = None) -> JSONBody:
    status = status_code or HTTP_STATUS_BY_CODE.get(error_code, 500)
    return JSONBody({"error_code": error_code, "message": message}, status_code=status)


def _store(request: Request) -> AbstractStore:
    return request.app.state.store  # type: ignore[no-any-return]


def _config(request: Request) -> ServerConfig:
    return request.app.state.config  # type: ignore[no-any-return]


StoreDep = Annotated["AbstractStore", Depends(_store)]
ConfigDep = Annotated["ServerConfig", Depends(_config)]


def _validation_message(exc: RequestValidationError | ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Every failure becomes MLflow's ``{error_code, message}`` with its status (never a bare 500 page)."""

    async def on_mltrack_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MLTrackError)
        return error_response(exc.error_code, exc.message)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response("INVALID_PARAMETER_VALUE", _validation_message(exc))

    async def on_model_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ValidationError)
        return error_response("INVALID_PARAMETER_VALUE", _validation_message(exc))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _CODE_BY_STATUS.get(exc.status_code, "BAD_REQUEST" if exc.status_code < 500 else "INTERNAL_ERROR")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            message = f"No endpoint {request.method} {request.url.path}"
        return error_response(code, message, exc.status_code)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("Unhandled error on %s %s", request.method, request.url.path)
        return error_response("INTERNAL_ERROR", f"Internal error: {type(exc).__name__}; see the server log")

    app.add_exception_handler(MLTrackError, on_mltrack_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(ValidationError, on_model_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
