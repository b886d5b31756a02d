"""``mltrack server`` (the team tracking server) and ``mltrack ui`` (the same, on the embedded store)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from prefect_mltrack.exceptions import MLTrackError

__all__ = ["server", "ui"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
GRACEFUL_SHUTDOWN_S = 10


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def _read_token(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="--auth-token-file") from None
    if not token:
        raise typer.BadParameter(f"{path} is empty; put the bearer token in it", param_hint="--auth-token-file")
    return token


def run_server(config_kwargs: dict[str, object], err: Console) -> None:
    """Open the store once (migrations run here, not racing in N workers), then hand over to uvicorn."""
    import uvicorn

    from prefect_mltrack.server.app import create_app, open_server_store
    from prefect_mltrack.server.config import CONFIG_ENV, ServerConfig
    from prefect_mltrack.serving.protocol import PROTOCOL

    try:
        config = ServerConfig.model_validate(config_kwargs)
        store = open_server_store(config)
    except (MLTrackError, ValueError) as exc:
        message = exc.message if isinstance(exc, MLTrackError) else str(exc)
        err.print(f"Error: {message}", style="red", markup=False)
        raise typer.Exit(1) from None
    if config.host not in _LOOPBACK and config.auth_token is None:
        err.print(
            f"Warning: listening on {config.host} without --auth-token-file: anyone who can reach this port "
            "can read and change every experiment.",
            style="yellow",
            markup=False,
        )
    err.print(
        f"Tracking server at http://{config.host}:{config.port} (store {config.backend_store_uri.split('@')[-1]}, "
        f"artifacts {config.artifacts_destination}, {config.workers} worker(s))",
        markup=False,
    )
    # On SIGTERM: stop accepting, let requests in flight finish (each answered write is committed),
    # but never hang on a client that keeps its connection busy.
    common: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "http": PROTOCOL,
        "log_level": "warning",
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
    if config.workers > 1:
        store.close()
        os.environ[CONFIG_ENV] = config.to_env()
        uvicorn.run("prefect_mltrack.server.app:app_from_env", factory=True, workers=config.workers, **common)
    else:
        uvicorn.run(create_app(config, store=store), **common)


HostOpt = Annotated[str, typer.Option("-h", "--host", help="Interface to bind; 0.0.0.0 exposes the server.")]
PortOpt = Annotated[int, typer.Option("-p", "--port", help="Port to listen on.")]
AllowedHostsOpt = Annotated[
    str | None,
    typer.Option("--allowed-hosts", help="Comma-separated Host header values to accept (default: loopback names)."),
]
CorsOpt = Annotated[
    str | None, typer.Option("--cors-allowed-origins", help="Comma-separated origins allowed to call the API.")
]
TokenOpt = Annotated[
    Path | None, typer.Option("--auth-token-file", help="File holding a bearer token every request must carry.")
]
NoSecurityOpt = Annotated[
    bool,
    typer.Option("--disable-security-middleware", help="Skip Host/Origin/content-type checks (behind a proxy)."),
]


def server(
    backend_store_uri: Annotated[
        str | None,
        typer.Option("--backend-store-uri", help="sqlite:///<path> or postgresql+psycopg://... (default: embedded)."),
    ] = None,
    artifacts_destination: Annotated[
        str | None,
        typer.Option(
            "--artifacts-destination",
            help="Local folder or s3:// URI the artifact proxy writes to [default: ./mlartifacts].",
        ),
    ] = None,
    artifact_storage_block: Annotated[
        str | None,
        typer.Option(
            "--artifact-storage-block",
            help="ArtifactStorage block to write to, with its credentials (default destination: its root_uri).",
        ),
    ] = None,
    default_artifact_root: Annotated[
        str | None,
        typer.Option("--default-artifact-root", help="Root for new experiments (default: the proxy)."),
    ] = None,
    serve_artifacts: Annotated[
        bool, typer.Option("--serve-artifacts/--no-serve-artifacts", help="Proxy artifact uploads and downloads.")
    ] = True,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 5000,
    workers: Annotated[int, typer.Option("-w", "--workers", min=1, help="uvicorn worker processes.")] = 1,
    allowed_hosts: AllowedHostsOpt = None,
    cors_allowed_origins: CorsOpt = None,
    auth_token_file: TokenOpt = None,
    disable_security_middleware: NoSecurityOpt = False,
) -> None:
    """Run the tracking server: MLflow's REST API, the artifact proxy and the web UI."""
    from prefect_mltrack.settings import get_tracking_uri

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    if artifact_storage_block and not artifacts_destination:
        from prefect_mltrack.blocks import ArtifactStorage

        artifacts_destination = ArtifactStorage.load(artifact_storage_block).root_uri  # type: ignore[union-attr]
    run_server(
        {
            "backend_store_uri": backend_store_uri or get_tracking_uri(),
            "artifacts_destination": artifacts_destination or "./mlartifacts",
            "artifact_storage_block": artifact_storage_block,
            "default_artifact_root": default_artifact_root or "",
            "serve_artifacts": serve_artifacts,
            "host": host,
            "port": port,
            "workers": workers,
            "allowed_hosts": _split(allowed_hosts),
            "cors_allowed_origins": _split(cors_allowed_origins) or [],
            "auth_token": _read_token(auth_token_file),
            "disable_security_middleware": disable_security_middleware,
        },
        err,
    )


def ui(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 5000,
    allowed_hosts: AllowedHostsOpt = None,
    auth_token_file: TokenOpt = None,
) -> None:
    """The tracking server for one user, on the embedded store ($MLTRACK_HOME) and its artifact folder."""
    from prefect_mltrack.settings import default_artifact_root, get_tracking_uri

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    uri = get_tracking_uri()
    # Same artifact root as the package uses locally, so runs logged with and without the server agree.
    root = default_artifact_root(uri)
    run_server(
        {
            "backend_store_uri": uri,
            "artifacts_destination": root,
            "default_artifact_root": root,
            "host": host,
            "port": port,
            "allowed_hosts": _split(allowed_hosts),
            "auth_token": _read_token(auth_token_file),
        },
        err,
    )
