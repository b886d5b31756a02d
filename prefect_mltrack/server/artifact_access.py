"""How the server reaches a run's artifacts: proxy URIs map into its artifact destination.

A run created through the server has an ``artifact_uri`` such as ``mlflow-artifacts:/1/<run>/artifacts``;
the server reads it from ``<artifacts-destination>/1/<run>/artifacts``. Other URIs (a local folder
inside the artifact root, an object store) were checked by :mod:`prefect_mltrack.server.uri_policy`
when their experiment was created and are opened directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_mltrack.artifacts import ArtifactRepository, get_artifact_repository

if TYPE_CHECKING:
    from prefect_mltrack.server.config import ServerConfig

PROXY_SCHEMES = ("mlflow-artifacts:", "mltrack-artifacts:")


def is_proxy_uri(uri: str) -> bool:
    return uri.lower().startswith(PROXY_SCHEMES)


def server_side_uri(uri: str, config: ServerConfig) -> str:
    """The URI the server itself opens for ``uri`` (a proxy URI becomes a path under the destination)."""
    if is_proxy_uri(uri):
        from prefect_mltrack.server.artifact_proxy import resolve_proxy_uri

        return resolve_proxy_uri(uri, config.artifacts_destination)
    return uri


def run_artifact_repository(artifact_uri: str, config: ServerConfig) -> ArtifactRepository:
    return get_artifact_repository(server_side_uri(artifact_uri, config))
