"""The artifact-repository seam: one interface, one backend per storage scheme.

The tracking client and the server only talk to :class:`ArtifactRepository`; a backend (local
filesystem, fsspec object stores, the server proxy) implements it for one kind of URI and is
picked by :func:`prefect_mltrack.artifacts.get_artifact_repository`.

Contract shared by every backend:

* Artifact paths are relative, ``'/'``-separated and pass
  :func:`prefect_mltrack.artifacts.safe_artifact_path`; anything else is refused with
  :class:`~prefect_mltrack.exceptions.ArtifactPathError` before storage is touched.
* Writes are atomic per file: readers never see a half-written file under its final name.
* Listings are one level deep, sorted by path, with paths relative to the repository root.
"""

from __future__ import annotations

import abc
import os

from prefect_mltrack.entities import FileInfo

__all__ = ["ArtifactRepository"]


class ArtifactRepository(abc.ABC):
    """Reads and writes the artifacts under one root URI (typically one run's artifact URI).

    Attributes:
        artifact_uri: The root URI this repository was created for, as given.

    Example:
        >>> from prefect_mltrack.artifacts import get_artifact_repository
        >>> repo = get_artifact_repository("/tmp/mltrack-doc/artifacts")  # doctest: +SKIP
        >>> repo.write_bytes(b"hello", "notes/readme.txt")  # doctest: +SKIP
        >>> [f.path for f in repo.list_artifacts("notes")]  # doctest: +SKIP
        ['notes/readme.txt']
    """

    def __init__(self, artifact_uri: str) -> None:
        self.artifact_uri = artifact_uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.artifact_uri!r})"

    @abc.abstractmethod
    def log_artifact(self, local_file: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy one local file into the repository as ``artifact_path/<basename>``.

        Args:
            local_file: The file to upload.
            artifact_path: Directory under the root to put it in; None for the root.

        Raises:
            ResourceNotFoundError: ``local_file`` does not exist.
            InvalidParameterError: ``local_file`` is a directory (use :meth:`log_artifacts`).
            ArtifactPathError: ``artifact_path`` is unsafe.

        Example:
            >>> repo.log_artifact("model.pkl", "models")  # doctest: +SKIP
        """

    @abc.abstractmethod
    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy a local directory tree (its contents, recursively) under ``artifact_path``.

        Args:
            local_dir: The directory whose contents to upload.
            artifact_path: Directory under the root to copy into; None for the root.

        Raises:
            ResourceNotFoundError: ``local_dir`` does not exist.
            InvalidParameterError: ``local_dir`` is not a directory.
            ArtifactPathError: ``artifact_path`` or a name in the tree is unsafe.

        Example:
            >>> repo.log_artifacts("outputs/", "outputs")  # doctest: +SKIP
        """

    @abc.abstractmethod
    def write_bytes(self, data: bytes, artifact_file: str) -> None:
        """Store ``data`` as the file ``artifact_file``, replacing it atomically if it exists.

        This is what ``log_text``, ``log_dict`` and ``log_figure`` build on.

        Args:
            data: The complete file content.
            artifact_file: Path of the file under the root; must name a file, not the root.

        Raises:
            ArtifactPathError: ``artifact_file`` is unsafe or empty.

        Example:
            >>> repo.write_bytes(b'{"a": 1}', "config/params.json")  # doctest: +SKIP
        """

    @abc.abstractmethod
    def read_bytes(self, artifact_file: str) -> bytes:
        """Return the whole content of one artifact file.

        Args:
            artifact_file: Path of the file under the root.

        Raises:
            ResourceNotFoundError: There is no such file.
            ArtifactPathError: ``artifact_file`` is unsafe.

        Example:
            >>> repo.read_bytes("config/params.json")  # doctest: +SKIP
            b'{"a": 1}'
        """

    @abc.abstractmethod
    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """List the direct children of ``path`` (one level, not recursive).

        Args:
            path: Directory under the root; None for the root.

        Returns:
            Entries sorted by path; ``FileInfo.path`` is relative to the repository root
            (``'dir/file.txt'``); directories have ``file_size`` None. A missing path, or a
            path naming a file, gives ``[]``.

        Raises:
            ArtifactPathError: ``path`` is unsafe.

        Example:
            >>> repo.list_artifacts("config")  # doctest: +SKIP
            [FileInfo(path='config/params.json', is_dir=False, file_size=8)]
        """

    @abc.abstractmethod
    def download_artifacts(self, artifact_path: str, dst_path: str | os.PathLike[str] | None = None) -> str:
        """Copy an artifact file or directory tree to the local filesystem.

        The artifact's relative path is kept under ``dst_path``: downloading ``'a/b.txt'``
        into ``/tmp/x`` writes ``/tmp/x/a/b.txt``.

        Args:
            artifact_path: File or directory under the root; ``''`` for everything.
            dst_path: Local directory to download into; None for a new temporary directory.

        Returns:
            The local path of the downloaded file or directory.

        Raises:
            ResourceNotFoundError: ``artifact_path`` does not exist.
            ArtifactPathError: ``artifact_path`` is unsafe.

        Example:
            >>> repo.download_artifacts("config")  # doctest: +SKIP
            '/tmp/tmpab12cd/config'
        """

    @abc.abstractmethod
    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or directory tree; deleting something missing is not an error.

        Args:
            artifact_path: File or directory under the root; None for everything.

        Raises:
            ArtifactPathError: ``artifact_path`` is unsafe.

        Example:
            >>> repo.delete_artifacts("config")  # doctest: +SKIP
        """
