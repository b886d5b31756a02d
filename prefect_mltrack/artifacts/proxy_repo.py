"""Artifacts through a tracking server's artifact proxy: ``mlflow-artifacts:/<path>`` URIs.

A run created through ``mltrack server`` (or ``mlflow server``) has an artifact URI such as
``mlflow-artifacts:/1/<run_id>/artifacts``; its files live on the server and are reached through
``<tracking URI>/api/2.0/mlflow-artifacts/artifacts/<path>`` (reference §3.5). ``mltrack-artifacts:``
is the same thing under our name. ``mlflow-artifacts://host:port/<path>`` names the server itself;
otherwise it is the tracking URI (``set_tracking_uri`` / ``MLTRACK_TRACKING_URI``), which must then
be ``http(s)://``.

Rules beyond the :class:`ArtifactRepository` contract:

* Every path goes through :func:`safe_artifact_path` before a request is made, and every name a
  server lists is checked the same way before it becomes a local path.
* Uploads stream the file (1 MiB reads; the whole file is never in memory) with a ``PUT``; a
  failed connection or a 502/503/504 is retried from the start of the file.
* Downloads stream into a ``.mltrack-tmp-<random>`` file beside the target, renamed into place
  when complete. Directory trees are listed level by level, then fetched a few files at a time.
* Auth, retries and timeouts are the REST store's (:mod:`prefect_mltrack.store.rest_http`).
  Credentials go to the tracking server only: a different host named in an artifact URI (which
  comes from server data) gets none.

Example:
    >>> repo = ProxyArtifactRepository("mlflow-artifacts:/1/abc/artifacts",
    ...                                tracking_uri="http://127.0.0.1:5000")
    >>> repo.server_url, repo.root
    ('http://127.0.0.1:5000', '1/abc/artifacts')
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import quote, urlsplit

from prefect_mltrack.artifacts.base import ArtifactRepository
from prefect_mltrack.artifacts.local import TEMP_PREFIX, _open_temp, _walk
from prefect_mltrack.artifacts.paths import safe_artifact_path
from prefect_mltrack.entities import FileInfo
from prefect_mltrack.exceptions import (
    ArtifactPathError,
    InvalidParameterError,
    MLTrackError,
    ResourceNotFoundError,
)
from prefect_mltrack.store.rest_http import HttpSession

__all__ = ["ARTIFACTS_ROUTE", "PROXY_SCHEMES", "ProxyArtifactRepository"]

PROXY_SCHEMES: Final = ("mlflow-artifacts", "mltrack-artifacts")
ARTIFACTS_ROUTE: Final = "/api/2.0/mlflow-artifacts/artifacts"
CHUNK: Final = 1024 * 1024
# Files fetched or sent at once for a tree: enough to hide per-request latency, few enough
# to stay polite to one server.
MAX_PARALLEL: Final = 4


class _FileBody:
    """An open file as an upload body: httpx sizes it with fstat (Content-Length) and reads it in
    1 MiB pieces instead of its default 64 KiB, so big uploads make fewer, larger writes."""

    def __init__(self, path: Path) -> None:
        self._file: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by the session after each attempt

    def read(self, _size: int = -1) -> bytes:
        return self._file.read(CHUNK)

    def fileno(self) -> int:
        return self._file.fileno()

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self._file.read(CHUNK), b"")

    def close(self) -> None:
        self._file.close()


def _join(*parts: str) -> str:
    return "/".join(part for part in parts if part)


def _server_url(netloc: str, tracking_uri: str | None, artifact_uri: str) -> tuple[str, bool]:
    """``http(s)://host:port`` of the server that holds ``artifact_uri``, and whether it is the
    tracking server itself (only then do the user's credentials go to it)."""
    from prefect_mltrack.settings import get_tracking_uri

    tracking = tracking_uri or get_tracking_uri()
    parts = urlsplit(tracking)
    tracking_scheme = parts.scheme.lower()
    if netloc:  # mlflow-artifacts://host:port/path: that server, with the tracking URI's scheme
        scheme = tracking_scheme if tracking_scheme in ("http", "https") else "http"
        return f"{scheme}://{netloc}", netloc.lower() == parts.netloc.lower()
    if tracking_scheme not in ("http", "https"):
        raise InvalidParameterError(
            f"Artifact URI {artifact_uri!r} is served by a tracking server's artifact proxy, but the tracking "
            f"URI is {tracking!r}. Point the client at the server (set_tracking_uri('http://<host>:<port>') or "
            "MLTRACK_TRACKING_URI), or name it in the URI: mlflow-artifacts://<host>:<port>/<path>."
        )
    return tracking.rstrip("/"), True


class ProxyArtifactRepository(ArtifactRepository):
    """Artifacts under one path of a tracking server's artifact proxy.

    Args:
        artifact_uri: ``mlflow-artifacts:/<path>``, ``mltrack-artifacts:/<path>`` or
            ``mlflow-artifacts://<host>:<port>/<path>``.
        tracking_uri: The server's ``http(s)://`` address when the URI names none; default: the
            current tracking URI.

    Attributes:
        server_url: ``http(s)://host:port`` of the server.
        root: The repository's path under the proxy, canonical (``'1/<run_id>/artifacts'``).

    Raises:
        InvalidParameterError: The URI is not a proxy URI, has a query or fragment, or no server
            address can be found for it.
        ArtifactPathError: The path in the URI is unsafe.

    Example:
        >>> repo = ProxyArtifactRepository("mltrack-artifacts://10.0.0.5:5000/0/r1/artifacts")
        >>> repo.server_url
        'http://10.0.0.5:5000'
    """

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None) -> None:
        super().__init__(artifact_uri)
        parts = urlsplit(artifact_uri)
        if parts.scheme.lower() not in PROXY_SCHEMES:
            raise InvalidParameterError(
                f"Artifact URI {artifact_uri!r} is not a proxied URI; expected mlflow-artifacts:/<path> "
                "or mltrack-artifacts:/<path>"
            )
        if parts.query or parts.fragment or "?" in artifact_uri or "#" in artifact_uri:
            raise InvalidParameterError(f"Artifact URI {artifact_uri!r} has a query or fragment; give a plain path")
        self.root = safe_artifact_path(parts.path.lstrip("/"))
        self.server_url, is_tracking_server = _server_url(parts.netloc, tracking_uri, artifact_uri)
        # A host inside an artifact URI comes from server data, not from the user: the tracking
        # credentials are not handed to it.
        self._http = HttpSession(self.server_url, send_credentials=is_tracking_server)
        self._files_url = self.server_url + ARTIFACTS_ROUTE

    # -- paths -------------------------------------------------------------------------------------
    def _checked(self, artifact_path: str | None) -> str:
        """The canonical path relative to the root; refuses unsafe paths and in-progress names."""
        clean = safe_artifact_path(artifact_path)
        if any(part.startswith(TEMP_PREFIX) for part in clean.split("/")):
            raise ArtifactPathError(
                f"Artifact path {artifact_path!r} uses the prefix {TEMP_PREFIX!r}, which is reserved for "
                "in-progress writes; rename the file"
            )
        return clean

    def _file_target(self, artifact_file: str) -> str:
        clean = self._checked(artifact_file)
        if not clean:
            raise ArtifactPathError(
                f"Artifact path {artifact_file!r} names the artifact root; give a file name, like 'notes/readme.txt'"
            )
        return clean

    def _url(self, clean: str) -> str:
        return f"{self._files_url}/{quote(_join(self.root, clean), safe='/')}"

    # -- transfers ---------------------------------------------------------------------------------
    def _put(self, clean: str, body: bytes | Callable[[], Any]) -> None:
        content_type = mimetypes.guess_type(clean)[0] or "application/octet-stream"
        url = self._url(clean)
        # A PUT replaces the whole file, so repeating it after a lost answer is harmless.
        self._http.send("PUT", url, content=body, headers={"Content-Type": content_type}, idempotent=True).close()

    def _upload(self, src: Path, clean: str) -> None:
        self._put(clean, lambda: _FileBody(src))

    def _fetch(self, clean: str, dest: Path) -> None:
        """Stream one file to ``dest``: a temp name beside it, renamed when complete."""
        response = self._http.send("GET", self._url(clean), idempotent=True, stream=True)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = _open_temp(dest.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
                os.replace(tmp, dest)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        finally:
            response.close()

    def _listing(self, clean: str) -> list[tuple[str, bool, int | None]]:
        """The server's entries for ``clean``: (name relative to it, is_dir, size), names checked."""
        answer = self._http.call("GET", ARTIFACTS_ROUTE, params={"path": _join(self.root, clean)})
        entries = []
        for item in answer.get("files", ()) or ():
            name = item.get("path") if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            try:
                name = safe_artifact_path(name)
            except ArtifactPathError:
                continue  # a name we could not address (or a hostile one): never becomes a local path
            if not name or any(part.startswith(TEMP_PREFIX) for part in name.split("/")):
                continue
            is_dir = bool(item.get("is_dir", False))
            size = item.get("file_size")
            entries.append((name, is_dir, None if is_dir or size is None else int(size)))
        return entries

    def _is_file(self, clean: str) -> bool:
        try:
            self._http.send("GET", self._url(clean), idempotent=True, stream=True).close()
        except MLTrackError:
            return False
        return True

    def _walk_remote(self, top: str) -> tuple[list[str], list[str]]:
        """Every directory and file below ``top`` (paths relative to the root), level by level."""
        dirs: list[str] = []
        files: list[str] = []
        pending = [top]
        while pending:
            directory = pending.pop()
            for name, is_dir, _size in self._listing(directory):
                child = _join(directory, name)
                if is_dir:
                    dirs.append(child)
                    pending.append(child)
                else:
                    files.append(child)
        return sorted(dirs), sorted(files)

    @staticmethod
    def _each(function: Callable[[Any], None], items: list[Any]) -> None:
        if len(items) <= 1:
            for item in items:
                function(item)
            return
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(items))) as pool:
            for _ in pool.map(function, items):  # re-raises the first failure
                pass

    # -- the seam ----------------------------------------------------------------------------------
    def log_artifact(self, local_file: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        src = Path(local_file)
        if not src.exists():
            raise ResourceNotFoundError(f"Local file {str(src)!r} does not exist; check the path")
        if src.is_dir():
            raise InvalidParameterError(f"Local path {str(src)!r} is a directory; use log_artifacts to log a directory")
        self._upload(src, self._file_target(_join(safe_artifact_path(artifact_path), src.name)))

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        src_root = Path(local_dir)
        if not src_root.exists():
            raise ResourceNotFoundError(f"Local directory {str(src_root)!r} does not exist; check the path")
        if not src_root.is_dir():
            raise InvalidParameterError(
                f"Local path {str(src_root)!r} is not a directory; use log_artifact for one file"
            )
        base = self._checked(artifact_path)
        _dirs, files = _walk(src_root, "", root=None)
        # Every name is checked before the first upload, so a bad one leaves nothing half-logged.
        # The proxy has no empty directories: only files travel.
        targets = [(src, self._file_target(_join(base, rel))) for src, rel in files]
        self._each(lambda pair: self._upload(*pair), targets)

    def write_bytes(self, data: bytes, artifact_file: str) -> None:
        self._put(self._file_target(artifact_file), bytes(data))

    def read_bytes(self, artifact_file: str) -> bytes:
        clean = self._file_target(artifact_file)
        response = self._http.send("GET", self._url(clean), idempotent=True)
        return response.content

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        clean = self._checked(path)
        entries = self._listing(clean)
        # The proxy lists a file as itself; a directory holding one file of its own name looks the
        # same, so only then does a second request tell them apart.
        if (
            clean
            and len(entries) == 1
            and not entries[0][1]
            and entries[0][0] == posixpath.basename(clean)
            and self._is_file(clean)
        ):
            return []
        infos = [
            FileInfo(path=_join(clean, name), is_dir=is_dir, file_size=None if is_dir else size)
            for name, is_dir, size in entries
        ]
        return sorted(infos, key=lambda info: info.path)

    def download_artifacts(self, artifact_path: str, dst_path: str | os.PathLike[str] | None = None) -> str:
        clean = self._checked(artifact_path)
        if dst_path is None:
            dst_root = Path(tempfile.mkdtemp(prefix="mltrack-download-"))
        else:
            dst_root = Path(os.path.abspath(dst_path))
            if dst_root.exists() and not dst_root.is_dir():
                raise InvalidParameterError(
                    f"Download destination {str(dst_root)!r} is not a directory; "
                    "give a directory (it is created if missing)"
                )
        # 'clean' and every listed name passed safe_artifact_path: this stays under dst_root.
        local = dst_root.joinpath(*clean.split("/")) if clean else dst_root
        if clean:
            try:  # most downloads are one file: try that first, it costs one request
                self._fetch(clean, local)
                return str(local)
            except MLTrackError as exc:
                # Not a file: missing (404) or a directory (400; MLflow's server words it its own way).
                missing = exc.http_status == 404
                if not missing and exc.http_status != 400:
                    raise
        else:
            missing = False
        dirs, files = self._walk_remote(clean)
        if missing and not files and not dirs:
            raise ResourceNotFoundError(
                f"Artifact {clean!r} does not exist under {self.artifact_uri!r}; list its directory to see "
                "what is there"
            )
        local.mkdir(parents=True, exist_ok=True)
        for rel in dirs:
            dst_root.joinpath(*rel.split("/")).mkdir(parents=True, exist_ok=True)
        self._each(lambda rel: self._fetch(rel, dst_root.joinpath(*rel.split("/"))), files)
        return str(local)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        clean = self._checked(artifact_path)
        targets = [clean] if (clean or self.root) else [name for name, _, _ in self._listing("")]
        for target in targets:
            try:  # deleting something missing is not an error
                self._http.send("DELETE", self._url(target), idempotent=True).close()
            except MLTrackError as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
