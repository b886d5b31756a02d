"""Promotion as a flow step: registry changes as Prefect tasks that emit an event, and a
champion/challenger flow that promotes a model version only when it is measurably better.

Every promotion emits the Prefect event ``mltrack.model.version.promoted`` on the resource
``mltrack.model.<name>``, with the version, the stage or alias, and the run id in its payload, so
a deployment trigger can answer it (the deploy flow publishes the new version to a model server)::

    DeploymentEventTrigger(expect={"mltrack.model.version.promoted"},
                           match={"prefect.resource.id": "mltrack.model.*"},
                           parameters={"name": "{{ event.resource['mltrack.model.name'] }}",
                                       "version": "{{ event.payload.version }}"})
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from prefect import flow, task

from prefect_mltrack import fluent
from prefect_mltrack.exceptions import InvalidParameterError, ResourceNotFoundError
from prefect_mltrack.tasks import retry_on_transient_errors

if TYPE_CHECKING:
    import pandas as pd

    from prefect_mltrack.entities import ModelVersion

logger = logging.getLogger(__name__)

PROMOTED_EVENT = "mltrack.model.version.promoted"
DECISION_TAG = "mltrack.promotion.decision"

_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [1, 5],
    "retry_condition_fn": retry_on_transient_errors,
}


def emit_promotion_event(
    name: str, version: str | int, *, stage: str | None = None, alias: str | None = None, run_id: str | None = None
) -> Any:
    """Emit ``mltrack.model.version.promoted`` for ``name`` version ``version``; returns the event (or None)."""
    from prefect.events import emit_event

    payload: dict[str, Any] = {"version": int(version), "run_id": run_id}
    if stage is not None:
        payload["stage"] = stage
    if alias is not None:
        payload["alias"] = alias
    resource = {
        "prefect.resource.id": f"mltrack.model.{name}",
        "prefect.resource.name": name,
        "mltrack.model.name": name,
    }
    # Labels as well as payload: a deployment trigger can match labels (only @champion moves, say).
    if stage is not None:
        resource["mltrack.model.stage"] = stage
    if alias is not None:
        resource["mltrack.model.alias"] = alias
    return emit_event(event=PROMOTED_EVENT, resource=resource, payload=payload)


# -- tasks ----------------------------------------------------------------------------------------
@task(name="Register model", description="Register a logged model as a new version of a registered model.", **_RETRIES)
def register_model_task(model_uri: str, name: str, tags: Mapping[str, Any] | None = None) -> ModelVersion:
    """``register_model`` as a task: creates the registered model if needed, returns the new version."""
    from prefect_mltrack.registry_client import register_model

    model_version = register_model(model_uri, name, tags=tags)
    emit_promotion_event(name, model_version.version, stage=model_version.current_stage, run_id=model_version.run_id)
    return model_version


@task(name="Transition model stage", description="Move a model version to a stage and announce it.", **_RETRIES)
def transition_model_stage_task(
    name: str, version: str | int, stage: str, archive_existing_versions: bool = False
) -> ModelVersion:
    """Transition ``name`` version ``version`` to ``stage`` and emit the promotion event."""
    client = fluent._client()
    model_version = client.transition_model_version_stage(
        name, str(version), stage, archive_existing_versions=archive_existing_versions
    )
    emit_promotion_event(name, version, stage=model_version.current_stage, run_id=model_version.run_id)
    return model_version


@task(
    name="Set model alias", description="Point an alias of a registered model at a version and announce it.", **_RETRIES
)
def set_model_alias_task(name: str, alias: str, version: str | int) -> ModelVersion:
    """Set ``alias`` to ``version`` (moving it if it pointed elsewhere) and emit the promotion event."""
    client = fluent._client()
    client.set_registered_model_alias(name, alias, str(version))
    model_version = client.get_model_version(name, str(version))
    emit_promotion_event(name, version, alias=alias, run_id=model_version.run_id)
    return model_version


# -- champion / challenger -----------------------------------------------------------------------
def _metric_function(metric: str) -> tuple[Callable[[Any, Any], float], bool]:
    """(score function, greater is better) for a named metric."""
    from sklearn import metrics as m

    def rmse(y: Any, p: Any) -> float:
        return math.sqrt(m.mean_squared_error(y, p))

    known: dict[str, tuple[Callable[[Any, Any], float], bool]] = {
        "accuracy": (m.accuracy_score, True),
        "f1": (lambda y, p: m.f1_score(y, p, average="weighted"), True),
        "precision": (lambda y, p: m.precision_score(y, p, average="weighted", zero_division=0), True),
        "recall": (lambda y, p: m.recall_score(y, p, average="weighted", zero_division=0), True),
        "r2": (m.r2_score, True),
        "mae": (m.mean_absolute_error, False),
        "mse": (m.mean_squared_error, False),
        "rmse": (rmse, False),
    }
    if metric not in known:
        raise InvalidParameterError(f"Unknown metric {metric!r}; use one of {', '.join(sorted(known))}.")
    return known[metric]


def _evaluation_frame(evaluation_data: str | pd.DataFrame, target: str) -> tuple[pd.DataFrame, Any]:
    import pandas as pd

    if isinstance(evaluation_data, str):
        path = evaluation_data.removeprefix("file://")
        frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    else:
        frame = evaluation_data
    if target not in frame.columns:
        raise InvalidParameterError(
            f"The evaluation data has no target column {target!r}; its columns are {list(frame.columns)}."
        )
    return frame.drop(columns=[target]), frame[target]


@task(name="Evaluate model version")
def evaluate_model_version(name: str, version: str, features: Any, labels: Any, metric: str) -> float:
    """Score a registered model version on the evaluation data with ``metric``."""
    from prefect_mltrack import pyfunc

    score, _ = _metric_function(metric)
    predictions = pyfunc.load_model(f"models:/{name}/{version}").predict(features)
    return float(score(labels, predictions))


@flow(name="promote-model")
def promote_model(
    name: str,
    candidate_version: str | int,
    evaluation_data: Any,
    target: str,
    alias: str = "champion",
    metric: str = "accuracy",
    min_improvement: float = 0.0,
) -> dict[str, Any]:
    """Champion/challenger: give ``alias`` to the candidate only if it beats the current holder.

    Both versions are scored on the same ``evaluation_data`` (a DataFrame, or a CSV/Parquet path)
    with ``metric`` (accuracy, f1, precision, recall, r2, mae, mse, rmse). The candidate wins when it
    is better by more than ``min_improvement`` (or when nothing holds the alias yet). The decision is
    recorded as tags on the candidate version and as a Prefect artifact; a promotion emits
    ``mltrack.model.version.promoted``. Running it again with the same inputs changes nothing.
    """
    from prefect.artifacts import create_markdown_artifact
    from prefect.runtime import flow_run

    if min_improvement < 0:
        raise InvalidParameterError(f"min_improvement must be 0 or more, got {min_improvement}.")
    client = fluent._client()
    candidate = client.get_model_version(name, str(candidate_version))
    _, greater_is_better = _metric_function(metric)
    try:
        holder: ModelVersion | None = client.get_model_version_by_alias(name, alias)
    except ResourceNotFoundError:
        holder = None

    decision: dict[str, Any] = {
        "name": name,
        "alias": alias,
        "metric": metric,
        "candidate_version": candidate.version,
        "champion_version": holder.version if holder else None,
    }
    if holder is not None and holder.version == candidate.version:
        decision.update(decision="unchanged", reason=f"version {candidate.version} already holds @{alias}")
        return decision

    features, labels = _evaluation_frame(evaluation_data, target)
    candidate_score = evaluate_model_version(name, candidate.version, features, labels, metric)
    decision["candidate_score"] = candidate_score
    if holder is None:
        promote, reason = True, f"nothing held @{alias}"
    else:
        holder_score = evaluate_model_version(name, holder.version, features, labels, metric)
        decision["champion_score"] = holder_score
        gain = candidate_score - holder_score if greater_is_better else holder_score - candidate_score
        promote = gain > min_improvement
        reason = (
            f"{metric} {'improved' if gain > 0 else 'did not improve'} by {gain:.6g} (needed > {min_improvement:g})"
        )
    decision.update(decision="promoted" if promote else "rejected", reason=reason)

    tags = {
        DECISION_TAG: decision["decision"],
        "mltrack.promotion.alias": alias,
        "mltrack.promotion.metric": metric,
        "mltrack.promotion.candidate_score": repr(candidate_score),
        "mltrack.promotion.reason": reason,
    }
    if "champion_score" in decision:
        tags["mltrack.promotion.champion_score"] = repr(decision["champion_score"])
        tags["mltrack.promotion.champion_version"] = str(decision["champion_version"])
    if flow_run.id:
        tags["prefect.flow_run_id"] = str(flow_run.id)
    for key, value in tags.items():
        client.set_model_version_tag(name, candidate.version, key, value)
    if promote:
        set_model_alias_task(name, alias, candidate.version)
    create_markdown_artifact(_decision_markdown(decision), description=f"Promotion decision for {name}@{alias}.")
    return decision


def _decision_markdown(decision: Mapping[str, Any]) -> str:
    rows = "\n".join(f"| {key} | {value} |" for key, value in decision.items())
    return (
        f"### {decision['name']} v{decision['candidate_version']}: {decision['decision']}\n\n| | |\n|---|---|\n{rows}\n"
    )
