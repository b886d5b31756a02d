"""Wire schemas of MLflow 3's LoggedModel API and of run inputs/outputs.

Same rules as :mod:`prefect_mltrack.server.schemas`: extra fields are ignored, a wrong type or a
missing field becomes 400 ``INVALID_PARAMETER_VALUE``, and answers are built as dicts by
:mod:`prefect_mltrack.wire` (the answer models below only describe them). A status is sent by
name (``"LOGGED_MODEL_READY"``) or by proto number (``2``).

Example:
    >>> FinalizeLoggedModel(status=2).status
    2
    >>> SearchLoggedModels(experiment_ids=["1"], order_by=[{"field_name": "name"}]).order_by[0].ascending
    True
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from prefect_mltrack.server.schemas import Body, FloatWire, KeyValue


# -- answers (documentation only) ----------------------------------------------------------------
class ModelMetricOut(BaseModel):
    key: str
    value: FloatWire
    timestamp: int
    step: int
    run_id: str | None = None
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LoggedModelInfoOut(BaseModel):
    model_id: str
    experiment_id: str
    name: str
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    artifact_uri: str
    status: str = Field(description="LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED")
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class LoggedModelDataOut(BaseModel):
    params: list[KeyValue] = Field(default_factory=list)
    metrics: list[ModelMetricOut] = Field(default_factory=list)


class LoggedModelOut(BaseModel):
    info: LoggedModelInfoOut
    data: LoggedModelDataOut


class LoggedModelAnswer(BaseModel):
    model: LoggedModelOut


class LoggedModelsPage(BaseModel):
    models: list[LoggedModelOut] = Field(default_factory=list)
    next_page_token: str | None = None


class FileOut(BaseModel):
    path: str
    is_dir: bool
    file_size: int | None = None


class LoggedModelArtifacts(BaseModel):
    root_uri: str
    files: list[FileOut] = Field(default_factory=list)
    next_page_token: str | None = None


# -- requests --------------------------------------------------------------------------------------
class CreateLoggedModel(Body):
    experiment_id: str
    name: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class FinalizeLoggedModel(Body):
    model_id: str | None = None
    status: str | int


class SetLoggedModelTags(Body):
    tags: list[KeyValue] = Field(default_factory=list)


class LogLoggedModelParams(Body):
    model_id: str | None = None
    params: list[KeyValue] = Field(default_factory=list)


class DatasetFilter(BaseModel):
    dataset_name: str
    dataset_digest: str | None = None


class OrderBy(BaseModel):
    field_name: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


class SearchLoggedModels(Body):
    experiment_ids: list[str]
    filter: str | None = None
    datasets: list[DatasetFilter] = Field(default_factory=list)
    max_results: int | None = Field(default=None, ge=1)
    order_by: list[OrderBy] = Field(default_factory=list)
    page_token: str | None = None


class ModelOutputIn(BaseModel):
    model_id: str
    step: int = 0


class LogOutputs(Body):
    run_id: str
    models: list[ModelOutputIn]


class DatasetIn(BaseModel):
    name: str
    digest: str
    source_type: str
    source: str
    schema_: str | None = Field(default=None, alias="schema")
    profile: str | None = None


class InputTagIn(BaseModel):
    key: str
    value: str = ""


class DatasetInputIn(BaseModel):
    tags: list[InputTagIn] = Field(default_factory=list)
    dataset: DatasetIn


class ModelInputIn(BaseModel):
    model_id: str


class LogInputs(Body):
    run_id: str
    datasets: list[DatasetInputIn] = Field(default_factory=list)
    models: list[ModelInputIn] = Field(default_factory=list)
