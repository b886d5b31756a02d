"""Which client-supplied URIs the tracking server agrees to act on.

An experiment's ``artifact_location`` and a model version's ``source`` come from REST clients, and the
server later reads and writes there on their behalf (artifact proxy, model downloads). A client-chosen URI
is therefore a request to make the *server* touch a place, so only these forms pass:

=================================  =====================================================================
``mlflow-artifacts:/<path>``       the server's own artifact store (also ``mltrack-artifacts:``), no host
``s3://bucket/<path>`` and co.     s3, s3a, gs, gcs, az, abfs, abfss: a bucket, no credentials or port
local path / ``file:///...``       only inside the server's local artifact root (symlinks resolved), and
                                   for a model source also inside the run's own artifact directory
``runs:/<run_id>/<path>``          model sources only; the run must be the one the version is created for
``models:/<name>/<version>``...    model sources only: versions, stages, ``latest``, ``@alias``, ``m-<id>``
=================================  =====================================================================

Everything else is refused with ``INVALID_PARAMETER_VALUE`` and a message listing the allowed forms:
``..`` segments (also percent-encoded once or repeatedly), backslashes, queries and fragments (also
encoded), NUL and control characters, values over :data:`MAX_URI_LENGTH`, and every other scheme
(``http``, ``https``, ``ftp``...): the server never fetches from an address a client names.

Object-store URIs are accepted as MLflow accepts them; the server then acts with its own credentials, so an
operator who shares a server between teams should give each bucket its own credentials.

Example:
    >>> validate_artifact_location("mlflow-artifacts:/team-a/exp", artifact_root="/srv/artifacts")
    'mlflow-artifacts:/team-a/exp'
    >>> try:
    ...     validate_artifact_location("http://169.254.169.254/latest", artifact_root="/srv/artifacts")
    ... except InvalidParameterError as err:
    ...     print(err.error_code)
    INVALID_PARAMETER_VALUE
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from prefect_mltrack.artifacts.paths import fully_decoded, local_path_from_uri, resolve_inside, safe_artifact_path
from prefect_mltrack.exceptions import ArtifactPathError, InvalidParameterError
from prefect_mltrack.model_uris import parse_model_uri, parse_runs_uri

__all__ = [
    "MAX_URI_LENGTH",
    "OBJECT_STORE_SCHEMES",
    "PROXY_SCHEMES",
    "validate_artifact_location",
    "validate_model_version_source",
]

MAX_URI_LENGTH: Final = 2000
PROXY_SCHEMES: Final = frozenset({"mlflow-artifacts", "mltrack-artifacts"})
OBJECT_STORE_SCHEMES: Final = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
_SCHEME: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_CONTROL_CHARS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LOGGED_MODEL: Final = re.compile(r"^models:/m-[0-9a-f]{32}$")
_BUCKET: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
# abfs(s)://<container>@<account>.dfs.core.windows.net/...: the '@' names a container, not a user.
_AZURE_NETLOC: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}(@[A-Za-z0-9][A-Za-z0-9.-]{0,254})?$")
_REMOTE_FORMS: Final = (
    "mlflow-artifacts:/<path> or mltrack-artifacts:/<path>; "
    "s3://, s3a://, gs://, gcs://, az://, abfs:// or abfss:// <bucket>/<path> (no credentials, port, "
    "query or fragment)"
)
_MODEL_FORMS: Final = (
    "runs:/<run_id>/<path>; models:/<name>/<version>, models:/<name>/<stage>, models:/<name>@<alias> "
    "or models:/m-<32 hex digits>; "
)


def _refusal(what: str, value: str, reason: str, allowed: str) -> InvalidParameterError:
    shown = value if len(value) <= 200 else f"{value[:200]}..."
    return InvalidParameterError(f"{what} {shown!r} is refused: {reason}. Allowed: {allowed}.")


def _lexical_reason(value: str) -> str | None:
    """Why ``value`` is unsafe whatever its scheme, or None; also looks at the fully percent-decoded form."""
    if len(value) > MAX_URI_LENGTH:
        return f"it is longer than {MAX_URI_LENGTH} characters"
    decoded = fully_decoded(value)
    for form, note in ((value, ""), (decoded, " (once percent-decoded)")):
        if _CONTROL_CHARS.search(form):
            return f"it contains NUL or control characters{note}"
        if "\\" in form:
            return f"it contains a backslash{note}; separate directories with '/'"
        if "?" in form or "#" in form:
            return f"it has a query or fragment ('?' or '#'){note}"
        if ".." in form.split("/"):
            return f"it contains a '..' segment{note}"
    return None


def _scheme_of(value: str) -> str:
    """Lower-cased scheme; '' for a plain path (a one-letter 'scheme' is a Windows drive)."""
    match = _SCHEME.match(value)
    return match.group(1).lower() if match and len(match.group(1)) > 1 else ""


def _check_remote(what: str, value: str, scheme: str, allowed: str) -> None:
    """The proxy and object-store forms; anything else with a scheme is refused."""
    rest = value[len(scheme) + 1 :]
    if scheme in PROXY_SCHEMES:
        if not rest.startswith("/") or rest.startswith("//"):
            raise _refusal(what, value, f"write {scheme}:/<path>, with one '/' and no host", allowed)
        path = rest[1:]
    elif scheme in OBJECT_STORE_SCHEMES:
        parts = urlsplit(value)
        netloc_ok = (_AZURE_NETLOC if scheme in ("abfs", "abfss") else _BUCKET).match(parts.netloc)
        if not rest.startswith("//") or not netloc_ok:
            reason = f"write {scheme}://<bucket>/<path>; a bucket name has no credentials ('user:pass@') or port"
            raise _refusal(what, value, reason, allowed)
        path = parts.path.lstrip("/")
    else:
        reason = f"the scheme {scheme!r} is not accepted (the server never fetches from an address a client names)"
        raise _refusal(what, value, reason, allowed)
    try:
        safe_artifact_path(path)
    except ArtifactPathError as err:
        raise _refusal(what, value, err.message, allowed) from None


def _local_root(uri: str | None) -> Path | None:
    """The directory a local path or ``file:`` URI names; None for remote roots (or none at all)."""
    if not uri or _scheme_of(uri) not in ("", "file"):
        return None
    return local_path_from_uri(uri)


def _check_local(what: str, value: str, roots: list[Path], allowed: str) -> None:
    """A local path or file: URI must lie inside one of ``roots``, also after resolving symlinks."""
    if not roots:
        raise _refusal(what, value, "the server's artifact root is not local, so local paths are not accepted", allowed)
    if _scheme_of(value) == "file":
        try:
            path = local_path_from_uri(value)
        except InvalidParameterError as err:
            raise _refusal(what, value, err.message, allowed) from None
    elif os.path.isabs(value):
        path = Path(value)
    else:
        raise _refusal(what, value, "a local path must be absolute", allowed)
    for root in roots:
        for base in (os.path.normpath(root), os.path.realpath(root)):
            relative = os.path.relpath(os.path.normpath(path), base)
            if relative == ".." or relative.startswith(".." + os.sep):
                continue
            try:  # lexically inside: now prove no symlink on the way leads out
                resolve_inside(Path(base), "" if relative == "." else Path(relative).as_posix())
            except ArtifactPathError:
                reason = "it resolves outside the artifact root through a symlink"
                raise _refusal(what, value, reason, allowed) from None
            return
    raise _refusal(what, value, "it is outside the server's artifact root", allowed)


def validate_artifact_location(location: str, *, artifact_root: str) -> str:
    """Check the ``artifact_location`` a client gives ``experiments/create``; returns it unchanged.

    ``''`` is returned as is (it means: the server's default location).

    Args:
        location: The location the client asked for.
        artifact_root: The server's default artifact root: a local path, a ``file:`` URI or a remote URI
            (then no local location is accepted).

    Raises:
        InvalidParameterError: The location is not one of the forms in the module docstring; the message
            says why and lists the allowed forms.

    Example:
        >>> validate_artifact_location("s3://team-bucket/exp-1", artifact_root="/srv/artifacts")
        's3://team-bucket/exp-1'
        >>> validate_artifact_location("/srv/artifacts/exp-1", artifact_root="/srv/artifacts")
        '/srv/artifacts/exp-1'
    """
    what = "Artifact location"
    root = _local_root(artifact_root)
    local = f"a local path or file:/// URI inside {str(root)!r}" if root else "no local paths (the root is remote)"
    allowed = f"{_REMOTE_FORMS}; {local}"
    if not isinstance(location, str):
        raise InvalidParameterError(f"{what} must be a string, got {type(location).__name__}. Allowed: {allowed}.")
    if location == "":
        return location
    reason = _lexical_reason(location)
    if reason:
        raise _refusal(what, location, reason, allowed)
    scheme = _scheme_of(location)
    if scheme in ("", "file"):
        _check_local(what, location, [root] if root else [], allowed)
    else:
        _check_remote(what, location, scheme, allowed)
    return location


def validate_model_version_source(
    source: str, *, run_id: str | None, run_artifact_uri: str | None, artifact_root: str
) -> str:
    """Check the ``source`` a client gives ``model-versions/create``; returns it unchanged.

    Args:
        source: Where the model files are.
        run_id: The run the version is created from, if the client named one; a ``runs:/`` source must match.
        run_artifact_uri: That run's artifact URI; when local, local sources inside it are accepted.
        artifact_root: The server's default artifact root; when local, local sources inside it are accepted.

    Raises:
        InvalidParameterError: The source is not an accepted form, names another run, or lies outside both
            directories; the message says why and lists the allowed forms.

    Example:
        >>> validate_model_version_source(
        ...     "runs:/0a1b2c/model", run_id="0a1b2c", run_artifact_uri=None, artifact_root="/srv/artifacts"
        ... )
        'runs:/0a1b2c/model'
        >>> validate_model_version_source(
        ...     "models:/m-" + "ab" * 16, run_id=None, run_artifact_uri=None, artifact_root="/srv/artifacts"
        ... )
        'models:/m-abababababababababababababababab'
    """
    what = "Model version source"
    roots = [root for root in (_local_root(run_artifact_uri), _local_root(artifact_root)) if root is not None]
    local = " or ".join(repr(str(root)) for root in roots)
    local = f"a local path or file:/// URI inside {local}" if roots else "no local paths (the roots are remote)"
    allowed = f"{_MODEL_FORMS}{_REMOTE_FORMS}; {local}"
    if not isinstance(source, str) or not source:
        raise InvalidParameterError(f"{what} must be a non-empty string, got {source!r}. Allowed: {allowed}.")
    reason = _lexical_reason(source)
    if reason:
        raise _refusal(what, source, reason, allowed)
    scheme = _scheme_of(source)
    if scheme == "runs":
        try:
            source_run_id, path = parse_runs_uri(source)
            safe_artifact_path(path)
        except InvalidParameterError as err:
            raise _refusal(what, source, err.message, allowed) from None
        if run_id and source_run_id != run_id:
            reason = f"it names run {source_run_id!r} but the version is created for run {run_id!r}"
            raise _refusal(what, source, reason, allowed)
    elif scheme == "models":
        if not _LOGGED_MODEL.match(source):
            try:
                parse_model_uri(source)
            except InvalidParameterError as err:
                raise _refusal(what, source, err.message, allowed) from None
    elif scheme in ("", "file"):
        _check_local(what, source, roots, allowed)
    else:
        _check_remote(what, source, scheme, allowed)
    return source
