"""The single-model scoring server: MLflow's ``mlflow models serve`` protocol on FastAPI.

``create_app`` loads the model and warms it (a prediction on its input example) before it
returns, so a running server is a ready one::

    GET  /ping, /health   200, body "\\n"
    GET  /version         the prefect-mltrack version
    POST /invocations     MLflow's JSON forms or CSV -> {"predictions": ...}
    GET  /openapi.json    /invocations described from the model's signature (UI at /docs)

Example:
    >>> import uvicorn
    >>> app = create_app("models:/Iris@champion")               # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=5000)            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI, Request
from starlette.responses import PlainTextResponse, Response

from prefect_mltrack.serving.scoring import DEFAULT_TIMEOUT_S, MAX_BODY_BYTES, Scorer, score_request

__all__ = ["ENV_MAX_BODY_BYTES", "ENV_MODEL_URI", "ENV_TIMEOUT", "app_from_env", "create_app", "pin_model_uri"]

logger = logging.getLogger(__name__)

# How `mltrack models serve --workers N` hands its options to each worker process.
ENV_MODEL_URI = "MLTRACK_SERVE_MODEL_URI"
ENV_MAX_BODY_BYTES = "MLTRACK_SERVE_MAX_BODY_BYTES"
ENV_TIMEOUT = "MLTRACK_SERVE_TIMEOUT"


def create_app(
    model_uri: str,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    tracking_uri: str | None = None,
) -> FastAPI:
    """A FastAPI app serving the model at ``model_uri``, loaded and warmed.

    Args:
        model_uri: ``runs:/``, ``models:/name/version``, ``models:/name@alias``, a path...
        max_body_bytes: larger request bodies answer 413.
        timeout_s: predictions running longer answer 504 (``None``: no limit).
        tracking_uri: the store that resolves ``runs:/`` and ``models:/`` URIs (default: the current one).

    Raises:
        MLTrackError: the model cannot be found, loaded or warmed.
    """
    from prefect_mltrack import __version__, settings

    with settings.tracking_uri_scope(tracking_uri):
        scorer = Scorer.load(model_uri, timeout_s=timeout_s)
    from prefect_mltrack.serving.openapi import invocations_openapi

    app = FastAPI(
        title="prefect-mltrack scoring server",
        description=f"Serves `{model_uri}` with MLflow's scoring protocol.",
        version=__version__,
        redoc_url=None,
    )
    app.state.scorer = scorer
    app.state.model_uri = model_uri

    @app.get("/ping", response_class=PlainTextResponse, include_in_schema=False)
    @app.get("/health", response_class=PlainTextResponse)
    async def health() -> Response:
        return PlainTextResponse("\n")

    @app.get("/version", response_class=PlainTextResponse)
    async def version() -> Response:
        return PlainTextResponse(__version__)

    @app.post(
        "/invocations",
        response_class=Response,
        openapi_extra=invocations_openapi(scorer.model.metadata, scorer.model.model_dir),
    )
    async def invocations(request: Request) -> Response:
        """Predictions for MLflow's JSON input forms or CSV."""
        return (await score_request(request, scorer, max_body_bytes)).to_response()

    logger.info("Serving %s (fast path: %s)", model_uri, "on" if scorer.fast is not None else "off")
    return app


def app_from_env() -> FastAPI:
    """``create_app`` with the options ``mltrack models serve --workers N`` put in the environment."""
    uri = os.environ.get(ENV_MODEL_URI)
    if not uri:
        raise RuntimeError(f"{ENV_MODEL_URI} is not set; start workers with `mltrack models serve -m URI`")
    timeout = float(os.environ.get(ENV_TIMEOUT) or DEFAULT_TIMEOUT_S)
    return create_app(
        uri,
        max_body_bytes=int(os.environ.get(ENV_MAX_BODY_BYTES) or MAX_BODY_BYTES),
        timeout_s=timeout if timeout > 0 else None,
    )


def pin_model_uri(model_uri: str, tracking_uri: str | None = None) -> str:
    """``models:/name@alias`` (or a stage, or ``latest``) -> ``models:/name/<version>`` it names now.

    Worker processes then load the same version even if the alias moves while they start.
    Other URIs come back unchanged.
    """
    from prefect_mltrack import settings
    from prefect_mltrack.model_uris import is_models_uri, model_version_from_uri

    if not is_models_uri(model_uri):
        return model_uri
    from prefect_mltrack.client import TrackingClient

    with settings.tracking_uri_scope(tracking_uri):
        version = model_version_from_uri(model_uri, TrackingClient())
    return f"models:/{version.name}/{version.version}"
