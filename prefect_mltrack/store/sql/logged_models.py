"""MLflow 3's logged models, run outputs and run inputs on the SQL store.

:class:`SqlLoggedModelMixin` needs only ``self.engine``; ``SqlStore`` inherits it. Semantics are
MLflow's: a model is created PENDING with id ``m-<32 hex>`` and artifacts under
``<experiment artifact location>/models/<model_id>/artifacts``, finalized READY or FAILED once
its files are written, soft-deleted; runs link to the models they log (outputs) or use (inputs).
A dataset is stored once per experiment by (name, digest) and linked to each run that used it,
with the input's tags (``mlflow.data.context``). Every change is one short write transaction.

Example:
    >>> store = SqlStore("sqlite:////tmp/mltrack-doc.db")                     # doctest: +SKIP
    >>> model = store.create_logged_model("0", name="model", source_run_id=run_id)  # doctest: +SKIP
    >>> store.finalize_logged_model(model.model_id, LoggedModelStatus.READY).status  # doctest: +SKIP
    <LoggedModelStatus.READY: 'READY'>
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Engine, Row, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from prefect_mltrack import validation as v
from prefect_mltrack.entities import Dataset, DatasetInput, PagedList
from prefect_mltrack.entities.logged_model import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    ModelMetric,
    logged_model_id_of,
)
from prefect_mltrack.exceptions import InvalidParameterError, ResourceNotFoundError
from prefect_mltrack.names import generate_run_name
from prefect_mltrack.search import decode_page_token, encode_page_token, parse_filter
from prefect_mltrack.store.sql import logged_model_rows as lr
from prefect_mltrack.store.sql import schema
from prefect_mltrack.store.sql.batch_writer import metric_rows
from prefect_mltrack.store.sql.engine import write_transaction

_models = schema.logged_models
_tags = schema.logged_model_tags
_params = schema.logged_model_params
_metrics = schema.logged_model_metrics
_runs = schema.runs
_ACTIVE: Final = "active"
_DELETED: Final = "deleted"

DEFAULT_SEARCH_MAX_RESULTS: Final = 100
MAX_RESULTS_SEARCH_LOGGED_MODELS: Final = 50_000
_BAD_NAME_CHARS: Final = ("/", ":", ".", "%", '"', "'")
# Column sizes of datasets and input tags (MLflow's limits).
_DATASET_LIMITS: Final = {"name": 500, "digest": 36, "source_type": 36}
MAX_INPUT_TAG_KEY_LENGTH: Final = 255
MAX_INPUT_TAG_VALUE_LENGTH: Final = 500


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_model_id() -> str:
    """A fresh logged-model id: ``m-`` and 32 hex digits."""
    return f"m-{uuid.uuid4().hex}"


def logged_model_artifact_location(experiment_artifact_location: str, model_id: str) -> str:
    """Where a logged model's files go, e.g. ``mlflow-artifacts:/1/models/m-.../artifacts``."""
    return f"{experiment_artifact_location.rstrip('/')}/models/{model_id}/artifacts"


def _not_found(model_id: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"Logged model with ID '{model_id}' not found.")


def validate_logged_model_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or any(c in name for c in _BAD_NAME_CHARS):
        raise InvalidParameterError(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string and cannot contain "
            f"the following characters: {', '.join(_BAD_NAME_CHARS)}"
        )
    if len(name) > 500:
        raise InvalidParameterError(f"Invalid model name '{name[:40]}...': at most 500 characters are allowed.")
    return name


def _key_value_rows(items: Sequence[Any] | None, what: str, param: bool) -> dict[str, str]:
    """Tags or params as ``{key: value}`` (the last value of a repeated key wins)."""
    rows: dict[str, str] = {}
    for item in items or ():
        if param:
            key = v.validate_key(item.key, what)
            rows[key] = v.limit_value(key, str(item.value), v.MAX_PARAM_VALUE_LENGTH, what)
        else:
            key, value = v.validate_registry_tag(item.key, item.value, what)
            rows[key] = value
    return rows


def _dataset_row(dataset: Dataset) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": dataset.name,
        "digest": dataset.digest,
        "source_type": dataset.source_type,
        "source": dataset.source,
        "dataset_schema": dataset.schema_,
        "profile": dataset.profile,
    }
    for field, limit in _DATASET_LIMITS.items():
        value = row[field]
        if not isinstance(value, str) or not value or len(value) > limit:
            raise InvalidParameterError(
                f"Invalid dataset {field} {value!r}: a non-empty string of at most {limit} characters is required."
            )
    return row


def _input_tag_rows(item: DatasetInput) -> dict[str, str]:
    rows: dict[str, str] = {}
    for tag in item.tags:
        if not tag.key or len(tag.key) > MAX_INPUT_TAG_KEY_LENGTH or len(tag.value) > MAX_INPUT_TAG_VALUE_LENGTH:
            raise InvalidParameterError(
                f"Invalid input tag {tag.key!r}: the key must have 1-{MAX_INPUT_TAG_KEY_LENGTH} characters and the "
                f"value at most {MAX_INPUT_TAG_VALUE_LENGTH}."
            )
        rows[tag.key] = tag.value
    return rows


class SqlLoggedModelMixin:
    """Logged-model and run input/output methods of :class:`~prefect_mltrack.store.sql.store.SqlStore`.

    Private helpers start with ``_lm_``: the mixins share one namespace, and the registry's own
    ``_model_row``/``_touch`` mean registered models.
    """

    engine: Engine

    # -- helpers ---------------------------------------------------------------------------------
    def _lm_insert(self, table: Any) -> Any:
        return (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(table)

    def _lm_upsert(self, table: Any, keys: Sequence[str], update_cols: Sequence[str]) -> Any:
        """INSERT ... ON CONFLICT (keys) DO UPDATE ``update_cols`` (DO NOTHING when there are none)."""
        statement = self._lm_insert(table)
        if not update_cols:
            return statement.on_conflict_do_nothing(index_elements=[table.c[k] for k in keys])
        return statement.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys], set_={c: statement.excluded[c] for c in update_cols}
        )

    @staticmethod
    def _lm_row(conn: Connection, model_id: str, *, allow_deleted: bool = True) -> Row[Any]:
        row = conn.execute(select(_models).where(_models.c.model_id == model_id)).first()
        if row is None or (not allow_deleted and row.lifecycle_stage == _DELETED):
            raise _not_found(model_id)
        return row

    @staticmethod
    def _lm_active_run(conn: Connection, run_id: str) -> int:
        """The experiment of an active run (a missing or deleted run is refused)."""
        row = conn.execute(
            select(_runs.c.experiment_id, _runs.c.lifecycle_stage).where(_runs.c.run_id == run_id)
        ).first()
        if row is None:
            raise ResourceNotFoundError(f"Run with id={run_id} not found")
        experiment_id, stage = row
        if stage != _ACTIVE:
            raise InvalidParameterError(
                f"The run {run_id} must be in the 'active' state. Current state is {stage}; restore it first."
            )
        return int(experiment_id)

    @staticmethod
    def _lm_require_models(conn: Connection, model_ids: set[str]) -> None:
        if not model_ids:
            return
        found = set(conn.execute(select(_models.c.model_id).where(_models.c.model_id.in_(model_ids))).scalars())
        if missing := sorted(model_ids - found):
            raise _not_found(missing[0])

    def _models_uri_location(self, source: str) -> str:
        """Where a ``models:/`` source's files are: MLflow 3 registers ``models:/m-<id>`` (a logged
        model), resolved here to the model's artifact location; other forms go on to the registry's
        resolution (this mixin precedes ``SqlRegistryMixin`` in ``SqlStore``'s bases)."""
        model_id = logged_model_id_of(source)
        if model_id is not None:
            return self.get_logged_model(model_id).artifact_location
        return super()._models_uri_location(source)  # type: ignore[misc, no-any-return]

    def _lm_read(self, model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
        with self.engine.connect() as conn:
            return lr.load_logged_models(conn, [self._lm_row(conn, model_id, allow_deleted=allow_deleted)])[0]

    def _lm_touch(self, conn: Connection, model_id: str, **values: Any) -> None:
        conn.execute(
            update(_models).where(_models.c.model_id == model_id).values(last_updated_timestamp_ms=_now_ms(), **values)
        )

    # -- logged models ---------------------------------------------------------------------------
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[LoggedModelTag] | None = None,
        params: Sequence[LoggedModelParameter] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        name = generate_run_name() if name is None else validate_logged_model_name(name)
        tag_rows = _key_value_rows(tags, "logged model tag", param=False)
        param_rows = _key_value_rows(params, "logged model param", param=True)
        if source_run_id:
            v.validate_run_id(source_run_id)
        model_id, now = new_model_id(), _now_ms()
        with write_transaction(self.engine) as conn:
            experiment = None
            if str(experiment_id).isascii() and str(experiment_id).isdigit():
                experiment = conn.execute(
                    select(schema.experiments).where(schema.experiments.c.experiment_id == int(experiment_id))
                ).first()
            if experiment is None:
                raise ResourceNotFoundError(f"No Experiment with id={experiment_id} exists")
            if experiment.lifecycle_stage != _ACTIVE:
                raise InvalidParameterError(
                    f"The experiment {experiment_id} must be in the 'active' state to log models; restore it first."
                )
            if (
                source_run_id
                and conn.execute(select(_runs.c.run_id).where(_runs.c.run_id == source_run_id)).first() is None
            ):
                raise ResourceNotFoundError(f"Run with id={source_run_id} not found (the model's source_run_id)")
            conn.execute(
                _models.insert().values(
                    model_id=model_id,
                    experiment_id=experiment.experiment_id,
                    name=name,
                    artifact_location=logged_model_artifact_location(experiment.artifact_location, model_id),
                    creation_timestamp_ms=now,
                    last_updated_timestamp_ms=now,
                    status=LoggedModelStatus.PENDING.value,
                    lifecycle_stage=_ACTIVE,
                    model_type=model_type or None,
                    source_run_id=source_run_id or None,
                    status_message=None,
                )
            )
            for table, rows in ((_tags, tag_rows), (_params, param_rows)):
                if rows:
                    conn.execute(
                        table.insert(), [{"model_id": model_id, "key": k, "value": val} for k, val in rows.items()]
                    )
        return self._lm_read(model_id)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        return self._lm_read(model_id, allow_deleted=allow_deleted)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        status = LoggedModelStatus.from_wire(status)
        if status == LoggedModelStatus.UNSPECIFIED:
            raise InvalidParameterError(
                "Finalize a logged model with status LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED."
            )
        with write_transaction(self.engine) as conn:
            self._lm_row(conn, model_id)
            self._lm_touch(conn, model_id, status=status.value)
        return self._lm_read(model_id, allow_deleted=True)

    def delete_logged_model(self, model_id: str) -> None:
        with write_transaction(self.engine) as conn:
            self._lm_row(conn, model_id)
            self._lm_touch(conn, model_id, lifecycle_stage=_DELETED)

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        rows = _key_value_rows(tags, "logged model tag", param=False)
        self._lm_upsert_key_values(_tags, model_id, rows)

    def log_logged_model_params(self, model_id: str, params: Sequence[LoggedModelParameter]) -> None:
        rows = _key_value_rows(params, "logged model param", param=True)
        self._lm_upsert_key_values(_params, model_id, rows)

    def _lm_upsert_key_values(self, table: Any, model_id: str, rows: dict[str, str]) -> None:
        with write_transaction(self.engine) as conn:
            self._lm_row(conn, model_id)
            if rows:
                statement = self._lm_upsert(table, ["model_id", "key"], ["value"])
                conn.execute(statement, [{"model_id": model_id, "key": k, "value": val} for k, val in rows.items()])
            self._lm_touch(conn, model_id)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        with write_transaction(self.engine) as conn:
            self._lm_row(conn, model_id)
            if not conn.execute(delete(_tags).where(_tags.c.model_id == model_id, _tags.c.key == key)).rowcount:
                raise ResourceNotFoundError(f"No tag with key {key!r} found for model with ID {model_id!r}.")
            self._lm_touch(conn, model_id)

    def log_model_metrics(self, metrics: Sequence[ModelMetric]) -> None:
        rows: list[dict[str, Any]] = []
        for metric in metrics:
            if not metric.model_id:
                raise InvalidParameterError(f"Metric {metric.key!r} names no model_id to link it to.")
            run_id, key, step, timestamp, value, special = metric_rows(metric.run_id or "", [metric])[0]
            rows.append(
                {
                    "model_id": metric.model_id,
                    "key": key,
                    "step": step,
                    "timestamp": timestamp,
                    "value": value,
                    "special": special,
                    "run_id": run_id,
                    "dataset_name": metric.dataset_name or "",
                    "dataset_digest": metric.dataset_digest or "",
                }
            )
        if not rows:
            return
        with write_transaction(self.engine) as conn:
            self._lm_require_models(conn, {row["model_id"] for row in rows})
            conn.execute(self._lm_insert(_metrics).on_conflict_do_nothing(), rows)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: Sequence[Mapping[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        limit = v.validate_max_results(max_results or DEFAULT_SEARCH_MAX_RESULTS, MAX_RESULTS_SEARCH_LOGGED_MODELS)
        clauses = lr.logged_model_filter(parse_filter(filter_string, lr.LOGGED_MODEL), lr.dataset_clauses(datasets))
        offset = decode_page_token(page_token)
        ids = [int(i) for i in experiment_ids if str(i).isascii() and str(i).isdigit()]
        query = select(_models).where(_models.c.experiment_id.in_(ids), _models.c.lifecycle_stage == _ACTIVE, *clauses)
        query = lr.apply_logged_model_order(query, order_by).offset(offset).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            models = lr.load_logged_models(conn, rows[:limit])
        token = encode_page_token(offset + limit) if len(rows) > limit else None
        return PagedList(models, token)

    # -- run outputs and inputs ------------------------------------------------------------------
    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        rows = {m.model_id: v.validate_step("step", m.step) for m in models}
        with write_transaction(self.engine) as conn:
            self._lm_active_run(conn, run_id)
            self._lm_require_models(conn, set(rows))
            if rows:
                statement = self._lm_upsert(schema.run_outputs, ["run_id", "model_id"], ["step"])
                conn.execute(statement, [{"run_id": run_id, "model_id": m, "step": step} for m, step in rows.items()])

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        items = [(_dataset_row(item.dataset), _input_tag_rows(item)) for item in datasets or ()]
        model_ids = {m.model_id for m in models or ()}
        with write_transaction(self.engine) as conn:
            experiment_id = self._lm_active_run(conn, run_id)
            self._lm_require_models(conn, model_ids)
            if model_ids:
                conn.execute(
                    self._lm_upsert(schema.run_model_inputs, ["run_id", "model_id"], []),
                    [{"run_id": run_id, "model_id": m} for m in sorted(model_ids)],
                )
            for dataset, tags in items:
                self._lm_link_dataset(conn, run_id, experiment_id, dataset, tags)

    def _lm_link_dataset(
        self, conn: Connection, run_id: str, experiment_id: int, dataset: dict[str, Any], tags: dict[str, str]
    ) -> None:
        """Store the dataset once per experiment (a known one is kept as first logged), link it to
        the run after its other inputs, and upsert the input tags."""
        datasets, inputs, input_tags = schema.datasets, schema.dataset_inputs, schema.dataset_input_tags
        conn.execute(
            self._lm_upsert(datasets, ["experiment_id", "name", "digest"], []),
            {**dataset, "experiment_id": experiment_id},
        )
        dataset_id = conn.execute(
            select(datasets.c.dataset_id).where(
                datasets.c.experiment_id == experiment_id,
                datasets.c.name == dataset["name"],
                datasets.c.digest == dataset["digest"],
            )
        ).scalar_one()
        position = conn.execute(
            select(func.coalesce(func.max(inputs.c.position) + 1, 0)).where(inputs.c.run_id == run_id)
        ).scalar_one()
        conn.execute(
            self._lm_upsert(inputs, ["run_id", "dataset_id"], []),
            {"run_id": run_id, "dataset_id": dataset_id, "position": position},
        )
        if tags:
            conn.execute(
                self._lm_upsert(input_tags, ["run_id", "dataset_id", "key"], ["value"]),
                [{"run_id": run_id, "dataset_id": dataset_id, "key": k, "value": val} for k, val in tags.items()],
            )
