"""System tags a new run gets from where it was started: user, source file, git commit."""

from __future__ import annotations

import functools
import getpass
import os
import sys
from pathlib import Path

from prefect_mltrack.entities import SourceType


@functools.cache
def _git_commit(start: Path) -> str | None:
    """The checked-out commit of the repository holding ``start``, read from .git without a subprocess."""
    for folder in (start, *start.parents):
        git = folder / ".git"
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            git = (folder / git.read_text().split(":", 1)[1].strip()).resolve()
        if not git.is_dir():
            continue
        try:
            head = (git / "HEAD").read_text().strip()
            if not head.startswith("ref: "):
                return head or None
            ref = head[5:]
            ref_file = git / ref
            if ref_file.is_file():
                return ref_file.read_text().strip() or None
            common = git / "commondir"
            base = (git / common.read_text().strip()).resolve() if common.is_file() else git
            if (base / ref).is_file():
                return (base / ref).read_text().strip() or None
            packed = base / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split(" ", 1)[0]
        except OSError:
            return None
        return None
    return None


def _source_name() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path:
        return str(Path(path).resolve())
    return sys.argv[0] if sys.argv and sys.argv[0] else "<interactive>"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return os.environ.get("USER", "unknown")


def default_run_tags() -> dict[str, str]:
    """MLflow's system tags for a run started from this process."""
    source = _source_name()
    tags = {
        "mlflow.user": _user(),
        "mlflow.source.name": source,
        "mlflow.source.type": SourceType.LOCAL.value,
    }
    source_dir = Path(source).parent if Path(source).is_file() else Path.cwd()
    commit = _git_commit(source_dir.resolve())
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags
