"""A store created before the registry (revision 0001) upgrades on first use and keeps its runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

import prefect_mltrack.store.sql.engine as engine_module
from prefect_mltrack.store.sql.engine import SCHEMA_HEAD, create_sql_engine

pytestmark = pytest.mark.sql_only  # opens the database itself (Alembic up and down)

REGISTRY_TABLES = {
    "registered_models",
    "registered_model_tags",
    "model_versions",
    "model_version_tags",
    "registered_model_aliases",
}


def _alembic(engine, action: str, revision: str) -> None:  # type: ignore[no-untyped-def]
    config = Config()
    config.set_main_option("script_location", str(Path(engine_module.__file__).parent / "migrations"))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)
        connection.commit()


def _revision(engine) -> str:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar())


def _old_store_with_a_run(uri: str):  # type: ignore[no-untyped-def]
    """A database at revision 0001 holding one experiment and one run, written as 0.1 wrote them."""
    engine = create_sql_engine(uri)
    _alembic(engine, "upgrade", "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
                "last_update_time) VALUES (1, 'old', '/artifacts/1', 'active', 1, 1)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, "
                "artifact_uri) VALUES ('0123456789abcdef0123456789abcdef', 1, 'kept', 'me', 'FINISHED', 5, "
                "'active', '/artifacts/1/0123456789abcdef0123456789abcdef/artifacts')"
            )
        )
        connection.execute(
            text("INSERT INTO params (run_id, key, value) VALUES ('0123456789abcdef0123456789abcdef', 'lr', '0.1')")
        )
    assert _revision(engine) == "0001"
    assert not REGISTRY_TABLES & set(inspect(engine).get_table_names())
    return engine


def test_a_0001_store_upgrades_on_first_use_and_keeps_its_runs(store_uri):
    from prefect_mltrack.store.sql.store import SqlStore

    old_engine = _old_store_with_a_run(store_uri)
    store = SqlStore(store_uri)  # no explicit migration step: opening the store upgrades it
    try:
        assert _revision(store.engine) == SCHEMA_HEAD
        assert set(inspect(store.engine).get_table_names()) >= REGISTRY_TABLES
        run = store.get_run("0123456789abcdef0123456789abcdef")
        assert run.info.run_name == "kept"
        assert run.data.params == {"lr": "0.1"}
        assert store.get_experiment("1").name == "old"
        # The registry works on the upgraded store, including registering the old run's model.
        store.create_registered_model("m")
        mv = store.create_model_version("m", "runs:/0123456789abcdef0123456789abcdef/model")
        assert store.get_model_version_download_uri("m", mv.version) == (
            "/artifacts/1/0123456789abcdef0123456789abcdef/artifacts/model"
        )
    finally:
        store.close()
        old_engine.dispose()


def test_the_registry_migration_downgrades_cleanly(store_uri):
    engine = _old_store_with_a_run(store_uri)
    try:
        _alembic(engine, "upgrade", "head")
        _alembic(engine, "downgrade", "0001")
        assert _revision(engine) == "0001"
        assert not REGISTRY_TABLES & set(inspect(engine).get_table_names())
        _alembic(engine, "upgrade", "head")
        assert _revision(engine) == SCHEMA_HEAD
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM runs")).scalar() == 1
    finally:
        engine.dispose()
