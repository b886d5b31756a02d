"""JSON routes the web UI needs beyond MLflow's API, mounted under ``/ajax-api/2.0/mltrack``.

* ``GET experiments/summaries?experiment_ids=1&experiment_ids=2`` (or ``experiment_ids=1,2``; none:
  every active experiment) -> ``{"summaries": [{experiment_id, run_count, running_count,
  last_activity}]}`` in one SQL statement (:mod:`prefect_mltrack.store.sql.summaries`).
* ``GET runs/keys?experiment_ids=...`` -> ``{"params": [...], "metrics": [...], "tags": [...]}``: the
  keys of the experiments' most recent runs, for the runs table's column chooser.
* ``GET runs/child-counts?run_ids=a,b`` -> ``{"counts": {"a": 3}}``: how many child runs each has.
* ``GET runs/check-filter?filter=...`` -> ``{"valid": false, "message": ...}``: a search filter
  checked without running it (the page shows the parser's message inline, no failed request).
* ``GET artifacts/preview?run_id=&path=`` -> the file, at most :data:`PREVIEW_MAX_BYTES` (larger:
  413 ``RESOURCE_EXHAUSTED``, download it instead), for the run page's previews.
* ``GET artifacts/mlmodel?run_id=&path=<model dir or MLmodel>`` -> ``{"path", "mlmodel": {...}}``: the
  MLmodel YAML as JSON, the signature's ``inputs``/``outputs``/``params`` decoded from their JSON strings.
* ``GET artifacts/download?run_id=&path=`` -> the file, any size.

Files are always sent with the artifact proxy's rules: a content type no browser renders as a page
(HTML/SVG as ``text/plain``), ``Content-Disposition: attachment``, ``nosniff`` and a sandboxing CSP.
Paths are checked by :func:`prefect_mltrack.artifacts.safe_artifact_path` and, on local disks,
resolved inside the run's artifact root (no ``..``, no symlinks out). Errors are MLflow's
``{error_code, message}``.

Example:
    >>> import httpx
    >>> httpx.get("http://127.0.0.1:5000/ajax-api/2.0/mltrack/experiments/summaries").json()  # doctest: +SKIP
    {'summaries': [{'experiment_id': '0', 'run_count': 3, 'running_count': 0, 'last_activity': 1718000000000}]}
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from collections.abc import Iterator
from typing import Annotated, Any, Final

import anyio.to_thread
from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.responses import FileResponse, Response, StreamingResponse

from prefect_mltrack.artifacts import ArtifactRepository
from prefect_mltrack.artifacts.fsspec_repo import FsspecArtifactRepository
from prefect_mltrack.artifacts.local import LocalArtifactRepository
from prefect_mltrack.artifacts.paths import resolve_inside, safe_artifact_path
from prefect_mltrack.exceptions import ArtifactPathError, InvalidParameterError, ResourceNotFoundError
from prefect_mltrack.server.downloads import content_disposition, safe_content_type
from prefect_mltrack.server.http import ConfigDep, JSONBody, StoreDep, error_response, json_response

__all__ = ["PREVIEW_MAX_BYTES", "router"]

router = APIRouter(tags=["ui"])

PREVIEW_MAX_BYTES: Final = 10 * 1024 * 1024
"""Previews larger than this are refused: the page offers the download link instead."""
_READ_CHUNK: Final = 1024 * 1024


class ExperimentSummaryOut(BaseModel):
    experiment_id: str
    run_count: int
    running_count: int
    last_activity: int | None = None


class SummariesOut(BaseModel):
    summaries: list[ExperimentSummaryOut] = []


class RunKeysOut(BaseModel):
    params: list[str] = []
    metrics: list[str] = []
    tags: list[str] = []


def _engine(store: Any) -> Any:
    engine = getattr(store, "engine", None)
    if engine is None:
        raise InvalidParameterError("This server's store is not a SQL database; the UI summaries need one")
    return engine


def _ids(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated ids alike (``?experiment_ids=1,2&experiment_ids=3``)."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


IdsQuery = Annotated[list[str] | None, Query(description="Experiment ids, repeated or comma-separated")]


@router.get("/experiments/summaries", response_model=SummariesOut)
def experiment_summaries(store: StoreDep, experiment_ids: IdsQuery = None) -> JSONBody:
    from prefect_mltrack.store.sql.summaries import experiment_summaries as summarise

    summaries = summarise(_engine(store), _ids(experiment_ids))
    return json_response({"summaries": [s.__dict__ for s in summaries]})


@router.get("/runs/keys", response_model=RunKeysOut)
def run_keys(store: StoreDep, experiment_ids: IdsQuery = None) -> JSONBody:
    from prefect_mltrack.store.sql.summaries import run_keys as keys_of

    ids = _ids(experiment_ids)
    if not ids:
        raise InvalidParameterError("Give experiment_ids, e.g. ?experiment_ids=1 (repeat it or separate with commas)")
    keys = keys_of(_engine(store), ids)
    return json_response({"params": keys.params, "metrics": keys.metrics, "tags": keys.tags})


MAX_CHILD_COUNT_IDS: Final = 1000


class ChildCountsOut(BaseModel):
    counts: dict[str, int] = {}


class FilterCheckOut(BaseModel):
    valid: bool
    message: str | None = None


@router.get("/runs/child-counts", response_model=ChildCountsOut)
def child_counts(store: StoreDep, run_ids: IdsQuery = None, view_type: str = "ACTIVE_ONLY") -> JSONBody:
    from prefect_mltrack.entities import ViewType
    from prefect_mltrack.store.sql.summaries import child_run_counts

    ids = _ids(run_ids) or []
    if len(ids) > MAX_CHILD_COUNT_IDS:
        raise InvalidParameterError(f"At most {MAX_CHILD_COUNT_IDS} run_ids per call, got {len(ids)}; split the call")
    try:
        stages = [stage.value for stage in ViewType.from_string(view_type).stages()]
    except (KeyError, ValueError):
        raise InvalidParameterError(f"view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL, got {view_type!r}") from None
    return json_response({"counts": child_run_counts(_engine(store), ids, stages)})


@router.get("/runs/check-filter", response_model=FilterCheckOut)
def check_filter(filter: str = "", order_by: Annotated[list[str] | None, Query()] = None) -> JSONBody:
    """Whether a runs filter / order_by parses; the answer is 200 either way (the page shows the message)."""
    from prefect_mltrack.exceptions import MLTrackError
    from prefect_mltrack.search import parse_filter, parse_order_by

    try:
        parse_filter(filter or None, "run")
        parse_order_by(order_by or [], "run")
    except MLTrackError as exc:
        return json_response({"valid": False, "message": exc.message})
    return json_response({"valid": True})


def _headers(clean: str) -> dict[str, str]:
    return {
        "content-disposition": content_disposition(posixpath.basename(clean)),
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox",
        "cache-control": "no-store",
    }


def _run_repository(store: Any, config: Any, run_id: str) -> ArtifactRepository:
    from prefect_mltrack.server.artifact_access import run_artifact_repository

    if not run_id:
        raise InvalidParameterError("Missing value for required parameter 'run_id'. Give the id of the run.")
    run = store.get_run(run_id)
    return run_artifact_repository(run.info.artifact_uri or "", config)


def _file_path(path: str) -> str:
    clean = safe_artifact_path(path)
    if not clean:
        raise ArtifactPathError("The artifact path is empty; give a file path such as 'model/MLmodel'")
    return clean


def _not_found(clean: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"Artifact {clean!r} does not exist in this run; list the run's artifacts")


def _is_dir(clean: str) -> InvalidParameterError:
    return InvalidParameterError(f"Artifact path {clean!r} is a directory; pick a file inside it")


def _too_large(clean: str, size: int, limit: int) -> Response:
    return error_response(
        "RESOURCE_EXHAUSTED",
        f"Artifact {clean!r} is {size / 1048576:.1f} MiB, more than the {limit // 1048576} MiB preview limit; "
        "download it instead",
        413,
    )


def _file_size(repo: ArtifactRepository, clean: str) -> int:
    """The file's size from its directory listing (works for every repository kind)."""
    parent = posixpath.dirname(clean)
    for info in repo.list_artifacts(parent or None):
        if info.path == clean:
            if info.is_dir:
                raise _is_dir(clean)
            return int(info.file_size or 0)
    raise _not_found(clean)


def _serve(store: Any, config: Any, run_id: str, path: str, limit: int | None) -> Response:
    repo = _run_repository(store, config, run_id)
    clean = _file_path(path)
    media_type = safe_content_type(posixpath.basename(clean))
    if isinstance(repo, LocalArtifactRepository):
        target = resolve_inside(repo.root, clean)
        try:
            info = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(clean) from None
        if stat.S_ISDIR(info.st_mode):
            raise _is_dir(clean)
        if not stat.S_ISREG(info.st_mode):
            raise _not_found(clean)
        if limit is not None and info.st_size > limit:
            return _too_large(clean, info.st_size, limit)
        return FileResponse(target, media_type=media_type, headers=_headers(clean), stat_result=info)
    size = _file_size(repo, clean)
    if limit is not None and size > limit:
        return _too_large(clean, size, limit)
    if isinstance(repo, FsspecArtifactRepository):
        source = repo.fs.open(f"{repo.root}/{clean}", "rb", block_size=_READ_CHUNK, cache_type="none")

        def chunks() -> Iterator[bytes]:
            with source:
                while data := source.read(_READ_CHUNK):
                    yield data

        headers = {**_headers(clean), "content-length": str(size)}
        return StreamingResponse(chunks(), media_type=media_type, headers=headers)
    # Any other repository kind: only capped previews, read whole (bounded by the cap).
    if limit is None:
        raise InvalidParameterError("Downloads from this artifact store go through its own client; use the preview")
    return Response(repo.read_bytes(clean), media_type=media_type, headers=_headers(clean))


MLMODEL_MAX_BYTES: Final = 1024 * 1024


def _mlmodel(store: Any, config: Any, run_id: str, path: str) -> dict[str, Any]:
    import json

    import yaml

    repo = _run_repository(store, config, run_id)
    clean = _file_path(path)
    if posixpath.basename(clean) != "MLmodel":
        clean = f"{clean}/MLmodel"
    size = _file_size(repo, clean)
    if size > MLMODEL_MAX_BYTES:
        raise InvalidParameterError(f"{clean!r} is {size} bytes; an MLmodel file this large is not a model's")
    try:
        data = yaml.safe_load(repo.read_bytes(clean).decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(f"{clean!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParameterError(f"{clean!r} is not an MLmodel file (its YAML is not a mapping)")
    signature = data.get("signature")
    if isinstance(signature, dict):
        # MLflow stores each schema as a JSON string inside the YAML.
        for part in ("inputs", "outputs", "params"):
            if isinstance(signature.get(part), str):
                with contextlib.suppress(ValueError):
                    signature[part] = json.loads(signature[part])
    # YAML dates and other non-JSON scalars become strings.
    return {"path": clean, "mlmodel": json.loads(json.dumps(data, default=str))}


@router.get("/artifacts/mlmodel", summary="An MLmodel file of a run, parsed (signature schemas decoded)")
def mlmodel(store: StoreDep, config: ConfigDep, run_id: str = "", path: str = "") -> JSONBody:
    return json_response(_mlmodel(store, config, run_id, path))


@router.get("/artifacts/preview", summary="One artifact file for the UI's preview (at most 10 MiB)")
async def preview_artifact(store: StoreDep, config: ConfigDep, run_id: str = "", path: str = "") -> Response:
    return await anyio.to_thread.run_sync(_serve, store, config, run_id, path, PREVIEW_MAX_BYTES)


@router.get("/artifacts/download", summary="One artifact file as a download (any size)")
async def download_artifact(store: StoreDep, config: ConfigDep, run_id: str = "", path: str = "") -> Response:
    return await anyio.to_thread.run_sync(_serve, store, config, run_id, path, None)
