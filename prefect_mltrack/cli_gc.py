"""``mltrack gc``: permanently remove deleted runs (with their artifacts) and emptied experiments."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from prefect_mltrack.cli import _PROGRESS_THRESHOLD, TrackingUri, _client, _console
from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError

if TYPE_CHECKING:
    from prefect_mltrack.client import TrackingClient

__all__ = ["gc"]

# -- gc ------------------------------------------------------------------------------------------
_AGE_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _parse_age(value: str) -> int:
    """``30d``/``12h``/``90m``/``0s`` as milliseconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", value.lower())
    if not match:
        raise typer.BadParameter(f"{value!r} is not an age; use a number and a unit, e.g. 30d, 12h, 90m or 0s.")
    return int(match.group(1)) * _AGE_UNITS_MS[match.group(2)]


def _split_ids(value: str | None) -> list[str]:
    return list(dict.fromkeys(item.strip() for item in (value or "").split(",") if item.strip()))


def _remove_empty_local_dirs(artifact_uri: str | None, levels: int) -> None:
    """Remove an emptied local artifact folder and up to ``levels - 1`` empty parents."""
    from prefect_mltrack.artifacts.paths import local_path_from_uri

    try:
        path = local_path_from_uri(artifact_uri or "")
    except MLTrackError:
        return  # not a local folder: object stores keep no empty directories behind
    for folder in [path, *path.parents][:levels]:
        try:
            folder.rmdir()
        except OSError:  # not empty, or already gone: leave it
            return


def gc(
    ctx: typer.Context,
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than", metavar="AGE", parser=_parse_age, help="Only what was deleted this long ago: 30d, 12h, 0s."
        ),
    ] = None,
    run_ids: Annotated[str | None, typer.Option("--run-ids", help="Comma-separated deleted runs to remove.")] = None,
    experiment_ids: Annotated[
        str | None, typer.Option("--experiment-ids", help="Comma-separated deleted experiments to remove, with runs.")
    ] = None,
    tracking_uri: TrackingUri = None,
    artifacts_destination: Annotated[
        str | None,
        typer.Option(
            "--artifacts-destination",
            help="The tracking server's --artifacts-destination, for runs logged through its proxy.",
        ),
    ] = None,
) -> None:
    """Permanently remove deleted runs (with their artifacts), then deleted experiments left empty.

    Without --run-ids/--experiment-ids, everything deleted (before --older-than) goes.
    A removed experiment's name can be used again. Run it where the database is (as `mltrack db`).
    """
    from prefect_mltrack.entities import LifecycleStage, ViewType

    client = _client(ctx, tracking_uri)
    store = client.store
    deleted_runs = store.deleted_run_ids(older_than)
    deleted_experiments = store.deleted_experiment_ids(older_than)
    experiments = _split_ids(experiment_ids)
    for experiment_id in experiments:
        if client.get_experiment(experiment_id).lifecycle_stage != LifecycleStage.DELETED:
            raise InvalidParameterError(f"Experiment {experiment_id} is active; delete it before gc can remove it.")
        if experiment_id not in deleted_experiments:
            raise InvalidParameterError(f"Experiment {experiment_id} was deleted more recently than --older-than.")
    if run_ids:
        run_list = _split_ids(run_ids)
        for run_id in run_list:
            if client.get_run(run_id).info.lifecycle_stage != LifecycleStage.DELETED:
                raise InvalidParameterError(
                    f"Run {run_id} is active; only deleted runs can be removed (`mltrack runs delete` first)."
                )
            if run_id not in deleted_runs:
                raise InvalidParameterError(f"Run {run_id} was deleted more recently than --older-than.")
    elif experiments:
        run_list = [run_id for run_id in deleted_runs if client.get_run(run_id).info.experiment_id in experiments]
    else:
        run_list = deleted_runs

    _purge_runs(client, run_list, artifacts_destination)
    purged = 0
    for experiment_id in experiments or deleted_experiments:
        # Runs kept by --older-than (or restored into a deleted experiment) keep their experiment.
        if client.search_runs(experiment_id, run_view_type=ViewType.ALL, max_results=1):
            if experiments:
                _console(stderr=True).print(f"Kept experiment {experiment_id}: it still has runs.", style="yellow")
            continue
        location = client.get_experiment(experiment_id).artifact_location
        store.purge_experiment(experiment_id)
        if not location.lower().startswith(("mlflow-artifacts:", "mltrack-artifacts:")) or artifacts_destination:
            _remove_empty_local_dirs(_local_uri(location, artifacts_destination, "An experiment"), levels=1)
        purged += 1
    typer.echo(f"Removed {len(run_list)} runs and {purged} experiments.")


def _local_uri(uri: str, artifacts_destination: str | None, what: str) -> str:
    """``uri``, or for a tracking server's proxy URI (``mlflow-artifacts:/...``) the place under the
    server's artifacts destination where its files are, which only the caller can name."""
    if not uri.lower().startswith(("mlflow-artifacts:", "mltrack-artifacts:")):
        return uri
    if not artifacts_destination:
        raise InvalidParameterError(
            f"{what} keeps its artifacts behind a tracking server ({uri}); pass the server's "
            "--artifacts-destination so gc can remove them. Nothing was removed."
        )
    from prefect_mltrack.server.artifact_proxy import resolve_proxy_uri

    return resolve_proxy_uri(uri, artifacts_destination)


def _purge_runs(client: TrackingClient, run_ids: list[str], artifacts_destination: str | None = None) -> None:
    """Delete each run's artifacts, then its rows: a failure in between leaves a run gc can retry.

    Every run's artifact location is resolved before anything is deleted, so a run gc cannot reach
    stops it before it removed anything.
    """
    from rich.progress import Progress

    from prefect_mltrack.artifacts import get_artifact_repository

    locations = {
        run_id: _local_uri(uri, artifacts_destination, f"Run {run_id}") if uri else None
        for run_id in run_ids
        for uri in [client.get_run(run_id).info.artifact_uri]
    }
    with Progress(console=_console(stderr=True), transient=True, disable=len(run_ids) < _PROGRESS_THRESHOLD) as bar:
        task = bar.add_task("Removing runs", total=len(run_ids))
        for run_id in run_ids:
            artifact_uri = locations[run_id]
            if artifact_uri:
                get_artifact_repository(artifact_uri).delete_artifacts()
                _remove_empty_local_dirs(artifact_uri, levels=2)  # <run_id>/artifacts
            client.store.purge_run(run_id)
            bar.advance(task)
