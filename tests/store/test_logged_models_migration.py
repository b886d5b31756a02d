"""A store at revision 0002 (registry, no logged models) upgrades to 0003 on first use and keeps its data."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

import prefect_mltrack.store.sql.engine as engine_module
from prefect_mltrack.entities import Dataset, DatasetInput
from prefect_mltrack.entities.logged_model import LoggedModelOutput, LoggedModelStatus
from prefect_mltrack.store.sql.engine import SCHEMA_HEAD, create_sql_engine

pytestmark = pytest.mark.sql_only  # opens the database itself

RUN_ID = "0123456789abcdef0123456789abcdef"
NEW_TABLES = {
    "logged_models",
    "logged_model_tags",
    "logged_model_params",
    "logged_model_metrics",
    "run_outputs",
    "run_model_inputs",
    "datasets",
    "dataset_inputs",
    "dataset_input_tags",
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


def _store_at_0002(uri: str):  # type: ignore[no-untyped-def]
    """A database at revision 0002 with an experiment, a run and a registered model version."""
    engine = create_sql_engine(uri)
    _alembic(engine, "upgrade", "0002")
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
                f"artifact_uri) VALUES ('{RUN_ID}', 1, 'kept', 'me', 'FINISHED', 5, 'active', "
                f"'/artifacts/1/{RUN_ID}/artifacts')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO registered_models (registered_model_id, name, creation_timestamp, "
                "last_updated_timestamp) VALUES (1, 'iris', 1, 1)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO model_versions (registered_model_id, version, creation_timestamp, "
                "last_updated_timestamp, current_stage, source, storage_location, run_id, status) VALUES "
                f"(1, 1, 1, 1, 'None', 'runs:/{RUN_ID}/model', '/artifacts/1/{RUN_ID}/artifacts/model', "
                f"'{RUN_ID}', 'READY')"
            )
        )
    assert _revision(engine) == "0002"
    assert not NEW_TABLES & set(inspect(engine).get_table_names())
    return engine


def test_a_0002_store_upgrades_on_first_use_and_keeps_its_data(store_uri):
    from prefect_mltrack.store.sql.store import SqlStore

    old_engine = _store_at_0002(store_uri)
    store = SqlStore(store_uri)  # opening the store is the upgrade
    try:
        assert _revision(store.engine) == SCHEMA_HEAD
        assert set(inspect(store.engine).get_table_names()) >= NEW_TABLES
        run = store.get_run(RUN_ID)
        assert run.info.run_name == "kept"
        assert run.inputs.dataset_inputs == []
        assert store.get_model_version("iris", 1).source == f"runs:/{RUN_ID}/model"
        # The new features work on the upgraded store, for the old run too.
        model = store.create_logged_model("1", "model", source_run_id=RUN_ID)
        assert model.artifact_location == f"/artifacts/1/models/{model.model_id}/artifacts"
        store.log_outputs(RUN_ID, [LoggedModelOutput(model_id=model.model_id)])
        assert store.finalize_logged_model(model.model_id, LoggedModelStatus.READY).status == LoggedModelStatus.READY
        store.log_inputs(
            RUN_ID, [DatasetInput(dataset=Dataset(name="iris", digest="abcd", source_type="code", source="{}"))]
        )
        assert [i.dataset.name for i in store.get_run(RUN_ID).inputs.dataset_inputs] == ["iris"]
    finally:
        store.close()
        old_engine.dispose()


def test_the_logged_models_migration_downgrades_cleanly(store_uri):
    engine = _store_at_0002(store_uri)
    try:
        _alembic(engine, "upgrade", "head")
        _alembic(engine, "downgrade", "0002")
        assert _revision(engine) == "0002"
        assert not NEW_TABLES & set(inspect(engine).get_table_names())
        _alembic(engine, "upgrade", "head")
        assert _revision(engine) == SCHEMA_HEAD
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM model_versions")).scalar() == 1
    finally:
        engine.dispose()
