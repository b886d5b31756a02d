"""Logged-model rows read back into entities, and logged-model searches compiled to SQL.

A page of logged models costs three more queries (tags, params, metrics), never one per model.
Filters and ordering happen in the database: tag/param/metric clauses are ``EXISTS`` subqueries,
ordering on a metric joins each model's latest point of it (newest timestamp, then step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, exists, func, or_, select

from prefect_mltrack.entities._base import trusted
from prefect_mltrack.entities.logged_model import LoggedModel, LoggedModelStatus, ModelMetric
from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.search import Comparison, EntityType, OrderKey, parse_order_by
from prefect_mltrack.store.sql import schema
from prefect_mltrack.store.sql.rows import decode_metric_value
from prefect_mltrack.store.sql.schema import SPECIAL_NAN
from prefect_mltrack.store.sql.search import compare

_models = schema.logged_models
_tags = schema.logged_model_tags
_params = schema.logged_model_params
_metrics = schema.logged_model_metrics

_CHUNK: Final = 500  # ids per IN (...)
LOGGED_MODEL: Final[EntityType] = "logged_model"

ATTRIBUTE_COLUMNS: Final = {
    "name": _models.c.name,
    "model_id": _models.c.model_id,
    "model_type": _models.c.model_type,
    "status": _models.c.status,
    "source_run_id": _models.c.source_run_id,
    "experiment_id": _models.c.experiment_id,
    "creation_timestamp": _models.c.creation_timestamp_ms,
    "last_updated_timestamp": _models.c.last_updated_timestamp_ms,
}
_NUMERIC_ATTRIBUTES: Final = ("creation_timestamp", "last_updated_timestamp")


# -- entities --------------------------------------------------------------------------------------


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def load_logged_models(conn: Connection, rows: Sequence[Row[Any]]) -> list[LoggedModel]:
    """Rows of ``logged_models`` -> LoggedModels with their tags, params and linked metrics."""
    ids = [row.model_id for row in rows]
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    metrics: dict[str, list[ModelMetric]] = {i: [] for i in ids}
    for chunk in _chunks(ids):
        for table, target in ((_tags, tags), (_params, params)):
            for item in conn.execute(select(table).where(table.c.model_id.in_(chunk)).order_by(table.c.key)):
                target[item.model_id][item.key] = item.value
        query = (
            select(_metrics)
            .where(_metrics.c.model_id.in_(chunk))
            .order_by(_metrics.c.key, _metrics.c.step, _metrics.c.timestamp)
        )
        for m in conn.execute(query):
            metrics[m.model_id].append(
                trusted(
                    ModelMetric,
                    key=m.key,
                    value=decode_metric_value(m.value, m.special),
                    timestamp=m.timestamp,
                    step=m.step,
                    run_id=m.run_id or None,
                    model_id=m.model_id,
                    dataset_name=m.dataset_name or None,
                    dataset_digest=m.dataset_digest or None,
                )
            )
    return [
        trusted(
            LoggedModel,
            experiment_id=str(row.experiment_id),
            model_id=row.model_id,
            name=row.name,
            artifact_location=row.artifact_location,
            creation_timestamp=row.creation_timestamp_ms,
            last_updated_timestamp=row.last_updated_timestamp_ms,
            model_type=row.model_type,
            source_run_id=row.source_run_id,
            status=LoggedModelStatus(row.status),
            status_message=row.status_message,
            tags=tags[row.model_id],
            params=params[row.model_id],
            metrics=metrics[row.model_id],
        )
        for row in rows
    ]


# -- search ----------------------------------------------------------------------------------------


def dataset_clauses(datasets: Sequence[Mapping[str, Any]] | None) -> list[ColumnElement[bool]]:
    """Metric-row conditions for the ``datasets`` argument of a search: any of the named datasets
    (by name, and by digest when given)."""
    clauses: list[ColumnElement[bool]] = []
    for dataset in datasets or ():
        name = dataset.get("dataset_name")
        if not name:
            raise InvalidParameterError(
                "`dataset_name` in the `datasets` clause must be specified, e.g. {'dataset_name': 'iris'}."
            )
        clause = _metrics.c.dataset_name == name
        if dataset.get("dataset_digest"):
            clause = and_(clause, _metrics.c.dataset_digest == dataset["dataset_digest"])
        clauses.append(clause)
    return clauses


def _status_value(comparison: Comparison) -> Any:
    # Users write MLflow's Python names or the wire names: 'READY', 'LOGGED_MODEL_READY'.
    value = comparison.value
    if comparison.comparator in ("LIKE", "ILIKE"):
        return value
    if isinstance(value, tuple):
        return tuple(LoggedModelStatus.from_wire(item).value for item in value)
    return LoggedModelStatus.from_wire(value).value


def _key_value_clause(table: Any, comparison: Comparison) -> ColumnElement[bool]:
    has_key = and_(table.c.model_id == _models.c.model_id, table.c.key == comparison.key)
    if comparison.comparator == "IS NULL":
        return ~exists().where(has_key)
    if comparison.comparator == "IS NOT NULL":
        return exists().where(has_key)
    return exists().where(has_key, compare(table.c.value, comparison.comparator, comparison.value))


def logged_model_filter(
    comparisons: Sequence[Comparison], datasets: Sequence[ColumnElement[bool]]
) -> list[ColumnElement[bool]]:
    """WHERE clauses for parsed comparisons; ``datasets`` (from :func:`dataset_clauses`) restrict
    metric clauses to those datasets, or alone keep models with any metric on them."""
    clauses: list[ColumnElement[bool]] = []
    on_datasets = [or_(*datasets)] if datasets else []
    has_metric_filter = False
    for comparison in comparisons:
        if comparison.kind == "tag":
            clauses.append(_key_value_clause(_tags, comparison))
        elif comparison.kind == "param":
            clauses.append(_key_value_clause(_params, comparison))
        elif comparison.kind == "metric":
            has_metric_filter = True
            clauses.append(
                exists().where(
                    _metrics.c.model_id == _models.c.model_id,
                    _metrics.c.key == comparison.key,
                    _metrics.c.special != SPECIAL_NAN,
                    compare(_metrics.c.value, comparison.comparator, comparison.value),
                    *on_datasets,
                )
            )
        else:
            value = _status_value(comparison) if comparison.key == "status" else comparison.value
            clauses.append(compare(ATTRIBUTE_COLUMNS[comparison.key], comparison.comparator, value))
    if on_datasets and not has_metric_filter:
        clauses.append(exists().where(_metrics.c.model_id == _models.c.model_id, *on_datasets))
    return clauses


def _order_items(order_by: Sequence[Mapping[str, Any] | str] | None) -> list[tuple[OrderKey, Mapping[str, Any]]]:
    """MLflow's order_by dicts (``field_name``, ``ascending``, ``dataset_name``, ``dataset_digest``)
    or ``"name DESC"`` strings, checked by the grammar."""
    items: list[tuple[OrderKey, Mapping[str, Any]]] = []
    for item in order_by or ():
        if isinstance(item, str):
            items.append((parse_order_by([item], LOGGED_MODEL)[0], {}))
            continue
        field = item.get("field_name")
        if not isinstance(field, str) or not field:
            raise InvalidParameterError(f"Invalid order_by item {dict(item)!r}: 'field_name' is required.")
        kind, dot, key = field.partition(".")
        if dot and kind.lower() in ("metric", "metrics"):
            field = f"metrics.`{key}`"  # metric keys may hold spaces
        direction = "ASC" if item.get("ascending", True) else "DESC"
        items.append((parse_order_by([f"{field} {direction}"], LOGGED_MODEL)[0], item))
    keys = [(key.kind, key.key) for key, _ in items]
    if len(set(keys)) != len(keys):
        raise InvalidParameterError(f"order_by names a field twice: {order_by!r}")
    return items


def apply_logged_model_order(query: Select[Any], order_by: Sequence[Mapping[str, Any] | str] | None) -> Select[Any]:
    """The given keys (missing values last), then ``creation_timestamp DESC`` and ``model_id``."""
    source: Any = _models
    order: list[Any] = []
    given: set[str] = set()
    for index, (key, item) in enumerate(_order_items(order_by)):
        if key.kind == "attribute":
            column: Any = ATTRIBUTE_COLUMNS[key.key]
            given.add(key.key)
            order += [column.is_(None), column.asc() if key.ascending else column.desc()]
            continue
        conditions = [_metrics.c.key == key.key]
        if item.get("dataset_name"):
            conditions.append(_metrics.c.dataset_name == item["dataset_name"])
            if item.get("dataset_digest"):
                conditions.append(_metrics.c.dataset_digest == item["dataset_digest"])
        rank = func.row_number().over(
            partition_by=_metrics.c.model_id, order_by=[_metrics.c.timestamp.desc(), _metrics.c.step.desc()]
        )
        ranked = select(_metrics.c.model_id, _metrics.c.value, _metrics.c.special, rank.label("rank")).where(
            *conditions
        )
        latest = ranked.subquery(f"order_{index}")
        source = source.outerjoin(latest, and_(latest.c.model_id == _models.c.model_id, latest.c.rank == 1))
        order += [latest.c.value.is_(None), latest.c.special == SPECIAL_NAN]
        order.append(latest.c.value.asc() if key.ascending else latest.c.value.desc())
    if "creation_timestamp" not in given:
        order.append(_models.c.creation_timestamp_ms.desc())
    if "model_id" not in given:
        order.append(_models.c.model_id.asc())
    return query.select_from(source).order_by(*order)


# -- runs by their dataset inputs ------------------------------------------------------------------


def run_dataset_clause(comparison: Comparison) -> ColumnElement[bool]:
    """A ``search_runs`` filter on dataset inputs: ``datasets.name``, ``datasets.digest`` or
    ``datasets.context`` (the input tag ``mlflow.data.context``) compared as the grammar allows;
    a run matches when one of its inputs does.

    Example:
        >>> from prefect_mltrack.search import parse_filter
        >>> clause = run_dataset_clause(parse_filter("datasets.context = 'training'")[0])
        >>> "dataset_input_tags" in str(clause)
        True
    """
    runs, inputs, datasets = schema.runs, schema.dataset_inputs, schema.datasets
    if comparison.key == "context":
        tags = schema.dataset_input_tags
        return exists().where(
            tags.c.run_id == runs.c.run_id,
            tags.c.key == "mlflow.data.context",
            compare(tags.c.value, comparison.comparator, comparison.value),
        )
    column = datasets.c.name if comparison.key == "name" else datasets.c.digest
    return exists().where(
        inputs.c.run_id == runs.c.run_id,
        datasets.c.dataset_id == inputs.c.dataset_id,
        compare(column, comparison.comparator, comparison.value),
    )
