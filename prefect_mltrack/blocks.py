"""Prefect blocks: where tracking data, artifacts and served models live, with secrets kept secret.

Blocks are registered through the ``prefect.collections`` entry point, so a Prefect server or
worker that has ``prefect-mltrack`` installed knows them. Save one from Python, from the Prefect UI,
or from a file with ``mltrack blocks apply blocks/FILE.yaml``; point a flow at it with
``@track(store=TrackingStore.load("prod"))``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, field_validator

if TYPE_CHECKING:
    import httpx

    from prefect_mltrack.client import TrackingClient

_DOCS = "https://github.com/prefect-mltrack/prefect-mltrack/blob/main/docs/prefect.md"
_LOGO = "https://raw.githubusercontent.com/prefect-mltrack/prefect-mltrack/main/docs/img/mltrack-logo.png"


class TrackingStore(Block):
    """Where tracking runs are stored: a SQL database or a tracking server.

    Example:
        Point a flow at a saved store:
        ```python
        from prefect_mltrack.blocks import TrackingStore
        store = TrackingStore.load("BLOCK_NAME")
        ```
    """

    _block_type_name: ClassVar[str] = "MLTrack Tracking Store"
    _block_type_slug: ClassVar[str] = "mltrack-tracking-store"
    _logo_url: ClassVar[Any] = _LOGO
    _documentation_url: ClassVar[Any] = _DOCS

    tracking_uri: str = Field(
        default="sqlite:///mltrack.db",
        description=(
            "Tracking URI: sqlite:///path/to/file.db, postgresql+psycopg://user@host/db, "
            "or http(s)://host:port for a tracking server."
        ),
    )
    token: SecretStr | None = Field(default=None, description="Bearer token for a tracking server, if it needs one.")

    @field_validator("tracking_uri")
    @classmethod
    def _known_scheme(cls, uri: str) -> str:
        from prefect_mltrack.settings import normalize_tracking_uri

        normalized = normalize_tracking_uri(uri.strip())
        scheme = normalized.split(":", 1)[0].split("+", 1)[0]
        if scheme not in {"sqlite", "postgresql", "http", "https"}:
            raise ValueError(f"tracking_uri must be sqlite:, postgresql[+driver]:, http: or https:, not {uri!r}.")
        return normalized

    def get_client(self) -> TrackingClient:
        """A client for this store (MLflow's ``MlflowClient`` interface)."""
        from prefect_mltrack.client import TrackingClient

        return TrackingClient(self.tracking_uri)

    def activate(self) -> None:
        """Make this store the process-wide default, as ``set_tracking_uri`` does."""
        from prefect_mltrack.settings import set_tracking_uri

        set_tracking_uri(self.tracking_uri)


class ArtifactStorage(Block):
    """Where run artifacts and models are stored: a local folder or an object store.

    Example:
        Use a saved location for the experiments a flow creates:
        ```python
        from prefect_mltrack.blocks import ArtifactStorage
        storage = ArtifactStorage.load("BLOCK_NAME")
        ```
    """

    _block_type_name: ClassVar[str] = "MLTrack Artifact Storage"
    _block_type_slug: ClassVar[str] = "mltrack-artifact-storage"
    _logo_url: ClassVar[Any] = _LOGO
    _documentation_url: ClassVar[Any] = _DOCS

    root_uri: str = Field(description="Root URI for artifacts: a local path, file:///..., or s3://bucket/prefix.")
    endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO, SeaweedFS); empty for AWS."
    )
    region: str | None = Field(default=None, description="Object-store region, if the store needs one.")
    access_key_id: str | None = Field(default=None, description="Access key id for the object store.")
    secret_access_key: SecretStr | None = Field(default=None, description="Secret access key for the object store.")

    @field_validator("root_uri")
    @classmethod
    def _absolute_root(cls, uri: str) -> str:
        from pathlib import Path

        uri = uri.strip()
        if not uri:
            raise ValueError("root_uri must not be empty.")
        if "://" in uri or uri.startswith("file:"):
            return uri.rstrip("/")
        return Path(uri).expanduser().resolve().as_uri()

    def storage_options(self) -> dict[str, Any]:
        """Credentials in fsspec/s3fs form, for object-store backends."""
        options: dict[str, Any] = {}
        if self.access_key_id:
            options["key"] = self.access_key_id
        if self.secret_access_key is not None:
            options["secret"] = self.secret_access_key.get_secret_value()
        pairs = (("endpoint_url", self.endpoint_url), ("region_name", self.region))
        client_kwargs = {k: val for k, val in pairs if val}
        if client_kwargs:
            options["client_kwargs"] = client_kwargs
        return options

    def activate(self) -> str:
        """Make this block's credentials apply to every artifact URI under ``root_uri`` in this
        process (object stores only; local roots need none) and return ``root_uri``.

        ``@track(artifacts=block)`` and ``mltrack server --artifact-storage-block`` call it.
        """
        if "://" in self.root_uri and not self.root_uri.startswith("file:"):
            from prefect_mltrack.artifacts.fsspec_repo import register_storage_options

            register_storage_options(self.root_uri, self.storage_options())
        return self.root_uri


class ModelServer(Block):
    """A running mltrack model server that deployment flows publish registered models to.

    Example:
        Reach a saved server:
        ```python
        from prefect_mltrack.blocks import ModelServer
        server = ModelServer.load("BLOCK_NAME")
        ```
    """

    _block_type_name: ClassVar[str] = "MLTrack Model Server"
    _block_type_slug: ClassVar[str] = "mltrack-model-server"
    _logo_url: ClassVar[Any] = _LOGO
    _documentation_url: ClassVar[Any] = _DOCS

    base_url: str = Field(description="Base URL of the model server, e.g. http://127.0.0.1:8080.")
    token: SecretStr | None = Field(default=None, description="Admin token the server expects on its admin API.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Timeout for each request to the server.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        url = url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, not {url!r}.")
        return url

    def http_client(self) -> httpx.Client:
        """An ``httpx.Client`` for the server, sending the token when one is set."""
        import httpx

        headers = {"Authorization": f"Bearer {self.token.get_secret_value()}"} if self.token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout_seconds)


BLOCK_TYPES: tuple[type[Block], ...] = (TrackingStore, ArtifactStorage, ModelServer)
