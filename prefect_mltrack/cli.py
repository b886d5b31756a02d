"""The ``mltrack`` command: experiments, runs, schema upgrades and garbage collection.

Everything goes through :class:`prefect_mltrack.client.TrackingClient` (only ``db upgrade`` talks
to SQL directly). Heavy modules are imported inside commands so ``mltrack --help`` stays fast.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from prefect_mltrack.cli_blocks import blocks_app
from prefect_mltrack.cli_models import models_app, registry_app
from prefect_mltrack.cli_projects import project_app, run_project
from prefect_mltrack.cli_serve import serve
from prefect_mltrack.cli_server import server, ui
from prefect_mltrack.exceptions import InvalidParameterError, MalformedFilterError, MLTrackError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from prefect_mltrack.client import TrackingClient
    from prefect_mltrack.entities import ViewType
    from prefect_mltrack.search import EntityType

_URI_KEY = "mltrack.tracking_uri"
_PROGRESS_THRESHOLD = 20  # below this many runs, gc is quick enough to need no progress bar
_METRICS_SHOWN = 4  # latest metrics per row in `runs list`; the rest are counted


class _Group(TyperGroup):
    """Root group: turns our own errors into one red line and an exit code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer.Context, or click's on typer versions that do not vendor it
        try:
            return super().invoke(ctx)
        except MLTrackError as exc:
            _fail(exc)


_URI_HELP = "Tracking store URI (default: $MLTRACK_TRACKING_URI or the embedded SQLite)."
TrackingUri = Annotated[str | None, typer.Option("--tracking-uri", "-t", help=_URI_HELP)]


def _remember_uri(ctx: typer.Context, tracking_uri: TrackingUri = None) -> None:
    # ctx.meta is shared by every context of one invocation, so an outer `-t` reaches the commands.
    if tracking_uri:
        ctx.meta[_URI_KEY] = tracking_uri


app = typer.Typer(
    name="mltrack",
    help="MLflow-compatible experiment tracking on Prefect.",
    cls=_Group,
    callback=_remember_uri,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold URIs with passwords
)
experiments_app = typer.Typer(help="Create, list, rename, delete and restore experiments.", callback=_remember_uri)
runs_app = typer.Typer(help="Search, inspect, delete and restore runs.", callback=_remember_uri)
db_app = typer.Typer(help="Tracking database maintenance.", callback=_remember_uri)
for _name, _sub in (
    ("experiments", experiments_app),
    ("runs", runs_app),
    ("db", db_app),
    ("blocks", blocks_app),
    ("models", models_app),
    ("registry", registry_app),
    ("project", project_app),
):
    app.add_typer(_sub, name=_name, no_args_is_help=True)
app.command("serve")(serve)
app.command("server")(server)
app.command("ui")(ui)
app.command("run")(run_project)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class View(StrEnum):
    active = "active"
    deleted = "deleted"
    all = "all"

    def view_type(self) -> ViewType:
        from prefect_mltrack.entities import ViewType

        return {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}[self.value]


ViewOption = Annotated[View, typer.Option("--view", help="Lifecycle stages to show.")]


# -- helpers -------------------------------------------------------------------------------------
def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    # Created per call so COLUMNS and the (possibly redirected) streams are read when used.
    return Console(stderr=stderr, highlight=False)


def _fail(exc: MLTrackError, source: str | None = None) -> NoReturn:
    """Print ``Error (<code>): <message>`` in red on stderr and exit 2 (bad input) or 1."""
    err = _console(stderr=True)
    err.print(f"Error ({exc.error_code}): {exc.message}", style="red", markup=False, soft_wrap=True)
    position = getattr(exc, "position", None)
    if source is not None and position is not None:
        # Point at the offending token under the text the user typed.
        err.print(f"  {source}\n  {' ' * position}^", style="red", markup=False, soft_wrap=True)
    code = exc.error_code
    raise typer.Exit(2 if code == "INVALID_PARAMETER_VALUE" or code.startswith("RESOURCE_") else 1)


def _client(ctx: typer.Context, tracking_uri: str | None) -> TrackingClient:
    """A client on the command's own ``-t``, else one given to an enclosing group, else the default."""
    from prefect_mltrack.client import TrackingClient

    return TrackingClient(tracking_uri or ctx.meta.get(_URI_KEY))


def _check_query(entity: EntityType, filter_string: str | None, order_by: list[str] | None = None) -> None:
    """Parse the filter and each order-by item up front, so an error can point into the right text."""
    from prefect_mltrack.search import parse_filter, parse_order_by

    for text, is_filter in [(filter_string, True), *((item, False) for item in order_by or [])]:
        try:
            if text and is_filter:
                parse_filter(text, entity)
            elif text:
                parse_order_by([text], entity)
        except MalformedFilterError as exc:
            _fail(exc, source=text)


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _duration(start: int | None, end: int | None) -> str:
    if start is None:
        return "-"
    seconds = ((end if end is not None else time.time_ns() // 1_000_000) - start) / 1000
    if seconds < 60:
        text = f"{seconds:.1f}s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    else:
        text = f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return text if end is not None else f"{text} (running)"


def _compact_metrics(metrics: dict[str, float]) -> str:
    shown = [f"{key}={value:.4g}" for key, value in sorted(metrics.items())[:_METRICS_SHOWN]]
    extra = len(metrics) - _METRICS_SHOWN
    return " ".join(shown) + (f" (+{extra})" if extra > 0 else "")


def _echo_json(value: Any) -> None:
    # Plain echo, not rich: JSON must reach pipes unwrapped and uncoloured.
    typer.echo(json.dumps(value, indent=2, allow_nan=True))


def _table(headers: list[str], rows: list[list[Any]], fold: int = -1) -> Table:
    """A table whose cells stay on one line (ids must stay copy-pasteable) except column ``fold``."""
    from rich import box
    from rich.table import Table

    table = Table(*headers, box=box.SIMPLE_HEAD, show_header=any(headers))
    for column in table.columns:
        column.no_wrap = True
    table.columns[fold].no_wrap, table.columns[fold].overflow = False, "fold"
    # The first column holds ids: give it its full width and let the others shrink.
    table.columns[0].min_width = max((len(str(row[0])) for row in rows), default=0)
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    return table


def _more_note(token: str | None, noun: str) -> None:
    if token:
        _console(stderr=True).print(f"[dim]More {noun} match; raise --max-results to see them.[/dim]")


# -- experiments ---------------------------------------------------------------------------------
@experiments_app.command("list")
def experiments_list(
    ctx: typer.Context,
    view: ViewOption = View.active,
    filter_string: Annotated[str | None, typer.Option("--filter", help="e.g. \"name LIKE 'fraud%'\".")] = None,
    max_results: Annotated[int, typer.Option("--max-results", help="At most this many experiments.")] = 1000,
    as_json: JsonFlag = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """List experiments: id, name, lifecycle stage, artifact location, creation time (UTC)."""
    _check_query("experiment", filter_string)
    page = _client(ctx, tracking_uri).search_experiments(view.view_type(), max_results, filter_string)
    if as_json:
        _echo_json([e.model_dump(mode="json") for e in page])
    else:
        rows = [
            [e.experiment_id, e.name, e.lifecycle_stage.value, e.artifact_location, _iso(e.creation_time)] for e in page
        ]
        _console().print(_table(["ID", "Name", "Stage", "Artifact location", "Created (UTC)"], rows, fold=3))
    _more_note(page.token, "experiments")


@experiments_app.command("create")
def experiments_create(
    ctx: typer.Context,
    name: str,
    artifact_location: Annotated[
        str | None, typer.Option("--artifact-location", help="Artifact root URI (default: beside the store).")
    ] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Create an experiment and print its id."""
    typer.echo(_client(ctx, tracking_uri).create_experiment(name, artifact_location))


@experiments_app.command("rename")
def experiments_rename(ctx: typer.Context, experiment_id: str, new_name: str, tracking_uri: TrackingUri = None) -> None:
    """Rename an active experiment."""
    _client(ctx, tracking_uri).rename_experiment(experiment_id, new_name)
    typer.echo(f"Experiment {experiment_id} renamed to {new_name!r}.")


@experiments_app.command("delete")
def experiments_delete(ctx: typer.Context, experiment_id: str, tracking_uri: TrackingUri = None) -> None:
    """Soft-delete an experiment and its runs (`mltrack gc` removes them for good)."""
    _client(ctx, tracking_uri).delete_experiment(experiment_id)
    typer.echo(f"Experiment {experiment_id} deleted.")


@experiments_app.command("restore")
def experiments_restore(ctx: typer.Context, experiment_id: str, tracking_uri: TrackingUri = None) -> None:
    """Restore a deleted experiment and its runs."""
    _client(ctx, tracking_uri).restore_experiment(experiment_id)
    typer.echo(f"Experiment {experiment_id} restored.")


# -- runs ----------------------------------------------------------------------------------------
def runs_list(
    ctx: typer.Context,
    experiment_id: Annotated[
        list[str] | None,
        typer.Option(
            "--experiment-id", "-x", help="Experiment to search (repeatable).", envvar="MLTRACK_EXPERIMENT_ID"
        ),
    ] = None,
    experiment_name: Annotated[
        list[str] | None, typer.Option("--experiment-name", "-n", help="Experiment to search, by name (repeatable).")
    ] = None,
    filter_string: Annotated[
        str | None, typer.Option("--filter", help="e.g. \"metrics.acc > 0.9 and params.x = '1'\".")
    ] = None,
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", help='e.g. "metrics.acc DESC" (repeatable).')
    ] = None,
    max_results: Annotated[int, typer.Option("--max-results", help="At most this many runs.")] = 100,
    view: ViewOption = View.active,
    as_json: JsonFlag = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Search runs: id, name, status, start time, duration and latest metrics."""
    _check_query("run", filter_string, order_by)
    client = _client(ctx, tracking_uri)
    ids = list(experiment_id or [])
    for name in experiment_name or []:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise InvalidParameterError(f"No experiment named {name!r}; see `mltrack experiments list`.")
        ids.append(experiment.experiment_id)
    if not ids:
        raise InvalidParameterError("Give --experiment-id or --experiment-name (see `mltrack experiments list`).")
    page = client.search_runs(ids, filter_string or "", view.view_type(), max_results, order_by)
    if as_json:
        _echo_json([run.model_dump(mode="json") for run in page])
    else:
        rows = [
            [i.run_id, i.run_name, i.status.value, _iso(i.start_time), _duration(i.start_time, i.end_time), metrics]
            for i, metrics in ((run.info, _compact_metrics(run.data.metrics)) for run in page)
        ]
        _console().print(_table(["Run ID", "Name", "Status", "Started (UTC)", "Duration", "Metrics"], rows))
    _more_note(page.token, "runs")


runs_app.command("list")(runs_list)
runs_app.command("search", help="Search runs (alias of `runs list`).")(runs_list)


@runs_app.command("describe")
def runs_describe(ctx: typer.Context, run_id: str, as_json: JsonFlag = False, tracking_uri: TrackingUri = None) -> None:
    """Show a run: info, params, latest metrics, tags and its top-level artifacts."""
    client = _client(ctx, tracking_uri)
    run = client.get_run(run_id)
    artifacts_error: str | None = None
    try:
        artifacts = client.list_artifacts(run_id)
    except MLTrackError as exc:  # e.g. an object store whose backend is not installed: still show the run
        artifacts, artifacts_error = [], exc.message
    if as_json:
        _echo_json({**run.model_dump(mode="json"), "artifacts": [a.model_dump(mode="json") for a in artifacts]})
        return
    info, out = run.info, _console()
    about = {
        "name": info.run_name,
        "experiment id": info.experiment_id,
        "status": info.status.value,
        "lifecycle stage": info.lifecycle_stage.value,
        "user": info.user_id or None,
        "started (UTC)": _iso(info.start_time),
        "ended (UTC)": _iso(info.end_time),
        "duration": _duration(info.start_time, info.end_time),
        "artifact uri": info.artifact_uri,
    }
    files = {f.path + "/" * f.is_dir: "dir" if f.file_size is None else f"{f.file_size} B" for f in artifacts}
    data = run.data
    sections: dict[str, dict[str, Any]] = {
        "Params": data.params,
        "Metrics (latest)": data.metrics,
        "Tags": data.tags,
        "Artifacts": files,
    }
    for title, values in {f"Run {info.run_id}": about, **sections}.items():
        if values:  # the run's own fields in reading order, the rest sorted by key
            rows = [[k, v] for k, v in (values.items() if values is about else sorted(values.items()))]
            out.print(title, style="bold", markup=False)
            out.print(_table(["", ""], rows))
    if artifacts_error:
        out.print(f"Artifacts: unavailable ({artifacts_error})", style="yellow", markup=False)


@runs_app.command("delete")
def runs_delete(ctx: typer.Context, run_id: str, tracking_uri: TrackingUri = None) -> None:
    """Soft-delete a run (`mltrack gc` removes it for good)."""
    _client(ctx, tracking_uri).delete_run(run_id)
    typer.echo(f"Run {run_id} deleted.")


@runs_app.command("restore")
def runs_restore(ctx: typer.Context, run_id: str, tracking_uri: TrackingUri = None) -> None:
    """Restore a deleted run."""
    _client(ctx, tracking_uri).restore_run(run_id)
    typer.echo(f"Run {run_id} restored.")


# -- db ------------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context,
    uri: Annotated[
        str | None, typer.Argument(help="SQL store URI (default: the tracking URI).", show_default=False)
    ] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Migrate a SQL tracking store to the newest schema (safe to run while others use it)."""
    from sqlalchemy.engine import make_url

    from prefect_mltrack.settings import get_tracking_uri, normalize_tracking_uri
    from prefect_mltrack.store.sql.engine import SCHEMA_HEAD, create_sql_engine, upgrade_schema

    target = normalize_tracking_uri(uri or tracking_uri or ctx.meta.get(_URI_KEY) or get_tracking_uri())
    scheme = target.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise InvalidParameterError(
            f"db upgrade migrates SQL stores (sqlite:///<path>, postgresql+psycopg://...), not {target!r}; "
            "upgrade a tracking server's store on the server's side."
        )
    engine = create_sql_engine(target)
    try:
        upgrade_schema(engine)
    finally:
        engine.dispose()
    shown = make_url(target).render_as_string(hide_password=True)
    typer.echo(f"{shown} is at schema revision {SCHEMA_HEAD} (newest).")


# Registered last: cli_gc builds on the helpers above (and imports them from this module).
from prefect_mltrack.cli_gc import gc  # noqa: E402

app.command("gc")(gc)
