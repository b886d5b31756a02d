"""Containment and checksums for model directories.

Every path an ``MLmodel`` file names (``pickled_model``, ``model_path``, ``python_model``,
``artifacts``, ``code``, example files) goes through :func:`model_file`, which refuses absolute
paths, ``..`` and symlinks that lead out of the model directory. Directories a model brings
(``code/``, ``artifacts/``) are walked and refused if any link inside them leads out.

At save time :func:`write_checksums` records the SHA-256 of every file except ``MLmodel`` (which
MLflow tools such as ``set_signature`` rewrite in place) in ``checksums.sha256``, in the format of
``sha256sum`` (check by hand with ``sha256sum -c checksums.sha256`` inside the directory). MLflow
ignores the file. :func:`verify_checksums` runs before anything is unpickled. It detects corrupt
or half-copied models and files swapped after saving; it is not a signature: whoever can write
the model files can also rewrite the checksum file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prefect_mltrack.artifacts.paths import resolve_inside
from prefect_mltrack.exceptions import ArtifactPathError, InvalidParameterError, ModelIntegrityError

__all__ = [
    "CHECKSUMS_FILE",
    "add_code_to_path",
    "check_tree_inside",
    "code_dir",
    "copy_code_paths",
    "model_file",
    "verify_checksums",
    "write_checksums",
]

logger = logging.getLogger(__name__)

CHECKSUMS_FILE = "checksums.sha256"
CODE_DIR = "code"
_UNHASHED = {"MLmodel", CHECKSUMS_FILE}


def model_file(model_dir: Path, relative: Any, field: str) -> Path:
    """The path ``relative`` (a value read from MLmodel ``field``) inside ``model_dir``.

    Raises:
        InvalidParameterError: ``relative`` is not a non-empty relative path, contains ``..``, is
            absolute, or resolves outside ``model_dir`` through a symlink.
    """
    if not isinstance(relative, str) or not relative.strip():
        raise InvalidParameterError(
            f"MLmodel field {field} must be a path relative to the model directory, got {relative!r}"
        )
    try:
        return resolve_inside(model_dir, relative)
    except ArtifactPathError as exc:
        raise InvalidParameterError(
            f"Refusing to load: MLmodel field {field} = {relative!r} points outside the model directory "
            f"{str(model_dir)!r} ({exc.message}). Model files must live inside the model directory."
        ) from None


def check_tree_inside(model_dir: Path, directory: Path, field: str) -> None:
    """Refuse ``directory`` if any symlink below it leads outside ``model_dir``."""
    root = os.path.realpath(model_dir)
    for current, dirs, files in os.walk(directory):
        for name in [*dirs, *files]:
            path = os.path.join(current, name)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if os.path.commonpath([target, root]) != root:
                    relative = os.path.relpath(path, model_dir)
                    raise InvalidParameterError(
                        f"Refusing to load: {relative!r} (under MLmodel field {field}) is a symlink to "
                        f"{target!r}, outside the model directory {root!r}"
                    )


def _sha256(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _files(model_dir: Path) -> Iterable[str]:
    for current, dirs, files in os.walk(model_dir):
        dirs.sort()
        for name in sorted(files):
            relative = Path(os.path.relpath(os.path.join(current, name), model_dir)).as_posix()
            if relative not in _UNHASHED:
                yield relative


def write_checksums(model_dir: Path) -> dict[str, str]:
    """Record the SHA-256 of every model file (all but MLmodel) in ``checksums.sha256``."""
    sums = {relative: _sha256(model_dir / relative) for relative in _files(model_dir)}
    for relative in sums:
        if "\n" in relative or "\\" in relative:
            raise InvalidParameterError(f"Model file name {relative!r} contains a newline or backslash; rename it")
    text = "".join(f"{digest}  {relative}\n" for relative, digest in sums.items())
    (model_dir / CHECKSUMS_FILE).write_text(text, encoding="utf-8")
    return sums


def read_checksums(model_dir: Path) -> dict[str, str] | None:
    """The recorded checksums, or None for a directory saved without them (e.g. by MLflow)."""
    file = model_dir / CHECKSUMS_FILE
    if not file.is_file():
        return None
    sums: dict[str, str] = {}
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, relative = line.partition("  ")
        if not sep:
            digest, sep, relative = line.partition(" *")  # sha256sum's binary-mode marker
        if not sep or len(digest) != 64:
            raise ModelIntegrityError(f"{CHECKSUMS_FILE} line {number} is not '<sha256>  <path>': {line[:120]!r}")
        sums[relative] = digest.lower()
    return sums


def verify_checksums(model_dir: Path) -> None:
    """Check every recorded file against its SHA-256; also refuse code files that were never recorded.

    Raises:
        ModelIntegrityError: a recorded file is missing or its content changed; the message names it.
    """
    sums = read_checksums(model_dir)
    if sums is None:
        logger.debug("Model at %s has no %s; skipping the integrity check", model_dir, CHECKSUMS_FILE)
        return
    for relative, expected in sums.items():
        path = model_file(model_dir, relative, f"{CHECKSUMS_FILE} entry")
        if not path.is_file():
            raise ModelIntegrityError(
                f"Model file {relative!r} was recorded when the model was saved but is missing from {str(model_dir)!r}"
            )
        actual = _sha256(path)
        if actual != expected:
            raise ModelIntegrityError(
                f"Model file {relative!r} in {str(model_dir)!r} has SHA-256 {actual}, but {expected} was recorded "
                "when the model was saved: the file is corrupt or was changed. Log the model again; if the change "
                f"is intended, delete {CHECKSUMS_FILE} to skip the check."
            )
    # Code files are imported, so one slipped in after saving would run unchecked.
    unrecorded = [rel for rel in _files(model_dir) if rel.startswith(f"{CODE_DIR}/") and rel not in sums]
    if unrecorded:
        raise ModelIntegrityError(
            f"Model code files {unrecorded[:5]} in {str(model_dir)!r} were not recorded when the model was saved"
        )


def copy_code_paths(code_paths: Iterable[str | os.PathLike[str]] | None, model_dir: Path) -> str | None:
    """Copy each file or directory into ``model_dir/code/<name>``; returns ``'code'`` or None."""
    if not code_paths:
        return None
    target = model_dir / CODE_DIR
    target.mkdir(exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for entry in code_paths:
        source = Path(entry)
        if not source.exists():
            raise InvalidParameterError(f"code_paths entry {str(entry)!r} does not exist")
        dest = target / source.resolve().name
        if source.is_dir():
            shutil.copytree(source, dest, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest)
    return CODE_DIR


def code_dir(model_dir: Path, flavor_conf: dict[str, Any], field: str) -> Path | None:
    """The model's ``code`` directory, checked to stay inside the model directory (None if it has none)."""
    code = flavor_conf.get("code")
    if not code:
        return None
    directory = model_file(model_dir, code, f"{field}.code")
    if not directory.is_dir():
        raise InvalidParameterError(f"MLmodel field {field}.code = {code!r} is not a directory in the model")
    check_tree_inside(model_dir, directory, f"{field}.code")
    return directory


def add_code_to_path(directory: Path | None) -> None:
    """Put a model's code directory first on ``sys.path``, as MLflow does (call after the checks)."""
    if directory is not None and str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
