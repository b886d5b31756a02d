"""Model URIs to local model directories: all URI handling of the models package is here.

====================================  ==================================================================
``runs:/<run_id>/<path>``             the run's artifact root + path, through the tracking client
``models:/<name>/<version|stage>``,   resolved by the registry
``models:/<name>@<alias>``            (``prefect_mltrack.registry_client.resolve_model_uri``)
``/abs/dir``, ``rel/dir``, ``file:``  used in place
other artifact URIs (``s3://``...)    downloaded through the artifact repository for the scheme
====================================  ==================================================================

When the artifacts live on the local filesystem the model is read where it is stored (no copy);
otherwise it is downloaded into ``dst_path`` or a new temporary directory.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from prefect_mltrack.artifacts.paths import local_path_from_uri, resolve_inside
from prefect_mltrack.exceptions import InvalidParameterError, ResourceNotFoundError

__all__ = ["download_artifact", "download_model", "parse_runs_uri"]


def download_model(uri: str | os.PathLike[str], dst_path: str | os.PathLike[str] | None = None) -> Path:
    """The local directory of the model at ``uri`` (downloaded into ``dst_path`` when given).

    Raises:
        ResourceNotFoundError: nothing at ``uri``, or no ``MLmodel`` file there.
        InvalidParameterError: a malformed URI.

    Example:
        >>> download_model("runs:/0123abcd/iris_model")          # doctest: +SKIP
        PosixPath('/home/me/.mltrack/artifacts/0/0123abcd/artifacts/iris_model')
    """
    text = os.fspath(uri)
    path = download_artifact(text, dst_path)
    if not (path / "MLmodel").is_file():
        raise ResourceNotFoundError(
            f"No MLmodel file at {text!r} (looked in {str(path)!r}); the URI must name a model directory, "
            "e.g. runs:/<run_id>/<artifact_path> as returned by log_model"
        )
    return path


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` -> (run_id, path)."""
    rest = uri[len("runs:") :].lstrip("/")
    run_id, _, path = rest.partition("/")
    if not run_id:
        raise InvalidParameterError(f"Malformed runs URI {uri!r}; expected runs:/<run_id>/<artifact_path>")
    return run_id, path


def download_artifact(uri: str, dst_path: str | os.PathLike[str] | None = None, _depth: int = 0) -> Path:
    """The local path of the file or directory at ``uri`` (any of the schemes in the module docstring)."""
    scheme = urlparse(uri).scheme.lower()
    if scheme == "models":
        if _depth:
            raise InvalidParameterError(f"The registry resolved a models URI to another models URI: {uri!r}")
        try:
            from prefect_mltrack.registry_client import resolve_model_uri  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise InvalidParameterError(
                f"Cannot resolve {uri!r}: this build of prefect_mltrack has no model registry; "
                "use runs:/<run_id>/<path> or a local path"
            ) from None
        return download_artifact(str(resolve_model_uri(uri, _client())), dst_path, _depth + 1)
    if scheme == "runs":
        run_id, path = parse_runs_uri(uri)
        artifact_uri = _client().get_run(run_id).info.artifact_uri
        if not artifact_uri:
            raise ResourceNotFoundError(f"Run {run_id} has no artifact location")
        return _from_repository(artifact_uri, path, dst_path, uri)
    if scheme in ("", "file") or len(scheme) == 1:  # one letter: a Windows drive
        local = local_path_from_uri(uri)
        if not local.exists():
            raise ResourceNotFoundError(f"No model or artifact at {uri!r} ({str(local)!r} does not exist)")
        if dst_path is None:
            return local
        target = Path(dst_path) / local.name
        if local.is_dir():
            shutil.copytree(local, target, dirs_exist_ok=True)
        else:
            Path(dst_path).mkdir(parents=True, exist_ok=True)
            shutil.copy2(local, target)
        return target
    parent, name = posixpath.split(uri.rstrip("/"))
    return _from_repository(parent, name, dst_path, uri)


def _from_repository(root_uri: str, path: str, dst_path: str | os.PathLike[str] | None, uri: str) -> Path:
    from prefect_mltrack.artifacts import LocalArtifactRepository, get_artifact_repository

    repo = get_artifact_repository(root_uri)
    if isinstance(repo, LocalArtifactRepository) and dst_path is None:
        local = resolve_inside(repo.root, path)
        if not local.exists():
            raise ResourceNotFoundError(f"No model or artifact at {uri!r}: {path!r} is not in the run's artifacts")
        return local
    target = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="mltrack-model-"))
    return Path(repo.download_artifacts(path, target))


def _client() -> Any:
    from prefect_mltrack import fluent

    return fluent._client()
