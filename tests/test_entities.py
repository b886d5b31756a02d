"""Entities: MLflow's positional order, frozen models, enum values, errors with codes."""

from __future__ import annotations

import math

import pydantic
import pytest

from prefect_mltrack.entities import (
    Experiment,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from prefect_mltrack.exceptions import (
    HTTP_STATUS_BY_CODE,
    InvalidParameterError,
    MalformedFilterError,
    MlflowException,
    MLTrackError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
)


def test_positional_constructors_follow_mlflow():
    metric = Metric("loss", 0.5, 1700000000000, 3)
    assert (metric.key, metric.value, metric.timestamp, metric.step) == ("loss", 0.5, 1700000000000, 3)
    assert Param("max_depth", 5).value == "5"
    assert RunTag("team", "vision").model_dump() == {"key": "team", "value": "vision"}
    assert Metric(key="k", value=float("nan"), timestamp=1, step=0).value != Metric("k", 1.0, 1, 0).value
    assert math.isnan(Metric("k", float("nan"), 1, 0).value)


def test_constructor_errors():
    with pytest.raises(TypeError, match="at most"):
        Param("a", "b", "c")
    with pytest.raises(TypeError, match="two values"):
        Param("a", key="b")
    with pytest.raises(pydantic.ValidationError):
        Metric("loss", "not-a-number", 1, 0)


def test_entities_are_frozen_and_comparable():
    metric = Metric("loss", 0.5, 1, 0)
    with pytest.raises(pydantic.ValidationError):
        metric.value = 1.0  # type: ignore[misc]
    assert metric == Metric("loss", 0.5, 1, 0)
    assert hash(RunTag("a", "b")) == hash(RunTag("a", "b"))


def test_run_data_accepts_entity_lists_like_mlflow():
    data = RunData(metrics=[Metric("m", 1.0, 1, 0)], params=[Param("p", 1)], tags=[RunTag("t", "v")])
    assert (data.metrics, data.params, data.tags) == ({"m": 1.0}, {"p": "1"}, {"t": "v"})


def test_run_and_experiment_shapes():
    info = RunInfo(run_id="a" * 32, experiment_id="0", status="FINISHED")
    run = Run(info=info)
    assert run.info.status == RunStatus.FINISHED == "FINISHED"
    assert run.data.metrics == {} and run.inputs.dataset_inputs == []
    experiment = Experiment("1", "iris", "file:///tmp/x", "active")
    assert experiment.lifecycle_stage == LifecycleStage.ACTIVE


def test_enums():
    assert RunStatus.from_string("failed") == RunStatus.FAILED
    assert RunStatus.is_terminated("KILLED") and not RunStatus.is_terminated("RUNNING")
    assert ViewType.from_string("all") == ViewType.ALL == 3
    with pytest.raises(ValueError, match="ACTIVE_ONLY"):
        ViewType.from_string("everything")


def test_paged_list_carries_a_token():
    page = PagedList([1, 2, 3], token="next")
    assert page == [1, 2, 3] and page.token == "next"
    assert PagedList([]).token is None


def test_error_hierarchy_and_codes():
    assert issubclass(MalformedFilterError, InvalidParameterError)
    assert MlflowException is MLTrackError
    cases = [
        (InvalidParameterError("x"), "INVALID_PARAMETER_VALUE", 400),
        (ResourceNotFoundError("x"), "RESOURCE_DOES_NOT_EXIST", 404),
        (ResourceAlreadyExistsError("x"), "RESOURCE_ALREADY_EXISTS", 400),
        (MLTrackError("x"), "INTERNAL_ERROR", 500),
        (MLTrackError("x", error_code="TEMPORARILY_UNAVAILABLE"), "TEMPORARILY_UNAVAILABLE", 503),
        (MLTrackError("x", error_code="SOMETHING_NEW"), "SOMETHING_NEW", 500),
    ]
    for error, code, status in cases:
        assert (error.error_code, error.http_status) == (code, status)
        assert error.to_dict() == {"error_code": code, "message": "x"}
    assert HTTP_STATUS_BY_CODE["ENDPOINT_NOT_FOUND"] == 404
