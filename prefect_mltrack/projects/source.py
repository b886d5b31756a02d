"""Where a project comes from: a local folder (run in place) or a git repository (cloned).

``path/to/repo#sub/dir`` picks a subdirectory; a version (commit, tag or branch) is checked out in a
temporary clone. git runs as an argv, never through a shell. Example::

    with fetch_project("file:///srv/repos/ml#iris", version="v1.2") as (folder, commit): ...
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from prefect_mltrack.exceptions import InvalidParameterError, ResourceNotFoundError
from prefect_mltrack.run_context import _git_commit

GIT_PREFIXES = ("file://", "https://", "http://", "ssh://", "git://", "git@", "git+")


def split_uri(uri: str) -> tuple[str, str | None]:
    """``repo#sub/dir`` → (``repo``, ``sub/dir``); refuses subdirectories that climb out."""
    base, _, subdir = str(uri).partition("#")
    if not subdir:
        return base, None
    parts = subdir.split("/")
    if subdir.startswith("/") or ".." in parts or "." in parts:
        raise InvalidParameterError(f"Invalid subdirectory '{subdir}' in project URI '{uri}': use a relative path.")
    return base, subdir


def _git(*args: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=300)
    except FileNotFoundError:
        raise InvalidParameterError("git is not installed; it is needed to run a project from a repository.") from None
    if done.returncode != 0:
        raise InvalidParameterError(
            f"`{shlex.join(['git', *args])}` failed: {done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout.strip()


@contextlib.contextmanager
def fetch_project(uri: str, version: str | None = None) -> Iterator[tuple[Path, str | None]]:
    """Yield the project folder and its git commit (None outside git); a clone is removed afterwards."""
    base, subdir = split_uri(str(uri))
    local = Path(base).expanduser()
    is_remote = base.startswith(GIT_PREFIXES)
    if not is_remote and not local.exists():
        raise ResourceNotFoundError(f"Project '{uri}' not found: no such folder and not a git URL.")
    if not is_remote and version is None:
        folder = (local / subdir if subdir else local).resolve()
        if not folder.is_dir():
            raise ResourceNotFoundError(f"Project subdirectory '{subdir}' not found in '{base}'.")
        yield folder, _git_commit(folder)
        return
    if version is not None and (version.startswith("-") or not version.strip()):
        raise InvalidParameterError(f"Invalid version {version!r}: give a commit, tag or branch.")
    source = base if is_remote else str(local.resolve())
    with tempfile.TemporaryDirectory(prefix="mltrack-project-") as tmp:
        clone = Path(tmp) / "repo"
        _git("clone", "--quiet", "--", source, str(clone))
        if version is not None:
            _git("-c", "advice.detachedHead=false", "checkout", "--quiet", version, "--", cwd=clone)
        commit = _git("rev-parse", "HEAD", cwd=clone)
        folder = clone / subdir if subdir else clone
        if not folder.is_dir():
            raise ResourceNotFoundError(
                f"Project subdirectory '{subdir}' not found in '{base}' at {version or 'HEAD'}."
            )
        yield folder, commit
