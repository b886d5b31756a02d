"""``mltrack serve``: the multi-model server (many models by name, an admin API to swap them)."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

from prefect_mltrack.exceptions import MLTrackError

__all__ = ["serve"]

DEFAULT_TOKEN_ENV = "MLTRACK_SERVER_TOKEN"


def _preload(pairs: list[str]) -> dict[str, str]:
    models: dict[str, str] = {}
    for pair in pairs:
        name, sep, uri = pair.partition("=")
        if not sep or not name.strip() or not uri.strip():
            raise typer.BadParameter(f"expected NAME=URI, got {pair!r}", param_hint="--model")
        models[name.strip()] = uri.strip()
    return models


def serve(
    host: Annotated[str, typer.Option("-h", "--host", help="Interface to bind; 0.0.0.0 exposes the server.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("-p", "--port", help="Port to listen on.")] = 8080,
    token_env: Annotated[
        str, typer.Option("--token-env", help="Environment variable holding the admin API's bearer token.")
    ] = DEFAULT_TOKEN_ENV,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="NAME=URI to serve from the start (repeatable).")
    ] = None,
    timeout: Annotated[
        float, typer.Option("-t", "--timeout", help="Seconds a prediction may take before 504 (0: no limit).")
    ] = 60.0,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Larger request bodies answer 413.")
    ] = 10 * 1024 * 1024,
    tracking_uri: Annotated[
        str | None,
        typer.Option("--tracking-uri", envvar="MLTRACK_TRACKING_URI", help="Store that resolves models:/ URIs."),
    ] = None,
) -> None:
    """Host many models at /models/NAME/invocations; load and swap them through the admin API."""
    import uvicorn

    from prefect_mltrack.serving.multi import create_multi_app
    from prefect_mltrack.serving.protocol import PROTOCOL

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    token = os.environ.get(token_env) or None
    if token is None:
        err.print(f"${token_env} is not set: the admin API is off; only --model entries are served.", markup=False)
    try:
        app = create_multi_app(
            token,
            _preload(model or []),
            max_body_bytes=max_body_bytes,
            timeout_s=timeout if timeout > 0 else None,
            tracking_uri=tracking_uri,
        )
    except MLTrackError as exc:
        err.print(f"Error ({exc.error_code}): {exc.message}", style="red", markup=False)
        raise typer.Exit(1) from None
    err.print(f"Model server at http://{host}:{port} (GET /models, POST /models/NAME/invocations)", markup=False)
    uvicorn.run(app, host=host, port=port, http=PROTOCOL)
