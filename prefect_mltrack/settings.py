"""Where things live: MLTRACK_HOME, the tracking URI and the default artifact root.

Resolution order for the tracking URI: ``set_tracking_uri()``, then ``MLTRACK_TRACKING_URI``,
then ``MLFLOW_TRACKING_URI`` (so MLflow users' environments keep working), then the embedded
default ``sqlite:///$MLTRACK_HOME/mltrack.db``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

_tracking_uri_override: str | None = None
# A scoped override (a tracked flow pointed at a block) follows the flow into its tasks' threads,
# because Prefect copies the context, and leaves the rest of the process alone.
_scoped_tracking_uri: contextvars.ContextVar[str | None] = contextvars.ContextVar("mltrack_tracking_uri", default=None)

DEFAULT_UI_URL = "http://127.0.0.1:5000"


def mltrack_home() -> Path:
    """The folder for the embedded store and artifacts (``MLTRACK_HOME``, default ``~/.mltrack``)."""
    return Path(os.environ.get("MLTRACK_HOME") or Path.home() / ".mltrack").expanduser()


def env(name: str) -> str | None:
    """``MLTRACK_<name>``, falling back to MLflow's ``MLFLOW_<name>``; empty counts as unset."""
    return os.environ.get(f"MLTRACK_{name}") or os.environ.get(f"MLFLOW_{name}") or None


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Point this process at a store: ``sqlite:///...``, ``postgresql+psycopg://...`` or a path.

    A bare path (``./mlruns.db``) is taken as a SQLite file. ``None`` restores the default.
    """
    global _tracking_uri_override
    _tracking_uri_override = None if uri is None else normalize_tracking_uri(os.fspath(uri))


def is_tracking_uri_set() -> bool:
    return (
        _scoped_tracking_uri.get() is not None or _tracking_uri_override is not None or env("TRACKING_URI") is not None
    )


@contextlib.contextmanager
def tracking_uri_scope(uri: str | None) -> Iterator[None]:
    """Use ``uri`` inside this block and in what it starts (threads get a copy of the context).

    ``None`` leaves the current setting in place.
    """
    token = _scoped_tracking_uri.set(normalize_tracking_uri(uri)) if uri else None
    try:
        yield
    finally:
        if token is not None:
            _scoped_tracking_uri.reset(token)


def get_tracking_uri() -> str:
    scoped = _scoped_tracking_uri.get()
    if scoped is not None:
        return scoped
    if _tracking_uri_override is not None:
        return _tracking_uri_override
    from_env = env("TRACKING_URI")
    if from_env:
        return normalize_tracking_uri(from_env)
    return f"sqlite:///{mltrack_home() / 'mltrack.db'}"


def normalize_tracking_uri(uri: str) -> str:
    """Turn a bare path or ``file:`` URI into a SQLite URI; leave real URIs alone."""
    scheme = urlparse(uri).scheme
    if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
        path = Path(urlparse(uri).path if scheme == "file" else uri).expanduser().resolve()
        if path.is_dir() or not path.suffix:
            path = path / "mltrack.db"
        return f"sqlite:///{path}"
    return uri


def default_artifact_root(tracking_uri: str) -> str:
    """Where experiments put artifacts unless told otherwise.

    ``MLTRACK_ARTIFACT_ROOT`` wins; a SQLite store keeps them in ``artifacts/`` beside its file;
    any other store in ``$MLTRACK_HOME/artifacts``.
    """
    configured = env("ARTIFACT_ROOT")
    if configured:
        if "://" in configured or configured.startswith("file:"):
            return configured
        return Path(configured).expanduser().resolve().as_uri()
    if tracking_uri.startswith("sqlite:///") and ":memory:" not in tracking_uri:
        db_path = Path(tracking_uri.removeprefix("sqlite:///"))
        return (db_path.parent / "artifacts").resolve().as_uri()
    return (mltrack_home() / "artifacts").resolve().as_uri()


def ui_url() -> str:
    """Base address of the tracking UI (``MLTRACK_UI_URL``), used in links from Prefect to our run pages."""
    return (env("UI_URL") or DEFAULT_UI_URL).rstrip("/")


def run_page_url(experiment_id: str, run_id: str) -> str:
    """The run's page in the tracking UI, in MLflow's route format (``#/experiments/<id>/runs/<id>``)."""
    return f"{ui_url()}/#/experiments/{experiment_id}/runs/{run_id}"
