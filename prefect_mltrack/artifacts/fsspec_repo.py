"""Artifact repository on any fsspec filesystem: ``s3://``, ``gs://``, ``memory://``...

fsspec (and s3fs for ``s3://``) are imported only when such a URI is used, so importing the
package stays light. Rules beyond the :class:`ArtifactRepository` contract:

* Every artifact path goes through :func:`safe_artifact_path` and is joined to the root
  lexically; object stores have no symlinks, so that is the whole containment check. The root
  URI itself must not hold ``..``, a query or a fragment.
* Object stores (S3, GCS, Azure, memory) make an upload visible as a whole when it completes,
  so files are written directly. Other filesystems get a ``.mltrack-tmp-<random>`` name
  first and are then moved into place; listings and downloads skip such names.
* ``s3://`` credentials: explicit ``storage_options`` win, then options registered for the
  URI's prefix (:func:`register_storage_options`; an ``ArtifactStorage`` block's ``activate()``
  does it); otherwise
  ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (read by botocore) and the endpoint from
  ``MLTRACK_S3_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL``. S3 listings are not cached, so files
  written by other processes show up at once.

Example:
    >>> repo = FsspecArtifactRepository("memory://mltrack-doc/run1")
    >>> repo.write_bytes(b"0.93", "metrics/acc.txt")
    >>> [f.path for f in repo.list_artifacts("metrics")]
    ['metrics/acc.txt']
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import secrets
import tempfile
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

from prefect_mltrack.artifacts.base import ArtifactRepository
from prefect_mltrack.artifacts.local import TEMP_PREFIX, _walk, _write_stream_atomic
from prefect_mltrack.artifacts.paths import safe_artifact_path
from prefect_mltrack.entities import FileInfo
from prefect_mltrack.exceptions import (
    ArtifactPathError,
    InvalidParameterError,
    ResourceNotFoundError,
)

__all__ = [
    "FSSPEC_SCHEMES",
    "FsspecArtifactRepository",
    "register_storage_options",
    "s3_storage_options_from_env",
]

FSSPEC_SCHEMES: Final = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")
"""Schemes :mod:`prefect_mltrack.artifacts` sends to this backend."""

# Uploads to these become visible only once complete: no temp name needed.
_WHOLE_OBJECT_SCHEMES: Final = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})
# Schemes that name a bucket/container in the host part.
_BUCKET_SCHEMES: Final = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
_INSTALL_HINT: Final = {
    "s3": "pip install prefect-mltrack[s3]",
    "s3a": "pip install prefect-mltrack[s3]",
    "gs": "pip install gcsfs",
    "gcs": "pip install gcsfs",
    "az": "pip install adlfs",
    "abfs": "pip install adlfs",
    "abfss": "pip install adlfs",
}


def s3_storage_options_from_env() -> dict[str, Any]:
    """s3fs options from the environment: the endpoint of an S3-compatible store, if set.

    ``MLTRACK_S3_ENDPOINT_URL`` wins over ``AWS_ENDPOINT_URL``; keys are left to botocore,
    which reads ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` itself.

    Example:
        >>> s3_storage_options_from_env()  # doctest: +SKIP
        {'client_kwargs': {'endpoint_url': 'http://127.0.0.1:8333'}}
    """
    endpoint = os.environ.get("MLTRACK_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    return {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}


# Credentials registered for URI prefixes (by ArtifactStorage blocks): longest prefix wins.
_OPTIONS_BY_PREFIX: dict[str, dict[str, Any]] = {}


def register_storage_options(root_uri: str, options: dict[str, Any]) -> None:
    """Use ``options`` for every artifact URI under ``root_uri`` (what an ``ArtifactStorage`` block does).

    They override the environment; options given to the repository explicitly override them.

    Example:
        >>> register_storage_options("s3://team-bucket/mltrack", {"key": "AKIA...", "secret": "..."})  # doctest: +SKIP
    """
    _OPTIONS_BY_PREFIX[root_uri.rstrip("/")] = dict(options)


def _registered_options(artifact_uri: str) -> dict[str, Any]:
    best = ""
    for prefix in _OPTIONS_BY_PREFIX:
        if (artifact_uri == prefix or artifact_uri.startswith(prefix + "/")) and len(prefix) > len(best):
            best = prefix
    return _OPTIONS_BY_PREFIX.get(best, {}) if best else {}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _filesystem(scheme: str, options: dict[str, Any]) -> Any:
    hint = _INSTALL_HINT.get(scheme, "pip install fsspec")
    try:
        import fsspec

        return fsspec.filesystem(scheme, **options)
    except ImportError as exc:
        raise InvalidParameterError(
            f"Artifact URIs with scheme {scheme!r} need an extra package that is not installed ({exc}); run `{hint}`"
        ) from exc


class FsspecArtifactRepository(ArtifactRepository):
    """Artifacts stored under one prefix of an fsspec filesystem (an S3 bucket, memory...).

    Args:
        artifact_uri: ``'s3://bucket/prefix'``, ``'memory://name'``, ...
        storage_options: Extra fsspec options (``key``, ``secret``, ``client_kwargs``...); they
            override what the environment gives.

    Attributes:
        fs: The fsspec filesystem.
        root: The root path inside ``fs`` (``'bucket/prefix'`` for S3), without a trailing ``/``.

    Example:
        >>> repo = FsspecArtifactRepository("memory://mltrack-doc/run2")
        >>> repo.write_bytes(b"hi", "a.txt")
        >>> repo.read_bytes("a.txt")
        b'hi'
    """

    def __init__(self, artifact_uri: str, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(artifact_uri)
        parsed = urlparse(artifact_uri)
        self.scheme = parsed.scheme.lower()
        if "?" in artifact_uri or "#" in artifact_uri:
            raise InvalidParameterError(
                f"Artifact URI {artifact_uri!r} has a query or fragment; give a plain URI such as 's3://bucket/prefix'"
            )
        if self.scheme in _BUCKET_SCHEMES and not parsed.netloc:
            raise InvalidParameterError(
                f"Artifact URI {artifact_uri!r} names no bucket; write it as '{self.scheme}://bucket/prefix'"
            )
        try:
            safe_artifact_path(f"{parsed.netloc}/{parsed.path}".strip("/"))
        except ArtifactPathError as exc:
            raise InvalidParameterError(f"Artifact URI {artifact_uri!r} is unsafe: {exc.message}") from None
        options: dict[str, Any] = {}
        if self.scheme in ("s3", "s3a"):
            # Listings must see what other processes wrote a moment ago.
            options = _merge({"use_listings_cache": False}, s3_storage_options_from_env())
        options = _merge(_merge(options, _registered_options(artifact_uri)), storage_options or {})
        self.fs = _filesystem(self.scheme, options)
        root = str(self.fs._strip_protocol(artifact_uri)).rstrip("/")
        self.root = root

    # -- paths -----------------------------------------------------------------------------
    def _checked(self, artifact_path: str | None) -> tuple[str, str]:
        """The canonical relative path and its full path in ``fs``."""
        clean = safe_artifact_path(artifact_path)
        if any(part.startswith(TEMP_PREFIX) for part in clean.split("/")):
            raise ArtifactPathError(
                f"Artifact path {artifact_path!r} uses the prefix {TEMP_PREFIX!r}, which is "
                "reserved for in-progress writes; rename the file"
            )
        return clean, self._full(clean)

    def _full(self, clean: str) -> str:
        return f"{self.root}/{clean}" if clean else self.root

    def _relative(self, name: str) -> str | None:
        """The path of an fs entry relative to the root; None if it is the root or outside it."""
        name = str(name).rstrip("/")
        prefix = f"{self.root}/"
        return name[len(prefix) :] if name.startswith(prefix) else None

    def _file_target(self, artifact_file: str) -> str:
        clean, full = self._checked(artifact_file)
        if not clean:
            raise ArtifactPathError(
                f"Artifact path {artifact_file!r} names the artifact root; give a file name, like 'notes/readme.txt'"
            )
        if self.fs.isdir(full):
            raise InvalidParameterError(
                f"Artifact path {clean!r} is an existing directory; write the file under "
                "another name or delete the directory first"
            )
        return full

    # -- writing ---------------------------------------------------------------------------
    def _upload(self, local: Path | None, data: bytes | None, full: str) -> None:
        """Store a local file or bytes at ``full``, never visible half-written."""
        direct = self.scheme in _WHOLE_OBJECT_SCHEMES
        parent = posixpath.dirname(full)
        if not direct:
            self.fs.makedirs(parent, exist_ok=True)
        target = full if direct else f"{parent}/{TEMP_PREFIX}{secrets.token_hex(8)}"
        try:
            if local is not None:
                self.fs.put_file(str(local), target)
            else:
                self.fs.pipe_file(target, data or b"")
            if not direct:
                self.fs.mv(target, full)
        except BaseException:
            if not direct:
                with contextlib.suppress(Exception):  # cleanup must not hide the real error
                    self.fs.rm_file(target)
            raise

    def log_artifact(self, local_file: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        src = Path(local_file)
        if not src.exists():
            raise ResourceNotFoundError(f"Local file {str(src)!r} does not exist; check the path")
        if src.is_dir():
            raise InvalidParameterError(f"Local path {str(src)!r} is a directory; use log_artifacts to log a directory")
        base = safe_artifact_path(artifact_path)
        self._upload(src, None, self._file_target(f"{base}/{src.name}" if base else src.name))

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        src_root = Path(local_dir)
        if not src_root.exists():
            raise ResourceNotFoundError(f"Local directory {str(src_root)!r} does not exist; check the path")
        if not src_root.is_dir():
            raise InvalidParameterError(
                f"Local path {str(src_root)!r} is not a directory; use log_artifact for one file"
            )
        base, base_full = self._checked(artifact_path)
        dirs, files = _walk(src_root, "", root=None)

        def join(rel: str) -> str:
            return f"{base}/{rel}" if base else rel

        # Check every destination before writing anything: no half-logged trees.
        dir_targets = [self._checked(join(rel))[1] for rel in dirs]
        file_targets = [(src, self._checked(join(rel))[1]) for src, rel in files]
        if self.scheme not in _WHOLE_OBJECT_SCHEMES or self.scheme == "memory":
            for directory in [base_full, *dir_targets]:
                self.fs.makedirs(directory, exist_ok=True)
        for src, full in file_targets:
            self._upload(src, None, full)

    def write_bytes(self, data: bytes, artifact_file: str) -> None:
        self._upload(None, bytes(data), self._file_target(artifact_file))

    # -- reading ---------------------------------------------------------------------------
    def read_bytes(self, artifact_file: str) -> bytes:
        clean, full = self._checked(artifact_file)
        try:
            return bytes(self.fs.cat_file(full))
        except (FileNotFoundError, IsADirectoryError):
            if clean and self.fs.isdir(full):
                raise InvalidParameterError(
                    f"Artifact path {clean!r} is a directory; use list_artifacts or download_artifacts for directories"
                ) from None
            raise ResourceNotFoundError(f"Artifact {clean!r} does not exist under {self.artifact_uri!r}") from None

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        clean, full = self._checked(path)
        try:
            entries = self.fs.ls(full, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        infos: list[FileInfo] = []
        for entry in entries:
            rel = self._relative(entry["name"])
            if rel is None or rel == clean or posixpath.dirname(rel) != clean:
                continue  # the path itself (it names a file), or not a direct child
            if posixpath.basename(rel).startswith(TEMP_PREFIX):
                continue
            try:
                safe_artifact_path(rel)
            except ArtifactPathError:
                continue  # a key the API cannot address
            if entry.get("type") == "directory":
                infos.append(FileInfo(path=rel, is_dir=True))
            else:
                infos.append(FileInfo(path=rel, is_dir=False, file_size=int(entry.get("size") or 0)))
        return sorted(infos, key=lambda info: info.path)

    def _copy_down(self, full: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        with self.fs.open(full, "rb") as source:
            _write_stream_atomic(source, local)

    def download_artifacts(self, artifact_path: str, dst_path: str | os.PathLike[str] | None = None) -> str:
        clean, full = self._checked(artifact_path)
        if dst_path is None:
            dst_root = Path(tempfile.mkdtemp(prefix="mltrack-download-"))
        else:
            dst_root = Path(os.path.abspath(dst_path))
            if dst_root.exists() and not dst_root.is_dir():
                raise InvalidParameterError(
                    f"Download destination {str(dst_root)!r} is not a directory; "
                    "give a directory (it is created if missing)"
                )
        # 'clean' has no '..' or absolute parts, so this stays under dst_root.
        local = dst_root.joinpath(*clean.split("/")) if clean else dst_root
        if clean and self.fs.isfile(full):
            self._copy_down(full, local)
            return str(local)
        found = self.fs.find(full, withdirs=True, detail=True) if self.fs.isdir(full) else {}
        if not found:
            raise ResourceNotFoundError(f"Artifact {clean!r} does not exist under {self.artifact_uri!r}")
        dirs: list[str] = []
        files: list[tuple[str, str]] = []
        # Check the whole tree before writing: refuse rather than download part of it.
        for name, info in found.items():
            rel = self._relative(name)
            if rel is None or rel == clean:
                continue
            if any(part.startswith(TEMP_PREFIX) for part in rel.split("/")):
                continue
            safe_artifact_path(rel)
            if info.get("type") == "directory":
                dirs.append(rel)
            else:
                files.append((rel, name))
        local.mkdir(parents=True, exist_ok=True)
        for rel in sorted(dirs):
            dst_root.joinpath(*rel.split("/")).mkdir(parents=True, exist_ok=True)
        for rel, name in sorted(files):
            self._copy_down(name, dst_root.joinpath(*rel.split("/")))
        return str(local)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        clean, full = self._checked(artifact_path)
        targets = [full]
        if not clean:
            # The whole root: remove its children, never the bucket or root itself.
            try:
                targets = [entry["name"] for entry in self.fs.ls(full, detail=True)]
            except FileNotFoundError:
                return
        for target in targets:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(target, recursive=True)
