"""Artifact repository on the local filesystem (plain paths and ``file://`` URIs).

Rules beyond the :class:`ArtifactRepository` contract:

* Every artifact path goes through :func:`safe_artifact_path` and :func:`resolve_inside`, so a
  symlink in the root that points outside it is refused when read, listed, downloaded, written
  or deleted by name. Symlinks that stay inside the root are followed.
* A listing *skips* children it could not serve (links out of the root, names the API cannot
  address such as ones with a backslash), so one bad entry does not break it. Downloading a
  directory holding such an entry *refuses* the whole download before writing anything: a
  silently incomplete download would be worse than an error.
* Files are written to ``.mltrack-tmp-<random>`` beside the target, flushed, fsynced, then
  renamed with ``os.replace``: a crash never leaves a half-written file under the real name.
  Listings and downloads skip leftover temp files; the prefix is refused in artifact paths.
* Copies keep the source's mode bits; :meth:`write_bytes` files and directories get the
  default mode (umask applied).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Final, Protocol

from prefect_mltrack.artifacts.base import ArtifactRepository
from prefect_mltrack.artifacts.paths import (
    local_path_from_uri,
    resolve_inside,
    safe_artifact_path,
)
from prefect_mltrack.entities import FileInfo
from prefect_mltrack.exceptions import (
    ArtifactPathError,
    InvalidParameterError,
    ResourceNotFoundError,
)

__all__ = ["TEMP_PREFIX", "LocalArtifactRepository"]

TEMP_PREFIX: Final = ".mltrack-tmp-"
# 1 MiB: big enough for throughput, small enough to never hold a large file in memory.
COPY_BUFSIZE: Final = 1024 * 1024
# O_EXCL: never reuse an existing file; O_NOFOLLOW: never write through a planted symlink.
_TEMP_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL
_TEMP_FLAGS_EXTRA: Final = getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _open_temp(directory: Path) -> tuple[int, Path]:
    """Create a fresh temp file in ``directory``; the kernel applies the umask to 0o666."""
    while True:  # a 64-bit random name collides only by astronomically bad luck
        tmp = directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        try:
            return os.open(tmp, _TEMP_FLAGS | _TEMP_FLAGS_EXTRA, 0o666), tmp
        except FileExistsError:
            continue


def _write_stream_atomic(source: _Readable, dest: Path, mode_from: Path | None = None) -> None:
    """Copy ``source`` to ``dest`` in 1 MiB chunks; ``dest`` appears complete or not at all.

    Args:
        source: Binary stream to read until EOF.
        dest: Final file path; its directory must exist.
        mode_from: File whose mode bits the result takes; None keeps the default mode.
    """
    fd, tmp = _open_temp(dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, COPY_BUFSIZE)
            out.flush()
            os.fsync(out.fileno())  # data on disk before the rename makes it visible
        if mode_from is not None:
            shutil.copymode(mode_from, tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)  # also on KeyboardInterrupt: never leave debris behind
        raise


def _copy_file(src: Path, dest: Path) -> None:
    with src.open("rb") as fsrc:
        _write_stream_atomic(fsrc, dest, mode_from=src)


def _join(*parts: str) -> str:
    return "/".join(part for part in parts if part)


def _check_entry(root: Path, entry: os.DirEntry[str], child_rel: str) -> None:
    """Refuse (ArtifactPathError) a directory entry the API could not serve.

    The name must pass :func:`safe_artifact_path`. Only a symlink pays for the full
    :func:`resolve_inside` check: the entry's directory was already proven inside the root,
    and a plain file or directory in it cannot lead anywhere else, so big listings stay cheap.
    """
    if entry.is_symlink():
        resolve_inside(root, child_rel)
    else:
        safe_artifact_path(child_rel)


def _walk(top: Path, top_rel: str, root: Path | None) -> tuple[list[str], list[tuple[Path, str]]]:
    """Sorted relative dir paths and (source, relative path) file pairs below ``top``.

    Symlinks are followed, but never around a loop. With ``root`` (walking a repository),
    temp files are skipped and each entry is checked, raising for an escaping symlink.
    """
    dirs: list[str] = []
    files: list[tuple[Path, str]] = []
    top_stat = top.stat()
    # Explicit stack rather than recursion: deep trees must not hit the recursion limit.
    # Each item carries its ancestors' (device, inode) so a symlink back up is detected.
    stack = [(top, top_rel, frozenset({(top_stat.st_dev, top_stat.st_ino)}))]
    while stack:
        directory, rel, ancestors = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                child_rel = _join(rel, entry.name)
                if root is not None:
                    if entry.name.startswith(TEMP_PREFIX):
                        continue
                    _check_entry(root, entry, child_rel)
                if entry.is_dir():
                    st = entry.stat()
                    key = (st.st_dev, st.st_ino)
                    if key in ancestors:
                        continue  # symlink loop
                    dirs.append(child_rel)
                    stack.append((Path(entry.path), child_rel, ancestors | {key}))
                elif entry.is_file():
                    files.append((Path(entry.path), child_rel))
                # Dangling symlinks, FIFOs and sockets hold nothing to copy (a FIFO would block).
    return sorted(dirs), sorted(files, key=lambda pair: pair[1])


def _remove(path: Path) -> None:
    """Delete a file, symlink (not its target) or tree; missing is fine."""
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path)  # does not follow symlinks inside the tree
    except FileNotFoundError:
        pass  # removed concurrently: the goal is reached


class LocalArtifactRepository(ArtifactRepository):
    """Artifacts stored in a directory of the local filesystem.

    The root is resolved once, at construction, so a root reached through a symlink works;
    it is created on the first write.

    Attributes:
        root: The resolved absolute root directory.

    Example:
        >>> repo = LocalArtifactRepository("file:///tmp/mltrack-doc/run1")  # doctest: +SKIP
        >>> repo.write_bytes(b"0.93", "metrics/acc.txt")  # doctest: +SKIP
        >>> repo.read_bytes("metrics/acc.txt")  # doctest: +SKIP
        b'0.93'
    """

    def __init__(self, artifact_uri: str) -> None:
        super().__init__(artifact_uri)
        self.root = Path(os.path.realpath(local_path_from_uri(artifact_uri)))

    def _checked(self, artifact_path: str | None) -> tuple[str, Path]:
        """The canonical relative path and its absolute location, proven inside the root."""
        clean = safe_artifact_path(artifact_path)
        if any(part.startswith(TEMP_PREFIX) for part in clean.split("/")):
            raise ArtifactPathError(
                f"Artifact path {artifact_path!r} uses the prefix {TEMP_PREFIX!r}, which is "
                "reserved for in-progress writes; rename the file"
            )
        return clean, resolve_inside(self.root, clean)

    def _file_target(self, artifact_file: str) -> Path:
        """Where a file write goes; refuses the root and existing directories."""
        clean, dest = self._checked(artifact_file)
        if not clean:
            raise ArtifactPathError(
                f"Artifact path {artifact_file!r} names the artifact root; give a file name, like 'notes/readme.txt'"
            )
        if dest.is_dir():
            raise InvalidParameterError(
                f"Artifact path {clean!r} is an existing directory; write the file under "
                "another name or delete the directory first"
            )
        return dest

    def _make_dirs(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidParameterError(
                f"Cannot create artifact directory {str(directory)!r}: a file is in the way; "
                "choose another artifact path or delete that file"
            ) from exc

    def log_artifact(self, local_file: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        src = Path(local_file)
        if not src.exists():
            raise ResourceNotFoundError(f"Local file {str(src)!r} does not exist; check the path")
        if src.is_dir():
            raise InvalidParameterError(f"Local path {str(src)!r} is a directory; use log_artifacts to log a directory")
        dest = self._file_target(_join(safe_artifact_path(artifact_path), src.name))
        self._make_dirs(dest.parent)
        _copy_file(src, dest)

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        src_root = Path(local_dir)
        if not src_root.exists():
            raise ResourceNotFoundError(f"Local directory {str(src_root)!r} does not exist; check the path")
        if not src_root.is_dir():
            raise InvalidParameterError(
                f"Local path {str(src_root)!r} is not a directory; use log_artifact for one file"
            )
        base, base_dest = self._checked(artifact_path)
        dirs, files = _walk(src_root, "", root=None)
        # Check every destination before writing anything, so a bad name in the tree does
        # not leave a half-logged directory behind.
        dir_targets = [self._checked(_join(base, rel))[1] for rel in dirs]
        file_targets = [(src, self._file_target(_join(base, rel))) for src, rel in files]
        for directory in [base_dest, *dir_targets]:
            self._make_dirs(directory)
        for src, dest in file_targets:
            _copy_file(src, dest)

    def write_bytes(self, data: bytes, artifact_file: str) -> None:
        dest = self._file_target(artifact_file)
        self._make_dirs(dest.parent)
        _write_stream_atomic(BytesIO(data), dest)

    def read_bytes(self, artifact_file: str) -> bytes:
        clean, target = self._checked(artifact_file)
        if target.is_dir():
            raise InvalidParameterError(
                f"Artifact path {clean!r} is a directory; use list_artifacts or download_artifacts for directories"
            )
        try:
            return target.read_bytes()
        except FileNotFoundError:
            raise ResourceNotFoundError(f"Artifact {clean!r} does not exist under {self.artifact_uri!r}") from None

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        clean, target = self._checked(path)
        if not target.is_dir():
            return []
        infos: list[FileInfo] = []
        with os.scandir(target) as entries:
            for entry in entries:
                if entry.name.startswith(TEMP_PREFIX):
                    continue
                child_rel = _join(clean, entry.name)
                try:
                    _check_entry(self.root, entry, child_rel)
                    if entry.is_dir():
                        infos.append(FileInfo(path=child_rel, is_dir=True))
                    elif entry.is_file():
                        size = entry.stat().st_size
                        infos.append(FileInfo(path=child_rel, is_dir=False, file_size=size))
                except (ArtifactPathError, FileNotFoundError):
                    continue  # escaping symlink, unaddressable name, or deleted meanwhile
        return sorted(infos, key=lambda info: info.path)

    def download_artifacts(self, artifact_path: str, dst_path: str | os.PathLike[str] | None = None) -> str:
        clean, source = self._checked(artifact_path)
        if not source.exists():
            raise ResourceNotFoundError(f"Artifact {clean!r} does not exist under {self.artifact_uri!r}")
        if dst_path is None:
            dst_root = Path(tempfile.mkdtemp(prefix="mltrack-download-"))
        else:
            dst_root = Path(os.path.abspath(dst_path))
            if dst_root.exists() and not dst_root.is_dir():
                raise InvalidParameterError(
                    f"Download destination {str(dst_root)!r} is not a directory; "
                    "give a directory (it is created if missing)"
                )
        # 'clean' has no '..' or absolute parts, so this stays under dst_root.
        local = dst_root.joinpath(*clean.split("/")) if clean else dst_root
        if source.is_file():
            local.parent.mkdir(parents=True, exist_ok=True)
            _copy_file(source, local)
            return str(local)
        # Walk (and check) the whole tree before writing: an escaping symlink anywhere
        # refuses the download instead of producing a silently incomplete copy.
        dirs, files = _walk(source, clean, root=self.root)
        local.mkdir(parents=True, exist_ok=True)
        for rel in dirs:
            dst_root.joinpath(*rel.split("/")).mkdir(parents=True, exist_ok=True)
        for src, rel in files:
            _copy_file(src, dst_root.joinpath(*rel.split("/")))
        return str(local)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        clean, target = self._checked(artifact_path)
        if clean:
            _remove(target)
            return
        # The whole root: empty it but keep the directory itself, which may be a mount
        # point or carry permissions someone set up on purpose.
        if not self.root.is_dir():
            return
        with os.scandir(self.root) as entries:
            for entry in entries:
                _remove(Path(entry.path))
