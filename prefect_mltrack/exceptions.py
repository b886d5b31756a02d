"""Errors raised by prefect_mltrack.

Every error carries an MLflow error code, so REST answers and clients that switch on the code
behave as they do with MLflow. The hierarchy:

    MLTrackError                       (error_code chosen per instance; INTERNAL_ERROR by default)
    ├── InvalidParameterError          INVALID_PARAMETER_VALUE
    │   └── MalformedFilterError       INVALID_PARAMETER_VALUE, points at the offending token
    ├── ResourceNotFoundError          RESOURCE_DOES_NOT_EXIST
    ├── ResourceAlreadyExistsError     RESOURCE_ALREADY_EXISTS
    ├── InvalidStateError              INVALID_STATE
    ├── ArtifactPathError              INVALID_PARAMETER_VALUE, a path that escapes its root
    ├── SchemaEnforcementError         INVALID_PARAMETER_VALUE, model input that breaks the signature
    └── ModelIntegrityError            DATA_LOSS, a model file whose SHA-256 differs from the one saved
"""

from __future__ import annotations

from typing import Final

# HTTP status for each MLflow error code, kept in one place (MLflow's mapping).
HTTP_STATUS_BY_CODE: Final[dict[str, int]] = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "NOT_FOUND": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_CONFLICT": 409,
    "ABORTED": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL_ERROR": 500,
    "INVALID_STATE": 500,
    "DATA_LOSS": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


class MLTrackError(Exception):
    """Root of every error this package raises on purpose.

    Example:
        >>> err = MLTrackError("Run 'x' not found", error_code="RESOURCE_DOES_NOT_EXIST")
        >>> err.error_code, err.http_status
        ('RESOURCE_DOES_NOT_EXIST', 404)
    """

    default_error_code: str = "INTERNAL_ERROR"

    def __init__(self, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code or self.default_error_code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS_BY_CODE.get(self.error_code, 500)

    def to_dict(self) -> dict[str, str]:
        """The JSON error body MLflow's REST API answers with."""
        return {"error_code": self.error_code, "message": self.message}

    def __str__(self) -> str:
        return f"{self.error_code}: {self.message}"


class InvalidParameterError(MLTrackError):
    """A name, value, URI or argument that breaks a rule; the message says which and how to fix it."""

    default_error_code = "INVALID_PARAMETER_VALUE"


class MalformedFilterError(InvalidParameterError):
    """A search filter or order-by clause that does not parse.

    Attributes:
        position: 0-based offset of the offending token in the filter string, when known.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class ResourceNotFoundError(MLTrackError):
    """An experiment, run, artifact or model that does not exist."""

    default_error_code = "RESOURCE_DOES_NOT_EXIST"


class ResourceAlreadyExistsError(MLTrackError):
    """A name that is already taken (also by a deleted experiment until `mltrack gc`)."""

    default_error_code = "RESOURCE_ALREADY_EXISTS"


class InvalidStateError(MLTrackError):
    """An object found in a state it should never be in (MLflow answers these with HTTP 500)."""

    default_error_code = "INVALID_STATE"


class ArtifactPathError(InvalidParameterError):
    """An artifact path that is absolute, climbs out with '..', or resolves outside its root."""


class SchemaEnforcementError(InvalidParameterError):
    """Model input (or params) that does not match the model signature and cannot be converted safely.

    ``error_class`` is MLflow's ``SCHEMA_ENFORCEMENT_FAILED``; the scoring server sends it in the body.
    """

    error_class = "SCHEMA_ENFORCEMENT_FAILED"

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "error_class": self.error_class}


class ModelIntegrityError(MLTrackError):
    """A model file that changed since the model was saved (its SHA-256 differs from the recorded one)."""

    default_error_code = "DATA_LOSS"


# MLflow's name, so `except MlflowException` ports unchanged.
MlflowException = MLTrackError
