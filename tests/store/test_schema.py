"""Migrations: they build exactly the ORM schema, run once under concurrency, and stay idempotent."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from prefect_mltrack.store.sql.engine import SCHEMA_HEAD, create_sql_engine, upgrade_schema
from prefect_mltrack.store.sql.schema import Base

pytestmark = pytest.mark.sql_only  # opens the database itself


def test_migrations_match_the_orm_schema(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_schema_head_constant_is_alembics_head():
    from pathlib import Path

    from alembic.config import Config

    import prefect_mltrack.store.sql.engine as engine_module

    config = Config()
    config.set_main_option("script_location", str(Path(engine_module.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_upgrade_is_idempotent(store):
    upgrade_schema(store.engine)
    upgrade_schema(store.engine)
    with store.engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    assert versions == [SCHEMA_HEAD]


def _open_store(uri: str) -> str:
    from prefect_mltrack.store.sql.store import SqlStore

    store = SqlStore(uri)
    return store.create_run("0").info.run_id


def test_many_processes_opening_a_new_store_at_once(tmp_path):
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        run_ids = pool.map(_open_store, [uri] * 4)
    assert len(set(run_ids)) == 4
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(SCHEMA_HEAD,)]
        assert conn.execute("SELECT count(*) FROM experiments WHERE experiment_id = 0").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (4,)


def test_sqlite_store_uses_wal(tmp_path):
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_children_of_a_run_are_found_through_the_partial_index(store_uri):
    """The runs table's tree (children of a run) must stay an index lookup at any number of runs."""
    from sqlalchemy import text

    from prefect_mltrack.store import get_store

    store = get_store(store_uri)
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        if conn.dialect.name == "sqlite":
            plan = conn.execute(
                text("EXPLAIN QUERY PLAN SELECT run_id FROM tags WHERE key = 'mlflow.parentRunId' AND value = 'x'")
            ).all()
            assert "ix_tags_parent_run_id" in " ".join(str(row) for row in plan)
        else:
            names = conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'tags'")).scalars().all()
            assert "ix_tags_parent_run_id" in names
