"""Artifact storage: the :class:`ArtifactRepository` seam, its backends and path safety.

Backends are picked by URI scheme from a small registry: local paths and ``file:`` URIs, object
stores (``s3://``, ``gs://``, ``memory://``...) through fsspec, and the tracking server's artifact
proxy (``mlflow-artifacts:/``, ``mltrack-artifacts:/``), each imported on first use. Other
backends add themselves with :func:`register_artifact_repository`.

Example:
    >>> repo = get_artifact_repository("file:///tmp/mltrack-doc/run1")
    >>> type(repo).__name__
    'LocalArtifactRepository'
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

from prefect_mltrack.artifacts.base import ArtifactRepository
from prefect_mltrack.artifacts.local import LocalArtifactRepository
from prefect_mltrack.artifacts.paths import resolve_inside, safe_artifact_path
from prefect_mltrack.exceptions import InvalidParameterError

__all__ = [
    "ArtifactRepository",
    "ArtifactRepositoryFactory",
    "LocalArtifactRepository",
    "get_artifact_repository",
    "register_artifact_repository",
    "resolve_inside",
    "safe_artifact_path",
]

ArtifactRepositoryFactory = Callable[[str], ArtifactRepository]
"""Builds a repository from the full artifact URI; a backend class itself qualifies."""


def _fsspec_repository(artifact_uri: str) -> ArtifactRepository:
    """Import the fsspec backend only when an object-store URI is used (keeps imports light)."""
    from prefect_mltrack.artifacts.fsspec_repo import FsspecArtifactRepository

    return FsspecArtifactRepository(artifact_uri)


def _proxy_repository(artifact_uri: str) -> ArtifactRepository:
    """The tracking server's artifact proxy (``mlflow-artifacts:/``), imported on first use."""
    from prefect_mltrack.artifacts.proxy_repo import ProxyArtifactRepository

    return ProxyArtifactRepository(artifact_uri)


# '' is a plain local path. Keys are lower-case: URI schemes are case-insensitive (RFC 3986).
# Object stores (see prefect_mltrack.artifacts.fsspec_repo.FSSPEC_SCHEMES) go through fsspec.
_REGISTRY: dict[str, ArtifactRepositoryFactory] = {
    "": LocalArtifactRepository,
    "file": LocalArtifactRepository,
    **dict.fromkeys(("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"), _fsspec_repository),
    # The tracking server's proxy: MLflow's scheme and ours.
    **dict.fromkeys(("mlflow-artifacts", "mltrack-artifacts"), _proxy_repository),
}


def register_artifact_repository(scheme: str, factory: ArtifactRepositoryFactory) -> None:
    """Make :func:`get_artifact_repository` use ``factory`` for URIs with ``scheme``.

    Registering a scheme again replaces the previous factory, so a deployment can swap a
    backend (e.g. the server proxy for ``mltrack-artifacts``).

    Args:
        scheme: URI scheme without ``'://'``, e.g. ``'s3'``; matched case-insensitively.
        factory: Callable taking the full artifact URI and returning a repository.

    Raises:
        InvalidParameterError: ``scheme`` is not a valid URI scheme name.

    Example:
        >>> register_artifact_repository("mem", LocalArtifactRepository)  # doctest: +SKIP
    """
    # A scheme must survive urlparse, or URIs using it would never be dispatched to it.
    if not scheme or urlparse(f"{scheme}://x").scheme != scheme.lower() or len(scheme) == 1:
        raise InvalidParameterError(
            f"Cannot register artifact scheme {scheme!r}: give a URI scheme such as 's3' "
            "(a letter followed by letters, digits, '+', '-' or '.'; one letter means a drive)"
        )
    _REGISTRY[scheme.lower()] = factory


def get_artifact_repository(artifact_uri: str) -> ArtifactRepository:
    """The repository for ``artifact_uri``, chosen by its scheme.

    Plain paths (absolute, relative or Windows ``'C:\\dir'``) and ``file:`` URIs go to
    :class:`LocalArtifactRepository`.

    Args:
        artifact_uri: Root URI of the artifacts, typically a run's ``artifact_uri``.

    Raises:
        InvalidParameterError: No backend is registered for the URI's scheme; the message
            names the scheme and the supported ones.

    Example:
        >>> get_artifact_repository("/tmp/mltrack-doc/run1").root.name
        'run1'
    """
    scheme = urlparse(artifact_uri).scheme.lower()
    if len(scheme) == 1:
        scheme = ""  # a Windows drive letter, not a scheme
    factory = _REGISTRY.get(scheme)
    if factory is None:
        supported = ", ".join(repr(s) for s in sorted(_REGISTRY) if s)
        raise InvalidParameterError(
            f"Unsupported artifact URI scheme {scheme!r} in {artifact_uri!r}; supported "
            f"schemes: {supported}, or a plain local path"
        )
    return factory(artifact_uri)
