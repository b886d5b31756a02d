"""The REST store's MLflow 3 calls: logged models, model metrics, run inputs and outputs.

Endpoints (reference §3.3), relative to ``/api/2.0/mlflow/``: ``logged-models`` (POST create,
``/{id}`` GET/PATCH/DELETE, ``/{id}/tags`` PATCH, ``/{id}/tags/{key}`` DELETE, ``/{id}/params``
POST, ``/search`` POST), ``runs/outputs`` and ``runs/log-inputs``. Metrics are linked to a model
the way MLflow's client links them: through ``runs/log-batch``, each point carrying its
``model_id`` (and dataset), so the server records them for the run and for the model.

Example:
    >>> store = RestStore("http://127.0.0.1:5000")                        # doctest: +SKIP
    >>> model = store.create_logged_model("0", "model", run_id)            # doctest: +SKIP
    >>> store.finalize_logged_model(model.model_id, LoggedModelStatus.READY)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from prefect_mltrack import wire
from prefect_mltrack.entities import DatasetInput, PagedList
from prefect_mltrack.entities.logged_model import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    ModelMetric,
)
from prefect_mltrack.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from prefect_mltrack.store.rest_http import Json

__all__ = ["RestLoggedModelsMixin"]


def _order_item(item: Mapping[str, Any] | str) -> dict[str, Any]:
    """``"name DESC"`` as MLflow's ``{"field_name": "name", "ascending": False}``; dicts pass as they are."""
    if not isinstance(item, str):
        return {key: value for key, value in item.items() if value is not None}
    parts = item.split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC")):
        raise InvalidParameterError(
            f"Invalid order_by item {item!r}: write '<field> [ASC|DESC]', e.g. 'creation_timestamp DESC'"
        )
    return {"field_name": parts[0], "ascending": len(parts) == 1 or parts[1].upper() == "ASC"}


class RestLoggedModelsMixin:
    """The logged-model part of :class:`~prefect_mltrack.store.rest.RestStore` (needs its ``_call``)."""

    _call: Callable[..., Json]

    def _model_path(self, model_id: str, suffix: str = "") -> str:
        return f"/api/2.0/mlflow/logged-models/{quote(model_id, safe='')}{suffix}"

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[LoggedModelTag] | None = None,
        params: Sequence[LoggedModelParameter] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        body: Json = {
            "experiment_id": str(experiment_id),
            "tags": [{"key": t.key, "value": t.value} for t in tags or ()],
            "params": [{"key": p.key, "value": p.value} for p in params or ()],
        }
        for field, value in (("name", name), ("source_run_id", source_run_id), ("model_type", model_type)):
            if value is not None:
                body[field] = value
        answer = self._call("POST", "/api/2.0/mlflow/logged-models", body=body)
        return wire.logged_model_from_json(answer["model"])  # type: ignore[no-any-return]

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        params = {"allow_deleted": "true"} if allow_deleted else None
        answer = self._call("GET", self._model_path(model_id), params=params, idempotent=True)
        return wire.logged_model_from_json(answer["model"])  # type: ignore[no-any-return]

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        body = {"model_id": model_id, "status": LoggedModelStatus.from_wire(status).wire_name}
        answer = self._call("PATCH", self._model_path(model_id), body=body, idempotent=True)
        return wire.logged_model_from_json(answer["model"])  # type: ignore[no-any-return]

    def delete_logged_model(self, model_id: str) -> None:
        self._call("DELETE", self._model_path(model_id), idempotent=True)

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        body = {"tags": [{"key": t.key, "value": t.value} for t in tags]}
        self._call("PATCH", self._model_path(model_id, "/tags"), body=body, idempotent=True)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._call("DELETE", self._model_path(model_id, f"/tags/{quote(key, safe='')}"))

    def log_logged_model_params(self, model_id: str, params: Sequence[LoggedModelParameter]) -> None:
        body = {"model_id": model_id, "params": [{"key": p.key, "value": p.value} for p in params]}
        self._call("POST", self._model_path(model_id, "/params"), body=body, idempotent=True)

    def log_model_metrics(self, metrics: Sequence[ModelMetric]) -> None:
        by_run: dict[str, list[Json]] = {}
        for metric in metrics:
            if not getattr(metric, "model_id", None):
                raise InvalidParameterError(f"Metric {metric.key!r} names no model_id to link it to.")
            if not metric.run_id:
                raise InvalidParameterError(
                    f"Metric {metric.key!r} names no run_id; over the REST API a model's metrics are logged "
                    "through the run that produced them."
                )
            by_run.setdefault(metric.run_id, []).append(wire.model_metric_json(metric))
        for run_id, points in by_run.items():
            # Exact duplicates are ignored, so a lost answer may be retried.
            self._call("POST", "/api/2.0/mlflow/runs/log-batch", body={"run_id": run_id, "metrics": points},
                       idempotent=True)  # fmt: skip

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: Sequence[Mapping[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        body: Json = {"experiment_ids": [str(e) for e in experiment_ids]}
        if filter_string:
            body["filter"] = filter_string
        if datasets:
            body["datasets"] = [dict(d) for d in datasets]
        if max_results is not None:
            body["max_results"] = max_results
        if order_by:
            body["order_by"] = [_order_item(item) for item in order_by]
        if page_token:
            body["page_token"] = page_token
        answer = self._call("POST", "/api/2.0/mlflow/logged-models/search", body=body, idempotent=True)
        models = [wire.logged_model_from_json(m) for m in answer.get("models", ())]
        return PagedList(models, answer.get("next_page_token") or None)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        body = {"run_id": run_id, "models": [{"model_id": m.model_id, "step": m.step} for m in models]}
        self._call("POST", "/api/2.0/mlflow/runs/outputs", body=body, idempotent=True)

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        body: Json = {"run_id": run_id}
        if datasets:
            body["datasets"] = [
                {
                    "tags": [{"key": t.key, "value": t.value} for t in item.tags],
                    "dataset": item.dataset.model_dump(by_alias=True, exclude_none=True),
                }
                for item in datasets
            ]
        if models:
            body["models"] = [{"model_id": m.model_id} for m in models]
        self._call("POST", "/api/2.0/mlflow/runs/log-inputs", body=body, idempotent=True)
