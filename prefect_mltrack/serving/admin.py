"""The multi-model server's admin API: load, swap and unload models, behind a bearer token.

``PUT /admin/models/{name}`` with ``{"model_uri": ..., "version": ..., "canary": null | {"model_uri":
..., "version": ..., "weight": 0.1}}`` loads and warms what is not served yet, then swaps it in;
``DELETE /admin/models/{name}`` stops serving the name. Every call needs ``Authorization: Bearer
<token>`` (401 without one, 403 with a wrong one, compared in constant time); without a configured
token the admin API is off (403). A token lets its holder load any model, and loading a pickled
model runs its code: treat the token like shell access to the server.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.responses import Response

from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError
from prefect_mltrack.serving.hosting import Deployment, ModelHost
from prefect_mltrack.serving.scoring import error_result

__all__ = ["CanarySpec", "DeployRequest", "admin_router", "check_token"]

MAX_ADMIN_BODY_BYTES = 64 * 1024


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    @field_validator("version", mode="before", check_fields=False)
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class CanarySpec(_Body):
    """A second version taking ``weight`` of the traffic."""

    model_uri: Annotated[str, Field(min_length=1, description="Model URI of the canary version.")]
    version: Annotated[str | None, Field(description="Version label; models:/ URIs resolve it.")] = None
    weight: Annotated[float, Field(ge=0.0, le=1.0, description="Share of requests the canary answers.")]


class DeployRequest(_Body):
    """The body of ``PUT /admin/models/{name}``."""

    model_uri: Annotated[str, Field(min_length=1, description="runs:/, models:/name/version, models:/name@alias...")]
    version: Annotated[str | None, Field(description="Version label; models:/ URIs resolve it.")] = None
    canary: CanarySpec | None = None

    def deployment(self) -> Deployment:
        canary = None
        if self.canary is not None:
            canary = Deployment(self.canary.model_uri, self.canary.version, weight=self.canary.weight)
        return Deployment(self.model_uri, self.version, canary)


def check_token(header: str | None, token: str | None) -> MLTrackError | None:
    """The error for an ``Authorization`` header that does not carry ``token`` (None when it does)."""
    if token is None:
        return MLTrackError(
            "The admin API is disabled: start the server with a token (mltrack serve --token-env VAR)",
            error_code="PERMISSION_DENIED",
        )
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return MLTrackError("Send the admin token as 'Authorization: Bearer <token>'", error_code="UNAUTHENTICATED")
    if not hmac.compare_digest(value.strip().encode(), token.encode()):
        return MLTrackError("The admin token is not valid", error_code="PERMISSION_DENIED")
    return None


def _standalone(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` inlined, so it stands alone inside the OpenAPI document."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items() if key != "$defs"}
        return [resolve(item) for item in node] if isinstance(node, list) else node

    return dict(resolve(schema))


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(exc: MLTrackError) -> Response:
    response = error_result(exc).to_response()
    if exc.error_code == "UNAUTHENTICATED":
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _parse(request: Request) -> DeployRequest:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_ADMIN_BODY_BYTES:
            raise InvalidParameterError(f"The admin request body is larger than {MAX_ADMIN_BODY_BYTES} bytes")
    try:
        return DeployRequest.model_validate(orjson.loads(body or b"null"))
    except orjson.JSONDecodeError as exc:
        raise InvalidParameterError(f"The body is not valid JSON: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise InvalidParameterError(
            f'Invalid deploy request ({problems}). Send {{"model_uri": "...", "version": "...", '
            '"canary": null | {"model_uri": "...", "version": "...", "weight": 0.1}}'
        ) from None


def admin_router(host: ModelHost, token: str | None) -> APIRouter:
    """``/admin/models/{name}`` routes operating on ``host``."""
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.put(
        "/models/{name}",
        response_class=Response,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _standalone(DeployRequest.model_json_schema())}},
            }
        },
    )
    async def put_model(name: str, request: Request) -> Response:
        """Load and warm the version(s) given, then swap them in; on failure the old ones keep serving."""
        denied = check_token(request.headers.get("authorization"), token)
        if denied is not None:
            return _error(denied)
        try:
            route, previous = await host.deploy(name, (await _parse(request)).deployment())
        except MLTrackError as exc:
            return _error(exc)
        return _json({**route.describe(), "previous": previous.describe() if previous is not None else None})

    @router.delete("/models/{name}", response_class=Response)
    async def delete_model(name: str, request: Request) -> Response:
        """Stop serving ``name``; requests in flight finish."""
        denied = check_token(request.headers.get("authorization"), token)
        if denied is not None:
            return _error(denied)
        try:
            route = await host.unload(name)
        except MLTrackError as exc:
            return _error(exc)
        return _json({"unloaded": route.describe()})

    return router
