"""The multi-model server: many models by name, swapped with no failed request, with metrics.

::

    POST /models/{name}/invocations                 the current version (or the canary's share)
    POST /models/{name}/versions/{v}/invocations    one served version, bypassing the split
    GET  /models, /models/{name}                    what is served: name, version, model_uri, canary
    GET  /ping, /health, /version
    GET  /metrics                                   Prometheus text: requests, errors, latency, split
    PUT/DELETE /admin/models/{name}                 bearer token (see :mod:`.admin`)

Scoring answers carry ``X-MLtrack-Model-Version``. The state lives in the process: run one
process per server (``mltrack serve``).

Example:
    >>> app = create_multi_app(os.environ["MLTRACK_SERVER_TOKEN"], {"Iris": "models:/Iris@champion"})  # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.responses import PlainTextResponse, Response

from prefect_mltrack.exceptions import ResourceNotFoundError
from prefect_mltrack.serving.admin import admin_router
from prefect_mltrack.serving.hosting import Deployment, HostedModel, ModelHost
from prefect_mltrack.serving.metrics import ServingMetrics
from prefect_mltrack.serving.scoring import DEFAULT_TIMEOUT_S, MAX_BODY_BYTES, error_result, score_request

__all__ = ["VERSION_HEADER", "create_multi_app"]

VERSION_HEADER = "X-MLtrack-Model-Version"
_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


def create_multi_app(
    admin_token: str | None,
    preload: dict[str, str] | None = None,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    tracking_uri: str | None = None,
) -> FastAPI:
    """A FastAPI app hosting many models; ``preload`` ({name: model URI}) is loaded and warmed first.

    Args:
        admin_token: the bearer token of the admin API; ``None`` turns the admin API off.
        preload: models to serve from the start.
        max_body_bytes: larger scoring request bodies answer 413.
        timeout_s: predictions running longer answer 504.
        tracking_uri: the store that resolves ``models:/`` and ``runs:/`` URIs.

    Raises:
        MLTrackError: a preloaded model cannot be loaded.
    """
    from prefect_mltrack import __version__

    host = ModelHost(tracking_uri, timeout_s)
    for name, uri in (preload or {}).items():
        host.deploy_now(name, Deployment(uri))
    metrics = ServingMetrics()
    app = FastAPI(
        title="prefect-mltrack model server",
        description="Hosts many models with MLflow's scoring protocol at /models/{name}/invocations.",
        version=__version__,
        redoc_url=None,
    )
    app.state.host = host
    app.state.metrics = metrics

    async def answer(hosted: HostedModel, request: Request) -> Response:
        started = time.perf_counter()
        result = await score_request(request, hosted.scorer, max_body_bytes)
        metrics.observe(hosted.name, hosted.version, result.status, result.error_code, time.perf_counter() - started)
        return result.to_response({VERSION_HEADER: hosted.version})

    def not_served(message: str) -> Response:
        metrics.observe_unrouted()
        return error_result(ResourceNotFoundError(message)).to_response()

    @app.get("/ping", response_class=PlainTextResponse, include_in_schema=False)
    @app.get("/health", response_class=PlainTextResponse)
    async def health() -> Response:
        return PlainTextResponse("\n")

    @app.get("/version", response_class=PlainTextResponse)
    async def version() -> Response:
        return PlainTextResponse(__version__)

    @app.get("/models", response_class=Response)
    async def list_models() -> Response:
        """``[{"name", "version", "model_uri", "canary"}, ...]``, one entry per served name."""
        models = [route.describe() for route in list(host.routes.values())]
        return Response(orjson.dumps(models), media_type="application/json")

    @app.get("/models/{name}", response_class=Response)
    async def get_model(name: str) -> Response:
        route = host.routes.get(name)
        if route is None:
            return error_result(ResourceNotFoundError(_unknown(name, host))).to_response()
        return Response(orjson.dumps(route.describe()), media_type="application/json")

    @app.post("/models/{name}/invocations", response_class=Response)
    async def invoke(name: str, request: Request) -> Response:
        """Predictions from the version serving ``name`` (or its canary, by the configured share)."""
        route = host.routes.get(name)
        if route is None:
            return not_served(_unknown(name, host))
        return await answer(route.pick(), request)

    @app.post("/models/{name}/versions/{version}/invocations", response_class=Response)
    async def invoke_version(name: str, version: str, request: Request) -> Response:
        """Predictions from one served version of ``name``."""
        route = host.routes.get(name)
        hosted = route.version(version) if route is not None else None
        if hosted is None:
            served: Any = [h.version for h in (route.primary, route.canary) if h is not None] if route else []
            return not_served(f"Version {version!r} of {name!r} is not served here; served versions: {served}")
        return await answer(hosted, request)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> Response:
        return Response(metrics.render(host.shares()), media_type=_PROMETHEUS)

    app.include_router(admin_router(host, admin_token))
    return app


def _unknown(name: str, host: ModelHost) -> str:
    return f"No model named {name!r} is served here; served: {sorted(host.routes)}"
