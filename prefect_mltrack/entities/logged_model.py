"""MLflow 3's LoggedModel and a run's model outputs, with MLflow's Python field names and order.

``log_model`` in MLflow 3 creates a LoggedModel (id ``m-`` + 32 hex) whose files live under
``<experiment artifact location>/models/<model_id>/artifacts``; the run that produced it records
it as an output (``LoggedModelOutput``), and ``models:/m-...`` URIs point at it.

Example:
    >>> model = LoggedModel("1", "m-" + "0" * 32, "model", "/art/1/models/m-0/artifacts", 1, 1)
    >>> model.status, model.model_uri, LoggedModelStatus.READY.wire_name
    (<LoggedModelStatus.READY: 'READY'>, 'models:/m-00000000000000000000000000000000', 'LOGGED_MODEL_READY')
"""

from __future__ import annotations

import enum
import re
from typing import Any, Final

from pydantic import Field, field_validator

from prefect_mltrack.entities._base import Entity

# Run outputs live on Run (tracking.py); they are re-exported here, beside the models they point at.
from prefect_mltrack.entities.tracking import LoggedModelOutput, Metric, RunOutputs  # noqa: F401
from prefect_mltrack.exceptions import InvalidParameterError

MODEL_ID_PATTERN: Final = re.compile(r"^m-[0-9a-f]{32}$")


def logged_model_id_of(uri: str) -> str | None:
    """The logged-model id of a ``models:/m-<32 hex>`` URI (MLflow 3's ``model_info.model_uri``),
    or None for any other URI.

    Example:
        >>> logged_model_id_of("models:/m-" + "a" * 32), logged_model_id_of("models:/iris/1")
        ('m-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', None)
    """
    if not uri.startswith("models:/"):
        return None
    model_id = uri[len("models:/") :].rstrip("/")
    return model_id if MODEL_ID_PATTERN.match(model_id) else None


class LoggedModelStatus(enum.StrEnum):
    """Upload state of a logged model. Values are MLflow's Python names; the wire uses
    :attr:`wire_name` (``LOGGED_MODEL_READY``) or the proto numbers 0-3.

    Example:
        >>> LoggedModelStatus.from_wire("LOGGED_MODEL_UPLOAD_FAILED"), LoggedModelStatus.from_wire(2)
        (<LoggedModelStatus.FAILED: 'FAILED'>, <LoggedModelStatus.READY: 'READY'>)
    """

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"

    @property
    def wire_name(self) -> str:
        return _WIRE_NAMES[self]

    @property
    def is_finalized(self) -> bool:
        """READY and FAILED: no further status change is expected."""
        return self in (LoggedModelStatus.READY, LoggedModelStatus.FAILED)

    @classmethod
    def from_wire(cls, value: Any) -> LoggedModelStatus:
        """Read a status as any client may send it: proto name, Python name or proto number."""
        if isinstance(value, cls):
            return value
        if (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit()):
            found = _BY_NUMBER.get(int(value))
        else:
            found = _BY_NAME.get(str(value).upper()) if isinstance(value, str) else None
        if found is None:
            raise InvalidParameterError(
                f"Invalid logged model status {value!r}; use one of LOGGED_MODEL_PENDING, LOGGED_MODEL_READY, "
                "LOGGED_MODEL_UPLOAD_FAILED."
            )
        return found


_WIRE_NAMES: Final = {
    LoggedModelStatus.UNSPECIFIED: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}
_BY_NUMBER: Final = dict(enumerate(LoggedModelStatus))
_BY_NAME: Final = {
    **{status.value: status for status in LoggedModelStatus},
    **{wire.upper(): status for status, wire in _WIRE_NAMES.items()},
}


class ModelMetric(Metric):
    """A metric point linked to a logged model (and optionally to the dataset it was computed on),
    as MLflow 3's ``Metric`` carries ``model_id``, ``dataset_name`` and ``dataset_digest``.

    Example:
        >>> ModelMetric("acc", 0.9, 1700000000000, 0, "r1", model_id="m-1", dataset_name="iris").dataset_name
        'iris'
    """

    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


def _key_value_dict(value: Any) -> Any:
    # MLflow's constructors take lists of tag/param entities; accept those as well as a dict.
    if isinstance(value, list | tuple):
        return {item.key: item.value for item in value}
    return value


class LoggedModelTag(Entity):
    """A logged model's tag, e.g. ``LoggedModelTag("mlflow.modelVersions", "[...]")``."""

    key: str
    value: str


class LoggedModelParameter(Entity):
    """A logged model's parameter; values are strings, as for runs."""

    key: str
    value: str


class LoggedModel(Entity):
    """A model logged by MLflow 3's ``log_model`` (or created with ``initialize_logged_model``).

    ``artifact_location`` is where its files are (``artifact_uri`` on the wire); ``metrics`` are the
    points linked to it with their run and dataset.
    """

    experiment_id: str
    model_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    model_type: str | None = None
    source_run_id: str | None = None
    status: LoggedModelStatus = LoggedModelStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    metrics: list[ModelMetric] = Field(default_factory=list)

    _tags = field_validator("tags", "params", mode="before")(_key_value_dict)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> LoggedModelStatus:
        return LoggedModelStatus.from_wire(value)

    @property
    def artifact_uri(self) -> str:
        return self.artifact_location

    @property
    def model_uri(self) -> str:
        """``models:/<model_id>``, the URI ``load_model`` takes."""
        return f"models:/{self.model_id}"


class LoggedModelInput(Entity):
    """A run's input model (a run that evaluates or fine-tunes an earlier logged model)."""

    model_id: str
