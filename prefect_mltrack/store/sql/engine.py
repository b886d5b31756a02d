"""Engines for SQLite and PostgreSQL, write transactions, and migrations on first use.

SQLite: WAL, a 30 s busy timeout, and ``BEGIN IMMEDIATE`` for writes, so concurrent writers
queue on the lock instead of failing with "database is locked" halfway through a transaction.
Migrations run under a lock (a file lock for SQLite, an advisory lock for PostgreSQL), so many
processes starting at once migrate exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

#: The newest Alembic revision; checked with one query so a healthy store never imports Alembic.
SCHEMA_HEAD: Final = "0004"
_PG_MIGRATION_LOCK_ID: Final = 0x6D6C7472  # "mltr"
_WRITE: Final = "mltrack_write"
SQLITE_BUSY_TIMEOUT_S: Final = 30


def normalize_sql_uri(uri: str) -> str:
    """Use psycopg 3 for PostgreSQL URIs that name no driver (psycopg2 is not a dependency)."""
    url = make_url(uri)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def create_sql_engine(uri: str) -> Engine:
    uri = normalize_sql_uri(uri)
    url = make_url(uri)
    if url.get_backend_name() != "sqlite":
        return create_engine(uri, pool_pre_ping=True, pool_size=5, max_overflow=10)
    in_memory = url.database in (None, "", ":memory:")
    if url.database and not in_memory:
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        uri,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        **({"poolclass": StaticPool} if in_memory else {"pool_size": 8, "max_overflow": 16}),
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    _dispose_after_fork(engine)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so "begin" below decides the mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",  # durable across process crashes (SIGKILL) in WAL mode
        "foreign_keys=ON",
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}",
        "case_sensitive_like=ON",  # MLflow's LIKE is case-sensitive; ILIKE compiles to lower()
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    # Writers take the lock up front: a deferred transaction that later upgrades to a write
    # lock can fail with SQLITE_BUSY without waiting on the busy timeout.
    immediate = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _dispose_after_fork(engine: Engine) -> None:
    # A forked child must not reuse the parent's SQLite connections.
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A short write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
    with engine.connect().execution_options(**{_WRITE: True}) as connection, connection.begin():
        yield connection


def ensure_schema(engine: Engine) -> None:
    """Bring the schema to :data:`SCHEMA_HEAD`, migrating under a cross-process lock if needed."""
    if _current_revision(engine) == SCHEMA_HEAD:
        return
    upgrade_schema(engine)


def _current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def upgrade_schema(engine: Engine) -> None:
    """Run Alembic's ``upgrade head`` once, whatever the number of processes trying at once."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with _migration_lock(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
    log.info("tracking schema at revision %s", SCHEMA_HEAD)


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _PG_MIGRATION_LOCK_ID})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _PG_MIGRATION_LOCK_ID})
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with engine.connect() as connection:
            yield connection
        return
    import fcntl

    lock_path = Path(database).expanduser().with_name(Path(database).name + ".migrate-lock")
    with open(lock_path, "a+") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
