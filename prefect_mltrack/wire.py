"""MLflow's REST JSON, both ways: entities to wire dicts (the server) and back (the REST store).

The wire format is protobuf-JSON with MLflow's quirks (reference §3.1): snake_case field names,
int64 as JSON numbers (strings accepted on input), enums by name, ids as strings, unset fields
left out, repeated fields as lists of ``{key, value}``, and NaN/±Infinity as the strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

Example:
    >>> from prefect_mltrack.entities import Metric
    >>> metric_json(Metric("loss", float("nan"), 1700000000000, 3))
    {'key': 'loss', 'value': 'NaN', 'timestamp': 1700000000000, 'step': 3}
    >>> metric_from_json({"key": "loss", "value": "Infinity", "timestamp": "5", "step": 0}).value
    inf
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from prefect_mltrack.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    InputTag,
    LifecycleStage,
    LoggedModelOutput,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
)

Json = dict[str, Any]

_SPECIAL_FLOATS = {"NaN": math.nan, "nan": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


# -- numbers -------------------------------------------------------------------------------------
def float_json(value: float) -> float | str:
    """A float as MLflow writes it: finite values as numbers, the rest as strings."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def float_from_json(value: Any) -> float:
    """Read a wire float: a number, or one of ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if isinstance(value, str):
        special = _SPECIAL_FLOATS.get(value)
        return special if special is not None else float(value)
    return float(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def key_values(mapping: Mapping[str, str]) -> list[Json]:
    """A tag or param dict as the wire's list of ``{key, value}``."""
    return [{"key": key, "value": value} for key, value in mapping.items()]


def key_value_dict(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """The wire's list of ``{key, value}`` as a dict (a missing value is ``""``, as in proto3)."""
    return {item["key"]: item.get("value", "") for item in items or ()}


def _drop_none(obj: Json) -> Json:
    return {key: value for key, value in obj.items() if value is not None}


# -- experiments ---------------------------------------------------------------------------------
def experiment_json(experiment: Experiment) -> Json:
    obj = _drop_none(
        {
            "experiment_id": experiment.experiment_id,
            "name": experiment.name,
            "artifact_location": experiment.artifact_location,
            "lifecycle_stage": str(experiment.lifecycle_stage),
            "last_update_time": experiment.last_update_time,
            "creation_time": experiment.creation_time,
        }
    )
    if experiment.tags:
        obj["tags"] = key_values(experiment.tags)
    return obj


def experiment_from_json(obj: Mapping[str, Any]) -> Experiment:
    return Experiment(
        experiment_id=str(obj["experiment_id"]),
        name=obj.get("name", ""),
        artifact_location=obj.get("artifact_location", ""),
        lifecycle_stage=LifecycleStage(obj.get("lifecycle_stage", "active")),
        tags=key_value_dict(obj.get("tags")),
        creation_time=_int_or_none(obj.get("creation_time")),
        last_update_time=_int_or_none(obj.get("last_update_time")),
    )


# -- runs ----------------------------------------------------------------------------------------
def run_info_json(info: RunInfo) -> Json:
    return _drop_none(
        {
            "run_uuid": info.run_id,
            "run_id": info.run_id,
            "run_name": info.run_name,
            "experiment_id": info.experiment_id,
            "user_id": info.user_id,
            "status": str(info.status),
            "start_time": info.start_time,
            "end_time": info.end_time,
            "artifact_uri": info.artifact_uri,
            "lifecycle_stage": str(info.lifecycle_stage),
        }
    )


def run_info_from_json(obj: Mapping[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=obj.get("run_id") or obj["run_uuid"],
        experiment_id=str(obj["experiment_id"]),
        run_name=obj.get("run_name"),
        user_id=obj.get("user_id", ""),
        status=RunStatus(obj.get("status", "RUNNING")),
        start_time=_int_or_none(obj.get("start_time")),
        end_time=_int_or_none(obj.get("end_time")),
        artifact_uri=obj.get("artifact_uri"),
        lifecycle_stage=LifecycleStage(obj.get("lifecycle_stage", "active")),
    )


def run_data_json(data: RunData) -> Json:
    obj: Json = {}
    if data.metrics:
        # RunData keeps latest values only; step and timestamp of those are not part of it.
        obj["metrics"] = [
            {"key": key, "value": float_json(value), "timestamp": 0, "step": 0} for key, value in data.metrics.items()
        ]
    if data.params:
        obj["params"] = key_values(data.params)
    if data.tags:
        obj["tags"] = key_values(data.tags)
    return obj


def run_inputs_json(inputs: RunInputs) -> Json:
    if not inputs.dataset_inputs:
        return {}
    return {
        "dataset_inputs": [
            {
                "tags": [tag.model_dump() for tag in item.tags],
                "dataset": item.dataset.model_dump(by_alias=True, exclude_none=True),
            }
            for item in inputs.dataset_inputs
        ]
    }


def run_json(run: Run) -> Json:
    return {
        "info": run_info_json(run.info),
        "data": run_data_json(run.data),
        "inputs": run_inputs_json(run.inputs),
        "outputs": run_outputs_json(run.outputs),
    }


def run_from_json(obj: Mapping[str, Any]) -> Run:
    data = obj.get("data") or {}
    inputs = obj.get("inputs") or {}
    outputs = obj.get("outputs") or {}
    return Run(
        info=run_info_from_json(obj["info"]),
        data=RunData(
            metrics={m["key"]: float_from_json(m.get("value", 0.0)) for m in data.get("metrics", ())},
            params=key_value_dict(data.get("params")),
            tags=key_value_dict(data.get("tags")),
        ),
        inputs=RunInputs(
            dataset_inputs=[
                DatasetInput(
                    dataset=Dataset.model_validate(item["dataset"]),
                    tags=[InputTag(**tag) for tag in item.get("tags", ())],
                )
                for item in inputs.get("dataset_inputs", ())
            ]
        ),
        outputs=RunOutputs(
            model_outputs=[
                LoggedModelOutput(model_id=o["model_id"], step=int(o.get("step", 0)))
                for o in outputs.get("model_outputs", ())
            ]
        ),
    )


# -- metrics -------------------------------------------------------------------------------------
def metric_json(metric: Metric, run_id: str | None = None) -> Json:
    obj: Json = {
        "key": metric.key,
        "value": float_json(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
    }
    if run_id is not None:
        obj["run_id"] = run_id
    return obj


def metric_from_json(obj: Mapping[str, Any]) -> Metric:
    return Metric(
        key=obj["key"],
        value=float_from_json(obj.get("value", 0.0)),
        timestamp=int(obj.get("timestamp", 0)),
        step=int(obj.get("step", 0)),
        run_id=obj.get("run_id"),
    )


# -- artifacts -----------------------------------------------------------------------------------
def file_info_json(info: FileInfo) -> Json:
    obj: Json = {"path": info.path, "is_dir": info.is_dir}
    if info.file_size is not None:
        obj["file_size"] = info.file_size
    return obj


def file_info_from_json(obj: Mapping[str, Any]) -> FileInfo:
    size = obj.get("file_size")
    return FileInfo(path=obj["path"], is_dir=bool(obj.get("is_dir", False)), file_size=_int_or_none(size))


# -- registry ------------------------------------------------------------------------------------
def model_version_json(version: ModelVersion) -> Json:
    obj = _drop_none(
        {
            "name": version.name,
            "version": version.version,
            "creation_timestamp": version.creation_timestamp,
            "last_updated_timestamp": version.last_updated_timestamp,
            "user_id": version.user_id,
            "current_stage": str(version.current_stage),
            "description": version.description,
            "source": version.source,
            "run_id": version.run_id,
            "status": str(version.status),
            "status_message": version.status_message,
            "run_link": version.run_link,
        }
    )
    if version.tags:
        obj["tags"] = key_values(version.tags)
    if version.aliases:
        obj["aliases"] = list(version.aliases)
    return obj


def model_version_from_json(obj: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=obj["name"],
        version=str(obj["version"]),
        creation_timestamp=int(obj.get("creation_timestamp", 0)),
        last_updated_timestamp=_int_or_none(obj.get("last_updated_timestamp")),
        description=obj.get("description"),
        user_id=obj.get("user_id"),
        current_stage=obj.get("current_stage", "None"),
        source=obj.get("source"),
        run_id=obj.get("run_id") or None,
        status=obj.get("status", "READY"),
        status_message=obj.get("status_message"),
        tags=key_value_dict(obj.get("tags")),
        run_link=obj.get("run_link"),
        aliases=list(obj.get("aliases", ())),
    )


def registered_model_json(model: RegisteredModel) -> Json:
    obj = _drop_none(
        {
            "name": model.name,
            "creation_timestamp": model.creation_timestamp,
            "last_updated_timestamp": model.last_updated_timestamp,
            "description": model.description,
        }
    )
    if model.latest_versions:
        obj["latest_versions"] = [model_version_json(v) for v in model.latest_versions]
    if model.tags:
        obj["tags"] = key_values(model.tags)
    if model.aliases:
        obj["aliases"] = [{"alias": alias, "version": version} for alias, version in model.aliases.items()]
    return obj


def registered_model_from_json(obj: Mapping[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=obj["name"],
        creation_timestamp=_int_or_none(obj.get("creation_timestamp")),
        last_updated_timestamp=_int_or_none(obj.get("last_updated_timestamp")),
        description=obj.get("description"),
        latest_versions=[model_version_from_json(v) for v in obj.get("latest_versions", ())],
        tags=key_value_dict(obj.get("tags")),
        aliases={item["alias"]: str(item["version"]) for item in obj.get("aliases", ())},
    )


# -- decoders for the REST store's hot paths -----------------------------------------------------
def metric_history_from_json(items: Iterable[Mapping[str, Any]], run_id: str) -> list[Metric]:
    """``metrics/get-history`` points as Metrics of ``run_id`` (the wire leaves the run id out).

    Every field is converted to its type here, so the entities are built without pydantic's
    validation (a history can hold 100,000 points).

    Example:
        >>> metric_history_from_json([{"key": "m", "value": "NaN", "timestamp": 5, "step": 1}], "r1")
        [Metric(key='m', value=nan, timestamp=5, step=1, run_id='r1')]
    """
    from prefect_mltrack.entities._base import trusted_many

    values = []
    for item in items:
        value = item.get("value", 0.0)
        values.append(
            {
                "key": str(item["key"]),
                "value": value if value.__class__ is float else float_from_json(value),
                "timestamp": int(item.get("timestamp", 0)),
                "step": int(item.get("step", 0)),
                "run_id": run_id,
            }
        )
    return trusted_many(Metric, values)


# -- logged models (MLflow 3) and run inputs/outputs -------------------------------------------
def model_metric_json(metric: Metric) -> Json:
    """A metric point with MLflow 3's links (``model_id``, ``dataset_name``, ``dataset_digest``,
    ``run_id``), each left out when unset."""
    obj = metric_json(metric, metric.run_id)
    for field in ("model_id", "dataset_name", "dataset_digest"):
        value = getattr(metric, field, None)
        if value:
            obj[field] = value
    return obj


def model_metric_from_json(obj: Mapping[str, Any], run_id: str | None = None, model_id: str | None = None) -> Any:
    """A wire metric as a ``ModelMetric`` (``run_id``/``model_id`` fill in what the point leaves out).

    Example:
        >>> model_metric_from_json({"key": "acc", "value": 0.9, "timestamp": 5, "model_id": "m-1"}, "r1").model_id
        'm-1'
    """
    from prefect_mltrack.entities.logged_model import ModelMetric

    return ModelMetric(
        key=obj["key"],
        value=float_from_json(obj.get("value", 0.0)),
        timestamp=int(obj.get("timestamp", 0)),
        step=int(obj.get("step", 0)),
        run_id=obj.get("run_id") or run_id,
        model_id=obj.get("model_id") or model_id,
        dataset_name=obj.get("dataset_name") or None,
        dataset_digest=obj.get("dataset_digest") or None,
    )


def logged_model_json(model: Any) -> Json:
    """A ``LoggedModel`` as ``{"info": {...}, "data": {...}}``; the status by its wire name
    (``LOGGED_MODEL_READY``), timestamps as ``*_timestamp_ms``.

    Example:
        >>> from prefect_mltrack.entities.logged_model import LoggedModel
        >>> logged_model_json(LoggedModel("1", "m-1", "model", "/a/models/m-1/artifacts", 5, 6))["info"]["status"]
        'LOGGED_MODEL_READY'
    """
    info = _drop_none(
        {
            "model_id": model.model_id,
            "experiment_id": model.experiment_id,
            "name": model.name,
            "creation_timestamp_ms": model.creation_timestamp,
            "last_updated_timestamp_ms": model.last_updated_timestamp,
            "artifact_uri": model.artifact_location,
            "status": model.status.wire_name,
            "model_type": model.model_type,
            "source_run_id": model.source_run_id,
            "status_message": model.status_message,
        }
    )
    if model.tags:
        info["tags"] = key_values(model.tags)
    data: Json = {}
    if model.params:
        data["params"] = key_values(model.params)
    if model.metrics:
        data["metrics"] = [model_metric_json(m) for m in model.metrics]
    return {"info": info, "data": data}


def logged_model_from_json(obj: Mapping[str, Any]) -> Any:
    """The inverse of :func:`logged_model_json` (for the REST store)."""
    from prefect_mltrack.entities.logged_model import LoggedModel, LoggedModelStatus

    info = obj.get("info") or {}
    data = obj.get("data") or {}
    model_id = info["model_id"]
    return LoggedModel(
        experiment_id=str(info.get("experiment_id", "")),
        model_id=model_id,
        name=info.get("name", ""),
        artifact_location=info.get("artifact_uri", ""),
        creation_timestamp=int(info.get("creation_timestamp_ms", 0)),
        last_updated_timestamp=int(info.get("last_updated_timestamp_ms", 0)),
        model_type=info.get("model_type") or None,
        source_run_id=info.get("source_run_id") or None,
        status=LoggedModelStatus.from_wire(info.get("status", "LOGGED_MODEL_STATUS_UNSPECIFIED")),
        status_message=info.get("status_message") or None,
        tags=key_value_dict(info.get("tags")),
        params=key_value_dict(data.get("params")),
        metrics=[model_metric_from_json(m, model_id=model_id) for m in data.get("metrics", ())],
    )


def run_outputs_json(outputs: RunOutputs) -> Json:
    """A run's ``outputs``: ``{"model_outputs": [{"model_id", "step"}]}``, or ``{}`` when empty."""
    if not outputs.model_outputs:
        return {}
    return {"model_outputs": [{"model_id": o.model_id, "step": o.step} for o in outputs.model_outputs]}


def dataset_input_from_json(obj: Mapping[str, Any]) -> DatasetInput:
    """One item of ``runs/log-inputs``' ``datasets``: ``{"dataset": {...}, "tags": [{key, value}]}``.

    Example:
        >>> item = dataset_input_from_json({"dataset": {"name": "iris", "digest": "ab12", "source_type": "code",
        ...     "source": "{}", "schema": "{}"}, "tags": [{"key": "mlflow.data.context", "value": "training"}]})
        >>> item.dataset.schema_, item.tags[0].value
        ('{}', 'training')
    """
    dataset = obj.get("dataset") or {}
    return DatasetInput(
        dataset=Dataset(
            name=dataset.get("name", ""),
            digest=dataset.get("digest", ""),
            source_type=dataset.get("source_type", ""),
            source=dataset.get("source", ""),
            schema=dataset.get("schema") or None,
            profile=dataset.get("profile") or None,
        ),
        tags=[InputTag(key=t.get("key", ""), value=t.get("value", "")) for t in obj.get("tags") or ()],
    )
