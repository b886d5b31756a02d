"""Tracking entities with MLflow's field names: experiments, runs, metrics, params, tags, files."""

from __future__ import annotations

import enum
from typing import Any, Generic, TypeVar

from pydantic import Field, field_validator

from prefect_mltrack.entities._base import Entity


class RunStatus(enum.StrEnum):
    """A run's status. Compares equal to MLflow's strings (``run.info.status == "FINISHED"``)."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @classmethod
    def from_string(cls, value: str) -> RunStatus:
        return cls(value.upper())

    @classmethod
    def to_string(cls, value: RunStatus | str) -> str:
        return str(cls(value))

    @classmethod
    def is_terminated(cls, value: RunStatus | str) -> bool:
        return cls(value) in (cls.FINISHED, cls.FAILED, cls.KILLED)


class LifecycleStage(enum.StrEnum):
    """Whether an experiment or run is live or soft-deleted."""

    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(enum.IntEnum):
    """Which lifecycle stages a search returns (MLflow's numbering)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @classmethod
    def from_string(cls, value: str) -> ViewType:
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError(f"Invalid view type {value!r}; use one of ACTIVE_ONLY, DELETED_ONLY, ALL") from None

    def stages(self) -> tuple[LifecycleStage, ...]:
        return {
            ViewType.ACTIVE_ONLY: (LifecycleStage.ACTIVE,),
            ViewType.DELETED_ONLY: (LifecycleStage.DELETED,),
            ViewType.ALL: (LifecycleStage.ACTIVE, LifecycleStage.DELETED),
        }[self]


class SourceType(enum.StrEnum):
    NOTEBOOK = "NOTEBOOK"
    JOB = "JOB"
    PROJECT = "PROJECT"
    LOCAL = "LOCAL"
    UNKNOWN = "UNKNOWN"


def _as_str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


class Metric(Entity):
    """One logged point of a metric.

    Example:
        >>> Metric("loss", 0.25, 1700000000000, 3).step
        3
    """

    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None


class Param(Entity):
    """A run parameter; values are stored as strings, as MLflow does.

    Example:
        >>> Param("max_depth", 5).value
        '5'
    """

    key: str
    value: str

    _stringify = field_validator("value", mode="before")(_as_str)


class RunTag(Entity):
    """A run tag, e.g. ``RunTag("team", "vision")``."""

    key: str
    value: str

    _stringify = field_validator("value", mode="before")(_as_str)


class ExperimentTag(Entity):
    """An experiment tag, e.g. ``ExperimentTag("owner", "ml-team")``."""

    key: str
    value: str

    _stringify = field_validator("value", mode="before")(_as_str)


class Experiment(Entity):
    """An experiment: a named group of runs with its own artifact location."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    tags: dict[str, str] = Field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


class RunInfo(Entity):
    """A run's metadata. ``run_id`` is a 32-character hex string."""

    run_id: str
    experiment_id: str
    run_name: str | None = None
    user_id: str = ""
    status: RunStatus = RunStatus.RUNNING
    start_time: int | None = None
    end_time: int | None = None
    artifact_uri: str | None = None
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE


class RunData(Entity):
    """What a run logged: latest metric values, params and tags, each a dict keyed by name."""

    metrics: dict[str, float] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("metrics", "params", "tags", mode="before")
    @classmethod
    def _from_entity_list(cls, value: Any) -> Any:
        # MLflow's RunData takes lists of Metric/Param/RunTag; accept those too.
        if isinstance(value, list | tuple):
            return {item.key: item.value for item in value}
        return value


class Dataset(Entity):
    """A dataset reference logged as a run input."""

    name: str
    digest: str
    source_type: str
    source: str
    schema_: str | None = Field(default=None, alias="schema")
    profile: str | None = None


class InputTag(Entity):
    key: str
    value: str


class DatasetInput(Entity):
    dataset: Dataset
    tags: list[InputTag] = Field(default_factory=list)


class RunInputs(Entity):
    """A run's inputs (datasets); empty until datasets are logged."""

    dataset_inputs: list[DatasetInput] = Field(default_factory=list)


class LoggedModelOutput(Entity):
    """A run's output: the model it logged, at a step (0 unless logged at a training step)."""

    model_id: str
    step: int = 0


class RunOutputs(Entity):
    """What a run produced: its logged models (MLflow 3)."""

    model_outputs: list[LoggedModelOutput] = Field(default_factory=list)


class Run(Entity):
    """A run: ``info``, ``data``, ``inputs`` and ``outputs``, as in MLflow."""

    info: RunInfo
    data: RunData = Field(default_factory=RunData)
    inputs: RunInputs = Field(default_factory=RunInputs)
    outputs: RunOutputs = Field(default_factory=RunOutputs)


class FileInfo(Entity):
    """One entry of an artifact listing; ``file_size`` is None for directories."""

    path: str
    is_dir: bool
    file_size: int | None = None


T = TypeVar("T")


class PagedList(list[T], Generic[T]):
    """A page of results; ``token`` fetches the next page and is None on the last one.

    Example:
        >>> page = PagedList([1, 2], token="abc")
        >>> list(page), page.token
        ([1, 2], 'abc')
    """

    def __init__(self, items: Any = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token
