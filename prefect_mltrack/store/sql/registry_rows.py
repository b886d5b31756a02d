"""Registry rows read back into entities, and registry searches compiled to SQL.

A page of registered models or versions costs a fixed number of queries (tags, aliases, latest
versions), never one per item. Filters and sorting happen in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, exists, func, select, tuple_

from prefect_mltrack.entities import ModelVersion, ModelVersionStage, ModelVersionStatus, RegisteredModel
from prefect_mltrack.entities._base import trusted
from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.search import Comparison, OrderKey
from prefect_mltrack.store.sql import schema
from prefect_mltrack.store.sql.search import compare

_models = schema.registered_models
_versions = schema.model_versions
_model_tags = schema.registered_model_tags
_version_tags = schema.model_version_tags
_aliases = schema.registered_model_aliases

_CHUNK = 500  # keys per IN (...)
_STAGES = {stage.value: stage for stage in ModelVersionStage}
_STATUSES = {status.value: status for status in ModelVersionStatus}

_MODEL_COLUMNS = {
    "name": _models.c.name,
    "creation_timestamp": _models.c.creation_timestamp,
    "last_updated_timestamp": _models.c.last_updated_timestamp,
}
_VERSION_COLUMNS = {
    "name": _models.c.name,
    "run_id": _versions.c.run_id,
    "source_path": _versions.c.source,
    "version_number": _versions.c.version,
    "creation_timestamp": _versions.c.creation_timestamp,
    "last_updated_timestamp": _versions.c.last_updated_timestamp,
}


def model_select() -> Select[Any]:
    return select(_models)


def version_select(*, include_deleted: bool = False) -> Select[Any]:
    """Versions with their model's name, live ones only unless ``include_deleted``."""
    query = select(_models.c.name, *_versions.c).select_from(
        _versions.join(_models, _models.c.registered_model_id == _versions.c.registered_model_id)
    )
    return query if include_deleted else query.where(_versions.c.deleted_time.is_(None))


# -- entities --------------------------------------------------------------------------------------


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def load_model_versions(conn: Connection, rows: Sequence[Row[Any]]) -> list[ModelVersion]:
    """Rows of :func:`version_select` -> ModelVersions, with their tags and aliases."""
    keys = [(row.registered_model_id, row.version) for row in rows]
    tags: dict[tuple[int, int], dict[str, str]] = {key: {} for key in keys}
    aliases: dict[tuple[int, int], list[str]] = {key: [] for key in keys}
    for chunk in _chunks(keys):
        pair = tuple_(_version_tags.c.registered_model_id, _version_tags.c.version)
        for tag in conn.execute(select(_version_tags).where(pair.in_(chunk)).order_by(_version_tags.c.key)):
            tags[(tag.registered_model_id, tag.version)][tag.key] = tag.value
        pair = tuple_(_aliases.c.registered_model_id, _aliases.c.version)
        for alias in conn.execute(select(_aliases).where(pair.in_(chunk)).order_by(_aliases.c.alias)):
            aliases[(alias.registered_model_id, alias.version)].append(alias.alias)
    return [
        trusted(
            ModelVersion,
            name=row.name,
            version=str(row.version),
            creation_timestamp=row.creation_timestamp,
            last_updated_timestamp=row.last_updated_timestamp,
            description=row.description,
            user_id=row.user_id,
            current_stage=_STAGES[row.current_stage],
            source=row.source,
            run_id=row.run_id,
            status=_STATUSES[row.status],
            status_message=row.status_message,
            tags=tags[(row.registered_model_id, row.version)],
            run_link=row.run_link,
            aliases=aliases[(row.registered_model_id, row.version)],
        )
        for row in rows
    ]


def latest_version_rows(conn: Connection, model_ids: Sequence[int]) -> list[Row[Any]]:
    """The newest live version in each stage of each model, ordered by model and version."""
    rows: list[Row[Any]] = []
    for chunk in _chunks(model_ids):
        rank = (
            func.row_number()
            .over(
                partition_by=[_versions.c.registered_model_id, _versions.c.current_stage],
                order_by=_versions.c.version.desc(),
            )
            .label("rank")
        )
        ranked = (
            select(_versions.c.registered_model_id, _versions.c.version, rank)
            .where(_versions.c.registered_model_id.in_(chunk), _versions.c.deleted_time.is_(None))
            .subquery()
        )
        query = (
            version_select()
            .join(
                ranked,
                and_(
                    ranked.c.registered_model_id == _versions.c.registered_model_id,
                    ranked.c.version == _versions.c.version,
                ),
            )
            .where(ranked.c.rank == 1)
            .order_by(_versions.c.registered_model_id, _versions.c.version)
        )
        rows.extend(conn.execute(query).all())
    return rows


def load_registered_models(conn: Connection, rows: Sequence[Row[Any]]) -> list[RegisteredModel]:
    """Rows of ``registered_models`` -> RegisteredModels with tags, aliases and latest versions."""
    ids = [row.registered_model_id for row in rows]
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    aliases: dict[int, dict[str, str]] = {i: {} for i in ids}
    for chunk in _chunks(ids):
        for tag in conn.execute(
            select(_model_tags).where(_model_tags.c.registered_model_id.in_(chunk)).order_by(_model_tags.c.key)
        ):
            tags[tag.registered_model_id][tag.key] = tag.value
        for alias in conn.execute(
            select(_aliases).where(_aliases.c.registered_model_id.in_(chunk)).order_by(_aliases.c.alias)
        ):
            aliases[alias.registered_model_id][alias.alias] = str(alias.version)
    latest: dict[int, list[ModelVersion]] = {i: [] for i in ids}
    version_rows = latest_version_rows(conn, ids)
    for row, version in zip(version_rows, load_model_versions(conn, version_rows), strict=True):
        latest[row.registered_model_id].append(version)
    return [
        trusted(
            RegisteredModel,
            name=row.name,
            creation_timestamp=row.creation_timestamp,
            last_updated_timestamp=row.last_updated_timestamp,
            description=row.description,
            latest_versions=latest[row.registered_model_id],
            tags=tags[row.registered_model_id],
            aliases=aliases[row.registered_model_id],
        )
        for row in rows
    ]


# -- search ----------------------------------------------------------------------------------------


def _tag_clause(has_key: ColumnElement[bool], value_column: Any, comparison: Comparison) -> ColumnElement[bool]:
    """A tag comparison. ``!=`` also matches items without the tag: MLflow 3 clients send
    ``tags.`mlflow.prompt.is_prompt` != 'true'`` with every registry search and expect untagged
    models back."""
    if comparison.comparator == "IS NULL":
        return ~exists().where(has_key)
    if comparison.comparator == "IS NOT NULL":
        return exists().where(has_key)
    if comparison.comparator == "!=":
        return ~exists().where(has_key, value_column == comparison.value)
    return exists().where(has_key, compare(value_column, comparison.comparator, comparison.value))


def registered_model_filter(comparisons: Sequence[Comparison]) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for comparison in comparisons:
        if comparison.kind == "tag":
            has_key = and_(
                _model_tags.c.registered_model_id == _models.c.registered_model_id,
                _model_tags.c.key == comparison.key,
            )
            clauses.append(_tag_clause(has_key, _model_tags.c.value, comparison))
        else:
            clauses.append(compare(_MODEL_COLUMNS[comparison.key], comparison.comparator, comparison.value))
    return clauses


def model_version_filter(comparisons: Sequence[Comparison]) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for comparison in comparisons:
        if comparison.kind == "tag":
            has_key = and_(
                _version_tags.c.registered_model_id == _versions.c.registered_model_id,
                _version_tags.c.version == _versions.c.version,
                _version_tags.c.key == comparison.key,
            )
            clauses.append(_tag_clause(has_key, _version_tags.c.value, comparison))
            continue
        if isinstance(comparison.value, float):
            raise InvalidParameterError(
                f"Invalid value for numeric attribute '{comparison.key}': {comparison.value!r}; "
                "an integer is required (version numbers and timestamps in milliseconds are whole numbers)."
            )
        clauses.append(compare(_VERSION_COLUMNS[comparison.key], comparison.comparator, comparison.value))
    return clauses


def _ordered(column: Any, ascending: bool) -> Any:
    return column.asc() if ascending else column.desc()


def registered_model_order(order_keys: Sequence[OrderKey]) -> list[Any]:
    """The given keys, then ``name ASC`` (names are unique, so the order is total). Default: name ASC."""
    order = [_ordered(_MODEL_COLUMNS[key.key], key.ascending) for key in order_keys]
    if not any(key.key == "name" for key in order_keys):
        order.append(_models.c.name.asc())
    return order


DEFAULT_VERSION_ORDER = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]


def model_version_order(order_keys: Sequence[OrderKey]) -> list[Any]:
    """The given keys, then ``name ASC`` and ``version_number DESC`` unless already given."""
    order = [_ordered(_VERSION_COLUMNS[key.key], key.ascending) for key in order_keys]
    given = {key.key for key in order_keys}
    if "name" not in given:
        order.append(_models.c.name.asc())
    if "version_number" not in given:
        order.append(_versions.c.version.desc())
    return order
