"""``mltrack run`` and ``mltrack project deploy``: MLflow Projects as Prefect flow runs and deployments."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

from prefect_mltrack import settings
from prefect_mltrack.exceptions import InvalidParameterError

__all__ = ["project_app", "run_project"]

project_app = typer.Typer(help="Deploy MLflow projects (MLproject entry points) as Prefect deployments.")
_err = Console(stderr=True)

EntryOpt = Annotated[str, typer.Option("-e", "--entry-point", help="Entry point to run (or a .py/.sh file).")]
VersionOpt = Annotated[
    str | None, typer.Option("-v", "--version", help="Git commit, tag or branch to check out (git projects).")
]
EnvOpt = Annotated[str, typer.Option("--env-manager", help="local (this environment), virtualenv, conda or docker.")]


def _params(pairs: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidParameterError(f"Invalid -P {pair!r}: expected KEY=VALUE.")
        params[key.strip()] = value
    return params


def _say_where_prefect_runs() -> None:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if url:
        _err.print(f"[dim]Running as a Prefect flow run on {url}[/dim]")
    else:
        _err.print("[dim]No Prefect API configured: Prefect starts a temporary local server for this run.[/dim]")


def run_project(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="Project folder, git repository or URL; '#sub/dir' picks a folder.")],
    entry_point: EntryOpt = "main",
    param: Annotated[list[str] | None, typer.Option("-P", "--param-list", help="KEY=VALUE (repeatable).")] = None,
    env_manager: EnvOpt = "local",
    experiment_name: Annotated[str | None, typer.Option("--experiment-name", help="Experiment for the run.")] = None,
    experiment_id: Annotated[str | None, typer.Option("--experiment-id", help="Experiment id for the run.")] = None,
    version: VersionOpt = None,
    storage_dir: Annotated[
        str | None, typer.Option("--storage-dir", help="Where remote 'path' parameters are downloaded.")
    ] = None,
) -> None:
    """Run an MLflow project entry point as one tracked Prefect flow run (`mlflow run`)."""
    from prefect_mltrack.projects import ProjectExecutionError, run

    parameters = _params(param)
    if experiment_name is None and experiment_id is None:
        experiment_name = os.environ.get("MLTRACK_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    _err.print(f"Running entry point '{entry_point}' of {uri} (env manager: {env_manager})")
    _say_where_prefect_runs()
    try:
        with settings.tracking_uri_scope(ctx.meta.get("mltrack.tracking_uri")):  # `mltrack -t URI run ...`
            submitted = run(
                uri,
                entry_point=entry_point,
                version=version,
                parameters=parameters,
                experiment_name=experiment_name,
                experiment_id=experiment_id,
                env_manager=env_manager,
                storage_dir=storage_dir,
            )
            _err.print(f"Run {submitted.run_id} {submitted.get_status()}")
    except ProjectExecutionError as exc:
        _err.print(exc.message, style="red", markup=False)
        raise typer.Exit(exc.exit_code if 0 < exc.exit_code < 256 else 1) from None


@project_app.command("deploy")
def deploy(
    uri: Annotated[str, typer.Argument(help="Project folder, git repository or URL; '#sub/dir' picks a folder.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Deployment name.")],
    entry_point: EntryOpt = "main",
    cron: Annotated[str | None, typer.Option("--cron", help="Cron schedule, e.g. '0 3 * * *'.")] = None,
    interval: Annotated[float | None, typer.Option("--interval", help="Run every this many seconds.")] = None,
    version: VersionOpt = None,
    env_manager: EnvOpt = "local",
    experiment_name: Annotated[str | None, typer.Option("--experiment-name", help="Experiment for the runs.")] = None,
    param: Annotated[list[str] | None, typer.Option("-P", "--param-list", help="Default KEY=VALUE.")] = None,
    work_pool: Annotated[str | None, typer.Option("--pool", "-p", help="Work pool (default: served).")] = None,
) -> None:
    """Create a Prefect deployment of an entry point against the configured Prefect server."""
    from prefect.settings import PREFECT_API_URL

    from prefect_mltrack.projects.deployment import deploy_entry_point

    if not PREFECT_API_URL.value():
        raise InvalidParameterError("No Prefect API configured: set PREFECT_API_URL (or start `prefect server start`).")
    deployment_id = deploy_entry_point(
        uri,
        name,
        entry_point,
        version=version,
        cron=cron,
        interval=interval,
        experiment=experiment_name,
        env_manager=env_manager,
        parameters=_params(param) or None,
        work_pool_name=work_pool,
    )
    Console().print(f"Deployment {name} ({deployment_id}) created on {PREFECT_API_URL.value()}")
