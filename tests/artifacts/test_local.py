"""LocalArtifactRepository on a real filesystem: round trips, refusals, atomicity, dispatch."""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_mltrack import artifacts
from prefect_mltrack.artifacts import (
    ArtifactRepository,
    ArtifactRepositoryFactory,
    LocalArtifactRepository,
    get_artifact_repository,
    register_artifact_repository,
)
from prefect_mltrack.artifacts.local import (
    COPY_BUFSIZE,
    TEMP_PREFIX,
    _write_stream_atomic,
)
from prefect_mltrack.entities import FileInfo
from prefect_mltrack.exceptions import (
    ArtifactPathError,
    InvalidParameterError,
    ResourceNotFoundError,
)


def symlink(link: Path, target: Path) -> None:
    """Create a symlink or skip the test where the OS/user may not (e.g. Windows)."""
    try:
        link.symlink_to(target, target_is_directory=target.is_dir())
    except (OSError, NotImplementedError) as exc:  # pragma: no cover - platform dependent
        pytest.skip(f"symlinks unavailable: {exc}")


def all_files(top: Path) -> set[str]:
    """Every file below ``top`` as a relative posix path (temp files included)."""
    return {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()}


@pytest.fixture
def repo(tmp_path: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(str(tmp_path / "root"))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A local directory to log: files at two depths and an empty directory."""
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("bravo!")
    (src / "sub" / "deeper" / "c.bin").write_bytes(bytes(range(256)))
    return src


@pytest.fixture
def escape(tmp_path: Path, repo: LocalArtifactRepository) -> Path:
    """Root holding 'ok.txt', 'file-link' -> outside file and 'dir-link' -> outside dir."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    repo.write_bytes(b"ok", "ok.txt")
    symlink(repo.root / "file-link", outside / "secret.txt")
    symlink(repo.root / "dir-link", outside)
    return outside


# --- log_artifact -----------------------------------------------------------------------------


def test_log_artifact_round_trip(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    src = tmp_path / "model.pkl"
    src.write_bytes(b"weights")
    repo.log_artifact(src)
    repo.log_artifact(str(src), "models/v1")
    assert repo.read_bytes("model.pkl") == b"weights"
    assert repo.read_bytes("models/v1/model.pkl") == b"weights"


def test_log_artifact_overwrites_and_keeps_mode(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    src = tmp_path / "run.sh"
    src.write_text("v1")
    repo.log_artifact(src, "bin")
    src.write_text("v2")
    src.chmod(0o750)
    repo.log_artifact(src, "bin")
    assert repo.read_bytes("bin/run.sh") == b"v2"
    if os.name != "nt":
        assert stat.S_IMODE((repo.root / "bin" / "run.sh").stat().st_mode) == 0o750


def test_log_artifact_missing_file(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    with pytest.raises(ResourceNotFoundError, match=r"nope\.txt"):
        repo.log_artifact(tmp_path / "nope.txt")


def test_log_artifact_directory_points_to_log_artifacts(tree: Path, repo: LocalArtifactRepository) -> None:
    with pytest.raises(InvalidParameterError, match="log_artifacts"):
        repo.log_artifact(tree)


@pytest.mark.parametrize("bad", ["../up", "/abs", "a/../../b", "a\\b", "%2e%2e"])
def test_log_artifact_refuses_unsafe_artifact_path(tmp_path: Path, repo: LocalArtifactRepository, bad: str) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(ArtifactPathError):
        repo.log_artifact(src, bad)
    assert not repo.root.exists()


# --- log_artifacts ----------------------------------------------------------------------------


def test_log_artifacts_copies_nested_tree(tree: Path, repo: LocalArtifactRepository) -> None:
    repo.log_artifacts(tree, "out")
    assert all_files(repo.root) == {"out/a.txt", "out/sub/b.txt", "out/sub/deeper/c.bin"}
    assert (repo.root / "out" / "empty").is_dir()
    assert repo.read_bytes("out/sub/deeper/c.bin") == bytes(range(256))


def test_log_artifacts_into_root(tree: Path, repo: LocalArtifactRepository) -> None:
    repo.log_artifacts(str(tree))
    assert [f.path for f in repo.list_artifacts()] == ["a.txt", "empty", "sub"]


def test_log_artifacts_missing_or_file(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    with pytest.raises(ResourceNotFoundError, match="missing-dir"):
        repo.log_artifacts(tmp_path / "missing-dir")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(InvalidParameterError, match="log_artifact"):
        repo.log_artifacts(tmp_path / "f.txt")


def test_log_artifacts_survives_symlink_loop(tree: Path, repo: LocalArtifactRepository) -> None:
    symlink(tree / "sub" / "loop", tree)
    repo.log_artifacts(tree)
    assert "a.txt" in all_files(repo.root)
    assert "sub/loop/a.txt" not in all_files(repo.root)


@pytest.mark.skipif(os.name == "nt", reason="backslash is a separator on Windows")
def test_log_artifacts_checks_every_name_before_writing(tree: Path, repo: LocalArtifactRepository) -> None:
    (tree / "sub" / "evil\\name.txt").write_text("x")
    with pytest.raises(ArtifactPathError, match="backslash"):
        repo.log_artifacts(tree)
    assert not repo.root.exists() or all_files(repo.root) == set()


# --- write_bytes / read_bytes -----------------------------------------------------------------


def test_write_and_read_bytes(repo: LocalArtifactRepository) -> None:
    repo.write_bytes(b'{"a": 1}', "config/params.json")
    assert repo.read_bytes("config/params.json") == b'{"a": 1}'
    repo.write_bytes(b"", "config/params.json")  # overwrite, empty file
    assert repo.read_bytes("./config//params.json") == b""


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_write_bytes_uses_default_mode(repo: LocalArtifactRepository) -> None:
    umask = os.umask(0)
    os.umask(umask)
    repo.write_bytes(b"x", "f.txt")
    assert stat.S_IMODE((repo.root / "f.txt").stat().st_mode) == 0o666 & ~umask


def test_write_bytes_refusals(repo: LocalArtifactRepository) -> None:
    repo.write_bytes(b"x", "dir/file.txt")
    with pytest.raises(ArtifactPathError, match="names the artifact root"):
        repo.write_bytes(b"x", "")
    with pytest.raises(InvalidParameterError, match="existing directory"):
        repo.write_bytes(b"x", "dir")
    with pytest.raises(InvalidParameterError, match="a file is in the way"):
        repo.write_bytes(b"x", "dir/file.txt/inner.txt")
    with pytest.raises(ArtifactPathError, match="reserved"):
        repo.write_bytes(b"x", f"{TEMP_PREFIX}sneaky")


def test_read_bytes_missing_and_directory(repo: LocalArtifactRepository) -> None:
    with pytest.raises(ResourceNotFoundError, match=r"nope\.txt"):
        repo.read_bytes("nope.txt")
    repo.write_bytes(b"x", "dir/f.txt")
    with pytest.raises(InvalidParameterError, match="is a directory"):
        repo.read_bytes("dir")


@pytest.mark.parametrize("bad", ["../x", "a/../b", "a/..", "/etc/passwd", "C:\\x", "a\\b", "%252e%252e/x", "a\x00b"])
def test_every_operation_refuses_unsafe_paths(repo: LocalArtifactRepository, bad: str) -> None:
    with pytest.raises(ArtifactPathError):
        repo.write_bytes(b"x", bad)
    with pytest.raises(ArtifactPathError):
        repo.read_bytes(bad)
    with pytest.raises(ArtifactPathError):
        repo.list_artifacts(bad)
    with pytest.raises(ArtifactPathError):
        repo.download_artifacts(bad)
    with pytest.raises(ArtifactPathError):
        repo.delete_artifacts(bad)


# --- list_artifacts ---------------------------------------------------------------------------


def test_list_one_level_sorted_with_sizes(tree: Path, repo: LocalArtifactRepository) -> None:
    repo.log_artifacts(tree)
    repo.write_bytes(b"0123456789", "B.txt")
    assert repo.list_artifacts() == [
        FileInfo(path="B.txt", is_dir=False, file_size=10),
        FileInfo(path="a.txt", is_dir=False, file_size=5),
        FileInfo(path="empty", is_dir=True, file_size=None),
        FileInfo(path="sub", is_dir=True, file_size=None),
    ]
    assert repo.list_artifacts("sub") == [
        FileInfo(path="sub/b.txt", is_dir=False, file_size=6),
        FileInfo(path="sub/deeper", is_dir=True),
    ]
    assert repo.list_artifacts("sub/deeper/") == [FileInfo(path="sub/deeper/c.bin", is_dir=False, file_size=256)]
    assert repo.list_artifacts(".") == repo.list_artifacts(None)


def test_list_missing_file_or_unborn_root_is_empty(repo: LocalArtifactRepository) -> None:
    assert repo.list_artifacts() == []  # root not created yet
    repo.write_bytes(b"x", "f.txt")
    assert repo.list_artifacts("nope") == []
    assert repo.list_artifacts("f.txt") == []


def test_list_skips_leftover_temp_files(repo: LocalArtifactRepository) -> None:
    repo.write_bytes(b"x", "f.txt")
    (repo.root / f"{TEMP_PREFIX}deadbeef").write_bytes(b"half")
    assert [f.path for f in repo.list_artifacts()] == ["f.txt"]


# --- download_artifacts -----------------------------------------------------------------------


def test_download_file_into_given_dst(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    repo.write_bytes(b"hello", "a/b.txt")
    dst = tmp_path / "dl"  # created on demand
    local = repo.download_artifacts("a/b.txt", dst)
    assert local == str(dst / "a" / "b.txt")
    assert Path(local).read_bytes() == b"hello"


def test_download_dir_into_given_dst(tmp_path: Path, tree: Path, repo: LocalArtifactRepository) -> None:
    repo.log_artifacts(tree, "out")
    (repo.root / "out" / f"{TEMP_PREFIX}junk").write_bytes(b"half")
    local = repo.download_artifacts("out", str(tmp_path / "dl"))
    assert local == str(tmp_path / "dl" / "out")
    assert all_files(Path(local)) == {"a.txt", "sub/b.txt", "sub/deeper/c.bin"}
    assert (Path(local) / "empty").is_dir()
    assert (Path(local) / "sub" / "deeper" / "c.bin").read_bytes() == bytes(range(256))


def test_download_into_new_temp_dir(tree: Path, repo: LocalArtifactRepository) -> None:
    repo.log_artifacts(tree)
    local = Path(repo.download_artifacts("sub/b.txt"))
    assert local.read_bytes() == b"bravo!"
    temp_dir = local.parents[1]  # <new temp dir>/sub/b.txt
    assert temp_dir.name.startswith("mltrack-download-")
    assert temp_dir.parent == Path(tempfile.gettempdir())
    everything = Path(repo.download_artifacts(""))
    assert all_files(everything) == {"a.txt", "sub/b.txt", "sub/deeper/c.bin"}


def test_download_errors(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    with pytest.raises(ResourceNotFoundError, match="nope"):
        repo.download_artifacts("nope")
    repo.write_bytes(b"x", "f.txt")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InvalidParameterError, match="not a directory"):
        repo.download_artifacts("f.txt", tmp_path / "a-file")


# --- delete_artifacts -------------------------------------------------------------------------


def test_delete_file_dir_missing_and_all(tree: Path, repo: LocalArtifactRepository) -> None:
    repo.log_artifacts(tree)
    repo.delete_artifacts("a.txt")
    repo.delete_artifacts("sub/deeper")
    repo.delete_artifacts("never/existed")  # fine
    assert all_files(repo.root) == {"sub/b.txt"}
    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    assert repo.root.is_dir()  # the root directory itself is kept
    LocalArtifactRepository(str(repo.root / "unborn")).delete_artifacts()  # missing root


def test_delete_symlink_within_root_removes_link_only(repo: LocalArtifactRepository) -> None:
    repo.write_bytes(b"model", "v1/model.pkl")
    symlink(repo.root / "latest", repo.root / "v1")
    assert repo.read_bytes("latest/model.pkl") == b"model"  # in-root links are followed
    repo.delete_artifacts("latest")
    assert repo.read_bytes("v1/model.pkl") == b"model"
    assert [f.path for f in repo.list_artifacts()] == ["v1"]


# --- symlinks leading out of the root ---------------------------------------------------------


def test_escaping_file_symlink_refused(tmp_path: Path, escape: Path, repo: LocalArtifactRepository) -> None:
    with pytest.raises(ArtifactPathError, match="outside the artifact root"):
        repo.read_bytes("file-link")
    with pytest.raises(ArtifactPathError):
        repo.list_artifacts("file-link")
    with pytest.raises(ArtifactPathError):
        repo.download_artifacts("file-link", tmp_path / "dl")
    with pytest.raises(ArtifactPathError):
        repo.write_bytes(b"overwrite", "file-link")
    assert (escape / "secret.txt").read_text() == "secret"
    assert not (tmp_path / "dl").exists()


def test_escaping_dir_symlink_refused(tmp_path: Path, escape: Path, repo: LocalArtifactRepository) -> None:
    with pytest.raises(ArtifactPathError):
        repo.read_bytes("dir-link/secret.txt")
    with pytest.raises(ArtifactPathError):
        repo.list_artifacts("dir-link")
    with pytest.raises(ArtifactPathError):
        repo.download_artifacts("dir-link", tmp_path / "dl")
    with pytest.raises(ArtifactPathError):
        repo.write_bytes(b"planted", "dir-link/new.txt")
    with pytest.raises(ArtifactPathError):
        repo.delete_artifacts("dir-link")
    assert all_files(escape) == {"secret.txt"}


@pytest.mark.skipif(os.name == "nt", reason="backslash is a separator on Windows")
def test_listing_skips_unaddressable_names(repo: LocalArtifactRepository) -> None:
    repo.write_bytes(b"ok", "ok.txt")
    (repo.root / "made\\elsewhere.txt").write_text("x")  # not creatable through the API
    assert [f.path for f in repo.list_artifacts()] == ["ok.txt"]


def test_in_root_symlinks_are_followed_everywhere(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    repo.write_bytes(b"model", "v1/model.pkl")
    symlink(repo.root / "latest", repo.root / "v1")
    assert repo.list_artifacts("latest") == [FileInfo(path="latest/model.pkl", is_dir=False, file_size=5)]
    local = Path(repo.download_artifacts("latest", tmp_path / "dl"))
    assert (local / "model.pkl").read_bytes() == b"model"


def test_listing_skips_escaping_symlinks(escape: Path, repo: LocalArtifactRepository) -> None:
    assert [f.path for f in repo.list_artifacts()] == ["ok.txt"]


def test_downloading_a_tree_with_escaping_symlink_writes_nothing(
    tmp_path: Path, escape: Path, repo: LocalArtifactRepository
) -> None:
    dst = tmp_path / "dl"
    with pytest.raises(ArtifactPathError):
        repo.download_artifacts("", dst)
    assert not dst.exists() or all_files(dst) == set()


def test_delete_all_removes_links_not_targets(escape: Path, repo: LocalArtifactRepository) -> None:
    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    assert all_files(escape) == {"secret.txt"}


def test_root_reached_through_symlinks_is_fine(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "root").mkdir(parents=True)
    symlink(tmp_path / "alias", real)
    via_parent = LocalArtifactRepository(str(tmp_path / "alias" / "root"))
    via_parent.write_bytes(b"x", "d/f.txt")
    assert via_parent.root == real / "root"
    assert via_parent.list_artifacts("d") == [FileInfo(path="d/f.txt", is_dir=False, file_size=1)]
    symlink(tmp_path / "rootlink", real / "root")
    via_link = LocalArtifactRepository(str(tmp_path / "rootlink"))
    assert via_link.read_bytes("d/f.txt") == b"x"
    assert Path(via_link.download_artifacts("d", tmp_path / "dl")).is_dir()


# --- atomic writes ----------------------------------------------------------------------------


class FailingStream(io.RawIOBase):
    """Yields ``good`` bytes, then raises ``error`` (simulates a disk/network failure)."""

    def __init__(self, good: int, error: BaseException) -> None:
        self.remaining, self.error = good, error

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            raise self.error
        n = self.remaining if size < 0 else min(size, self.remaining)
        self.remaining -= n
        return b"x" * n


class KeyboardStop(BaseException):
    """Stands in for KeyboardInterrupt without stopping pytest."""


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardStop()])
def test_failed_write_leaves_no_file_and_no_temp(tmp_path: Path, error: BaseException) -> None:
    dest = tmp_path / "model.bin"
    with pytest.raises(type(error)):
        _write_stream_atomic(FailingStream(3 * COPY_BUFSIZE // 2, error), dest)
    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_old_content(repo: LocalArtifactRepository) -> None:
    repo.write_bytes(b"old", "f.txt")
    with pytest.raises(OSError):
        _write_stream_atomic(FailingStream(10, OSError("boom")), repo.root / "f.txt")
    assert repo.read_bytes("f.txt") == b"old"
    assert os.listdir(repo.root) == ["f.txt"]


def test_failed_replace_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "taken"
    (dest / "inner").mkdir(parents=True)  # os.replace cannot put a file over a non-empty dir
    with pytest.raises(OSError):
        _write_stream_atomic(io.BytesIO(b"data"), dest)
    assert sorted(os.listdir(tmp_path)) == ["taken"]
    assert os.listdir(dest) == ["inner"]


def test_copies_in_bounded_chunks(tmp_path: Path) -> None:
    sizes: list[int] = []

    class Recording(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            sizes.append(-1 if size is None else size)
            return super().read(size)

    data = os.urandom(COPY_BUFSIZE * 2 + 123)
    _write_stream_atomic(Recording(data), tmp_path / "big.bin")
    assert (tmp_path / "big.bin").read_bytes() == data
    assert sizes and all(0 < s <= COPY_BUFSIZE for s in sizes)


# --- get_artifact_repository ------------------------------------------------------------------


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ArtifactRepositoryFactory]]:
    """A private copy of the scheme registry, so registrations do not leak between tests."""
    copy = dict(artifacts._REGISTRY)
    monkeypatch.setattr(artifacts, "_REGISTRY", copy)
    yield copy


def test_dispatch_plain_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = get_artifact_repository(str(tmp_path / "abs"))
    assert isinstance(repo, LocalArtifactRepository)
    assert repo.root == tmp_path / "abs"
    assert repo.artifact_uri == str(tmp_path / "abs")
    monkeypatch.chdir(tmp_path)
    rel = get_artifact_repository("rel/dir")
    assert isinstance(rel, LocalArtifactRepository) and rel.root == tmp_path / "rel" / "dir"


@pytest.mark.skipif(os.name == "nt", reason="POSIX file URIs")
def test_dispatch_file_uris_with_encoded_spaces(tmp_path: Path) -> None:
    target = tmp_path / "my runs" / "run 1"
    for uri in (f"file://{tmp_path}/my%20runs/run%201", f"file:{tmp_path}/my%20runs/run%201"):
        repo = get_artifact_repository(uri)
        assert isinstance(repo, LocalArtifactRepository) and repo.root == target
        repo.write_bytes(b"x", "f.txt")
    assert (target / "f.txt").read_bytes() == b"x"


def test_dispatch_unknown_scheme(registry: dict[str, ArtifactRepositoryFactory]) -> None:
    with pytest.raises(InvalidParameterError) as info:
        get_artifact_repository("nosuch://bucket/runs")
    assert "'nosuch'" in info.value.message and "'file'" in info.value.message


def test_register_artifact_repository(tmp_path: Path, registry: dict[str, ArtifactRepositoryFactory]) -> None:
    made: list[str] = []

    def factory(uri: str) -> ArtifactRepository:
        made.append(uri)
        return LocalArtifactRepository(str(tmp_path))

    register_artifact_repository("MEM", factory)
    assert isinstance(get_artifact_repository("mem://x/y"), LocalArtifactRepository)
    assert made == ["mem://x/y"]
    for bad in ("", "c", "1abc", "has space"):
        with pytest.raises(InvalidParameterError, match="Cannot register"):
            register_artifact_repository(bad, factory)
