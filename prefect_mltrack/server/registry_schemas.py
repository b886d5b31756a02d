"""Wire schemas of the model-registry API: request bodies (validated) and answers (documented).

Same rules as :mod:`prefect_mltrack.server.schemas`: extra fields are ignored, a wrong type or a
missing field becomes 400 ``INVALID_PARAMETER_VALUE`` through the app's validation handler, and
answers are built as dicts by :mod:`prefect_mltrack.wire` (the models below only describe them).
A version is a string on the wire (``"1"``); a JSON number is accepted as well.

Example:
    >>> TransitionStage(name="iris", version=2, stage="Production", archive_existing_versions="true").version
    '2'
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from prefect_mltrack.server.schemas import Body, KeyValue


def _version_text(value: Any) -> Any:
    # MLflow's clients send "1"; hand-written REST calls often send 1. bool is an int: refuse it.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


VersionWire = Annotated[str, BeforeValidator(_version_text)]
"""A model version number as the wire carries it: ``"3"`` (or ``3``)."""


# -- answers (documentation only) ----------------------------------------------------------------
class ModelVersionOut(BaseModel):
    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int | None = None
    user_id: str | None = None
    current_stage: str = "None"
    description: str | None = None
    source: str | None = None
    run_id: str | None = None
    status: str = "READY"
    status_message: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)
    run_link: str | None = None
    aliases: list[str] = []


class AliasOut(BaseModel):
    alias: str
    version: str


class RegisteredModelOut(BaseModel):
    name: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    latest_versions: list[ModelVersionOut] = []
    tags: list[KeyValue] = []
    aliases: list[AliasOut] = []


class RegisteredModelAnswer(BaseModel):
    registered_model: RegisteredModelOut


class RegisteredModelsPage(BaseModel):
    registered_models: list[RegisteredModelOut] = []
    next_page_token: str | None = None


class ModelVersionAnswer(BaseModel):
    model_version: ModelVersionOut


class ModelVersionsList(BaseModel):
    model_versions: list[ModelVersionOut] = []


class ModelVersionsPage(BaseModel):
    model_versions: list[ModelVersionOut] = []
    next_page_token: str | None = None


class DownloadUriAnswer(BaseModel):
    artifact_uri: str


# -- registered-model requests -------------------------------------------------------------------
class CreateRegisteredModel(Body):
    name: str
    tags: list[KeyValue] = Field(default_factory=list)
    description: str | None = None


class RenameRegisteredModel(Body):
    name: str
    new_name: str


class UpdateRegisteredModel(Body):
    name: str
    description: str | None = None


class RegisteredModelName(Body):
    name: str


class GetLatestVersions(Body):
    name: str
    stages: list[str] = Field(default_factory=list)


class SetRegisteredModelTag(Body):
    name: str
    key: str
    value: str = ""


class DeleteRegisteredModelTag(Body):
    name: str
    key: str


class SetAlias(Body):
    name: str
    alias: str
    version: VersionWire


class DeleteAlias(Body):
    name: str
    alias: str


# -- model-version requests ----------------------------------------------------------------------
class CreateModelVersion(Body):
    name: str
    source: str
    run_id: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)
    run_link: str | None = None
    description: str | None = None
    model_id: str | None = None


class ModelVersionRef(Body):
    name: str
    version: VersionWire


class UpdateModelVersion(Body):
    name: str
    version: VersionWire
    description: str | None = None


class TransitionStage(Body):
    name: str
    version: VersionWire
    stage: str
    # pydantic's lax bool takes true/false as JSON booleans and as the strings some clients send.
    archive_existing_versions: bool = False


class SetModelVersionTag(Body):
    name: str
    version: VersionWire
    key: str
    value: str = ""


class DeleteModelVersionTag(Body):
    name: str
    version: VersionWire
    key: str
