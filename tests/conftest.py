"""Shared fixtures: an isolated MLTRACK_HOME per test and a store on each SQL backend.

PostgreSQL tests use the server at ``MLTRACK_TEST_POSTGRES_URI`` (default: the local one at
127.0.0.1:5432, database ``test``); each test gets its own schema, dropped afterwards. Where no
server answers, those tests skip with the reason.

The ``rest`` flavour of ``store_uri`` is ``http://127.0.0.1:<port>`` of a real tracking server
(one per session, see ``live_server.py``) whose store is swapped to a fresh SQLite file for each
test. Tests that open the database itself, or need what the REST API does not offer by design (the
purge calls behind ``mltrack gc``), carry ``@pytest.mark.sql_only`` (or a module-level
``pytestmark = pytest.mark.sql_only``): their rest flavour is deselected at collection, not skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from live_server import LiveServer

POSTGRES_URI = os.environ.get("MLTRACK_TEST_POSTGRES_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_unreachable_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URI.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at {POSTGRES_URI}: {exc}"


_PG_REASON: str | bool | None = False  # False = not probed yet


def postgres_skip_reason() -> str | None:
    global _PG_REASON
    if _PG_REASON is False:
        _PG_REASON = _postgres_unreachable_reason()
    return _PG_REASON  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own MLTRACK_HOME and a clean fluent state."""
    for name in list(os.environ):
        if name.startswith(("MLTRACK_", "MLFLOW_")) and name != "MLTRACK_TEST_POSTGRES_URI":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("MLTRACK_HOME", str(home))
    from prefect_mltrack import fluent, settings
    from prefect_mltrack.store import reset_stores

    settings.set_tracking_uri(None)
    fluent._reset_for_tests()
    yield home
    fluent._reset_for_tests()
    settings.set_tracking_uri(None)
    reset_stores()


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A PostgreSQL URI whose connections use a fresh schema of their own."""
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    raw = POSTGRES_URI.replace("+psycopg", "")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URI}?options=-csearch_path%3D{schema}"
    finally:
        from prefect_mltrack.store import reset_stores

        reset_stores()
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sql_only: the test needs a SQL store_uri; its rest flavour is deselected at collection"
    )


def _is_rest_flavour(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)  # only parametrized items have one
    return callspec is not None and callspec.params.get("store_uri") == "rest"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the rest flavour of ``sql_only`` tests: it could never run, so it is not reported as a skip."""
    deselected = [item for item in items if item.get_closest_marker("sql_only") and _is_rest_flavour(item)]
    if deselected:
        dropped = {id(item) for item in deselected}
        items[:] = [item for item in items if id(item) not in dropped]
        config.hook.pytest_deselected(items=deselected)


@pytest.fixture(scope="session")
def live_tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real tracking server for the session (store swapped per test by ``store_uri``).

    Its artifact destination is the session's base temp directory, so a test's ``tmp_path`` lies
    inside the server's artifact root: explicit local artifact locations under ``tmp_path`` are then
    accepted, as the server accepts locations inside its root.
    """
    from live_server import LiveServer, fresh_sql_store

    from prefect_mltrack.server.config import ServerConfig

    base = tmp_path_factory.getbasetemp()
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{base / 'live-server' / 'mltrack.db'}", artifacts_destination=str(base)
    )
    server = LiveServer(config, store=fresh_sql_store(base / "live-server" / "mltrack.db", config))
    with server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql", "rest"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded SQLite store, on PostgreSQL and through the tracking server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'mltrack.db'}"
    if request.param == "rest":
        # sql_only tests never get here: pytest_collection_modifyitems deselects their rest flavour.
        from live_server import fresh_sql_store

        server = request.getfixturevalue("live_tracking_server")
        # A fresh database per test. get_store() caches the RestStore per URL, but isolated_home's
        # reset_stores() drops it after every test, and the RestStore holds no state of its own.
        server.swap_store(fresh_sql_store(tmp_path / "server" / "mltrack.db", server.config))
        return str(server.url)
    return str(request.getfixturevalue("postgres_uri"))


@pytest.fixture
def store(store_uri: str):  # type: ignore[no-untyped-def]
    from prefect_mltrack.store import get_store

    return get_store(store_uri)
