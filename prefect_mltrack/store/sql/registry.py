"""The model registry on the SQL store: registered models, versions, stages, aliases and tags.

:class:`SqlRegistryMixin` needs only ``self.engine``; ``SqlStore`` inherits it. Semantics are
MLflow's: version numbers count from 1 per model and are never reused (a deleted version stays
as a hidden row), deleting a model is a hard delete, aliases move and vanish with their version.
Every change is one short write transaction; creating a version locks its model's row first, so
concurrent registrations on PostgreSQL get distinct numbers (SQLite writers are serialised by
``BEGIN IMMEDIATE`` already).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from prefect_mltrack import validation as v
from prefect_mltrack.entities import (
    ALL_STAGES,
    ModelVersion,
    ModelVersionStage,
    ModelVersionStatus,
    ModelVersionTag,
    PagedList,
    RegisteredModel,
    RegisteredModelTag,
)
from prefect_mltrack.exceptions import InvalidParameterError, ResourceAlreadyExistsError, ResourceNotFoundError
from prefect_mltrack.search import decode_page_token, encode_page_token, parse_filter, parse_order_by
from prefect_mltrack.store.sql import registry_rows as rr
from prefect_mltrack.store.sql import schema
from prefect_mltrack.store.sql.engine import write_transaction

_models = schema.registered_models
_versions = schema.model_versions
_model_tags = schema.registered_model_tags
_version_tags = schema.model_version_tags
_aliases = schema.registered_model_aliases


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _not_found(name: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"Registered Model with name={name} not found")


class SqlRegistryMixin:
    """Registry methods of :class:`~prefect_mltrack.store.sql.store.SqlStore`.

    Example:
        >>> store = SqlStore("sqlite:////tmp/mltrack-doc.db")               # doctest: +SKIP
        >>> store.create_registered_model("iris")                            # doctest: +SKIP
        >>> store.create_model_version("iris", "runs:/0a1b.../model").version  # doctest: +SKIP
        '1'
    """

    engine: Engine

    # -- helpers ---------------------------------------------------------------------------------
    def _upsert(self, table: Any, index_elements: list[Any], values: dict[str, Any]) -> Any:
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        statement = insert(table).values(**values)
        updated = {key: statement.excluded[key] for key in values if key not in {c.name for c in index_elements}}
        return statement.on_conflict_do_update(index_elements=index_elements, set_=updated)

    @staticmethod
    def _model_row(conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
        query = select(_models).where(_models.c.name == name)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise _not_found(name)
        return row

    @staticmethod
    def _version_row(conn: Connection, model: Row[Any], version: int) -> Row[Any]:
        row = conn.execute(
            select(_versions).where(
                _versions.c.registered_model_id == model.registered_model_id,
                _versions.c.version == version,
                _versions.c.deleted_time.is_(None),
            )
        ).first()
        if row is None:
            raise ResourceNotFoundError(f"Model Version (name={model.name}, version={version}) not found")
        return row

    @staticmethod
    def _touch(conn: Connection, model_id: int, now: int) -> None:
        conn.execute(
            update(_models).where(_models.c.registered_model_id == model_id).values(last_updated_timestamp=now)
        )

    def _read_versions(self, query: Any) -> list[ModelVersion]:
        with self.engine.connect() as conn:
            return rr.load_model_versions(conn, conn.execute(query).all())

    def _read_version(self, name: str, version: int) -> ModelVersion:
        found = self._read_versions(rr.version_select().where(_models.c.name == name, _versions.c.version == version))
        if not found:
            self.get_registered_model(name)  # RESOURCE_DOES_NOT_EXIST for the model itself
            raise ResourceNotFoundError(f"Model Version (name={name}, version={version}) not found")
        return found[0]

    # -- registered models -----------------------------------------------------------------------
    def create_registered_model(
        self, name: str, tags: Sequence[RegisteredModelTag] | None = None, description: str | None = None
    ) -> RegisteredModel:
        v.validate_model_name(name)
        tag_rows = dict(v.validate_registry_tag(t.key, t.value, "registered model tag") for t in tags or ())
        now = _now_ms()
        try:
            with write_transaction(self.engine) as conn:
                model_id = conn.execute(  # type: ignore[index]
                    _models.insert().values(
                        name=name, description=description, creation_timestamp=now, last_updated_timestamp=now
                    )
                ).inserted_primary_key[0]
                if tag_rows:
                    conn.execute(
                        _model_tags.insert(),
                        [{"registered_model_id": model_id, "key": k, "value": val} for k, val in tag_rows.items()],
                    )
        except IntegrityError:
            raise ResourceAlreadyExistsError(
                f"Registered Model (name={name}) already exists. Choose another name, or add a version to it "
                "with create_model_version."
            ) from None
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        v.validate_model_name(name)
        with self.engine.connect() as conn:
            return rr.load_registered_models(conn, [self._model_row(conn, name)])[0]

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        v.validate_model_name(name)
        v.validate_model_name(new_name, "new_name")
        now = _now_ms()
        try:
            with write_transaction(self.engine) as conn:
                model = self._model_row(conn, name, lock=True)
                if new_name != name and conn.execute(select(_models.c.name).where(_models.c.name == new_name)).first():
                    raise ResourceAlreadyExistsError(f"Registered Model (name={new_name}) already exists.")
                conn.execute(
                    update(_models)
                    .where(_models.c.registered_model_id == model.registered_model_id)
                    .values(name=new_name, last_updated_timestamp=now)
                )
                conn.execute(
                    update(_versions)
                    .where(_versions.c.registered_model_id == model.registered_model_id)
                    .values(last_updated_timestamp=now)
                )
        except IntegrityError:  # a concurrent create took the name between our check and update
            raise ResourceAlreadyExistsError(f"Registered Model (name={new_name}) already exists.") from None
        return self.get_registered_model(new_name)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        v.validate_model_name(name)
        with write_transaction(self.engine) as conn:
            model = self._model_row(conn, name)
            conn.execute(
                update(_models)
                .where(_models.c.registered_model_id == model.registered_model_id)
                .values(description=description, last_updated_timestamp=_now_ms())
            )
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        v.validate_model_name(name)
        with write_transaction(self.engine) as conn:
            model_id = self._model_row(conn, name, lock=True).registered_model_id
            # Children first: correct without relying on ON DELETE CASCADE being enabled.
            for table in (_aliases, _version_tags, _versions, _model_tags, _models):
                conn.execute(delete(table).where(table.c.registered_model_id == model_id))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        v.validate_max_results(max_results, v.MAX_RESULTS_SEARCH_REGISTERED_MODELS)
        clauses = rr.registered_model_filter(parse_filter(filter_string, "registered_model"))
        order = rr.registered_model_order(parse_order_by(list(order_by or []), "registered_model"))
        offset = decode_page_token(page_token)
        query = rr.model_select().where(*clauses).order_by(*order).offset(offset).limit(max_results + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            models = rr.load_registered_models(conn, rows[:max_results])
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList(models, token)

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        v.validate_model_name(name)
        key, value = v.validate_registry_tag(tag.key, tag.value, "registered model tag")
        with write_transaction(self.engine) as conn:
            model_id = self._model_row(conn, name).registered_model_id
            row = {"registered_model_id": model_id, "key": key, "value": value}
            conn.execute(self._upsert(_model_tags, [_model_tags.c.registered_model_id, _model_tags.c.key], row))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag; a tag that is not there is no error (MLflow's rule), a missing model is."""
        v.validate_model_name(name)
        v.validate_key(key, "registered model tag")
        with write_transaction(self.engine) as conn:
            model_id = self._model_row(conn, name).registered_model_id
            conn.execute(
                delete(_model_tags).where(_model_tags.c.registered_model_id == model_id, _model_tags.c.key == key)
            )

    # -- model versions --------------------------------------------------------------------------
    def _storage_location(self, source: str, run_id: str | None) -> tuple[str, str | None]:
        """Where a version's files are (its download URI), and its run id: ``runs:/`` sources are
        resolved through the run's artifact URI, ``models:/`` sources through the version named."""
        from prefect_mltrack.model_uris import is_models_uri, is_runs_uri, join_artifact_uri, parse_runs_uri

        if is_runs_uri(source):
            source_run_id, artifact_path = parse_runs_uri(source)
            if run_id and run_id != source_run_id:
                raise InvalidParameterError(
                    f"The source {source!r} belongs to run {source_run_id}, but run_id={run_id!r} was given; "
                    "pass the run id of the source (or leave run_id out)."
                )
            with self.engine.connect() as conn:
                artifact_uri = conn.execute(
                    select(schema.runs.c.artifact_uri).where(schema.runs.c.run_id == source_run_id)
                ).scalar()
            if artifact_uri is None:
                raise ResourceNotFoundError(
                    f"Run with id={source_run_id} not found, so the source {source!r} cannot be resolved."
                )
            return join_artifact_uri(artifact_uri, artifact_path), source_run_id
        if is_models_uri(source):
            return self._models_uri_location(source), run_id
        return source, run_id

    def _models_uri_location(self, source: str) -> str:
        from prefect_mltrack.model_uris import parse_model_uri

        parsed = parse_model_uri(source)
        if parsed.version is not None:
            return self.get_model_version_download_uri(parsed.name, parsed.version)
        if parsed.stage is not None:
            found = self.get_latest_versions(parsed.name, [parsed.stage])
            if not found:
                raise ResourceNotFoundError(f"No version of model {parsed.name!r} is in stage {parsed.stage!r}")
            return self.get_model_version_download_uri(parsed.name, found[0].version)
        mv = self.get_model_version_by_alias(parsed.name, parsed.alias or "latest")
        return self.get_model_version_download_uri(mv.name, mv.version)

    @staticmethod
    def _check_source(source: Any) -> str:
        if not isinstance(source, str) or not source.strip():
            raise InvalidParameterError(
                f"Invalid model version source {source!r}: give the model's location, e.g. runs:/<run_id>/model, "
                "models:/<name>/<version>, an artifact URI or a local path."
            )
        path = source.split("?", 1)[0].replace("\\", "/")
        if ".." in path.split("/") or "%2e%2e" in path.lower():
            raise InvalidParameterError(
                f"Invalid model version source {source!r}: it contains a '..' segment; give the location "
                "without relative parts."
            )
        return source

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        v.validate_model_name(name)
        self._check_source(source)
        if run_id:
            v.validate_run_id(run_id)
        tag_rows = dict(v.validate_registry_tag(t.key, t.value, "model version tag") for t in tags or ())
        storage_location, run_id = self._storage_location(source, run_id or None)
        now = _now_ms()
        with write_transaction(self.engine) as conn:
            model = self._model_row(conn, name, lock=True)
            model_id = model.registered_model_id
            highest = conn.execute(  # deleted versions count: numbers are never reused
                select(func.max(_versions.c.version)).where(_versions.c.registered_model_id == model_id)
            ).scalar()
            version = (highest or 0) + 1
            conn.execute(
                _versions.insert().values(
                    registered_model_id=model_id,
                    version=version,
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                    description=description,
                    user_id=None,
                    current_stage=ModelVersionStage.NONE.value,
                    source=source,
                    storage_location=storage_location,
                    run_id=run_id,
                    run_link=run_link,
                    status=ModelVersionStatus.READY.value,
                    status_message=None,
                    deleted_time=None,
                )
            )
            if tag_rows:
                conn.execute(
                    _version_tags.insert(),
                    [
                        {"registered_model_id": model_id, "version": version, "key": k, "value": val}
                        for k, val in tag_rows.items()
                    ],
                )
            self._touch(conn, model_id, now)
        return self._read_version(name, version)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        v.validate_model_name(name)
        return self._read_version(name, v.validate_model_version(version))

    def update_model_version(self, name: str, version: str | int, description: str | None) -> ModelVersion:
        v.validate_model_name(name)
        number = v.validate_model_version(version)
        with write_transaction(self.engine) as conn:
            model = self._model_row(conn, name)
            self._version_row(conn, model, number)
            conn.execute(
                update(_versions)
                .where(_versions.c.registered_model_id == model.registered_model_id, _versions.c.version == number)
                .values(description=description, last_updated_timestamp=_now_ms())
            )
        return self._read_version(name, number)

    def delete_model_version(self, name: str, version: str | int) -> None:
        """Hide the version for good; its number stays taken and the aliases on it are removed."""
        v.validate_model_name(name)
        number = v.validate_model_version(version)
        now = _now_ms()
        with write_transaction(self.engine) as conn:
            model = self._model_row(conn, name, lock=True)
            self._version_row(conn, model, number)
            model_id = model.registered_model_id
            for table in (_aliases, _version_tags):
                conn.execute(delete(table).where(table.c.registered_model_id == model_id, table.c.version == number))
            conn.execute(
                update(_versions)
                .where(_versions.c.registered_model_id == model_id, _versions.c.version == number)
                .values(deleted_time=now, last_updated_timestamp=now)
            )
            self._touch(conn, model_id, now)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        v.validate_max_results(max_results, v.MAX_RESULTS_SEARCH_MODEL_VERSIONS)
        clauses = rr.model_version_filter(parse_filter(filter_string, "model_version"))
        order_keys = parse_order_by(list(order_by or rr.DEFAULT_VERSION_ORDER), "model_version")
        offset = decode_page_token(page_token)
        query = (
            rr.version_select()
            .where(*clauses)
            .order_by(*rr.model_version_order(order_keys))
            .offset(offset)
            .limit(max_results + 1)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            versions = rr.load_model_versions(conn, rows[:max_results])
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList(versions, token)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        v.validate_model_name(name)
        number = v.validate_model_version(version)
        with self.engine.connect() as conn:
            return str(self._version_row(conn, self._model_row(conn, name), number).storage_location)

    def set_model_version_tag(self, name: str, version: str | int, tag: ModelVersionTag) -> None:
        v.validate_model_name(name)
        number = v.validate_model_version(version)
        key, value = v.validate_registry_tag(tag.key, tag.value, "model version tag")
        with write_transaction(self.engine) as conn:
            model = self._model_row(conn, name)
            self._version_row(conn, model, number)
            row = {"registered_model_id": model.registered_model_id, "version": number, "key": key, "value": value}
            index = [_version_tags.c.registered_model_id, _version_tags.c.version, _version_tags.c.key]
            conn.execute(self._upsert(_version_tags, index, row))

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        """Remove a tag; a tag that is not there is no error (MLflow's rule), a missing version is."""
        v.validate_model_name(name)
        number = v.validate_model_version(version)
        v.validate_key(key, "model version tag")
        with write_transaction(self.engine) as conn:
            model = self._model_row(conn, name)
            self._version_row(conn, model, number)
            conn.execute(
                delete(_version_tags).where(
                    _version_tags.c.registered_model_id == model.registered_model_id,
                    _version_tags.c.version == number,
                    _version_tags.c.key == key,
                )
            )

    # -- stages ----------------------------------------------------------------------------------
    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        v.validate_model_name(name)
        number = v.validate_model_version(version)
        target = ModelVersionStage.from_string(stage)
        if archive_existing_versions and not target.is_active:
            raise InvalidParameterError(
                f"Model version transition cannot archive existing model versions because {stage!r} is not an "
                "active stage; archive_existing_versions=True works only with 'Staging' or 'Production'."
            )
        now = _now_ms()
        with write_transaction(self.engine) as conn:
            model = self._model_row(conn, name, lock=True)
            self._version_row(conn, model, number)
            live = (_versions.c.registered_model_id == model.registered_model_id, _versions.c.deleted_time.is_(None))
            if archive_existing_versions:
                conn.execute(
                    update(_versions)
                    .where(*live, _versions.c.version != number, _versions.c.current_stage == target.value)
                    .values(current_stage=ModelVersionStage.ARCHIVED.value, last_updated_timestamp=now)
                )
            conn.execute(
                update(_versions)
                .where(*live, _versions.c.version == number)
                .values(current_stage=target.value, last_updated_timestamp=now)
            )
            self._touch(conn, model.registered_model_id, now)
        return self._read_version(name, number)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when None or empty), by version."""
        v.validate_model_name(name)
        wanted = {ModelVersionStage.from_string(s).value for s in stages} if stages else set(ALL_STAGES)
        with self.engine.connect() as conn:
            model = self._model_row(conn, name)
            rows = [r for r in rr.latest_version_rows(conn, [model.registered_model_id]) if r.current_stage in wanted]
            return rr.load_model_versions(conn, rows)

    # -- aliases ---------------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` at ``version``, moving it if it pointed elsewhere."""
        v.validate_model_name(name)
        v.validate_alias(alias)
        number = v.validate_model_version(version)
        with write_transaction(self.engine) as conn:
            model = self._model_row(conn, name)
            self._version_row(conn, model, number)
            row = {"registered_model_id": model.registered_model_id, "alias": alias, "version": number}
            conn.execute(self._upsert(_aliases, [_aliases.c.registered_model_id, _aliases.c.alias], row))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias; one that is not set is no error (MLflow's rule), a missing model is."""
        v.validate_model_name(name)
        v.validate_alias(alias, allow_reserved=True)
        with write_transaction(self.engine) as conn:
            model_id = self._model_row(conn, name).registered_model_id
            conn.execute(delete(_aliases).where(_aliases.c.registered_model_id == model_id, _aliases.c.alias == alias))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at; ``latest`` (any case) is the highest live version."""
        v.validate_model_name(name)
        v.validate_alias(alias, allow_reserved=True)
        with self.engine.connect() as conn:
            model = self._model_row(conn, name)
            model_id = model.registered_model_id
            if alias.lower() == "latest":
                number = conn.execute(
                    select(func.max(_versions.c.version)).where(
                        _versions.c.registered_model_id == model_id, _versions.c.deleted_time.is_(None)
                    )
                ).scalar()
                if number is None:
                    raise ResourceNotFoundError(f"Latest version not found for model {name}: it has no versions.")
            else:
                number = conn.execute(
                    select(_aliases.c.version).where(
                        _aliases.c.registered_model_id == model_id, _aliases.c.alias == alias
                    )
                ).scalar()
                if number is None:
                    raise ResourceNotFoundError(
                        f"Registered model alias {alias} not found on model {name}; set it with "
                        "set_registered_model_alias(name, alias, version)."
                    )
        return self._read_version(name, number)
