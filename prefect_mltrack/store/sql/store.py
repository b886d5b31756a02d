"""The SQL tracking store (SQLite, the embedded default, and PostgreSQL)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from prefect_mltrack import validation as v
from prefect_mltrack.entities import (
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from prefect_mltrack.exceptions import (
    InvalidParameterError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
)
from prefect_mltrack.names import generate_run_name
from prefect_mltrack.search import decode_page_token, encode_page_token, parse_filter, parse_order_by
from prefect_mltrack.settings import default_artifact_root
from prefect_mltrack.store.base import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, AbstractStore
from prefect_mltrack.store.sql import schema
from prefect_mltrack.store.sql import search as sql_search
from prefect_mltrack.store.sql.batch_writer import BatchWriter, metric_rows
from prefect_mltrack.store.sql.dbapi import Compiled, gc_paused
from prefect_mltrack.store.sql.engine import create_sql_engine, ensure_schema, write_transaction
from prefect_mltrack.store.sql.logged_models import SqlLoggedModelMixin
from prefect_mltrack.store.sql.registry import SqlRegistryMixin
from prefect_mltrack.store.sql.rows import RUN_COLUMNS, load_experiments, load_runs, metric_points, run_info

RUN_NAME_TAG = "mlflow.runName"
_ACTIVE = LifecycleStage.ACTIVE.value
_DELETED = LifecycleStage.DELETED.value


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class SqlStore(SqlLoggedModelMixin, SqlRegistryMixin, AbstractStore):
    """Tracking store on SQLAlchemy Core; ``uri`` is ``sqlite:///path`` or ``postgresql+psycopg://...``.

    Example:
        >>> store = SqlStore("sqlite:////tmp/mltrack-doc.db")          # doctest: +SKIP
        >>> run = store.create_run("0", run_name="first")                # doctest: +SKIP
    """

    def __init__(self, uri: str, artifact_root: str | None = None) -> None:
        self.uri = uri
        self.engine = create_sql_engine(uri)
        self.artifact_root = (artifact_root or default_artifact_root(uri)).rstrip("/")
        ensure_schema(self.engine)
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        self._prepare_statements()
        self._batch_writer = BatchWriter(self.engine)
        self._ensure_default_experiment()

    def close(self) -> None:
        self.engine.dispose()

    # -- statements reused on every write (SQLAlchemy caches their compiled form) ------------------
    def _prepare_statements(self) -> None:
        tag_upsert = self._insert(schema.tags)
        self._upsert_tag = tag_upsert.on_conflict_do_update(
            index_elements=[schema.tags.c.run_id, schema.tags.c.key], set_={"value": tag_upsert.excluded.value}
        )
        exp_tag_upsert = self._insert(schema.experiment_tags)
        self._upsert_experiment_tag = exp_tag_upsert.on_conflict_do_update(
            index_elements=[schema.experiment_tags.c.experiment_id, schema.experiment_tags.c.key],
            set_={"value": exp_tag_upsert.excluded.value},
        )
        self._run_stage = select(schema.runs.c.lifecycle_stage).where(schema.runs.c.run_id == bindparam("run_id"))
        # History reads run on the raw cursor; the order is the contract: (step, timestamp, value).
        points = schema.metrics
        history = (
            select(points.c.value, points.c.special, points.c.timestamp, points.c.step)
            .where(points.c.run_id == bindparam("run_id"), points.c.key == bindparam("key"))
            .order_by(points.c.step, points.c.timestamp, points.c.value)
            .offset(bindparam("offset"))
        )
        self._history = Compiled(history, self.engine)
        self._history_page = Compiled(history.limit(bindparam("limit")), self.engine)

    def _ensure_default_experiment(self) -> None:
        with write_transaction(self.engine) as conn:
            now = now_ms()
            conn.execute(
                self._insert(schema.experiments)
                .values(
                    experiment_id=0,
                    name=DEFAULT_EXPERIMENT_NAME,
                    artifact_location=f"{self.artifact_root}/{DEFAULT_EXPERIMENT_ID}",
                    lifecycle_stage=_ACTIVE,
                    creation_time=now,
                    last_update_time=now,
                )
                .on_conflict_do_nothing()
            )

    # -- experiments ---------------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] = ()
    ) -> str:
        v.validate_experiment_name(name)
        tag_rows = [self._experiment_tag_row(tag) for tag in tags]
        now = now_ms()
        try:
            with write_transaction(self.engine) as conn:
                experiment_id = conn.execute(  # type: ignore[index]
                    schema.experiments.insert().values(
                        name=name,
                        artifact_location=artifact_location or "",
                        lifecycle_stage=_ACTIVE,
                        creation_time=now,
                        last_update_time=now,
                    )
                ).inserted_primary_key[0]
                if not artifact_location:
                    conn.execute(
                        update(schema.experiments)
                        .where(schema.experiments.c.experiment_id == experiment_id)
                        .values(artifact_location=f"{self.artifact_root}/{experiment_id}")
                    )
                if tag_rows:
                    conn.execute(
                        schema.experiment_tags.insert(), [{**row, "experiment_id": experiment_id} for row in tag_rows]
                    )
        except IntegrityError:
            raise ResourceAlreadyExistsError(
                f"Experiment(name={name}) already exists (possibly deleted: restore it, or run "
                "'mltrack gc' to free the name). Choose another name."
            ) from None
        return str(experiment_id)

    @staticmethod
    def _experiment_tag_row(tag: ExperimentTag) -> dict[str, Any]:
        v.validate_key(tag.key, "experiment tag")
        value = v.limit_value(tag.key, tag.value, v.MAX_EXPERIMENT_TAG_VALUE_LENGTH, "experiment tag")
        return {"key": tag.key, "value": value}

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self.engine.connect() as conn:
            experiments = load_experiments(conn, [self._experiment_row(conn, experiment_id)])
        return experiments[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.experiments).where(schema.experiments.c.name == name)).first()
            return load_experiments(conn, [row])[0] if row else None

    def _experiment_row(self, conn: Connection, experiment_id: str | int) -> Row[Any]:
        row = None
        if str(experiment_id).isascii() and str(experiment_id).isdigit():
            row = conn.execute(
                select(schema.experiments).where(schema.experiments.c.experiment_id == int(experiment_id))
            ).first()
        if row is None:
            raise ResourceNotFoundError(f"No Experiment with id={experiment_id} exists")
        return row

    def _update_experiment(
        self, experiment_id: str, require_stage: str | None = None, run_stage: str | None = None, **values: Any
    ) -> None:
        """Update one experiment row; with ``run_stage``, move its runs to that stage in the same
        transaction (deleting an experiment deletes its runs, as in MLflow)."""
        now = now_ms()
        with write_transaction(self.engine) as conn:
            row = self._experiment_row(conn, experiment_id)
            if require_stage and row.lifecycle_stage != require_stage:
                raise InvalidParameterError(
                    f"Experiment {experiment_id} is {row.lifecycle_stage}; this needs it to be {require_stage}."
                )
            conn.execute(
                update(schema.experiments)
                .where(schema.experiments.c.experiment_id == row.experiment_id)
                .values(last_update_time=now, **values)
            )
            if run_stage:
                runs = schema.runs
                conn.execute(
                    update(runs)
                    .where(runs.c.experiment_id == row.experiment_id, runs.c.lifecycle_stage != run_stage)
                    .values(lifecycle_stage=run_stage, deleted_time=now if run_stage == _DELETED else None)
                )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        v.validate_experiment_name(new_name)
        try:
            self._update_experiment(experiment_id, require_stage=_ACTIVE, name=new_name)
        except IntegrityError:
            raise ResourceAlreadyExistsError(f"Experiment(name={new_name}) already exists.") from None

    def delete_experiment(self, experiment_id: str) -> None:
        if str(experiment_id) == DEFAULT_EXPERIMENT_ID:
            raise InvalidParameterError("The default experiment (id 0) cannot be deleted.")
        self._update_experiment(
            experiment_id, require_stage=_ACTIVE, run_stage=_DELETED, lifecycle_stage=_DELETED, deleted_time=now_ms()
        )

    def restore_experiment(self, experiment_id: str) -> None:
        self._update_experiment(
            experiment_id, require_stage=_DELETED, run_stage=_ACTIVE, lifecycle_stage=_ACTIVE, deleted_time=None
        )

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        row = self._experiment_tag_row(tag)
        with write_transaction(self.engine) as conn:
            found = self._experiment_row(conn, experiment_id)
            if found.lifecycle_stage != _ACTIVE:
                raise InvalidParameterError(f"Experiment {experiment_id} is deleted; restore it before tagging it.")
            conn.execute(self._upsert_experiment_tag, {**row, "experiment_id": found.experiment_id})

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        with write_transaction(self.engine) as conn:
            found = self._experiment_row(conn, experiment_id)
            table = schema.experiment_tags
            deleted = conn.execute(
                delete(table).where(table.c.experiment_id == found.experiment_id, table.c.key == key)
            ).rowcount
            if not deleted:
                raise ResourceNotFoundError(f"No tag with key '{key}' on experiment {experiment_id}")

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        v.validate_max_results(max_results, v.MAX_RESULTS_SEARCH_EXPERIMENTS)
        clauses = sql_search.experiment_filter(parse_filter(filter_string, "experiment"))
        offset = decode_page_token(page_token)
        stages = [stage.value for stage in ViewType(view_type).stages()]
        query = (
            select(schema.experiments)
            .where(schema.experiments.c.lifecycle_stage.in_(stages), *clauses)
            .order_by(*sql_search.experiment_order(parse_order_by(list(order_by or []), "experiment")))
            .offset(offset)
            .limit(max_results + 1)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            experiments = load_experiments(conn, rows[:max_results])
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList(experiments, token)

    # -- runs ----------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str = "",
        start_time: int | None = None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        tag_values = {tag.key: tag.value for tag in tags}
        tagged_name = tag_values.get(RUN_NAME_TAG)
        if run_name and tagged_name and run_name != tagged_name:
            raise InvalidParameterError(
                f"Both run_name {run_name!r} and the tag {RUN_NAME_TAG}={tagged_name!r} were given and they "
                "differ; give one of them, or the same value in both."
            )
        run_name = run_name or tagged_name or generate_run_name()
        tag_values[RUN_NAME_TAG] = run_name
        tag_rows = self._tag_rows(tag_values.items())
        run_id = uuid.uuid4().hex if run_id is None else v.validate_run_id(run_id)
        start_time = now_ms() if start_time is None else v.validate_timestamp("start_time", start_time)
        try:
            self._insert_run(experiment_id, run_id, run_name, user_id, start_time, tag_rows)
        except IntegrityError:
            # Only a caller-chosen id can collide (uuid4 ids do not).
            raise ResourceAlreadyExistsError(f"Run with id={run_id} already exists.") from None
        return self.get_run(run_id)

    def _insert_run(
        self,
        experiment_id: str,
        run_id: str,
        run_name: str,
        user_id: str,
        start_time: int,
        tag_rows: list[dict[str, Any]],
    ) -> None:
        with write_transaction(self.engine) as conn:
            experiment = self._experiment_row(conn, experiment_id)
            if experiment.lifecycle_stage != _ACTIVE:
                raise InvalidParameterError(
                    f"Could not create run under non-active experiment with id {experiment_id}; restore it first."
                )
            row = {
                "run_id": run_id,
                "experiment_id": experiment.experiment_id,
                "name": run_name,
                "user_id": user_id or "",
                "status": RunStatus.RUNNING.value,
                "start_time": start_time,
                "end_time": None,
                "lifecycle_stage": _ACTIVE,
                "artifact_uri": f"{experiment.artifact_location.rstrip('/')}/{run_id}/artifacts",
                "deleted_time": None,
            }
            conn.execute(schema.runs.insert(), row)
            conn.execute(schema.tags.insert(), [{**t, "run_id": run_id} for t in tag_rows])

    @staticmethod
    def _tag_rows(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
        return [
            {"key": v.validate_key(key, "tag"), "value": v.limit_value(key, value, v.MAX_TAG_VALUE_LENGTH, "tag")}
            for key, value in items
        ]

    def get_run(self, run_id: str) -> Run:
        with self.engine.connect() as conn:
            row = conn.execute(select(*RUN_COLUMNS).where(schema.runs.c.run_id == run_id)).first()
            if row is None:
                raise ResourceNotFoundError(f"Run with id={run_id} not found")
            return load_runs(conn, [row])[0]

    def _require_active_run(self, conn: Connection, run_id: str) -> None:
        stage = conn.execute(self._run_stage, {"run_id": run_id}).scalar()
        if stage is None:
            raise ResourceNotFoundError(f"Run with id={run_id} not found")
        if stage != _ACTIVE:
            raise InvalidParameterError(
                f"The run {run_id} must be in the 'active' state. Current state is {stage}; restore it first."
            )

    def update_run_info(
        self,
        run_id: str,
        run_status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        values: dict[str, Any] = {}
        if run_status is not None:
            values["status"] = RunStatus(run_status).value
        if end_time is not None:
            values["end_time"] = v.validate_timestamp("end_time", end_time)
        with write_transaction(self.engine) as conn:
            self._require_active_run(conn, run_id)
            if run_name:
                values["name"] = run_name
                conn.execute(self._upsert_tag, self._tag_rows([(RUN_NAME_TAG, run_name)])[0] | {"run_id": run_id})
            if values:
                conn.execute(update(schema.runs).where(schema.runs.c.run_id == run_id).values(**values))
            row = conn.execute(select(*RUN_COLUMNS).where(schema.runs.c.run_id == run_id)).one()
        return run_info(row)

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        with write_transaction(self.engine) as conn:
            found = conn.execute(self._run_stage, {"run_id": run_id}).scalar()
            if found is None:
                raise ResourceNotFoundError(f"Run with id={run_id} not found")
            conn.execute(
                update(schema.runs)
                .where(schema.runs.c.run_id == run_id)
                .values(lifecycle_stage=stage, deleted_time=now_ms() if stage == _DELETED else None)
            )

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, _DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, _ACTIVE)

    # -- logging -------------------------------------------------------------------------------
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        v.validate_batch_limits(len(metrics), len(params), len(tags))
        rows = metric_rows(run_id, metrics)
        param_rows = self._param_rows(run_id, params)
        tag_rows = self._tag_rows((tag.key, tag.value) for tag in tags)
        self._batch_writer.write(run_id, rows, param_rows, tag_rows)

    @staticmethod
    def _param_rows(run_id: str, params: Sequence[Param]) -> dict[str, str]:
        rows: dict[str, str] = {}
        for param in params:
            key = v.validate_key(param.key, "param")
            value = v.limit_value(key, param.value, v.MAX_PARAM_VALUE_LENGTH, "param")
            if key in rows and rows[key] != value:
                raise InvalidParameterError(
                    f"Duplicate parameter key '{key}' with different values ({rows[key]!r} and {value!r}) in "
                    "one batch; log each key once."
                )
            rows[key] = value
        return rows

    def delete_tag(self, run_id: str, key: str) -> None:
        with write_transaction(self.engine) as conn:
            self._require_active_run(conn, run_id)
            table = schema.tags
            if not conn.execute(delete(table).where(table.c.run_id == run_id, table.c.key == key)).rowcount:
                raise ResourceNotFoundError(f"No tag with name: {key} in run with id {run_id}")

    def get_metric_history(
        self, run_id: str, metric_key: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Metric]:
        offset = decode_page_token(page_token)
        values = {"run_id": run_id, "key": metric_key, "offset": offset}
        if max_results is None:
            statement = self._history
        else:
            statement, values["limit"] = self._history_page, max_results + 1
        with self.engine.connect() as conn:
            if conn.execute(self._run_stage, {"run_id": run_id}).scalar() is None:
                raise ResourceNotFoundError(f"Run with id={run_id} not found")
            # The raw cursor of the same connection, in the same read transaction.
            cursor = conn.connection.cursor()
            try:
                cursor.execute(statement.sql, statement.params(values))
                with gc_paused():  # one tuple, then one Metric, per point; see gc_paused
                    rows = cursor.fetchall()
                    token = None
                    if max_results is not None and len(rows) > max_results:
                        rows, token = rows[:max_results], encode_page_token(offset + max_results)
                    history = metric_points(run_id, metric_key, rows)
                    del rows  # freed before the collector is back, so it never walks them
            finally:
                cursor.close()
        return PagedList(history, token)

    def get_metric_history_sampled(
        self,
        run_id: str,
        metric_key: str,
        max_points: int,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> list[Metric]:
        from prefect_mltrack.store.sql.sampling import sampled_history

        sampled = sampled_history(self.engine, run_id, metric_key, max_points, start_step, end_step)
        if sampled is not None:
            return sampled
        return super().get_metric_history_sampled(run_id, metric_key, max_points, start_step, end_step)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        v.validate_max_results(max_results, v.MAX_RESULTS_SEARCH_RUNS)
        clauses = sql_search.run_filter(parse_filter(filter_string, "run"))
        order_keys = parse_order_by(list(order_by or []), "run")
        offset = decode_page_token(page_token)
        ids = [int(i) for i in experiment_ids if str(i).isascii() and str(i).isdigit()]
        stages = [stage.value for stage in ViewType(run_view_type).stages()]
        query = sql_search.run_ids_query(ids, stages).where(*clauses)
        query = sql_search.apply_run_order(query, order_keys).offset(offset).limit(max_results + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            runs = load_runs(conn, rows[:max_results])
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList(runs, token)

    # -- maintenance ---------------------------------------------------------------------------
    def deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        runs = schema.runs
        query = select(runs.c.run_id).where(runs.c.lifecycle_stage == _DELETED)
        if older_than_ms is not None:
            query = query.where(runs.c.deleted_time <= now_ms() - older_than_ms)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def purge_run(self, run_id: str) -> None:
        with write_transaction(self.engine) as conn:
            stage = conn.execute(self._run_stage, {"run_id": run_id}).scalar()
            if stage is None:
                raise ResourceNotFoundError(f"Run with id={run_id} not found")
            if stage != _DELETED:
                raise InvalidParameterError(f"Run {run_id} is active; delete it before purging it.")
            for table in (schema.metrics, schema.latest_metrics, schema.params, schema.tags):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(delete(schema.runs).where(schema.runs.c.run_id == run_id))

    def deleted_experiment_ids(self, older_than_ms: int | None = None) -> list[str]:
        experiments = schema.experiments
        query = select(experiments.c.experiment_id).where(experiments.c.lifecycle_stage == _DELETED)
        if older_than_ms is not None:
            query = query.where(experiments.c.deleted_time <= now_ms() - older_than_ms)
        with self.engine.connect() as conn:
            return [str(i) for i in conn.execute(query).scalars()]

    def purge_experiment(self, experiment_id: str) -> None:
        with write_transaction(self.engine) as conn:
            row = self._experiment_row(conn, experiment_id)
            if row.lifecycle_stage != _DELETED:
                raise InvalidParameterError(f"Experiment {experiment_id} is active; delete it before purging it.")
            remaining = conn.execute(
                select(schema.runs.c.run_id).where(schema.runs.c.experiment_id == row.experiment_id).limit(1)
            ).first()
            if remaining:
                raise InvalidParameterError(
                    f"Experiment {experiment_id} still has runs; purge them first (mltrack gc does both)."
                )
            conn.execute(
                delete(schema.experiment_tags).where(schema.experiment_tags.c.experiment_id == row.experiment_id)
            )
            conn.execute(delete(schema.experiments).where(schema.experiments.c.experiment_id == row.experiment_id))
