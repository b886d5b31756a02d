"""The hot write path: ``log_batch`` on the raw DB-API connection.

SQLAlchemy's per-statement execution machinery cost ~4x the database's own work for a
single-metric write (measured: 200 µs of a 460 µs ``log_metric``). The statements are still built
with SQLAlchemy Core, compiled once per dialect, then run on a pooled DB-API cursor inside one
short transaction (``BEGIN IMMEDIATE`` on SQLite), so a batch is still all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, bindparam, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement

from prefect_mltrack.exceptions import InvalidParameterError, ResourceNotFoundError
from prefect_mltrack.store.sql import schema

RUN_NAME_TAG = "mlflow.runName"


class _Compiled:
    """One statement compiled for a dialect, and how to lay out its parameters."""

    def __init__(self, statement: ClauseElement, engine: Engine) -> None:
        compiled: Any = statement.compile(dialect=engine.dialect)  # a SQLCompiler: has positiontup
        self.sql = str(compiled)
        self.positional = compiled.positional
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ()) if compiled.positional else ()

    def params(self, row: dict[str, Any]) -> Any:
        return tuple(row[name] for name in self.names) if self.positional else row


class BatchWriter:
    """Writes one run's metrics, params and tags atomically.

    Rows arrive validated (see ``SqlStore.log_batch``): metric rows carry run_id, key, value,
    special, timestamp, step; params are ``{key: value}``; tag rows carry key and value.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        insert: Callable[..., Any] = sqlite.insert if self.is_sqlite else postgresql.insert
        runs, latest, tags, params = schema.runs, schema.latest_metrics, schema.tags, schema.params

        upsert = insert(latest)
        newer = tuple_(upsert.excluded.step, upsert.excluded.timestamp, upsert.excluded.value) > tuple_(
            latest.c.step, latest.c.timestamp, latest.c.value
        )
        tag_upsert = insert(tags)
        compile_ = lambda statement: _Compiled(statement, engine)  # noqa: E731
        self._run_stage = compile_(select(runs.c.lifecycle_stage).where(runs.c.run_id == bindparam("run_id")))
        self._insert_metric = compile_(insert(schema.metrics).on_conflict_do_nothing())
        self._upsert_latest = compile_(
            upsert.on_conflict_do_update(
                index_elements=[latest.c.run_id, latest.c.key],
                set_={c: upsert.excluded[c] for c in ("step", "timestamp", "value", "special")},
                where=newer,
            )
        )
        self._upsert_tag = compile_(
            tag_upsert.on_conflict_do_update(
                index_elements=[tags.c.run_id, tags.c.key], set_={"value": tag_upsert.excluded.value}
            )
        )
        self._rename_run = compile_(
            update(runs).where(runs.c.run_id == bindparam("run_id")).values(name=bindparam("name"))
        )
        self._params_of_run = compile_(
            select(params.c.key, params.c.value).where(params.c.run_id == bindparam("run_id"))
        )
        self._insert_param = compile_(params.insert())

    def write(
        self,
        run_id: str,
        metric_rows: Sequence[dict[str, Any]],
        param_values: dict[str, str],
        tag_rows: Sequence[dict[str, str]],
    ) -> None:
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            if self.is_sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            try:
                self._write(cursor, run_id, metric_rows, param_values, tag_rows)
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
        finally:
            connection.close()  # back to the pool

    def _write(
        self,
        cursor: Any,
        run_id: str,
        metric_rows: Sequence[dict[str, Any]],
        param_values: dict[str, str],
        tag_rows: Sequence[dict[str, str]],
    ) -> None:
        key = {"run_id": run_id}
        cursor.execute(self._run_stage.sql, self._run_stage.params(key))
        found = cursor.fetchone()
        if found is None:
            raise ResourceNotFoundError(f"Run with id={run_id} not found")
        if found[0] != "active":
            raise InvalidParameterError(
                f"The run {run_id} must be in the 'active' state. Current state is {found[0]}; restore it first."
            )
        if param_values:
            self._write_params(cursor, run_id, param_values)
        if tag_rows:
            rows = [{**row, "run_id": run_id} for row in tag_rows]
            cursor.executemany(self._upsert_tag.sql, [self._upsert_tag.params(r) for r in rows])
            names = [row["value"] for row in tag_rows if row["key"] == RUN_NAME_TAG]
            if names:
                cursor.execute(self._rename_run.sql, self._rename_run.params({"run_id": run_id, "name": names[-1]}))
        if metric_rows:
            for statement in (self._insert_metric, self._upsert_latest):
                if len(metric_rows) == 1:
                    cursor.execute(statement.sql, statement.params(metric_rows[0]))
                else:
                    cursor.executemany(statement.sql, [statement.params(r) for r in metric_rows])

    def _write_params(self, cursor: Any, run_id: str, values: dict[str, str]) -> None:
        cursor.execute(self._params_of_run.sql, self._params_of_run.params({"run_id": run_id}))
        existing = dict(cursor.fetchall())
        for key, value in values.items():
            if key in existing and existing[key] != value:
                raise InvalidParameterError(
                    f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                    f"value='{existing[key]}' for run ID='{run_id}'. Attempted logging new value '{value}'. "
                    "Log it under another key, or start a new (nested) run for a new value."
                )
        new = [{"run_id": run_id, "key": k, "value": v} for k, v in values.items() if k not in existing]
        if new:
            cursor.executemany(self._insert_param.sql, [self._insert_param.params(r) for r in new])
