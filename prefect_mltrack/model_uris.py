"""Model URIs: parse ``models:/`` and ``runs:/`` URIs and resolve any model URI to the artifact
location that holds the model.

| URI                              | Resolves to                                          |
|----------------------------------|------------------------------------------------------|
| ``models:/<name>/<version>``     | that version's download URI                          |
| ``models:/<name>/<stage>``       | the newest version in that stage (case-insensitive)  |
| ``models:/<name>/latest``        | the highest version number, whatever its stage       |
| ``models:/<name>@<alias>``       | the version the alias points at                      |
| ``runs:/<run_id>/<path>``        | the run's artifact URI + ``/<path>``                 |
| a local path, ``file:``, ``s3:``… | itself                                               |

Example:
    >>> parse_model_uri("models:/iris@champion")
    ParsedModelUri(name='iris', version=None, stage=None, alias='champion')
    >>> parse_runs_uri("runs:/0a1b2c/model")
    ('0a1b2c', 'model')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from prefect_mltrack.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from prefect_mltrack.client import TrackingClient
    from prefect_mltrack.entities import ModelVersion

MODELS_URI_FORMS = (
    "models:/<name>/<version>, models:/<name>/<stage> (None, Staging, Production, Archived), "
    "models:/<name>/latest or models:/<name>@<alias>"
)
_LATEST = "latest"


@dataclass(frozen=True, slots=True)
class ParsedModelUri:
    """A ``models:/`` URI taken apart; exactly one of version, stage, alias is set, or none of
    them for ``models:/<name>/latest``."""

    name: str
    version: str | None = None
    stage: str | None = None
    alias: str | None = None


def is_models_uri(uri: str) -> bool:
    return urlparse(str(uri)).scheme == "models"


def is_runs_uri(uri: str) -> bool:
    return urlparse(str(uri)).scheme == "runs"


def _improper(uri: str, why: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"Not a proper models:/ URI: {uri!r} ({why}). Model URIs take one of the forms {MODELS_URI_FORMS}; "
        "only one of a suffix or an alias can be given."
    )


def parse_model_uri(uri: str) -> ParsedModelUri:
    """Split ``models:/name/suffix`` or ``models:/name@alias``; raises INVALID_PARAMETER_VALUE
    naming the accepted forms when the URI is malformed."""
    parsed = urlparse(uri, allow_fragments=False)
    if parsed.scheme != "models":
        raise _improper(uri, "the scheme must be 'models:'")
    if uri[len("models:") :].startswith("//") or parsed.query:
        raise _improper(uri, "write models:/<name>/..., with no host or query part")
    path = parsed.path
    if not path.startswith("/") or len(path) <= 1:
        raise _improper(uri, "the model name is missing")
    parts = path[1:].split("/")
    if len(parts) > 2 or not parts[0].strip():
        raise _improper(uri, "expected at most two path segments: the name and a version, stage or 'latest'")
    if len(parts) == 2:
        name, suffix = parts
        if not suffix.strip():
            raise _improper(uri, "the version, stage or 'latest' after the name is empty")
        if "@" in suffix:
            raise _improper(uri, "a version or stage and an alias cannot both be given")
        if suffix.isascii() and suffix.isdigit():
            return ParsedModelUri(name, version=suffix)
        if suffix.lower() == _LATEST:
            return ParsedModelUri(name)
        return ParsedModelUri(name, stage=suffix)
    if "@" in parts[0]:
        name, _, alias = parts[0].rpartition("@")
        if not name.strip() or not alias.strip():
            raise _improper(uri, "both a name and an alias are needed around '@'")
        return ParsedModelUri(name, alias=alias)
    raise _improper(uri, "a version, stage, 'latest' or '@alias' must follow the name")


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` -> ``(run_id, path)``; the path may be empty (the artifact root)."""
    parsed = urlparse(uri, allow_fragments=False)
    path = parsed.path
    malformed = parsed.scheme != "runs" or uri[len("runs:") :].startswith("//") or not path.startswith("/")
    if malformed or not path[1:].split("/")[0]:
        raise InvalidParameterError(
            f"Not a proper runs:/ URI: {uri!r}. Write runs:/<run_id>/<artifact path>, e.g. runs:/0a1b2c3d/model."
        )
    run_id, _, artifact_path = path[1:].partition("/")
    return run_id, artifact_path.strip("/")


def join_artifact_uri(root: str, artifact_path: str) -> str:
    """``root`` + ``/artifact_path`` with the path checked (no '..', not absolute)."""
    from prefect_mltrack.artifacts.paths import safe_artifact_path

    clean = safe_artifact_path(artifact_path)
    return f"{root.rstrip('/')}/{clean}" if clean else root


def model_version_from_uri(uri: str, client: TrackingClient) -> ModelVersion:
    """The registry version a ``models:/`` URI names (RESOURCE_DOES_NOT_EXIST if there is none)."""
    from prefect_mltrack.entities import ModelVersionStage
    from prefect_mltrack.exceptions import ResourceNotFoundError

    parsed = parse_model_uri(uri)
    if parsed.version is not None:
        return client.get_model_version(parsed.name, parsed.version)
    if parsed.alias is not None:
        return client.get_model_version_by_alias(parsed.name, parsed.alias)
    if parsed.stage is not None:
        stage = ModelVersionStage.from_string(parsed.stage)
        versions = client.get_latest_versions(parsed.name, [stage])
        if not versions:
            raise ResourceNotFoundError(
                f"No versions of model with name {parsed.name!r} and stage {stage.value!r} found "
                f"(from {uri!r}); move a version there with transition_model_version_stage."
            )
        return versions[0]
    return client.get_model_version_by_alias(parsed.name, _LATEST)


def resolve_model_uri(uri: str, client: TrackingClient) -> str:
    """The artifact URI or local path that holds the model ``uri`` names.

    ``models:/`` URIs go through the registry, ``runs:/`` URIs through the run's artifact URI;
    anything else (a local path, ``file:``, ``s3:``, ``mltrack-artifacts:`` URIs) is returned as is.

    Example:
        >>> from prefect_mltrack.client import TrackingClient
        >>> resolve_model_uri("/models/iris", TrackingClient())           # doctest: +SKIP
        '/models/iris'
        >>> resolve_model_uri("models:/iris@champion", TrackingClient())  # doctest: +SKIP
        'file:///home/me/.mltrack/artifacts/1/0a1b.../artifacts/model'
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterError(
            f"Invalid model URI {uri!r}: give {MODELS_URI_FORMS}, runs:/<run_id>/<path>, or a local path."
        )
    if is_models_uri(uri):
        version = model_version_from_uri(uri, client)
        location = client.get_model_version_download_uri(version.name, version.version)
        # Our SQL store resolves runs:/ sources when registering; other registries (an MLflow
        # server) answer with the runs:/ source itself.
        return resolve_model_uri(location, client) if is_runs_uri(location) else location
    if is_runs_uri(uri):
        run_id, artifact_path = parse_runs_uri(uri)
        artifact_uri = client.get_run(run_id).info.artifact_uri
        if not artifact_uri:
            from prefect_mltrack.exceptions import ResourceNotFoundError

            raise ResourceNotFoundError(f"Run {run_id} has no artifact location, so {uri!r} cannot be resolved")
        return join_artifact_uri(artifact_uri, artifact_path)
    return uri
