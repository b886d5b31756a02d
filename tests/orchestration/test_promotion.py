"""Promotion as a flow step: model tasks, the promotion event, and the champion/challenger flow."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pandas as pd
import pytest
from prefect import flow
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier

import prefect_mltrack as mlflow
from prefect_mltrack import (
    load_model_task,
    log_model_task,
    promote_model,
    register_model_task,
    set_model_alias_task,
    track,
    transition_model_stage_task,
)
from prefect_mltrack.flow_tracking import FLOW_RUN_ID_TAG
from prefect_mltrack.promotion import DECISION_TAG, PROMOTED_EVENT


@pytest.fixture
def iris() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    return frame


def _train_and_register(iris: pd.DataFrame, model: Any, name: str) -> Any:
    features, labels = iris.drop(columns=["target"]), iris["target"]

    @flow
    @track(experiment="promotion")
    def train_and_register() -> Any:
        model.fit(features, labels)
        info = log_model_task(model, "model", input_example=features.head(3))
        return register_model_task(info.model_uri, name)

    return train_and_register()


def _events(api: str, name: str, expected: int) -> list[dict[str, Any]]:
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all()
    body = {"filter": {"event": {"name": [PROMOTED_EVENT]}, "resource": {"id": [f"mltrack.model.{name}"]}}, "limit": 50}
    found: list[dict[str, Any]] = []
    for _ in range(100):  # the server stores events asynchronously
        found = httpx.post(f"{api}/events/filter", json=body, timeout=10).json()["events"]
        if len(found) >= expected:
            break
        time.sleep(0.1)
    return found


def test_model_tasks_log_register_transition_alias_and_load(prefect_api: str, iris: pd.DataFrame) -> None:
    version = _train_and_register(iris, RandomForestClassifier(n_estimators=10, random_state=0), "IrisTasks")
    assert version.version == "1"
    run = mlflow.get_run(version.run_id)
    assert run.data.tags[FLOW_RUN_ID_TAG]  # lineage: version -> run -> Prefect flow run

    @flow
    def release() -> Any:
        transition_model_stage_task("IrisTasks", 1, "production")
        set_model_alias_task("IrisTasks", "champion", 1)
        model = load_model_task("models:/IrisTasks@champion")
        return model.predict(iris.drop(columns=["target"]).head(2))

    assert list(release()) == [0, 0]
    assert mlflow.MlflowClient().get_model_version("IrisTasks", "1").current_stage == "Production"
    events = _events(prefect_api, "IrisTasks", expected=3)  # register, transition, alias
    payloads = [e["payload"] for e in events]
    assert {"version": 1, "run_id": version.run_id, "stage": "Production"} in payloads
    assert {"version": 1, "run_id": version.run_id, "alias": "champion"} in payloads
    assert all(e["resource"]["mltrack.model.name"] == "IrisTasks" for e in events)


def test_promote_model_decides_both_ways_and_is_idempotent(prefect_api: str, iris: pd.DataFrame) -> None:
    name = "IrisChampion"
    good = _train_and_register(iris, RandomForestClassifier(n_estimators=10, random_state=0), name)
    poor = _train_and_register(iris, DummyClassifier(strategy="most_frequent"), name)
    client = mlflow.MlflowClient()

    first = promote_model(name, good.version, evaluation_data=iris, target="target")
    assert first["decision"] == "promoted" and first["champion_version"] is None
    assert client.get_model_version_by_alias(name, "champion").version == good.version

    second = promote_model(name, poor.version, evaluation_data=iris, target="target")
    assert second["decision"] == "rejected"
    assert second["candidate_score"] < second["champion_score"]
    assert client.get_model_version_by_alias(name, "champion").version == good.version
    tags = client.get_model_version(name, poor.version).tags
    assert tags[DECISION_TAG] == "rejected" and tags["mltrack.promotion.champion_version"] == good.version
    assert tags["prefect.flow_run_id"]

    assert promote_model(name, poor.version, evaluation_data=iris, target="target")["decision"] == "rejected"
    again = promote_model(name, good.version, evaluation_data=iris, target="target")
    assert again["decision"] == "unchanged"
    assert client.get_model_version_by_alias(name, "champion").version == good.version


def test_promote_model_needs_the_configured_margin(prefect_api: str, iris: pd.DataFrame, tmp_path: Any) -> None:
    name = "IrisMargin"
    first = _train_and_register(iris, RandomForestClassifier(n_estimators=5, random_state=1), name)
    second = _train_and_register(iris, RandomForestClassifier(n_estimators=5, random_state=2), name)
    csv = tmp_path / "eval.csv"
    iris.to_csv(csv, index=False)
    promote_model(name, first.version, evaluation_data=str(csv), target="target")
    decision = promote_model(name, second.version, evaluation_data=str(csv), target="target", min_improvement=0.5)
    assert decision["decision"] == "rejected" and "needed > 0.5" in decision["reason"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "label"}, "no target column 'label'"),
        ({"target": "target", "metric": "auc"}, "Unknown metric 'auc'"),
        ({"target": "target", "min_improvement": -1}, "min_improvement must be 0 or more"),
    ],
)
def test_promote_model_refuses_bad_settings(
    prefect_api: str, iris: pd.DataFrame, kwargs: dict[str, Any], message: str
) -> None:
    name = "IrisBad"
    version = _train_and_register(iris, RandomForestClassifier(n_estimators=3, random_state=0), name)
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", version.version)
    other = _train_and_register(iris, RandomForestClassifier(n_estimators=3, random_state=1), name)
    state = promote_model(name, other.version, evaluation_data=iris, return_state=True, **kwargs)
    assert state.is_failed()
    with pytest.raises(mlflow.MLTrackError, match=message):
        state.result()
