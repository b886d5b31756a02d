"""The tracking server's artifact proxy: MLflow's ``/api/2.0/mlflow-artifacts`` endpoints.

Clients whose runs have ``mlflow-artifacts:/<path>`` (or ``mltrack-artifacts:/<path>``) artifact
URIs read and write files through these routes; the server keeps them under one *artifacts
destination* (a local directory, a ``file:`` URI or an fsspec object store such as
``s3://bucket/prefix``). Routes, relative to the mount prefix (reference §3.5):

* ``PUT /artifacts/<path>``: the raw body is the file. It is streamed, never held in memory: to a
  temp file renamed into place (local), or into an fsspec file that uploads in parts (S3).
  A client that disconnects half-way leaves nothing under the final name.
* ``GET /artifacts/<path>``: the file, streamed, always as an attachment with a content type
  that browsers will not render as a page (see :func:`safe_content_type`).
* ``GET /artifacts?path=<dir>``: the children of ``dir`` named relative to it; a file path
  lists that file alone; an empty or missing directory answers ``{}``.
* ``DELETE /artifacts/<path>``: a file or a whole tree (never the destination root).

Every path is checked by :func:`prefect_mltrack.artifacts.safe_artifact_path` and, on local
disks, :func:`prefect_mltrack.artifacts.resolve_inside` (symlinks out of the root). The web
framework percent-decodes the URL once; any ``%2e``/``%2f``/``%5c`` still left afterwards was
encoded twice on purpose and is refused. Failures answer MLflow's ``{error_code, message}``
JSON from the routes themselves, so the router works in a bare FastAPI app too.

Example:
    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> router = artifact_proxy_router("/tmp/mltrack-doc/mlartifacts")
    >>> app.include_router(router, prefix=ROUTE_PREFIX)
    >>> app.include_router(router, prefix=AJAX_ROUTE_PREFIX)
    >>> resolve_proxy_uri("mlflow-artifacts:/0/abc/artifacts", "s3://bucket/root")
    's3://bucket/root/0/abc/artifacts'
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import posixpath
import re
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urlparse

import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import FileResponse, Response, StreamingResponse

from prefect_mltrack.artifacts import get_artifact_repository
from prefect_mltrack.artifacts.fsspec_repo import FsspecArtifactRepository
from prefect_mltrack.artifacts.local import TEMP_PREFIX, LocalArtifactRepository, _open_temp
from prefect_mltrack.artifacts.paths import local_path_from_uri, resolve_inside, safe_artifact_path
from prefect_mltrack.exceptions import (
    ArtifactPathError,
    InvalidParameterError,
    MLTrackError,
    ResourceNotFoundError,
)
from prefect_mltrack.server.downloads import (
    DOWNLOAD_CONTENT,
    content_disposition,
    download_headers,
    safe_content_type,
)
from prefect_mltrack.server.http import empty_response, error_response, json_response

__all__ = [
    "AJAX_ROUTE_PREFIX",
    "PROXY_SCHEMES",
    "ROUTE_PREFIX",
    "artifact_proxy_router",
    "content_disposition",
    "resolve_proxy_uri",
    "safe_content_type",
]

logger = logging.getLogger(__name__)

ROUTE_PREFIX: Final = "/api/2.0/mlflow-artifacts"
AJAX_ROUTE_PREFIX: Final = "/ajax-api/2.0/mlflow-artifacts"
PROXY_SCHEMES: Final = ("mlflow-artifacts", "mltrack-artifacts")
"""URI schemes whose paths live under the server's artifacts destination."""

# Body chunks from the server are small (~64 KiB); gathering 1 MiB per write keeps the number of
# thread hops low (1024 per GiB) while bounding memory per upload.
_WRITE_BUFFER: Final = 1024 * 1024
# One ranged GET per read on object stores: bigger reads mean fewer requests, more memory.
_OBJECT_READ_CHUNK: Final = 4 * 1024 * 1024
# s3fs uploads one multipart part per block; S3's minimum part is 5 MiB, s3fs's default 50 MiB.
_OBJECT_WRITE_BLOCK: Final = 8 * 1024 * 1024
# Their buffered writers publish the object only when closed (S3 multipart, GCS resumable,
# Azure block list): streaming straight to the final key is atomic. Others use a temp key.
_PUBLISH_ON_CLOSE_SCHEMES: Final = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
# Left over after the framework's one decoding, these can only come from double encoding.
_ENCODED_LEFTOVER: Final = re.compile(r"%(?:2e|2f|5c)", re.IGNORECASE)


def _clean(path: str | None) -> str:
    """The canonical relative path, or ArtifactPathError for anything that could escape."""
    if path and _ENCODED_LEFTOVER.search(path):
        raise ArtifactPathError(
            f"Artifact path {path!r} still holds a percent-encoded '.', '/' or '\\' after URL decoding "
            "(it was encoded twice); send each path segment percent-encoded once"
        )
    clean = safe_artifact_path(path)
    if any(part.startswith(TEMP_PREFIX) for part in clean.split("/")):
        raise ArtifactPathError(
            f"Artifact path {path!r} uses the prefix {TEMP_PREFIX!r}, reserved for uploads in progress; rename the file"
        )
    return clean


def _file_path(path: str) -> str:
    clean = _clean(path)
    if not clean:
        raise ArtifactPathError("The artifact path is empty; give a file path such as '0/<run_id>/artifacts/a.txt'")
    return clean


async def _pump(body: AsyncIterator[bytes], write: Callable[[bytearray], Any]) -> None:
    """Feed ``body`` to ``write`` in ~1 MiB pieces, each written in a worker thread."""
    pending = bytearray()
    async for chunk in body:
        pending += chunk
        if len(pending) >= _WRITE_BUFFER:
            data, pending = pending, bytearray()
            await anyio.to_thread.run_sync(write, data)
    if pending:
        await anyio.to_thread.run_sync(write, pending)


def _listing(entries: list[tuple[str, bool, int | None]]) -> Response:
    """MLflow's listing body: names relative to the listed path; ``{}`` when there are none."""
    if not entries:
        return empty_response()
    files = [
        {"path": name, "is_dir": True} if is_dir else {"path": name, "is_dir": False, "file_size": size}
        for name, is_dir, size in sorted(entries)
    ]
    return json_response({"files": files})


class _FileResponse(FileResponse):
    # Starlette reads 64 KiB per thread hop; 1 MiB makes big downloads cheaper, memory stays bounded.
    chunk_size = 1024 * 1024


class _Backend(abc.ABC):
    """The storage operations the routes need, for paths already made canonical by :func:`_clean`."""

    @abc.abstractmethod
    async def upload(self, clean: str, body: AsyncIterator[bytes]) -> None: ...

    @abc.abstractmethod
    async def download(self, clean: str) -> Response: ...

    @abc.abstractmethod
    def list(self, clean: str) -> list[tuple[str, bool, int | None]]: ...

    @abc.abstractmethod
    def delete(self, clean: str) -> None: ...


def _not_found(clean: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"Artifact {clean!r} does not exist; list its directory to see what is there")


def _is_a_directory(clean: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"Artifact path {clean!r} is a directory; list it with GET artifacts?path=... and fetch its files one by one"
    )


class _LocalBackend(_Backend):
    def __init__(self, repo: LocalArtifactRepository) -> None:
        self.repo = repo
        self.root = repo.root

    def _open_for_upload(self, clean: str) -> tuple[Path, IO[bytes], Path]:
        dest = resolve_inside(self.root, clean)
        if dest.is_dir():
            raise InvalidParameterError(
                f"Artifact path {clean!r} is an existing directory; upload under another name or delete it first"
            )
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidParameterError(
                f"Cannot create the directory for {clean!r}: a file is in the way; choose another path or delete it"
            ) from None
        fd, tmp = _open_temp(dest.parent)
        return dest, os.fdopen(fd, "wb"), tmp

    @staticmethod
    def _publish(out: IO[bytes], tmp: Path, dest: Path, clean: str) -> None:
        out.flush()
        os.fsync(out.fileno())  # data on disk before the rename makes it visible
        out.close()
        try:
            os.replace(tmp, dest)
        except IsADirectoryError:  # a directory appeared there during the upload
            raise _is_a_directory(clean) from None

    async def upload(self, clean: str, body: AsyncIterator[bytes]) -> None:
        dest, out, tmp = await anyio.to_thread.run_sync(self._open_for_upload, clean)
        try:
            await _pump(body, out.write)
            await anyio.to_thread.run_sync(self._publish, out, tmp, dest, clean)
        except BaseException:
            # Also on disconnect or cancellation: two quick syscalls, done inline so they cannot be cancelled.
            out.close()
            tmp.unlink(missing_ok=True)
            raise

    async def download(self, clean: str) -> Response:
        # Inline on purpose: a few lstat calls on a local disk cost less than a thread hop.
        target = resolve_inside(self.root, clean)
        try:
            info = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(clean) from None
        if stat.S_ISDIR(info.st_mode):
            raise _is_a_directory(clean)
        if not stat.S_ISREG(info.st_mode):
            raise _not_found(clean)  # FIFOs, sockets: nothing to serve (and a FIFO would block)
        return _FileResponse(
            target,
            headers=download_headers(clean),
            media_type=safe_content_type(target.name),
            stat_result=info,
        )

    def list(self, clean: str) -> list[tuple[str, bool, int | None]]:
        target = resolve_inside(self.root, clean)
        try:
            info = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            return []
        if stat.S_ISREG(info.st_mode):
            return [(target.name, False, info.st_size)]
        return [(posixpath.basename(f.path), f.is_dir, f.file_size) for f in self.repo.list_artifacts(clean)]

    def delete(self, clean: str) -> None:
        self.repo.delete_artifacts(clean)


class _FsspecBackend(_Backend):
    def __init__(self, repo: FsspecArtifactRepository) -> None:
        self.repo = repo
        self.fs = repo.fs
        self.root = repo.root
        self.publish_on_close = repo.scheme in _PUBLISH_ON_CLOSE_SCHEMES

    def _full(self, clean: str) -> str:
        return f"{self.root}/{clean}" if clean else self.root

    async def upload(self, clean: str, body: AsyncIterator[bytes]) -> None:
        full = self._full(clean)
        target = full if self.publish_on_close else f"{posixpath.dirname(full)}/{TEMP_PREFIX}{os.urandom(8).hex()}"
        out = await anyio.to_thread.run_sync(lambda: self.fs.open(target, "wb", block_size=_OBJECT_WRITE_BLOCK))
        try:
            await _pump(body, out.write)
            await anyio.to_thread.run_sync(out.close)
            if not self.publish_on_close:
                await anyio.to_thread.run_sync(self.fs.mv, target, full)
        except BaseException:
            with anyio.CancelScope(shield=True):  # the cleanup may talk to the store: let it finish
                await anyio.to_thread.run_sync(self._discard, out, target)
            raise

    def _discard(self, out: Any, target: str) -> None:
        try:
            out.discard()  # s3fs: aborts the multipart upload, so no parts are left behind
            with contextlib.suppress(AttributeError):  # read-only on io.BytesIO-based files
                # fsspec's buffered files flush in __del__ unless closed: not after a discard.
                out.closed = True
            if not self.publish_on_close:
                self.fs.rm_file(target)
        except Exception:  # cleanup must not hide the real error
            logger.warning("Could not clean up the interrupted upload to %s", target, exc_info=True)

    def _open_for_download(self, clean: str) -> tuple[Any, int]:
        full = self._full(clean)
        try:
            info = self.fs.info(full)
        except FileNotFoundError:
            raise _not_found(clean) from None
        if info.get("type") == "directory":
            raise _is_a_directory(clean)
        # No read-ahead cache: each read is one ranged request, so memory stays at one chunk.
        return self.fs.open(full, "rb", block_size=_OBJECT_READ_CHUNK, cache_type="none"), int(info.get("size") or 0)

    async def download(self, clean: str) -> Response:
        source, size = await anyio.to_thread.run_sync(self._open_for_download, clean)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while data := await anyio.to_thread.run_sync(source.read, _OBJECT_READ_CHUNK):
                    yield data
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(source.close)

        headers = {**download_headers(clean), "content-length": str(size)}
        return StreamingResponse(chunks(), headers=headers, media_type=safe_content_type(posixpath.basename(clean)))

    def list(self, clean: str) -> list[tuple[str, bool, int | None]]:
        full = self._full(clean)
        try:
            entries = self.fs.ls(full, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        result: list[tuple[str, bool, int | None]] = []
        prefix = f"{full}/"
        for entry in entries:
            name = str(entry["name"]).rstrip("/")
            if clean and name == full and entry.get("type") != "directory":
                return [(posixpath.basename(full), False, int(entry.get("size") or 0))]  # a file lists itself
            child = name[len(prefix) :] if name.startswith(prefix) else ""
            if not child or "/" in child or child.startswith(TEMP_PREFIX):
                continue
            try:
                _clean(child)
            except ArtifactPathError:
                continue  # a key the API could not address
            if entry.get("type") == "directory":
                result.append((child, True, None))
            else:
                result.append((child, False, int(entry.get("size") or 0)))
        return result

    def delete(self, clean: str) -> None:
        self.repo.delete_artifacts(clean)


def _backend_for(artifacts_destination: str) -> _Backend:
    repo = get_artifact_repository(artifacts_destination)
    if isinstance(repo, LocalArtifactRepository):
        return _LocalBackend(repo)
    if isinstance(repo, FsspecArtifactRepository):
        return _FsspecBackend(repo)
    raise InvalidParameterError(
        f"Artifacts destination {artifacts_destination!r} is not served by the proxy; give a local directory, "
        "a file: URI or an object-store URI such as 's3://bucket/prefix'"
    )


def _error(exc: MLTrackError) -> Response:
    return error_response(exc.error_code, exc.message, exc.http_status)


def _storage_error(exc: OSError, action: str, path: str | None) -> Response:
    """A JSON 500 for a failing disk or store (full, read-only, access denied), logged in full."""
    logger.error("Artifact proxy could not %s %r", action, path, exc_info=exc)
    reason = exc.strerror or type(exc).__name__  # no paths of the server's disk in the answer
    return error_response(
        "INTERNAL_ERROR", f"The artifact store could not {action} {path!r}: {reason}; see the server log", 500
    )


def artifact_proxy_router(artifacts_destination: str) -> APIRouter:
    """MLflow's artifact proxy routes, serving files under ``artifacts_destination``.

    Mount it with ``prefix=ROUTE_PREFIX`` (and again with ``AJAX_ROUTE_PREFIX`` for the web UI);
    the router holds no per-mount state.

    Args:
        artifacts_destination: Local directory, ``file:`` URI or fsspec object-store URI
            (``s3://bucket/prefix``, ``memory://name``); the root of every proxied path.

    Raises:
        InvalidParameterError: The destination's scheme is not supported or its URI is invalid.

    Example:
        >>> from fastapi import FastAPI
        >>> app = FastAPI()
        >>> app.include_router(artifact_proxy_router("memory://mltrack-doc"), prefix=ROUTE_PREFIX)
    """
    backend = _backend_for(artifacts_destination)
    router = APIRouter(tags=["artifacts"])

    @router.put("/artifacts/{artifact_path:path}", summary="Upload one artifact file (raw request body)")
    async def upload_artifact(artifact_path: str, request: Request) -> Response:
        try:
            await backend.upload(_file_path(artifact_path), request.stream())
        except MLTrackError as exc:
            return _error(exc)
        except ClientDisconnect:
            logger.info("Upload of %r ended by a client disconnect; nothing was stored", artifact_path)
            return error_response("BAD_REQUEST", "The client disconnected before the upload finished", 400)
        except OSError as exc:
            return _storage_error(exc, "store", artifact_path)
        return empty_response()

    @router.get(
        "/artifacts/{artifact_path:path}",
        summary="Download one artifact file",
        response_class=Response,
        responses={200: {"description": "The file's bytes, as an attachment", "content": DOWNLOAD_CONTENT}},
    )
    async def download_artifact(artifact_path: str) -> Response:
        try:
            return await backend.download(_file_path(artifact_path))
        except MLTrackError as exc:
            return _error(exc)
        except OSError as exc:
            return _storage_error(exc, "read", artifact_path)

    @router.get("/artifacts", summary="List a directory of artifacts (names relative to it)")
    async def list_artifacts(path: str | None = None) -> Response:
        try:
            clean = _clean(path)
            return _listing(await anyio.to_thread.run_sync(backend.list, clean))
        except MLTrackError as exc:
            return _error(exc)
        except OSError as exc:
            return _storage_error(exc, "list", path)

    @router.delete("/artifacts/{artifact_path:path}", summary="Delete an artifact file or directory tree")
    async def delete_artifact(artifact_path: str) -> Response:
        try:
            clean = _clean(artifact_path)
            if not clean:
                raise ArtifactPathError(
                    "Refusing to delete the whole artifacts destination; give the path of a file or directory"
                )
            await anyio.to_thread.run_sync(backend.delete, clean)
        except MLTrackError as exc:
            return _error(exc)
        except OSError as exc:
            return _storage_error(exc, "delete", artifact_path)
        return empty_response()

    return router


def resolve_proxy_uri(uri: str, artifacts_destination: str) -> str:
    """The real location of a proxied artifact URI under the server's artifacts destination.

    ``mlflow-artifacts:/<path>``, ``mltrack-artifacts:/<path>`` and the
    ``mlflow-artifacts://host:port/<path>`` form (host ignored) are accepted. The result is a
    local path for a plain-path destination, a ``file:`` URI for a ``file:`` destination, and
    ``<destination>/<path>`` for object stores, so it can go straight to
    :func:`prefect_mltrack.artifacts.get_artifact_repository`.

    Args:
        uri: A proxied artifact URI, e.g. a run's ``artifact_uri``.
        artifacts_destination: The destination given to :func:`artifact_proxy_router`.

    Raises:
        ArtifactPathError: The path is unsafe (``..``, absolute, encoded tricks, a symlink out
            of a local destination).
        InvalidParameterError: ``uri`` is not a proxied artifact URI, or has a query or fragment.

    Example:
        >>> resolve_proxy_uri("mltrack-artifacts://localhost:5000/1/r/artifacts", "memory://store")
        'memory://store/1/r/artifacts'
    """
    parsed = urlparse(uri)
    if parsed.scheme.lower() not in PROXY_SCHEMES:
        raise InvalidParameterError(
            f"Artifact URI {uri!r} is not a proxied artifact URI; expected 'mlflow-artifacts:/<path>' "
            "or 'mltrack-artifacts:/<path>'"
        )
    if "?" in uri or "#" in uri:
        raise InvalidParameterError(f"Artifact URI {uri!r} has a query or fragment; give a plain path")
    clean = _clean(parsed.path.lstrip("/"))
    scheme = urlparse(artifacts_destination).scheme.lower()
    if len(scheme) <= 1:  # a plain path (one letter: a Windows drive)
        return str(resolve_inside(local_path_from_uri(artifacts_destination), clean))
    if scheme == "file":
        return resolve_inside(local_path_from_uri(artifacts_destination), clean).as_uri()
    base = artifacts_destination.rstrip("/")
    return f"{base}/{clean}" if clean else base
