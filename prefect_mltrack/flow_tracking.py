"""Every Prefect flow run is one tracking run.

``@track`` wraps a flow's body. When the flow runs, the body runs inside a tracking run whose id is
the flow run id (as 32 hex digits), whose params are the flow's parameters and whose tags point back
at Prefect. Subflows become nested runs, a retried flow run reopens its run, an exception ends it
FAILED, an interrupt KILLED. Example::

    from prefect import flow
    from prefect_mltrack import log_metric, track

    @flow
    @track(experiment="iris")
    def train(n_estimators: int = 100, max_depth: int = 5):
        log_metric("accuracy", 0.97)

Placed above ``@flow`` (or through ``tracked_flow``), ``@track`` also adds ``on_crashed`` and
``on_cancellation`` hooks, so a run is closed even when its process is killed and the Prefect
runner or worker reports the crash. Below ``@flow`` the decorator cannot reach the Flow object,
so that one case (a hard kill) leaves the run RUNNING.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from prefect_mltrack import fluent, settings
from prefect_mltrack import validation as v
from prefect_mltrack.client import PARENT_RUN_TAG, TrackingClient
from prefect_mltrack.entities import Param, Run, RunStatus, RunTag, SourceType
from prefect_mltrack.exceptions import InvalidParameterError, ResourceAlreadyExistsError, ResourceNotFoundError

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.client.schemas.objects import FlowRun, State

    from prefect_mltrack.blocks import ArtifactStorage, TrackingStore

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

FLOW_RUN_ID_TAG = "prefect.flow_run_id"
FLOW_RUN_NAME_TAG = "prefect.flow_run_name"
FLOW_NAME_TAG = "prefect.flow_name"
DEPLOYMENT_ID_TAG = "prefect.deployment_id"
FLOW_RUN_URL_TAG = "prefect.flow_run_url"
RUN_COUNT_TAG = "prefect.run_count"
ERROR_TAG = "prefect.error"


def run_id_for_flow_run(flow_run_id: UUID | str) -> str:
    """The tracking run id of a flow run: its UUID as 32 lowercase hex digits.

    >>> run_id_for_flow_run("0b6c1c3e-8d4a-4f6e-9a51-2b7f0d3c9e11")
    '0b6c1c3e8d4a4f6e9a512b7f0d3c9e11'
    """
    return (flow_run_id if isinstance(flow_run_id, UUID) else UUID(str(flow_run_id))).hex


# -- parameters ---------------------------------------------------------------------------------
def flatten_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flow parameters as MLflow params: nested mappings (and pydantic models, dataclasses) become
    dotted keys, other values their JSON (or ``str``) form, cut to MLflow's param length limit.

    >>> flatten_params({"model": {"depth": 3, "kind": "rf"}, "grid": [1, 2], "lr": 0.1})
    {'model.depth': '3', 'model.kind': 'rf', 'grid': '[1, 2]', 'lr': '0.1'}
    """
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        value = _as_mapping(value)
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, prefix=f"{name}."))
            continue
        text = _param_text(value)
        if len(text) > v.MAX_PARAM_VALUE_LENGTH:
            # MLflow's autologging truncates long values with a warning instead of failing the run.
            logger.warning(
                "Param %r is %d characters long; truncated to %d.", name, len(text), v.MAX_PARAM_VALUE_LENGTH
            )
            text = text[: v.MAX_PARAM_VALUE_LENGTH]
        flat[name] = text
    return flat


def _as_mapping(value: Any) -> Any:
    if hasattr(value, "model_dump") and callable(value.model_dump):  # pydantic v2 models
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict)):
        try:
            return json.dumps(value, default=str)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _valid_params(flat: Mapping[str, str]) -> list[Param]:
    params = []
    for key, value in flat.items():
        try:
            v.validate_key(key, "param")
        except Exception as exc:
            logger.warning("Flow parameter %r is not logged as a param: %s", key, exc)
            continue
        params.append(Param(key=key, value=value))
    return params


# -- options ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TrackOptions:
    """How ``@track`` maps a flow: where to write, which experiment, what to record."""

    experiment: str | None = None
    tracking_uri: str | None = None
    artifact_root: str | None = None
    run_name: str | None = None
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    log_parameters: bool = True
    publish_summary: bool = True

    @classmethod
    def build(
        cls,
        experiment: str | None,
        store: TrackingStore | str | None,
        artifacts: ArtifactStorage | str | None,
        run_name: str | None,
        tags: Mapping[str, Any] | None,
        log_parameters: bool,
        publish_summary: bool,
    ) -> TrackOptions:
        uri = store if isinstance(store, str) or store is None else store.tracking_uri
        root = artifacts if isinstance(artifacts, str) or artifacts is None else artifacts.activate()
        if experiment is not None:
            v.validate_experiment_name(experiment)
        return cls(
            experiment=experiment,
            tracking_uri=settings.normalize_tracking_uri(uri) if uri else None,
            artifact_root=root,
            run_name=run_name,
            tags={str(k): str(val) for k, val in (tags or {}).items()},
            log_parameters=log_parameters,
            publish_summary=publish_summary,
        )


# -- the decorator ------------------------------------------------------------------------------
def track(
    fn: Any = None,
    *,
    experiment: str | None = None,
    store: TrackingStore | str | None = None,
    artifacts: ArtifactStorage | str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    log_parameters: bool = True,
    publish_summary: bool = True,
) -> Any:
    """Make each run of a flow one tracking run.

    Args:
        experiment: Experiment name for top-level runs (created if missing). Default: the experiment
            chosen with ``set_experiment``/``MLTRACK_EXPERIMENT_NAME``, else the flow's name.
            Nested runs (subflows) always join their parent's experiment.
        store: A ``TrackingStore`` block or a tracking URI; the flow body and its tasks log there.
        artifacts: An ``ArtifactStorage`` block or root URI for experiments this flow creates.
        run_name: Run name; default: the flow run's name.
        tags: Extra tags for the run.
        log_parameters: Log the flow's parameters as params (flattened with dotted keys).
        publish_summary: Attach a params/metrics table and a link to the run page to the flow run.

    Use as ``@track`` or ``@track(...)``, below or above ``@flow``.
    """
    options = TrackOptions.build(experiment, store, artifacts, run_name, tags, log_parameters, publish_summary)

    def decorate(target: Any) -> Any:
        from prefect import Flow

        if isinstance(target, Flow):
            return _track_flow(target, options)
        if not callable(target):
            raise TypeError(f"@track decorates a function or a Prefect flow, not {type(target).__name__}")
        return _wrap(target, options)

    return decorate if fn is None else decorate(fn)


def tracked_flow(fn: Any = None, *, experiment: str | None = None, store: Any = None, **flow_kwargs: Any) -> Any:
    """``@flow`` and ``@track`` in one decorator, with the crash and cancellation hooks attached.

    Example::

        @tracked_flow(experiment="iris", retries=1)
        def train(max_depth: int = 5): ...
    """
    from prefect import flow

    def decorate(target: Callable[..., Any]) -> Any:
        return track(experiment=experiment, store=store)(flow(**flow_kwargs)(target))

    return decorate if fn is None else decorate(fn)


def _track_flow(target: Flow[Any, Any], options: TrackOptions) -> Flow[Any, Any]:
    tracked = target.with_options(
        on_crashed=[*target.on_crashed_hooks, close_run_hook(RunStatus.FAILED, options.tracking_uri)],
        on_cancellation=[*target.on_cancellation_hooks, close_run_hook(RunStatus.KILLED, options.tracking_uri)],
    )
    tracked.fn = _wrap(target.fn, options)
    return tracked


def _wrap(fn: F, options: TrackOptions) -> F:
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError("@track does not support generator flows; return the result instead of yielding it")
    body = _run_async if inspect.iscoroutinefunction(fn) else _run_sync
    wrapper = _async_wrapper(fn, options, body) if inspect.iscoroutinefunction(fn) else _sync_wrapper(fn, options, body)
    # Prefect resolves string annotations (``from __future__ import annotations``) in the flow
    # function's ``__globals__`` without unwrapping, so the wrapper must carry the user's globals.
    # Its code refers to closure variables only, which makes the swap safe.
    rebound = types.FunctionType(wrapper.__code__, fn.__globals__, fn.__name__, None, wrapper.__closure__)
    return functools.update_wrapper(rebound, fn)  # type: ignore[return-value]


def _sync_wrapper(fn: Callable[..., Any], options: TrackOptions, body: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return body(fn, options, args, kwargs)

    return wrapper


def _async_wrapper(fn: Callable[..., Any], options: TrackOptions, body: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await body(fn, options, args, kwargs)

    return wrapper


def _run_sync(fn: Callable[..., Any], options: TrackOptions, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    from prefect_mltrack.prefect_ui import publish_run_summary

    session = _TrackedRun(options, fn)
    try:
        with session:
            return fn(*args, **kwargs)
    finally:
        if session.summary is not None:
            publish_run_summary(session.summary)


async def _run_async(
    fn: Callable[..., Any], options: TrackOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    from prefect_mltrack.prefect_ui import apublish_run_summary

    session = _TrackedRun(options, fn)
    try:
        with session:
            return await fn(*args, **kwargs)
    finally:
        if session.summary is not None:
            await apublish_run_summary(session.summary)


class _TrackedRun:
    """One flow-run attempt's tracking run: opened on enter, ended on exit with the outcome."""

    def __init__(self, options: TrackOptions, fn: Callable[..., Any]) -> None:
        self.options = options
        self.fn = fn
        self.run_id: str | None = None
        self.summary: Run | None = None
        self.in_flow_run = True
        self._scope = settings.tracking_uri_scope(options.tracking_uri)

    def __enter__(self) -> _TrackedRun:
        self._scope.__enter__()
        try:
            self.run_id = self._open().info.run_id
        except BaseException:
            self._scope.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            self._close(exc)
        finally:
            self._scope.__exit__(exc_type, exc, tb)

    # -- open -----------------------------------------------------------------------------------
    def _open(self) -> Run:
        from prefect.context import FlowRunContext

        client = fluent._client()
        ctx = FlowRunContext.get()
        parent = fluent.active_run()
        if ctx is None or ctx.flow_run is None:  # the body called directly (fn() or flow.fn())
            self.in_flow_run = False
            active = fluent.start_run(
                experiment_id=None if parent else self._experiment_id(client, self.fn.__name__),
                run_name=self.options.run_name,
                nested=parent is not None,
                tags={**self._source_tags(), **self.options.tags},
            )
            return active._run
        flow_run = ctx.flow_run
        parent_run_id = parent.info.run_id if parent else _parent_from_prefect(flow_run, client)
        run_id = run_id_for_flow_run(flow_run.id)
        tags = {**self._source_tags(), **self._prefect_tags(ctx), **self.options.tags}
        if parent_run_id:
            tags[PARENT_RUN_TAG] = parent_run_id
        try:
            if parent is not None:
                experiment_id = parent.info.experiment_id
            elif parent_run_id:
                experiment_id = client.get_run(parent_run_id).info.experiment_id
            else:
                experiment_id = self._experiment_id(client, ctx.flow.name if ctx.flow else self.fn.__name__)
            run_name = self.options.run_name or flow_run.name
            try:
                run = client.create_run(experiment_id, tags=tags, run_name=run_name, run_id=run_id)
            except (InvalidParameterError, ResourceNotFoundError):
                if experiment_id not in _experiment_ids.values():
                    raise
                _experiment_ids.clear()  # a cached experiment was deleted meanwhile: look it up again
                experiment_id = self._experiment_id(client, ctx.flow.name if ctx.flow else self.fn.__name__)
                run = client.create_run(experiment_id, tags=tags, run_name=run_name, run_id=run_id)
        except ResourceAlreadyExistsError:  # a retry of this flow run: reopen the same run
            run = self._reopen(client, run_id, tags)
        if self.options.log_parameters and ctx.parameters:
            params = _valid_params(flatten_params(ctx.parameters))
            if params:
                client.log_batch(run_id, params=params)
        fluent._attach(run)
        return run

    def _reopen(self, client: TrackingClient, run_id: str, tags: Mapping[str, str]) -> Run:
        previous = client.get_run(run_id)
        client.update_run(run_id, status=RunStatus.RUNNING.value)
        client.log_batch(run_id, tags=[RunTag(key=RUN_COUNT_TAG, value=tags[RUN_COUNT_TAG])])
        if ERROR_TAG in previous.data.tags:  # the error belonged to the earlier attempt
            client.delete_tag(run_id, ERROR_TAG)
        return client.get_run(run_id)

    def _experiment_id(self, client: TrackingClient, default_name: str) -> str:
        name = self.options.experiment
        if name is None:
            if fluent._experiment_chosen():
                return fluent._current_experiment_id()
            name = default_name
        return _get_or_create_experiment(client, name, self.options.artifact_root)

    def _source_tags(self) -> dict[str, str]:
        code = getattr(self.fn, "__code__", None)
        source = code.co_filename if code is not None else self.fn.__module__
        return {"mlflow.source.name": source, "mlflow.source.type": SourceType.JOB.value}

    @staticmethod
    def _prefect_tags(ctx: Any) -> dict[str, str]:
        flow_run = ctx.flow_run
        tags = {
            FLOW_RUN_ID_TAG: str(flow_run.id),
            FLOW_RUN_NAME_TAG: flow_run.name,
            FLOW_NAME_TAG: ctx.flow.name if ctx.flow else flow_run.flow_id and str(flow_run.flow_id),
            RUN_COUNT_TAG: str(max(flow_run.run_count, 1)),
        }
        if flow_run.deployment_id:
            tags[DEPLOYMENT_ID_TAG] = str(flow_run.deployment_id)
        url = _flow_run_url(flow_run)
        if url:
            tags[FLOW_RUN_URL_TAG] = url
        return tags

    # -- close ----------------------------------------------------------------------------------
    def _close(self, exc: BaseException | None) -> None:
        if self.run_id is None:
            return
        client = fluent._client()
        if exc is None:
            status = RunStatus.FINISHED
        else:
            status = RunStatus.FAILED if isinstance(exc, Exception) else RunStatus.KILLED
            client.set_tag(self.run_id, ERROR_TAG, _error_text(exc))
        fluent.end_run(status.value, _run_id=self.run_id)
        if self.options.publish_summary and self.in_flow_run:
            self.summary = client.get_run(self.run_id)


# (tracking URI, experiment name) -> id: a flow that runs often skips the lookup. A stale entry
# (experiment deleted) is dropped when create_run refuses it.
_experiment_ids: dict[tuple[str, str], str] = {}


def _get_or_create_experiment(client: TrackingClient, name: str, artifact_root: str | None) -> str:
    cache_key = (client.tracking_uri, name)
    cached = _experiment_ids.get(cache_key)
    if cached is not None:
        return cached
    found = client.get_experiment_by_name(name)
    if found is not None and found.lifecycle_stage == "active":
        experiment_id = found.experiment_id
    elif found is not None:
        raise InvalidParameterError(
            f"Experiment {name!r} is deleted; restore it (mltrack experiments restore {found.experiment_id}) "
            "or track the flow into another experiment."
        )
    else:
        try:
            experiment_id = client.create_experiment(name, artifact_location=artifact_root)
        except ResourceAlreadyExistsError:  # another flow run created it first
            again = client.get_experiment_by_name(name)
            assert again is not None
            experiment_id = again.experiment_id
    _experiment_ids[cache_key] = experiment_id
    return experiment_id


def _parent_from_prefect(flow_run: FlowRun, client: TrackingClient) -> str | None:
    """The tracked parent of a subflow whose context did not carry one (another process, a deployment).

    Costs one Prefect API call, made only for subflows.
    """
    if flow_run.parent_task_run_id is None:
        return None
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as prefect_client:
            parent_flow_run_id = prefect_client.read_task_run(flow_run.parent_task_run_id).flow_run_id
    except Exception as exc:
        logger.warning("Could not look up the parent flow run of %s: %s", flow_run.id, exc)
        return None
    if parent_flow_run_id is None:
        return None
    candidate = run_id_for_flow_run(parent_flow_run_id)
    try:
        client.get_run(candidate)
    except ResourceNotFoundError:
        return None  # the parent flow is not tracked
    return candidate


def _flow_run_url(flow_run: FlowRun) -> str | None:
    try:
        from prefect.utilities.urls import url_for

        return url_for(flow_run)
    except Exception:
        return None


def _error_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip() or type(exc).__name__
    return text[: v.MAX_TAG_VALUE_LENGTH]


# -- hooks: close runs the body never saw end ----------------------------------------------------
def close_run_hook(status: RunStatus, tracking_uri: str | None = None) -> Callable[..., None]:
    """A flow state hook (``on_crashed``/``on_cancellation``) that ends the flow run's tracking run.

    Prefect's runner calls these hooks by keyword (``flow=, flow_run=, state=``) in its own process
    after the flow's process died, so everything it needs comes from the arguments.
    """
    hook = functools.partial(end_run_for_flow_run, status=status, tracking_uri=tracking_uri)
    return hook


def end_run_for_flow_run(
    flow: Flow[Any, Any], flow_run: FlowRun, state: State, *, status: RunStatus, tracking_uri: str | None = None
) -> None:
    """End the tracking run of ``flow_run`` (and its still-running children) with ``status``.

    A run that already ended keeps its status; a flow run that was never tracked is ignored.
    """
    with settings.tracking_uri_scope(tracking_uri):
        client = fluent._client()
        run_id = run_id_for_flow_run(flow_run.id)
        try:
            run = client.get_run(run_id)
        except ResourceNotFoundError:
            return
        reason = f"{state.name}: {state.message}" if state.message else state.name
        for child in _running_children(client, run):
            client.set_tag(child, ERROR_TAG, f"parent flow run {reason}"[: v.MAX_TAG_VALUE_LENGTH])
            client.set_terminated(child, status.value)
        if run.info.status != RunStatus.RUNNING.value:
            return
        client.set_tag(run_id, ERROR_TAG, (reason or "")[: v.MAX_TAG_VALUE_LENGTH])
        client.set_terminated(run_id, status.value)


def _running_children(client: TrackingClient, run: Run) -> Iterator[str]:
    pending = [run.info.run_id]
    while pending:
        parent = pending.pop()
        children = client.search_runs(
            [run.info.experiment_id],
            filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent}'",
            max_results=1000,
        )
        for child in children:
            pending.append(child.info.run_id)
            if child.info.status == RunStatus.RUNNING.value:
                yield child.info.run_id
