"""The REST store: every store call made over MLflow's REST API to a tracking server.

``get_store("http://host:port")`` (or ``https://``) returns a :class:`RestStore`. It speaks the
wire format MLflow's own client speaks (reference §3): reads are GETs with a query string
(repeated keys for lists), writes POST/PATCH/DELETE a JSON body (registry DELETEs too), floats
travel as numbers or ``"NaN"``/``"Infinity"``/``"-Infinity"``, and errors come back as the
:class:`~prefect_mltrack.exceptions.MLTrackError` subclass matching the server's ``error_code``.
It works against ``mltrack server`` and against ``mlflow server`` (whose runs/create ignores our
``run_id`` extension, so ``create_run(run_id=...)`` needs ours).

Checks that cost nothing are done before the request, as MLflow's client does them: metric values,
timestamps and steps, batch limits, duplicate param keys, and over-long param and tag values
(truncated with a warning, or refused when ``MLTRACK_TRUNCATE_LONG_VALUES=false``). Everything
else is the server's to check.

Connections, auth, retries and timeouts live in :mod:`prefect_mltrack.store.rest_http`; the
registry calls in :mod:`prefect_mltrack.store.rest_registry`; the MLflow 3 calls (logged models,
run inputs and outputs) in :mod:`prefect_mltrack.store.rest_logged_models`.
The maintenance calls behind ``mltrack gc`` are not part of the API: run it where the database is.

Example:
    >>> from prefect_mltrack.store import get_store
    >>> store = get_store("http://127.0.0.1:5000")             # doctest: +SKIP
    >>> run = store.create_run("0", run_name="remote")           # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from prefect_mltrack import validation as v
from prefect_mltrack import wire
from prefect_mltrack.entities import (
    Experiment,
    ExperimentTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError
from prefect_mltrack.store.base import AbstractStore
from prefect_mltrack.store.rest_http import HttpSession, Json, RetryPolicy
from prefect_mltrack.store.rest_logged_models import RestLoggedModelsMixin
from prefect_mltrack.store.rest_registry import RestRegistryMixin

__all__ = ["API_PATH", "RestStore"]

API_PATH: Final = "/api/2.0/mlflow/"
_INT64_MAX: Final = v.INT64_MAX
_INT64_MIN: Final = v.INT64_MIN
_GC_HINT: Final = (
    "is not available through the tracking server's REST API; run `mltrack gc` where the server's "
    "database is (with --backend-store-uri pointing at it)"
)


def _kv(tags: Iterable[Any] | None) -> list[Json]:
    return [{"key": tag.key, "value": tag.value} for tag in tags or ()]


def _page_token(answer: Json) -> str | None:
    return answer.get("next_page_token") or None


def _view_name(view_type: ViewType | int | str) -> str:
    if isinstance(view_type, str):
        return ViewType.from_string(view_type).name
    return ViewType(view_type).name


def _encode_metrics(metrics: Sequence[Metric]) -> list[Json]:
    """Metrics as the wire wants them, checked as the SQL store checks them (same messages).

    The common case (a finite float, int timestamp and step in range) costs three type tests.
    """
    out: list[Json] = []
    append = out.append
    for metric in metrics:
        key = metric.key
        value: float | str = metric.value
        if value.__class__ is not float or value - value != 0.0:  # not a float, or NaN/±inf
            value = wire.float_json(v.validate_metric_value(key, value))
        timestamp = metric.timestamp
        if timestamp.__class__ is not int or not 0 <= timestamp <= _INT64_MAX:
            timestamp = v.validate_timestamp(key, timestamp)
        step = metric.step
        if step.__class__ is not int or not _INT64_MIN <= step <= _INT64_MAX:
            step = v.validate_step(key, step)
        append({"key": key, "value": value, "timestamp": timestamp, "step": step})
    return out


def _encode_params(params: Sequence[Param]) -> list[Json]:
    """Params with long values limited; the same key twice with the same value is sent once (the
    server, like MLflow's, refuses any repeated key), with different values it is refused here."""
    seen: dict[str, str] = {}
    for param in params:
        key, value = param.key, param.value
        if len(value) > v.MAX_PARAM_VALUE_LENGTH:
            value = v.limit_value(key, value, v.MAX_PARAM_VALUE_LENGTH, "param")
        previous = seen.get(key)
        if previous is None:
            seen[key] = value
        elif previous != value:
            raise InvalidParameterError(
                f"Duplicate parameter key '{key}' with different values ({previous!r} and {value!r}) in "
                "one batch; log each key once."
            )
    return [{"key": key, "value": value} for key, value in seen.items()]


def _encode_tags(tags: Sequence[RunTag]) -> list[Json]:
    out = []
    for tag in tags:
        value = tag.value
        if len(value) > v.MAX_TAG_VALUE_LENGTH:
            value = v.limit_value(tag.key, value, v.MAX_TAG_VALUE_LENGTH, "tag")
        out.append({"key": tag.key, "value": value})
    return out


class RestStore(RestRegistryMixin, RestLoggedModelsMixin, AbstractStore):
    """The store seam over a tracking server's REST API (``http://`` or ``https://``).

    Args:
        uri: The server's address, ``http(s)://host[:port][/prefix]``.
        retry: Retry policy for this store; default from ``MLTRACK_HTTP_REQUEST_*``.

    Example:
        >>> store = RestStore("http://127.0.0.1:5000")             # doctest: +SKIP
        >>> store.get_experiment("0").name                           # doctest: +SKIP
        'Default'
    """

    def __init__(self, uri: str, retry: RetryPolicy | None = None) -> None:
        parts = urlsplit(uri)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise InvalidParameterError(
                f"Invalid tracking server URI {uri!r}: give http://<host>:<port> or https://<host>[:<port>]"
            )
        if parts.query or parts.fragment:
            raise InvalidParameterError(f"Tracking server URI {uri!r} must not have a query or fragment")
        self.uri = uri.rstrip("/")
        self._http = HttpSession(self.uri, retry)
        self._call = self._http.call  # bound once: the hot path skips two attribute lookups

    def __repr__(self) -> str:
        return f"RestStore({self.uri!r})"

    # -- transport ---------------------------------------------------------------------------------
    def _get(self, path: str, params: Any) -> Json:
        return self._call("GET", API_PATH + path, params=params, idempotent=True)

    def _post(self, path: str, body: Json, *, idempotent: bool = False) -> Json:
        return self._call("POST", API_PATH + path, body=body, idempotent=idempotent)

    def _patch(self, path: str, body: Json) -> Json:
        return self._call("PATCH", API_PATH + path, body=body, idempotent=True)

    def _delete(self, path: str, body: Json) -> Json:
        return self._call("DELETE", API_PATH + path, body=body)

    # -- experiments -------------------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] = ()
    ) -> str:
        v.validate_experiment_name(name)
        body: Json = {"name": name, "tags": _kv(tags)}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self._post("experiments/create", body)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        answer = self._get("experiments/get", {"experiment_id": str(experiment_id)})
        return wire.experiment_from_json(answer["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            answer = self._get("experiments/get-by-name", {"experiment_name": name})
        except MLTrackError as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return wire.experiment_from_json(answer["experiment"])

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        v.validate_experiment_name(new_name)
        self._post("experiments/update", {"experiment_id": str(experiment_id), "new_name": new_name})

    def delete_experiment(self, experiment_id: str) -> None:
        self._post("experiments/delete", {"experiment_id": str(experiment_id)})

    def restore_experiment(self, experiment_id: str) -> None:
        self._post("experiments/restore", {"experiment_id": str(experiment_id)})

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        body = {"experiment_id": str(experiment_id), "key": tag.key, "value": tag.value}
        self._post("experiments/set-experiment-tag", body, idempotent=True)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._post("experiments/delete-experiment-tag", {"experiment_id": str(experiment_id), "key": key})

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        body: Json = {"max_results": max_results, "view_type": _view_name(view_type)}
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        answer = self._post("experiments/search", body, idempotent=True)
        experiments = [wire.experiment_from_json(e) for e in answer.get("experiments", ())]
        return PagedList(experiments, _page_token(answer))

    # -- runs --------------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str = "",
        start_time: int | None = None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        body: Json = {"experiment_id": str(experiment_id), "user_id": user_id or "", "tags": _encode_tags(tags)}
        if start_time is not None:
            body["start_time"] = start_time
        if run_name is not None:
            body["run_name"] = run_name
        if run_id is not None:
            body["run_id"] = v.validate_run_id(run_id)  # our extension: the server keeps the id given
        run = wire.run_from_json(self._post("runs/create", body)["run"])
        if run_id is not None and run.info.run_id != run_id:
            # A server without the extension (MLflow's) ignores the field and picks an id itself.
            with contextlib.suppress(MLTrackError):  # the error below matters more than the stray run
                self.delete_run(run.info.run_id)
            raise MLTrackError(
                f"The tracking server at {self.uri} does not support choosing the run id (it created "
                f"{run.info.run_id!r} instead of {run_id!r}, now deleted); run `mltrack server`, or create "
                "the run without run_id.",
                error_code="NOT_IMPLEMENTED",
            )
        return run

    def get_run(self, run_id: str) -> Run:
        return wire.run_from_json(self._get("runs/get", {"run_id": run_id})["run"])

    def update_run_info(
        self,
        run_id: str,
        run_status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        body: Json = {"run_id": run_id}
        if run_status is not None:
            body["status"] = str(RunStatus(run_status))
        if end_time is not None:
            body["end_time"] = end_time
        if run_name is not None:
            body["run_name"] = run_name
        return wire.run_info_from_json(self._post("runs/update", body, idempotent=True)["run_info"])

    def delete_run(self, run_id: str) -> None:
        self._post("runs/delete", {"run_id": run_id}, idempotent=True)

    def restore_run(self, run_id: str) -> None:
        self._post("runs/restore", {"run_id": run_id}, idempotent=True)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        v.validate_batch_limits(len(metrics), len(params), len(tags))
        body: Json = {"run_id": run_id}
        if metrics:
            body["metrics"] = _encode_metrics(metrics)
        if params:
            body["params"] = _encode_params(params)
        if tags:
            body["tags"] = _encode_tags(tags)
        # Repeating a batch changes nothing (exact metric duplicates are ignored, a param logged
        # again with its value is a no-op, tags are upserts), so a lost answer may be retried.
        self._call("POST", "/api/2.0/mlflow/runs/log-batch", body=body, idempotent=True)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._post("runs/delete-tag", {"run_id": run_id, "key": key})

    def get_metric_history(
        self, run_id: str, metric_key: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Metric]:
        params: dict[str, Any] = {"run_id": run_id, "metric_key": metric_key}
        if max_results is not None:
            params["max_results"] = max_results
        if page_token:
            params["page_token"] = page_token
        answer = self._get("metrics/get-history", params)
        return PagedList(wire.metric_history_from_json(answer.get("metrics", ()), run_id), _page_token(answer))

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        body: Json = {
            "experiment_ids": [str(e) for e in experiment_ids],
            "run_view_type": _view_name(run_view_type),
            "max_results": max_results,
        }
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        answer = self._post("runs/search", body, idempotent=True)
        return PagedList([wire.run_from_json(r) for r in answer.get("runs", ())], _page_token(answer))

    # -- maintenance (not over REST) ----------------------------------------------------------------
    def _no_gc(self, what: str) -> MLTrackError:
        return MLTrackError(f"{what} {_GC_HINT} (this store talks to {self.uri}).", error_code="NOT_IMPLEMENTED")

    def deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        raise self._no_gc("Listing deleted runs")

    def purge_run(self, run_id: str) -> None:
        raise self._no_gc("Purging a run")

    def deleted_experiment_ids(self, older_than_ms: int | None = None) -> list[str]:
        raise self._no_gc("Listing deleted experiments")

    def purge_experiment(self, experiment_id: str) -> None:
        raise self._no_gc("Purging an experiment")
