"""``mltrack models`` (predict with or serve a logged or registered model) and ``mltrack registry``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from prefect_mltrack.exceptions import MLTrackError

models_app = typer.Typer(help="Use logged and registered models: predict, serve.")
registry_app = typer.Typer(help="The model registry: list, describe, transition stages, set aliases.")

TrackingUri = Annotated[
    str | None,
    typer.Option("--tracking-uri", envvar="MLTRACK_TRACKING_URI", help="Store to use (default: the embedded one)."),
]


def _fail(exc: MLTrackError) -> NoReturn:
    Console(stderr=True, soft_wrap=True).print(f"[red]Error ({exc.error_code}):[/red] {exc.message}")
    raise typer.Exit(1)


def _client(tracking_uri: str | None) -> Any:
    from prefect_mltrack.client import TrackingClient

    return TrackingClient(tracking_uri)


@models_app.command("predict")
def models_predict(
    model_uri: Annotated[str, typer.Option("-m", "--model-uri", help="runs:/, models:/ URI or a model folder.")],
    input_path: Annotated[Path, typer.Option("-i", "--input-path", help="JSON (MLflow's scoring formats) or CSV.")],
    output_path: Annotated[
        Path | None, typer.Option("-o", "--output-path", help="Write here instead of stdout.")
    ] = None,
    content_type: Annotated[
        str | None, typer.Option("-t", "--content-type", help="json or csv (default: by file suffix).")
    ] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Load a model and print ``{"predictions": ...}`` for the input, as the scoring server would."""
    from prefect_mltrack import settings
    from prefect_mltrack.serving.payload import parse_csv_payload, parse_json_payload, predictions_to_json

    kind = (content_type or input_path.suffix.lstrip(".") or "json").lower()
    if kind not in ("json", "csv"):
        raise typer.BadParameter(f"content type must be json or csv, not {kind!r}", param_hint="-t")
    try:
        body = input_path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {input_path}: {exc.strerror}", param_hint="-i") from None
    try:
        with settings.tracking_uri_scope(tracking_uri):
            from prefect_mltrack import pyfunc

            if kind == "csv":
                data, params = parse_csv_payload(body), None
            else:
                data, params = parse_json_payload(body)
            model = pyfunc.load_model(model_uri)
            predictions = model.predict(data, params=params) if params else model.predict(data)
    except MLTrackError as exc:
        _fail(exc)
    text = json.dumps(predictions_to_json(predictions), default=str)
    if output_path is None:
        typer.echo(text)
    else:
        output_path.write_text(text + "\n")


@models_app.command("serve")
def models_serve(
    model_uri: Annotated[str, typer.Option("-m", "--model-uri", help="runs:/, models:/ URI or a model folder.")],
    host: Annotated[str, typer.Option("-h", "--host", help="Interface to bind; 0.0.0.0 exposes the server.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("-p", "--port", help="Port to listen on.")] = 5000,
    workers: Annotated[int, typer.Option("-w", "--workers", min=1, help="Worker processes.")] = 1,
    timeout: Annotated[
        float, typer.Option("-t", "--timeout", help="Seconds a prediction may take before 504 (0: no limit).")
    ] = 60.0,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Larger request bodies answer 413.")
    ] = 10 * 1024 * 1024,
    env_manager: Annotated[
        str, typer.Option("--env-manager", help="Accepted for MLflow compatibility; only 'local'.", hidden=True)
    ] = "local",
    tracking_uri: TrackingUri = None,
) -> None:
    """Serve one model with MLflow's scoring protocol: POST /invocations, GET /ping, /health, /version."""
    import os

    import uvicorn

    from prefect_mltrack.serving import app as serving_app
    from prefect_mltrack.serving.protocol import PROTOCOL

    if env_manager != "local":
        raise typer.BadParameter(
            "models are served in this environment; only 'local' is supported", param_hint="--env-manager"
        )
    timeout_s = timeout if timeout > 0 else None
    try:
        pinned = serving_app.pin_model_uri(model_uri, tracking_uri)
        if workers == 1:
            app: Any = serving_app.create_app(
                pinned, max_body_bytes=max_body_bytes, timeout_s=timeout_s, tracking_uri=tracking_uri
            )
        else:
            from prefect_mltrack import settings
            from prefect_mltrack.models.uris import download_model

            with settings.tracking_uri_scope(tracking_uri):
                download_model(pinned)  # fail here, once, rather than in every worker
    except MLTrackError as exc:
        _fail(exc)
    shown = model_uri if pinned == model_uri else f"{model_uri} ({pinned})"
    Console(stderr=True, soft_wrap=True).print(f"Serving {shown} at http://{host}:{port}/invocations", markup=False)
    if workers == 1:
        uvicorn.run(app, host=host, port=port, http=PROTOCOL)
        return
    os.environ[serving_app.ENV_MODEL_URI] = pinned
    os.environ[serving_app.ENV_MAX_BODY_BYTES] = str(max_body_bytes)
    os.environ[serving_app.ENV_TIMEOUT] = str(timeout if timeout > 0 else 0)
    if tracking_uri:
        os.environ["MLTRACK_TRACKING_URI"] = tracking_uri
    uvicorn.run(
        "prefect_mltrack.serving.app:app_from_env", factory=True, host=host, port=port, workers=workers, http=PROTOCOL
    )


@registry_app.command("list")
def registry_list(
    filter_string: Annotated[str | None, typer.Option("--filter", help="e.g. \"name LIKE 'iris%'\".")] = None,
    max_results: Annotated[int, typer.Option(help="At most this many models.")] = 100,
    tracking_uri: TrackingUri = None,
) -> None:
    """Registered models with their latest version per stage and their aliases."""
    try:
        models = _client(tracking_uri).search_registered_models(
            filter_string=filter_string or "", max_results=max_results
        )
    except MLTrackError as exc:
        _fail(exc)
    table = Table("name", "latest versions", "aliases", "description")
    for model in models:
        latest = ", ".join(f"v{v.version} ({v.current_stage})" for v in model.latest_versions)
        aliases = ", ".join(f"@{alias}→v{version}" for alias, version in model.aliases.items())
        table.add_row(model.name, latest, aliases, model.description or "")
    Console().print(table)


@registry_app.command("describe")
def registry_describe(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """One registered model and all its versions (stage, aliases, run, source)."""
    client = _client(tracking_uri)
    try:
        model = client.get_registered_model(name)
        versions = client.search_model_versions(f"name = '{name}'", max_results=1000)
    except MLTrackError as exc:
        _fail(exc)
    aliases_by_version: dict[str, list[str]] = {}
    for alias, alias_version in model.aliases.items():
        aliases_by_version.setdefault(str(alias_version), []).append(alias)
    rows = [
        {
            "version": v.version,
            "stage": v.current_stage,
            "aliases": aliases_by_version.get(str(v.version), []),
            "run_id": v.run_id,
            "source": v.source,
            "description": v.description,
        }
        for v in sorted(versions, key=lambda v: int(v.version))
    ]
    if as_json:
        typer.echo(
            json.dumps({"name": model.name, "description": model.description, "tags": model.tags, "versions": rows})
        )
        return
    Console().print(f"[bold]{model.name}[/bold] {model.description or ''}")
    table = Table("version", "stage", "aliases", "run_id", "source")
    for row in rows:
        table.add_row(
            str(row["version"]),
            str(row["stage"]),
            ", ".join(row["aliases"]),
            str(row["run_id"] or ""),
            str(row["source"]),
        )
    Console().print(table)


@registry_app.command("transition")
def registry_transition(
    name: str,
    version: str,
    stage: Annotated[str, typer.Argument(help="None, Staging, Production or Archived.")],
    archive_existing_versions: Annotated[
        bool, typer.Option("--archive-existing", help="Archive the versions already in that stage.")
    ] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Move a version to a stage."""
    try:
        mv = _client(tracking_uri).transition_model_version_stage(
            name, version, stage, archive_existing_versions=archive_existing_versions
        )
    except MLTrackError as exc:
        _fail(exc)
    typer.echo(f"{name} version {mv.version} is now in stage {mv.current_stage}.")


@registry_app.command("alias")
def registry_alias(
    name: str,
    alias: str,
    version: Annotated[str | None, typer.Argument(help="The version to point at; omit with --delete.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Point an alias at a version (moving it), or delete it."""
    if delete == (version is not None):
        raise typer.BadParameter("give a VERSION to set the alias, or --delete (not both)")
    client = _client(tracking_uri)
    try:
        if delete:
            client.delete_registered_model_alias(name, alias)
            typer.echo(f"Deleted alias @{alias} of {name}.")
        else:
            client.set_registered_model_alias(name, alias, version)
            typer.echo(f"{name}@{alias} now points at version {version}.")
    except MLTrackError as exc:
        _fail(exc)
