"""The web UI: static files (plain ES modules, no build step) and the UI's own JSON routes.

``install_ui(app, config)`` adds to a tracking-server app:

    /                                   index.html (never cached, so a new release is picked up at once)
    /static-files/...                   app.js, api.js, style.css, views/*.js, vendor/echarts.min.js
    /ajax-api/2.0/mltrack/...           UI-only JSON routes (server/routes/ui_api.py)

The page talks to the MLflow routes under ``/ajax-api/2.0/mlflow`` like MLflow's own UI does. The
security middleware's Content-Security-Policy (``default-src 'self'``) applies to every page here,
so the front end uses no inline scripts, no ``eval`` and no CDN: everything comes from this server.

Example:
    >>> from prefect_mltrack.server.app import create_app
    >>> app = create_app(config)  # doctest: +SKIP
    >>> install_ui(app, config)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

if TYPE_CHECKING:
    from fastapi import FastAPI

    from prefect_mltrack.server.config import ServerConfig

__all__ = ["STATIC_DIR", "STATIC_PREFIX", "UI_API_PREFIX", "install_ui"]

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static-files"
UI_API_PREFIX = "/ajax-api/2.0/mltrack"
_INSTALLED = "mltrack_ui_installed"
# Modules and styles change with each release and carry no version in their names: the browser must
# revalidate (ETag / Last-Modified make that a cheap 304), never serve a stale app.js from cache.
_REVALIDATE = "no-cache"


class _StaticFiles(StaticFiles):
    """StaticFiles that asks browsers to revalidate every file (see ``_REVALIDATE``)."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["cache-control"] = _REVALIDATE
        return response


def install_ui(app: FastAPI, config: ServerConfig) -> None:
    """Serve the web UI and its JSON routes from ``app``; a second call does nothing.

    Args:
        app: The app from :func:`prefect_mltrack.server.app.create_app`.
        config: The same server config (the preview route reads artifacts through it).

    Example:
        >>> install_ui(app, config)  # doctest: +SKIP
        >>> # then open http://127.0.0.1:5000/ in a browser
    """
    if getattr(app.state, _INSTALLED, False):
        return
    setattr(app.state, _INSTALLED, True)
    from prefect_mltrack.server.routes import ui_api
    from prefect_mltrack.server.schemas import ERROR_RESPONSES

    app.include_router(ui_api.router, prefix=UI_API_PREFIX, include_in_schema=False, responses=ERROR_RESPONSES)

    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    def ui_index() -> Response:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers={"cache-control": "no-store"})

    app.mount(STATIC_PREFIX, _StaticFiles(directory=STATIC_DIR), name="mltrack-ui-static")
