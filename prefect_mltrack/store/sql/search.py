"""Compile parsed search filters and order-by keys into SQLAlchemy Core.

Filtering and sorting happen in the database, never in Python: each metric/param/tag clause is
an ``EXISTS`` on its table (metrics use the latest-value table), each order key on a metric,
param or tag is an outer join, and only the page asked for is read back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, and_, exists, false, literal_column, or_, select

from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.search import Comparison, OrderKey
from prefect_mltrack.store.sql import schema
from prefect_mltrack.store.sql.rows import RUN_COLUMNS
from prefect_mltrack.store.sql.schema import SPECIAL_NAN

_runs = schema.runs
_experiments = schema.experiments

_RUN_ATTRIBUTE_COLUMNS = {
    "run_id": _runs.c.run_id,
    "run_name": _runs.c.name,
    "status": _runs.c.status,
    "user_id": _runs.c.user_id,
    "artifact_uri": _runs.c.artifact_uri,
    "lifecycle_stage": _runs.c.lifecycle_stage,
    "start_time": _runs.c.start_time,
    "end_time": _runs.c.end_time,
    "experiment_id": _runs.c.experiment_id,
}
_EXPERIMENT_ATTRIBUTE_COLUMNS = {
    "name": _experiments.c.name,
    "experiment_id": _experiments.c.experiment_id,
    "creation_time": _experiments.c.creation_time,
    "last_update_time": _experiments.c.last_update_time,
}


def compare(column: Any, comparator: str, value: Any) -> ColumnElement[bool]:
    """``column <comparator> value`` for every comparator of the grammar except IS [NOT] NULL."""
    match comparator:
        case "=":
            return column == value  # type: ignore[no-any-return]
        case "!=":
            return column != value  # type: ignore[no-any-return]
        case "<":
            return column < value  # type: ignore[no-any-return]
        case "<=":
            return column <= value  # type: ignore[no-any-return]
        case ">":
            return column > value  # type: ignore[no-any-return]
        case ">=":
            return column >= value  # type: ignore[no-any-return]
        case "LIKE":
            return column.like(value)  # type: ignore[no-any-return]
        case "ILIKE":
            return column.ilike(value)  # type: ignore[no-any-return]
        case "IN":
            return column.in_(value)  # type: ignore[no-any-return]
        case "NOT IN":
            return column.not_in(value)  # type: ignore[no-any-return]
    raise InvalidParameterError(f"Unsupported comparator {comparator!r}")


def _key_value_clause(table: Any, owner: Any, comparison: Comparison) -> ColumnElement[bool]:
    """EXISTS (or NOT EXISTS) a row of a key/value table for ``owner`` matching the comparison."""
    has_key = (
        and_(table.c.run_id == owner, table.c.key == comparison.key)
        if "run_id" in table.c
        else and_(table.c.experiment_id == owner, table.c.key == comparison.key)
    )
    if comparison.comparator == "IS NULL":
        return ~exists().where(has_key)
    if comparison.comparator == "IS NOT NULL":
        return exists().where(has_key)
    return exists().where(has_key, compare(table.c.value, comparison.comparator, comparison.value))


def _children_of(parent_run_id: str) -> ColumnElement[bool]:
    """``tags.mlflow.parentRunId = 'x'`` as a lookup in the partial index on that tag: the key is a
    literal, so the database can see the query matches the index's WHERE (a bound parameter hides it)."""
    tags = schema.tags
    children = select(tags.c.run_id).where(
        tags.c.key == literal_column(f"'{schema.PARENT_RUN_TAG}'"), tags.c.value == parent_run_id
    )
    return _runs.c.run_id.in_(children)


def _metric_clause(comparison: Comparison) -> ColumnElement[bool]:
    latest = schema.latest_metrics
    value_matches = compare(latest.c.value, comparison.comparator, comparison.value)
    if comparison.comparator == "!=":
        value_matches = or_(latest.c.special == SPECIAL_NAN, value_matches)  # NaN differs from everything
    else:
        value_matches = and_(latest.c.special != SPECIAL_NAN, value_matches)
    return exists().where(latest.c.run_id == _runs.c.run_id, latest.c.key == comparison.key, value_matches)


def run_filter(comparisons: Sequence[Comparison]) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for comparison in comparisons:
        if comparison.kind == "metric":
            clauses.append(_metric_clause(comparison))
        elif comparison.kind == "param":
            clauses.append(_key_value_clause(schema.params, _runs.c.run_id, comparison))
        elif comparison.kind == "tag" and comparison.key == schema.PARENT_RUN_TAG and comparison.comparator == "=":
            clauses.append(_children_of(str(comparison.value)))
        elif comparison.kind == "tag":
            clauses.append(_key_value_clause(schema.tags, _runs.c.run_id, comparison))
        elif comparison.kind == "attribute":
            column = _RUN_ATTRIBUTE_COLUMNS[comparison.key]
            clauses.append(compare(column, comparison.comparator, comparison.value))
        else:
            # Imported here: logged_model_rows builds on this module's comparison helpers.
            from prefect_mltrack.store.sql.logged_model_rows import run_dataset_clause

            clauses.append(run_dataset_clause(comparison))
    return clauses


def apply_run_order(query: Select[Any], order_keys: Sequence[OrderKey]) -> Select[Any]:
    """Add MLflow's ordering: the given keys (missing values last, NaN after numbers), then
    ``start_time DESC`` unless it was given, then ``run_id`` to break ties."""
    source: FromClause = _runs
    order: list[Any] = []
    for index, key in enumerate(order_keys):
        if key.kind == "attribute":
            column: Any = _RUN_ATTRIBUTE_COLUMNS[key.key]
            # "Missing values last" only where values can be missing: the extra term on a NOT NULL
            # column would stop the database from reading the (experiment_id, start_time) index in order.
            if column.nullable:
                order.append(column.is_(None))
            order.append(column.asc() if key.ascending else column.desc())
            continue
        table = {"metric": schema.latest_metrics, "param": schema.params, "tag": schema.tags}[key.kind]
        alias = table.alias(f"order_{index}")
        source = source.outerjoin(alias, and_(alias.c.run_id == _runs.c.run_id, alias.c.key == key.key))
        order.append(alias.c.value.is_(None))
        if key.kind == "metric":
            order.append(alias.c.special == SPECIAL_NAN)
        order.append(alias.c.value.asc() if key.ascending else alias.c.value.desc())
    if not any(k.kind == "attribute" and k.key == "start_time" for k in order_keys):
        order.append(_runs.c.start_time.desc())
    order.append(_runs.c.run_id.asc())
    return query.select_from(source).order_by(*order)


def experiment_filter(comparisons: Sequence[Comparison]) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for comparison in comparisons:
        if comparison.kind == "tag":
            clauses.append(_key_value_clause(schema.experiment_tags, _experiments.c.experiment_id, comparison))
            continue
        column = _EXPERIMENT_ATTRIBUTE_COLUMNS[comparison.key]
        value: Any = comparison.value
        if comparison.key == "experiment_id":
            ids = _as_ids(value if isinstance(value, tuple) else (value,))
            if comparison.comparator in ("IN", "NOT IN"):
                value = tuple(ids)
            elif not ids:  # a non-numeric id matches nothing (and every row for !=)
                clauses.append(false() if comparison.comparator == "=" else ~false())
                continue
            else:
                value = ids[0]
        clauses.append(compare(column, comparison.comparator, value))
    return clauses


def _as_ids(values: Sequence[Any]) -> list[int]:
    return [int(v) for v in values if str(v).lstrip("-").isascii() and str(v).lstrip("-").isdigit()]


def experiment_order(order_keys: Sequence[OrderKey]) -> list[Any]:
    if not order_keys:
        return [_experiments.c.creation_time.desc(), _experiments.c.experiment_id.asc()]
    order = [
        _EXPERIMENT_ATTRIBUTE_COLUMNS[k.key].asc() if k.ascending else _EXPERIMENT_ATTRIBUTE_COLUMNS[k.key].desc()
        for k in order_keys
    ]
    if not any(k.key == "experiment_id" for k in order_keys):
        order.append(_experiments.c.experiment_id.asc())
    return order


def run_ids_query(experiment_ids: Sequence[int], stages: Sequence[str]) -> Select[Any]:
    return select(*RUN_COLUMNS).where(_runs.c.experiment_id.in_(experiment_ids), _runs.c.lifecycle_stage.in_(stages))
