"""Path safety for artifact stores: every artifact path is checked here before it touches storage.

Two layers, both required:

* :func:`safe_artifact_path` is purely lexical. It turns what a caller typed into a canonical
  ``'a/b/c'`` and refuses anything that could name a place outside the artifact root (absolute
  paths, ``..``, encoded ``..``, backslashes, control characters).
* :func:`resolve_inside` adds the filesystem view: a lexically clean path can still escape
  through a symlink, so the joined path is resolved with ``os.path.realpath`` and compared with
  the resolved root.

:func:`local_path_from_uri` turns a local artifact URI (plain path or ``file:``) into a path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlparse

from prefect_mltrack.exceptions import ArtifactPathError, InvalidParameterError

__all__ = ["fully_decoded", "local_path_from_uri", "resolve_inside", "safe_artifact_path"]

# 'C:', 'C:\x', 'c:/x': a Windows drive prefix makes a path absolute (or drive-relative) there,
# so it is refused on every OS to keep stores portable between clients.
_DRIVE_PREFIX: Final = re.compile(r"^[A-Za-z]:")
# C0 controls, DEL and C1 controls. NUL truncates paths in C APIs; the others make names
# that cannot be typed, shown or safely put into HTTP headers and logs.
_CONTROL_CHARS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EXAMPLE: Final = "give a path relative to the artifact root, like 'plots/loss.png'"


def fully_decoded(path: str) -> str:
    """Percent-decode until nothing changes, so ``'%252e%252e'`` is seen as ``'..'``.

    Checks run on this form as well as on the caller's spelling, because a path or URI may be decoded
    again later (by a web server, a proxy or an object store). Each round that changes the text makes
    it strictly shorter, so the loop ends.

    Example:
        >>> fully_decoded("%252e%252e/secret")
        '../secret'
        >>> fully_decoded("plots/loss.png")
        'plots/loss.png'
    """
    previous = path
    while True:
        decoded = unquote(previous)
        if decoded == previous:
            return decoded
        previous = decoded


def _refusal(form: str) -> str | None:
    """The reason ``form`` is unsafe, or None when it is fine."""
    if _CONTROL_CHARS.search(form):
        return f"contains NUL or control characters; {_EXAMPLE}"
    if "\\" in form:
        return "contains a backslash; use '/' to separate directories, like 'plots/loss.png'"
    if form.startswith("/"):
        return f"is absolute; {_EXAMPLE}"
    if _DRIVE_PREFIX.match(form):
        return f"starts with a Windows drive; {_EXAMPLE}"
    if ".." in form.split("/"):
        return f"contains a '..' component; {_EXAMPLE} without '..'"
    return None


def safe_artifact_path(path: str | None) -> str:
    """Normalise a relative artifact path to ``'a/b/c'``, refusing anything that could escape.

    ``None``, ``''`` and ``'.'`` mean the artifact root and give ``''``. Empty components are
    collapsed (``'a//b'`` -> ``'a/b'``), ``'.'`` components dropped and a trailing ``'/'``
    removed. The checks also run on the fully percent-decoded form, because a path may be
    decoded again later (by a web server, a proxy or an object store), but the returned path
    keeps the caller's spelling.

    Args:
        path: A path relative to the artifact root, with ``'/'`` separators.

    Returns:
        The canonical relative path, ``''`` for the root.

    Raises:
        ArtifactPathError: The path is absolute (``'/x'``, ``'C:\\x'``, ``'\\\\server'``), has
            a ``'..'`` component (also percent-encoded, once or repeatedly), uses backslashes,
            or contains NUL / control characters. The message quotes the path and says how to
            fix it.

    Example:
        >>> safe_artifact_path("./plots//loss.png")
        'plots/loss.png'
        >>> safe_artifact_path(None)
        ''
        >>> try:
        ...     safe_artifact_path("%2e%2e/secret")
        ... except ArtifactPathError as err:
        ...     print(err.message[:55])
        Artifact path '%2e%2e/secret' (once percent-decoded) co
    """
    if path is None:
        return ""
    if not isinstance(path, str):
        # A stray bytes/int would otherwise fail with a confusing TypeError deep inside.
        raise ArtifactPathError(f"Artifact path {path!r} must be a str, got {type(path).__name__}; {_EXAMPLE}")
    reason = _refusal(path)
    if reason is None:
        reason = _refusal(fully_decoded(path))
        if reason is not None:
            # The problem is only visible after decoding: say so, or the user cannot see it.
            reason = f"(once percent-decoded) {reason}"
    if reason is not None:
        raise ArtifactPathError(f"Artifact path {path!r} {reason}")
    return "/".join(part for part in path.split("/") if part not in ("", "."))


def _is_inside(candidate: str, root: str) -> bool:
    """True when ``candidate`` is ``root`` or below it (both already resolved)."""
    try:
        return os.path.commonpath([candidate, root]) == root
    except ValueError:  # different drives on Windows
        return False


def resolve_inside(root: Path, relative: str) -> Path:
    """Join a relative artifact path to ``root`` and prove the result stays inside it.

    ``relative`` first goes through :func:`safe_artifact_path`. The joined path is then resolved
    with ``os.path.realpath``, which follows a symlink at any level and, for paths that do not
    exist yet, resolves the deepest existing ancestor and appends the rest. The result must lie
    in ``realpath(root)``; a root that is itself reached through a symlink is therefore fine.

    The returned path is ``realpath(root) / relative`` *unresolved*, so that an operation on a
    symlink that points inside the root (e.g. deleting it) acts on the link, not its target.

    Args:
        root: The artifact root directory (need not exist yet).
        relative: A path relative to ``root``; ``''`` means the root itself.

    Returns:
        The absolute path of the artifact.

    Raises:
        ArtifactPathError: ``relative`` is unsafe, or it resolves outside ``root`` through a
            symlink.

    Example:
        >>> resolve_inside(Path("/srv/artifacts"), "plots/loss.png").as_posix()
        '/srv/artifacts/plots/loss.png'
    """
    clean = safe_artifact_path(relative)
    real_root = os.path.realpath(root)
    joined = os.path.join(real_root, *clean.split("/")) if clean else real_root
    if not _is_inside(os.path.realpath(joined), real_root):
        raise ArtifactPathError(
            f"Artifact path {relative!r} resolves outside the artifact root {real_root!r} "
            "through a symlink; remove or replace the link, or store the file under the root"
        )
    return Path(joined)


def local_path_from_uri(artifact_uri: str) -> Path:
    """The absolute local directory named by a plain path or a ``file:`` URI.

    Args:
        artifact_uri: ``'/abs/dir'``, ``'rel/dir'`` (made absolute against the current
            directory), ``'file:///abs/dir'`` (percent-decoded) or ``'file:/abs/dir'``.

    Raises:
        InvalidParameterError: The URI is empty, names a remote host, is relative, has a
            query or fragment, or uses another scheme.

    Example:
        >>> local_path_from_uri("file:///srv/my%20runs").as_posix()
        '/srv/my runs'
    """
    if not artifact_uri:
        raise InvalidParameterError(
            "Artifact URI is empty; give a directory such as '/srv/mlruns' or 'file:///srv/mlruns'"
        )
    parsed = urlparse(artifact_uri)
    scheme = parsed.scheme.lower()
    # A one-letter "scheme" is a Windows drive ('C:\\runs'), i.e. a plain path.
    if scheme == "" or len(scheme) == 1:
        return Path(os.path.abspath(artifact_uri))
    if scheme != "file":
        raise InvalidParameterError(
            f"Artifact URI {artifact_uri!r} is not a local path or file: URI; "
            "use get_artifact_repository() to pick the backend for its scheme"
        )
    if parsed.netloc not in ("", "localhost"):
        raise InvalidParameterError(
            f"file: URI {artifact_uri!r} names the host {parsed.netloc!r}; only local files are "
            "supported, write it as 'file:///absolute/path'"
        )
    if "?" in artifact_uri or "#" in artifact_uri:
        # urlparse would silently cut the path there and we would write somewhere else.
        raise InvalidParameterError(
            f"file: URI {artifact_uri!r} has a query or fragment; percent-encode '?' as %3F "
            "and '#' as %23 if they are part of the directory name"
        )
    path = unquote(parsed.path)
    if os.name == "nt" and re.match(r"^/[A-Za-z]:", path):
        path = path[1:]  # 'file:///C:/runs' -> 'C:/runs'
    if not os.path.isabs(path):
        raise InvalidParameterError(
            f"file: URI {artifact_uri!r} does not hold an absolute path; write it as 'file:///absolute/path'"
        )
    return Path(path)
