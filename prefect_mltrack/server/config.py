"""The tracking server's settings, as given on ``mltrack server`` / ``mltrack ui``.

One frozen model: the CLI builds it, the app factory reads it, and for ``--workers N`` it travels
to each worker process as JSON in ``MLTRACK_SERVER_CONFIG``.

Example:
    >>> config = ServerConfig(backend_store_uri="sqlite:///mltrack.db", artifacts_destination="./mlartifacts")
    >>> config.default_artifact_root
    'mlflow-artifacts:/'
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

CONFIG_ENV = "MLTRACK_SERVER_CONFIG"
PROXY_ROOT = "mlflow-artifacts:/"
"""Experiments created through the server keep artifacts behind the proxy: ``mlflow-artifacts:/<id>``
is the scheme MLflow's client understands, and ours maps it to the server's artifact routes."""


class ServerConfig(BaseModel):
    """What ``mltrack server`` was told."""

    model_config = ConfigDict(frozen=True)

    backend_store_uri: str
    artifacts_destination: str = Field(description="Local path or object-store URI the artifact proxy writes to")
    default_artifact_root: str = Field(
        default="", description="Root for new experiments; default: the proxy (mlflow-artifacts:/) when serving"
    )
    serve_artifacts: bool = True
    artifact_storage_block: str | None = Field(
        default=None, description="Name of an ArtifactStorage block whose credentials the proxy uses"
    )
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    allowed_hosts: list[str] | None = None
    cors_allowed_origins: list[str] = []
    auth_token: SecretStr | None = None
    x_frame_options: str = "DENY"
    disable_security_middleware: bool = False

    @field_validator("artifacts_destination")
    @classmethod
    def _absolute_destination(cls, value: str) -> str:
        # A relative destination would move with the working directory of each worker.
        if "://" in value or value.startswith("file:"):
            return value
        return str(Path(value).expanduser().resolve())

    def model_post_init(self, _context: object) -> None:
        if not self.default_artifact_root:
            root = PROXY_ROOT if self.serve_artifacts else self.artifacts_destination
            object.__setattr__(self, "default_artifact_root", root)

    def to_env(self) -> str:
        """JSON for ``MLTRACK_SERVER_CONFIG``, secret included (it only goes to our own workers)."""
        data = self.model_dump(mode="json")
        data["auth_token"] = self.auth_token.get_secret_value() if self.auth_token else None
        return json.dumps(data)

    @classmethod
    def from_env(cls) -> ServerConfig:
        raw = os.environ.get(CONFIG_ENV)
        if not raw:
            raise RuntimeError(f"{CONFIG_ENV} is not set; start the server with `mltrack server`")
        return cls.model_validate_json(raw)
