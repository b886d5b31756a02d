"""Path safety: lexical normalisation/refusal, symlink-aware containment, local URI parsing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prefect_mltrack.artifacts import resolve_inside, safe_artifact_path
from prefect_mltrack.artifacts.paths import local_path_from_uri
from prefect_mltrack.exceptions import ArtifactPathError, InvalidParameterError


def symlink(link: Path, target: Path) -> None:
    """Create a symlink or skip the test where the OS/user may not (e.g. Windows)."""
    try:
        link.symlink_to(target, target_is_directory=target.is_dir())
    except (OSError, NotImplementedError) as exc:  # pragma: no cover - platform dependent
        pytest.skip(f"symlinks unavailable: {exc}")


# --- safe_artifact_path: normalisation ------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, ""),
        ("", ""),
        (".", ""),
        ("./", ""),
        ("a", "a"),
        ("a/b/c", "a/b/c"),
        ("a//b", "a/b"),
        ("a///b//c", "a/b/c"),
        ("./a/./b/", "a/b"),
        ("a/b/", "a/b"),
        ("file..txt", "file..txt"),  # '..' inside a name is not a '..' component
        ("...", "..."),
        (".hidden/x", ".hidden/x"),
        ("50%.txt", "50%.txt"),  # not a valid escape: left alone
        ("my%20file.txt", "my%20file.txt"),  # decoding is for checking only; spelling kept
        ("dir with spaces/ü.txt", "dir with spaces/ü.txt"),
    ],
)
def test_safe_artifact_path_normalises(given: str | None, expected: str) -> None:
    assert safe_artifact_path(given) == expected


# --- safe_artifact_path: refusals -----------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("..", "'..'"),
        ("../x", "'..'"),  # leading
        ("a/../b", "'..'"),  # middle
        ("a/b/..", "'..'"),  # trailing
        ("a/../../etc/passwd", "'..'"),
        ("/x", "absolute"),
        ("/", "absolute"),
        ("//server/share", "absolute"),
        ("C:\\x", "backslash"),
        ("C:/x", "Windows drive"),
        ("c:x", "Windows drive"),
        ("\\\\server\\share", "backslash"),
        ("a\\b", "backslash"),
        ("..\\x", "backslash"),
        ("%2e%2e/x", "percent-decoded"),
        ("%2E%2E/x", "percent-decoded"),
        ("a/%2e%2e/b", "percent-decoded"),
        ("a/%2e%2e", "percent-decoded"),
        (".%2e/x", "percent-decoded"),
        ("%252e%252e/x", "percent-decoded"),  # double-encoded
        ("%25252e%25252e", "percent-decoded"),  # triple-encoded
        ("%2fetc%2fpasswd", "percent-decoded"),  # encoded absolute path
        ("a%5cb", "percent-decoded"),  # encoded backslash
        ("a%00b", "percent-decoded"),  # encoded NUL
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("tab\there", "control"),
        ("del\x7f", "control"),
        ("c1\x85control", "control"),
    ],
)
def test_safe_artifact_path_refuses(given: str, reason: str) -> None:
    with pytest.raises(ArtifactPathError) as info:
        safe_artifact_path(given)
    err = info.value
    assert repr(given) in err.message  # quotes the offending path
    assert reason in err.message
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert isinstance(err, InvalidParameterError)


def test_refusal_message_says_how_to_fix() -> None:
    with pytest.raises(ArtifactPathError, match=r"like 'plots/loss.png'"):
        safe_artifact_path("../secrets.txt")


def test_safe_artifact_path_refuses_non_str() -> None:
    with pytest.raises(ArtifactPathError, match="must be a str"):
        safe_artifact_path(b"a/b")  # type: ignore[arg-type]


# --- resolve_inside ---------------------------------------------------------------------------


def test_resolve_inside_joins_and_allows_missing_paths(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    assert resolve_inside(root, "a/b/c.txt") == root / "a" / "b" / "c.txt"
    assert resolve_inside(root, "") == root
    # The root itself need not exist yet either.
    assert resolve_inside(tmp_path / "later", "x") == tmp_path / "later" / "x"


def test_resolve_inside_runs_lexical_checks(tmp_path: Path) -> None:
    with pytest.raises(ArtifactPathError, match=r"'\.\.'"):
        resolve_inside(tmp_path, "a/../../x")


def test_resolve_inside_refuses_symlinked_file_outside(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside.txt"
    root.mkdir()
    outside.write_text("secret")
    symlink(root / "link.txt", outside)
    with pytest.raises(ArtifactPathError, match="outside the artifact root"):
        resolve_inside(root, "link.txt")


def test_resolve_inside_refuses_symlink_at_any_level(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    symlink(root / "a" / "escape", outside)
    # Below the link, existing or not: the deepest existing ancestor is the link.
    with pytest.raises(ArtifactPathError):
        resolve_inside(root, "a/escape")
    with pytest.raises(ArtifactPathError):
        resolve_inside(root, "a/escape/not/yet/there.txt")


def test_resolve_inside_refuses_dangling_symlink_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    symlink(root / "dangling", tmp_path / "does-not-exist")
    with pytest.raises(ArtifactPathError):
        resolve_inside(root, "dangling/new.txt")


def test_resolve_inside_allows_symlink_within_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "v1").mkdir(parents=True)
    symlink(root / "latest", root / "v1")
    # The link path itself comes back (not its target), so deleting acts on the link.
    assert resolve_inside(root, "latest/model.pkl") == root / "latest" / "model.pkl"


def test_resolve_inside_allows_root_behind_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "root").mkdir(parents=True)
    symlink(tmp_path / "alias", real)  # a symlinked parent of the root
    symlink(tmp_path / "rootlink", real / "root")  # the root itself is a symlink
    assert resolve_inside(tmp_path / "alias" / "root", "f.txt") == real / "root" / "f.txt"
    assert resolve_inside(tmp_path / "rootlink", "f.txt") == real / "root" / "f.txt"


# --- local_path_from_uri ----------------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="POSIX paths")
@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/srv/runs", "/srv/runs"),
        ("file:///srv/runs", "/srv/runs"),
        ("file:/srv/runs", "/srv/runs"),
        ("file://localhost/srv/runs", "/srv/runs"),
        ("FILE:///srv/runs", "/srv/runs"),
        ("file:///srv/my%20runs/a%23b", "/srv/my runs/a#b"),
    ],
)
def test_local_path_from_uri(uri: str, expected: str) -> None:
    assert local_path_from_uri(uri) == Path(expected)


def test_local_path_from_uri_makes_relative_paths_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert local_path_from_uri("rel/dir") == tmp_path / "rel" / "dir"


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("", "empty"),
        ("file://otherhost/srv/runs", "host"),
        ("file:///srv/runs#frag", "fragment"),
        ("file:///srv/runs?x=1", "query"),
        ("file:relative/dir", "absolute"),
        ("s3://bucket/runs", "not a local path"),
    ],
)
def test_local_path_from_uri_refuses(uri: str, reason: str) -> None:
    with pytest.raises(InvalidParameterError, match=reason):
        local_path_from_uri(uri)
