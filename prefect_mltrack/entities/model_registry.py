"""Model-registry entities with MLflow's field names and positional order: registered models,
their versions, tags and aliases, and the (deprecated but still used) version stages.

Example:
    >>> mv = ModelVersion("iris", 3, 1700000000000, current_stage="production")
    >>> mv.version, mv.current_stage == "Production", mv.status
    ('3', True, <ModelVersionStatus.READY: 'READY'>)
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import Field, field_validator

from prefect_mltrack.entities._base import Entity
from prefect_mltrack.exceptions import InvalidParameterError


class ModelVersionStage(enum.StrEnum):
    """A version's stage. Input is case-insensitive; values are MLflow's canonical spellings.

    Example:
        >>> ModelVersionStage.from_string("STAGING")
        <ModelVersionStage.STAGING: 'Staging'>
    """

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    @classmethod
    def from_string(cls, stage: Any) -> ModelVersionStage:
        if isinstance(stage, cls):
            return stage
        canonical = _STAGES_BY_LOWER.get(stage.lower()) if isinstance(stage, str) else None
        if canonical is None:
            raise InvalidParameterError(
                f"Invalid Model Version stage: {stage!r}. Value must be one of {', '.join(ALL_STAGES)} (any case)."
            )
        return canonical

    @property
    def is_active(self) -> bool:
        """Staging and Production: the stages ``archive_existing_versions`` may be used with."""
        return self in (ModelVersionStage.STAGING, ModelVersionStage.PRODUCTION)


ALL_STAGES: tuple[str, ...] = tuple(stage.value for stage in ModelVersionStage)
_STAGES_BY_LOWER = {stage.value.lower(): stage for stage in ModelVersionStage}


class ModelVersionStatus(enum.StrEnum):
    """Registration status. This store registers synchronously, so versions are READY at once."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


def _as_str(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


def _tag_dict(value: Any) -> Any:
    # MLflow's constructors take lists of tag entities; accept those as well as a dict.
    if isinstance(value, list | tuple):
        return {tag.key: tag.value for tag in value}
    return value


class RegisteredModelTag(Entity):
    """A registered model's tag, e.g. ``RegisteredModelTag("team", "vision")``."""

    key: str
    value: str

    _stringify = field_validator("value", mode="before")(_as_str)


class ModelVersionTag(Entity):
    """A model version's tag, e.g. ``ModelVersionTag("validated", "true")``."""

    key: str
    value: str

    _stringify = field_validator("value", mode="before")(_as_str)


class RegisteredModelAlias(Entity):
    """An alias pointing at a version: ``RegisteredModelAlias("champion", "3")``."""

    alias: str
    version: str

    _stringify = field_validator("version", mode="before")(_as_str)


class ModelVersion(Entity):
    """One version of a registered model. ``version`` is a string ("1", "2", ...), as in MLflow.

    ``tags`` is a dict; ``aliases`` lists the aliases that point at this version.
    """

    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int | None = None
    description: str | None = None
    user_id: str | None = None
    current_stage: ModelVersionStage = ModelVersionStage.NONE
    source: str | None = None
    run_id: str | None = None
    status: ModelVersionStatus = ModelVersionStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    run_link: str | None = None
    aliases: list[str] = Field(default_factory=list)

    _stringify = field_validator("version", mode="before")(_as_str)
    _tags = field_validator("tags", mode="before")(_tag_dict)

    @field_validator("current_stage", mode="before")
    @classmethod
    def _canonical_stage(cls, value: Any) -> Any:
        return ModelVersionStage.NONE if value is None else ModelVersionStage.from_string(value)


class RegisteredModel(Entity):
    """A registered model: a name, its tags and aliases, and the newest version in each stage.

    ``aliases`` maps alias -> version, as MLflow's ``RegisteredModel.aliases`` does (the REST API
    writes it as a list of ``{alias, version}``); a list of :class:`RegisteredModelAlias` is
    accepted too.

    Example:
        >>> RegisteredModel("iris", aliases=[RegisteredModelAlias("champion", 2)]).aliases
        {'champion': '2'}
    """

    name: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    latest_versions: list[ModelVersion] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)

    _tags = field_validator("tags", mode="before")(_tag_dict)

    @field_validator("aliases", mode="before")
    @classmethod
    def _alias_dict(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return {item.alias: str(item.version) for item in value}
        return value
