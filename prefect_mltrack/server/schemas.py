"""Wire schemas of the tracking API: request bodies (validated) and answers (documented).

Requests are pydantic models so FastAPI validates them and the OpenAPI document describes them;
extra fields are ignored (MLflow's clients send deprecated ones such as ``run_uuid``). int64
fields accept numbers and numeric strings, as MLflow's server does. Answers are built as dicts
by :mod:`prefect_mltrack.wire`; the models below only describe them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FloatWire = float | Literal["NaN", "Infinity", "-Infinity"]
"""A float on the wire: a number (numeric strings accepted), or ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class KeyValue(BaseModel):
    key: str
    value: str | None = None


# -- answers (documentation only) ----------------------------------------------------------------
class ExperimentOut(BaseModel):
    experiment_id: str
    name: str
    artifact_location: str | None = None
    lifecycle_stage: str
    last_update_time: int | None = None
    creation_time: int | None = None
    tags: list[KeyValue] = []


class RunInfoOut(BaseModel):
    run_id: str
    run_uuid: str
    run_name: str | None = None
    experiment_id: str
    user_id: str | None = None
    status: str
    start_time: int | None = None
    end_time: int | None = None
    artifact_uri: str | None = None
    lifecycle_stage: str


class MetricOut(BaseModel):
    key: str
    value: FloatWire
    timestamp: int
    step: int
    run_id: str | None = None


class RunDataOut(BaseModel):
    metrics: list[MetricOut] = []
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class RunOut(BaseModel):
    info: RunInfoOut
    data: RunDataOut
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}


class FileInfoOut(BaseModel):
    path: str
    is_dir: bool
    file_size: int | None = None


class ExperimentIdOut(BaseModel):
    experiment_id: str


class ExperimentAnswer(BaseModel):
    experiment: ExperimentOut


class ExperimentsPage(BaseModel):
    experiments: list[ExperimentOut] = []
    next_page_token: str | None = None


class RunAnswer(BaseModel):
    run: RunOut


class RunInfoAnswer(BaseModel):
    run_info: RunInfoOut


class RunsPage(BaseModel):
    runs: list[RunOut] = []
    next_page_token: str | None = None


class MetricsPage(BaseModel):
    metrics: list[MetricOut] = []
    next_page_token: str | None = None


class ArtifactListing(BaseModel):
    root_uri: str | None = None
    files: list[FileInfoOut] = []
    next_page_token: str | None = None


class ErrorOut(BaseModel):
    """MLflow's error body; ``error_code`` is one of MLflow's codes (``RESOURCE_DOES_NOT_EXIST``...)."""

    error_code: str
    message: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (400, "Invalid request: INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS or BAD_REQUEST"),
        (401, "UNAUTHENTICATED: a bearer token is required"),
        (403, "PERMISSION_DENIED: Host or Origin not allowed"),
        (404, "RESOURCE_DOES_NOT_EXIST"),
        (413, "Request body too large"),
    )
}


class Empty(BaseModel):
    """The ``{}`` of every void endpoint."""


# -- experiment requests -------------------------------------------------------------------------
class CreateExperiment(Body):
    name: str
    artifact_location: str | None = None
    tags: list[KeyValue] = []


class ExperimentId(Body):
    experiment_id: str


class UpdateExperiment(Body):
    experiment_id: str
    new_name: str


class SetExperimentTag(Body):
    experiment_id: str
    key: str
    value: str = ""


class DeleteExperimentTag(Body):
    experiment_id: str
    key: str


class SearchExperiments(Body):
    max_results: int = Field(default=1000, ge=1)
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = []
    view_type: str = "ACTIVE_ONLY"


# -- run requests --------------------------------------------------------------------------------
class CreateRun(Body):
    experiment_id: str = "0"
    user_id: str = ""
    run_name: str | None = None
    start_time: int | None = None
    tags: list[KeyValue] = []
    run_id: str | None = Field(
        default=None, description="prefect-mltrack extension: choose the run id (e.g. from a Prefect flow run)"
    )


class UpdateRun(Body):
    run_id: str | None = None
    run_uuid: str | None = None
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


class RunId(Body):
    run_id: str


class LogMetric(Body):
    run_id: str | None = None
    run_uuid: str | None = None
    key: str
    value: FloatWire
    timestamp: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LogParam(Body):
    run_id: str | None = None
    run_uuid: str | None = None
    key: str
    value: str


class SetTag(Body):
    run_id: str | None = None
    run_uuid: str | None = None
    key: str
    value: str


class DeleteTag(Body):
    run_id: str
    key: str


class MetricIn(BaseModel):
    key: str
    value: FloatWire
    timestamp: int
    step: int = 0
    model_id: str | None = Field(default=None, description="MLflow 3: also record the point on this logged model")
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LogBatch(Body):
    run_id: str
    metrics: list[MetricIn] = []
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class LogModel(Body):
    run_id: str
    model_json: str


class SearchRuns(Body):
    experiment_ids: list[str] = []
    filter: str | None = None
    run_view_type: str = "ACTIVE_ONLY"
    max_results: int = Field(default=1000, ge=1)
    order_by: list[str] = []
    page_token: str | None = None
