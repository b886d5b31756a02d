"""The tracking schema as typed SQLAlchemy 2 ORM classes.

The store writes through SQLAlchemy Core on these classes' tables (``Model.__table__``): one
short statement per concern, no ORM unit-of-work on the hot path. Alembic migrations in
``migrations/versions`` must produce exactly this metadata (a test compares them).

SQLite stores NaN as NULL and -0.0 as 0.0, so metric values keep a ``special`` flag
(:data:`SPECIAL_NAN`, :data:`SPECIAL_NEG_ZERO`) next to the plain number; the value column then
holds 0.0 and every value round-trips bit-exactly on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Final, cast

from sqlalchemy import (
    BigInteger,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SPECIAL_NONE: Final = 0
SPECIAL_NAN: Final = 1
SPECIAL_NEG_ZERO: Final = 2

# Stable constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ExperimentRow(Base):
    __tablename__ = "experiments"

    experiment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(500), unique=True)
    artifact_location: Mapped[str] = mapped_column(Text)
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default="active")
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)
    deleted_time: Mapped[int | None] = mapped_column(BigInteger)


class ExperimentTagRow(Base):
    __tablename__ = "experiment_tags"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_experiment_id_start_time", "experiment_id", "start_time"),)

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(250))
    user_id: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(20))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default="active")
    artifact_uri: Mapped[str] = mapped_column(Text)
    deleted_time: Mapped[int | None] = mapped_column(BigInteger)


class ParamRow(Base):
    __tablename__ = "params"
    __table_args__ = ({"sqlite_with_rowid": False},)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


PARENT_RUN_TAG: Final = "mlflow.parentRunId"


class TagRow(Base):
    """A run tag. Child runs are found through their ``mlflow.parentRunId`` tag: a partial index on
    those values alone keeps "children of X" an index lookup at any number of runs (an index on every
    tag value would break PostgreSQL's btree size limit for long values)."""

    __tablename__ = "tags"
    __table_args__ = (
        Index(
            "ix_tags_parent_run_id",
            "value",
            sqlite_where=text(f"key = '{PARENT_RUN_TAG}'"),
            postgresql_where=text(f"key = '{PARENT_RUN_TAG}'"),
        ),
        {"sqlite_with_rowid": False},
    )

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MetricRow(Base):
    """Every logged point. The key covers every column, so an exact duplicate is ignored (MLflow's
    rule) and a history read is an index range scan on (run_id, key)."""

    __tablename__ = "metrics"
    __table_args__ = ({"sqlite_with_rowid": False},)  # clustered on the key: one B-tree write per point

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Double, primary_key=True)
    special: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=SPECIAL_NONE)


class LatestMetricRow(Base):
    """The point with the highest (step, timestamp, value) per run and key: what run.data.metrics
    shows and what search filters and sorts on, kept up to date by an upsert on each write."""

    __tablename__ = "latest_metrics"
    __table_args__ = ({"sqlite_with_rowid": False},)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Double)
    special: Mapped[int] = mapped_column(SmallInteger, default=SPECIAL_NONE)


# The Core tables the store writes through (the ORM types them only as FromClause).
experiments = cast(Table, ExperimentRow.__table__)
experiment_tags = cast(Table, ExperimentTagRow.__table__)
runs = cast(Table, RunRow.__table__)
params = cast(Table, ParamRow.__table__)
tags = cast(Table, TagRow.__table__)
metrics = cast(Table, MetricRow.__table__)
latest_metrics = cast(Table, LatestMetricRow.__table__)


# -- model registry --------------------------------------------------------------------------------
# Child tables refer to a registered model by a surrogate id, so a rename is one row's update.


class RegisteredModelRow(Base):
    __tablename__ = "registered_models"

    registered_model_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)


class RegisteredModelTagRow(Base):
    __tablename__ = "registered_model_tags"

    registered_model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.registered_model_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelVersionRow(Base):
    """A version; deleting one sets ``deleted_time`` (the row stays, so its number is never reused)."""

    __tablename__ = "model_versions"
    __table_args__ = (Index("ix_model_versions_run_id", "run_id"),)

    registered_model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.registered_model_id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(String(256))
    current_stage: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(Text)
    storage_location: Mapped[str] = mapped_column(Text)  # source resolved to an artifact URI
    run_id: Mapped[str | None] = mapped_column(String(256))
    run_link: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    status_message: Mapped[str | None] = mapped_column(Text)
    deleted_time: Mapped[int | None] = mapped_column(BigInteger)


class ModelVersionTagRow(Base):
    __tablename__ = "model_version_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["registered_model_id", "version"],
            ["model_versions.registered_model_id", "model_versions.version"],
            ondelete="CASCADE",
        ),
    )

    registered_model_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RegisteredModelAliasRow(Base):
    __tablename__ = "registered_model_aliases"
    __table_args__ = (
        ForeignKeyConstraint(
            ["registered_model_id", "version"],
            ["model_versions.registered_model_id", "model_versions.version"],
            ondelete="CASCADE",
        ),
    )

    registered_model_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(256), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


registered_models = cast(Table, RegisteredModelRow.__table__)
registered_model_tags = cast(Table, RegisteredModelTagRow.__table__)
model_versions = cast(Table, ModelVersionRow.__table__)
model_version_tags = cast(Table, ModelVersionTagRow.__table__)
registered_model_aliases = cast(Table, RegisteredModelAliasRow.__table__)


# -- logged models (MLflow 3) and run inputs/outputs ---------------------------------------------
# A logged model belongs to an experiment; its source run is a plain column (the model outlives a
# purged run, as in MLflow). Run links (outputs, model inputs, dataset inputs) cascade with the run.


class LoggedModelRow(Base):
    __tablename__ = "logged_models"
    __table_args__ = (
        Index("ix_logged_models_experiment_id_creation_timestamp_ms", "experiment_id", "creation_timestamp_ms"),
        Index("ix_logged_models_source_run_id", "source_run_id"),
    )

    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    artifact_location: Mapped[str] = mapped_column(Text)
    creation_timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default="active")
    model_type: Mapped[str | None] = mapped_column(String(500))
    source_run_id: Mapped[str | None] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(Text)


class LoggedModelTagRow(Base):
    __tablename__ = "logged_model_tags"
    __table_args__ = ({"sqlite_with_rowid": False},)

    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LoggedModelParamRow(Base):
    __tablename__ = "logged_model_params"
    __table_args__ = ({"sqlite_with_rowid": False},)

    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LoggedModelMetricRow(Base):
    """A metric point linked to a model. The key covers every column, so an exact duplicate is
    ignored, as in ``metrics``; a missing run or dataset is stored as ``""`` to stay in the key."""

    __tablename__ = "logged_model_metrics"
    __table_args__ = ({"sqlite_with_rowid": False},)

    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Double, primary_key=True)
    special: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=SPECIAL_NONE)
    run_id: Mapped[str] = mapped_column(String(32), primary_key=True, default="")
    dataset_name: Mapped[str] = mapped_column(String(500), primary_key=True, default="")
    dataset_digest: Mapped[str] = mapped_column(String(36), primary_key=True, default="")


class RunOutputRow(Base):
    """A model a run logged, at a step."""

    __tablename__ = "run_outputs"
    __table_args__ = (Index("ix_run_outputs_model_id", "model_id"), {"sqlite_with_rowid": False})

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, default=0)


class RunModelInputRow(Base):
    """A logged model a run used as input."""

    __tablename__ = "run_model_inputs"
    __table_args__ = ({"sqlite_with_rowid": False},)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True)


class DatasetRow(Base):
    """A dataset seen in an experiment, identified by (name, digest) within it."""

    __tablename__ = "datasets"
    __table_args__ = (Index("ix_datasets_experiment_id_name_digest", "experiment_id", "name", "digest", unique=True),)

    dataset_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    digest: Mapped[str] = mapped_column(String(36))
    source_type: Mapped[str] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(Text)
    dataset_schema: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[str | None] = mapped_column(Text)


class DatasetInputRow(Base):
    """A dataset a run used; ``position`` keeps the order inputs were logged in."""

    __tablename__ = "dataset_inputs"
    __table_args__ = (Index("ix_dataset_inputs_dataset_id", "dataset_id"), {"sqlite_with_rowid": False})

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.dataset_id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    position: Mapped[int] = mapped_column(Integer)


class DatasetInputTagRow(Base):
    """An input tag, e.g. ``mlflow.data.context = training``."""

    __tablename__ = "dataset_input_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["run_id", "dataset_id"], ["dataset_inputs.run_id", "dataset_inputs.dataset_id"], ondelete="CASCADE"
        ),
        {"sqlite_with_rowid": False},
    )

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


logged_models = cast(Table, LoggedModelRow.__table__)
logged_model_tags = cast(Table, LoggedModelTagRow.__table__)
logged_model_params = cast(Table, LoggedModelParamRow.__table__)
logged_model_metrics = cast(Table, LoggedModelMetricRow.__table__)
run_outputs = cast(Table, RunOutputRow.__table__)
run_model_inputs = cast(Table, RunModelInputRow.__table__)
datasets = cast(Table, DatasetRow.__table__)
dataset_inputs = cast(Table, DatasetInputRow.__table__)
dataset_input_tags = cast(Table, DatasetInputTagRow.__table__)
