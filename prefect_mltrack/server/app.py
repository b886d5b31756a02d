"""The tracking server: MLflow's REST API and artifact proxy over one SQL store.

Layout of the app (every API route exists twice: under ``/api`` for clients, under ``/ajax-api`` as
MLflow's web UI calls them):

    /api/2.0/mlflow/...            tracking, logged models, registry  (server/routes/*.py)
    /api/2.0/mlflow-artifacts/...  artifact proxy                      (server/artifact_proxy.py)
    /, /static-files/...           the web UI                          (server/ui/)
    /ajax-api/2.0/mltrack/...      what the UI needs beyond MLflow's API (server/routes/ui_api.py)
    /health, /version              open probes
    /openapi.json, /docs           the API described

Example:
    >>> from prefect_mltrack.server.config import ServerConfig
    >>> app = create_app(ServerConfig(backend_store_uri="sqlite:///:memory:",
    ...                               artifacts_destination="memory://doc"))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version as package_version
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from prefect_mltrack.server.config import ServerConfig
from prefect_mltrack.server.http import install_error_handlers
from prefect_mltrack.server.limits import BodyLimit
from prefect_mltrack.server.schemas import ERROR_RESPONSES
from prefect_mltrack.store.base import AbstractStore

if TYPE_CHECKING:
    from prefect_mltrack.server.security import SecurityConfig

API_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")


def open_server_store(config: ServerConfig) -> AbstractStore:
    """The SQL store behind the server; new experiments get ``config.default_artifact_root``."""
    from prefect_mltrack.exceptions import InvalidParameterError
    from prefect_mltrack.settings import normalize_tracking_uri
    from prefect_mltrack.store.sql.store import SqlStore

    uri = normalize_tracking_uri(config.backend_store_uri)
    if not uri.startswith(("sqlite:", "postgresql", "postgres:")):
        raise InvalidParameterError(
            f"--backend-store-uri must be a SQL database (sqlite:///<path> or postgresql+psycopg://...), got {uri!r}"
        )
    return SqlStore(uri, artifact_root=config.default_artifact_root)


def _version() -> str:
    try:
        return package_version("prefect-mltrack")
    except Exception:  # running from a source tree that was never installed
        return "0+unknown"


def create_app(config: ServerConfig, store: AbstractStore | None = None) -> FastAPI:
    """Build the tracking server app; ``store`` defaults to one opened from ``config``."""
    from prefect_mltrack.server.routes import logged_models, registry, tracking

    if config.artifact_storage_block:
        from prefect_mltrack.blocks import ArtifactStorage

        ArtifactStorage.load(config.artifact_storage_block).activate()  # type: ignore[union-attr]
    store = store if store is not None else open_server_store(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # uvicorn has finished every in-flight request by now: each acknowledged write is committed.
        app.state.store.close()

    app = FastAPI(
        title="prefect-mltrack tracking server",
        description="MLflow's REST API (tracking, logged models, model registry) and artifact proxy.",
        version=_version(),
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.config = config
    install_error_handlers(app)

    for prefix in API_PREFIXES:
        public = prefix.startswith("/api/")
        for module in (tracking, logged_models, registry):
            app.include_router(module.router, prefix=prefix, include_in_schema=public, responses=ERROR_RESPONSES)
    if config.serve_artifacts:
        from prefect_mltrack.server.artifact_proxy import artifact_proxy_router

        proxy = artifact_proxy_router(config.artifacts_destination)
        for prefix in ARTIFACT_PREFIXES:
            public = prefix.startswith("/api/")
            app.include_router(proxy, prefix=prefix, include_in_schema=public, responses=ERROR_RESPONSES)

    from prefect_mltrack.server.ui import install_ui

    install_ui(app, config)

    @app.get("/health", response_class=PlainTextResponse, include_in_schema=False)
    def health() -> str:
        return "OK"

    @app.get("/version", response_class=PlainTextResponse, include_in_schema=False)
    def version() -> str:
        return app.version

    app.add_middleware(BodyLimit)
    if not config.disable_security_middleware or config.auth_token is not None:
        from prefect_mltrack.server.security import install_security

        install_security(app, security_config(config))
    return app


def security_config(config: ServerConfig) -> SecurityConfig:
    """The security middleware's settings; with no ``--allowed-hosts``, the names that reach ``--host``."""
    from prefect_mltrack.server.security import SecurityConfig

    return SecurityConfig.from_cli(
        host=config.host,
        allowed_hosts=config.allowed_hosts,
        cors_allowed_origins=config.cors_allowed_origins,
        auth_token=config.auth_token,
        x_frame_options=config.x_frame_options,
        disable=config.disable_security_middleware,
    )


def app_from_env() -> FastAPI:
    """uvicorn factory for worker processes (``--workers N``): the config comes from the environment."""
    return create_app(ServerConfig.from_env())
