"""Client-supplied URIs the server would act on: experiment artifact locations and model version sources."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.server.uri_policy import (
    MAX_URI_LENGTH,
    validate_artifact_location,
    validate_model_version_source,
)

RUN_ID = "0123456789abcdef0123456789abcdef"
OTHER_RUN = "fedcba9876543210fedcba9876543210"
LOGGED_MODEL = "models:/m-" + "0a" * 16


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The server's local artifact root, with one experiment directory in it."""
    path = tmp_path / "artifacts"
    (path / "exp1").mkdir(parents=True)
    return path


def refused(call: object, *args: object, **kwargs: object) -> str:
    """Run a validator expecting a refusal; returns the message after checking the code."""
    with pytest.raises(InvalidParameterError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert caught.value.http_status == 400
    assert "Allowed:" in caught.value.message  # every refusal says what would pass
    return caught.value.message


# --- artifact locations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "mlflow-artifacts:/exp1",
        "mltrack-artifacts:/team/exp-2",
        "mlflow-artifacts:/",
        "s3://bucket/exp1",
        "s3://bucket",
        "s3a://bucket/a/b",
        "gs://bucket/x",
        "gcs://bucket/x",
        "az://container/x",
        "abfss://container@account.dfs.core.windows.net/x",
        "S3://Bucket/x",
        "s3://bucket/my%20run/file..txt",  # '..' inside a name is not a segment
        "",  # the server's default
    ],
)
def test_remote_and_proxy_locations_pass(location: str, root: Path) -> None:
    assert validate_artifact_location(location, artifact_root=str(root)) == location


def test_local_locations_inside_the_root_pass(root: Path) -> None:
    for location in (str(root / "exp1"), str(root / "new" / "dir"), str(root), (root / "exp1").as_uri()):
        assert validate_artifact_location(location, artifact_root=str(root)) == location
    # the root may itself be given as a file: URI
    assert validate_artifact_location(str(root / "exp1"), artifact_root=root.as_uri()) == str(root / "exp1")
    assert validate_artifact_location(f"file://localhost{root}/exp1", artifact_root=str(root))


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("../x", "'..' segment"),
        ("%2e%2e/x", "'..' segment (once percent-decoded)"),
        ("%2E%2e/x", "'..' segment (once percent-decoded)"),
        ("%252e%252e/x", "'..' segment (once percent-decoded)"),
        ("mlflow-artifacts:/%252e%252e/x", "'..' segment (once percent-decoded)"),
        ("..\\x", "backslash"),
        ("mlflow-artifacts:/a%5c..%5cb", "backslash (once percent-decoded)"),
        ("/etc", "outside the server's artifact root"),
        ("file:///etc/passwd", "outside the server's artifact root"),
        ("file://evil.com/x", "names the host 'evil.com'"),
        ("file:////evil.com/share", "outside the server's artifact root"),
        ("relative/dir", "must be absolute"),
        ("http://169.254.169.254/", "scheme 'http' is not accepted"),
        ("https://example.com/x", "scheme 'https' is not accepted"),
        ("ftp://example.com/x", "scheme 'ftp' is not accepted"),
        ("runs:/abc/model", "scheme 'runs' is not accepted"),
        ("s3://b/../x", "'..' segment"),
        ("s3://b/x?y=1", "query or fragment"),
        ("s3://b/x#f", "query or fragment"),
        ("s3://b/x%3Fy=1", "query or fragment ('?' or '#') (once percent-decoded)"),
        ("s3://b/x%2523f", "query or fragment ('?' or '#') (once percent-decoded)"),
        ("s3://key:secret@bucket/x", "no credentials"),
        ("s3://bucket:9000/x", "no credentials ('user:pass@') or port"),
        ("s3:///x", "write s3://<bucket>/<path>"),
        ("abfss://user:pw@account.dfs.core.windows.net/x", "no credentials"),
        ("mlflow-artifacts:/../x", "'..' segment"),
        ("mlflow-artifacts://evil.com/x", "no host"),
        ("mlflow-artifacts:x", "write mlflow-artifacts:/<path>"),
        ("s3://b/x\x00.txt", "NUL or control characters"),
        ("s3://b/x%00.txt", "NUL or control characters (once percent-decoded)"),
        ("s3://b/x\n", "NUL or control characters"),
        ("s3://b/" + "a" * MAX_URI_LENGTH, f"longer than {MAX_URI_LENGTH} characters"),
    ],
)
def test_bad_locations_are_refused(location: str, reason: str, root: Path) -> None:
    message = refused(validate_artifact_location, location, artifact_root=str(root))
    assert reason in message
    assert "mlflow-artifacts:/<path>" in message and "s3://" in message
    assert f"inside {str(root)!r}" in message  # where local paths may go


def test_a_long_value_is_shortened_in_the_message(root: Path) -> None:
    message = refused(validate_artifact_location, "http://x/" + "a" * 5000, artifact_root=str(root))
    assert len(message) < 1500


def test_absolute_paths_outside_the_root_are_refused_even_when_they_share_its_prefix(root: Path) -> None:
    sibling = root.parent / (root.name + "-other")
    sibling.mkdir()
    assert "outside" in refused(validate_artifact_location, str(sibling), artifact_root=str(root))


def test_a_symlink_inside_the_root_pointing_outside_is_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secrets"
    outside.mkdir()
    link = root / "exp1" / "escape"
    try:
        link.symlink_to(outside, target_is_directory=True)
    except (OSError, NotImplementedError) as exc:  # pragma: no cover - platform dependent
        pytest.skip(f"symlinks unavailable: {exc}")
    for location in (str(link), str(link / "deeper"), link.as_uri()):
        message = refused(validate_artifact_location, location, artifact_root=str(root))
        assert "through a symlink" in message
    # a link that stays inside is fine
    inner = root / "exp1" / "inner"
    inner.symlink_to(root / "exp1", target_is_directory=True)
    assert validate_artifact_location(str(inner), artifact_root=str(root)) == str(inner)


def test_a_root_reached_through_a_symlink_still_accepts_its_paths(tmp_path: Path) -> None:
    real = tmp_path / "real-root"
    real.mkdir()
    alias = tmp_path / "alias-root"
    alias.symlink_to(real, target_is_directory=True)
    assert validate_artifact_location(str(real / "e"), artifact_root=str(alias))
    assert validate_artifact_location(str(alias / "e"), artifact_root=str(alias))


def test_with_a_remote_root_no_local_path_is_accepted(root: Path) -> None:
    message = refused(validate_artifact_location, str(root / "exp1"), artifact_root="s3://server-bucket/root")
    assert "not local" in message and "no local paths" in message
    assert validate_artifact_location("s3://bucket/x", artifact_root="mlflow-artifacts:/")


def test_a_non_string_location_is_refused(root: Path) -> None:
    message = refused(validate_artifact_location, 42, artifact_root=str(root))
    assert "must be a string, got int" in message


# --- model version sources ------------------------------------------------------------------


@pytest.fixture
def run_dir(root: Path) -> Path:
    path = root / "exp1" / RUN_ID / "artifacts"
    (path / "model").mkdir(parents=True)
    return path


def source_ok(source: str, root: Path, run_dir: Path | None = None, run_id: str | None = RUN_ID) -> str:
    return validate_model_version_source(
        source, run_id=run_id, run_artifact_uri=str(run_dir) if run_dir else None, artifact_root=str(root)
    )


@pytest.mark.parametrize(
    "source",
    [
        f"runs:/{RUN_ID}/model",
        f"runs:/{RUN_ID}/nested/dir/model",
        "models:/iris/3",
        "models:/iris/Production",
        "models:/iris/latest",
        "models:/iris@champion",
        "models:/my model/1",
        LOGGED_MODEL,
        f"mlflow-artifacts:/1/{RUN_ID}/artifacts/model",
        f"mltrack-artifacts:/1/{RUN_ID}/artifacts/model",
        "s3://bucket/1/model",
        "gs://bucket/model",
    ],
)
def test_good_model_sources_pass(source: str, root: Path, run_dir: Path) -> None:
    assert source_ok(source, root, run_dir) == source


def test_local_sources_inside_the_run_or_the_root_pass(root: Path, run_dir: Path, tmp_path: Path) -> None:
    assert source_ok(str(run_dir / "model"), root, run_dir)
    assert source_ok((run_dir / "model").as_uri(), root, run_dir)
    assert source_ok(str(root / "exp1" / "other-place"), root, run_dir)
    # a run whose artifacts live outside the server root (e.g. logged by a client to its own disk)
    elsewhere = tmp_path / "client-runs" / RUN_ID
    (elsewhere / "model").mkdir(parents=True)
    assert source_ok(str(elsewhere / "model"), root, elsewhere)
    # ... but with that run named, a sibling directory next to it is not inside anything allowed
    assert "outside" in refused(source_ok, str(elsewhere.parent / "x"), root, elsewhere)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (f"runs:/{OTHER_RUN}/model", f"names run {OTHER_RUN!r} but the version is created for run {RUN_ID!r}"),
        (f"runs:/{RUN_ID}/../{OTHER_RUN}/model", "'..' segment"),
        (f"runs:/{RUN_ID}/%2e%2e/x", "'..' segment (once percent-decoded)"),
        ("runs://host/x", "Not a proper runs:/ URI"),
        ("runs:/", "Not a proper runs:/ URI"),
        ("models:/../x/1", "'..' segment"),
        ("models:/iris", "Not a proper models:/ URI"),
        ("models:/m-xyz", "Not a proper models:/ URI"),
        ("models:/iris/1?x=1", "query or fragment"),
        ("/etc/passwd", "outside the server's artifact root"),
        ("file:///etc/passwd", "outside the server's artifact root"),
        ("file://evil.com/model", "names the host 'evil.com'"),
        ("http://169.254.169.254/latest/meta-data", "scheme 'http' is not accepted"),
        ("hdfs://namenode/model", "scheme 'hdfs' is not accepted"),
        ("s3://b/../x", "'..' segment"),
        ("mlflow-artifacts:/../x", "'..' segment"),
        ("model\\..\\x", "backslash"),
    ],
)
def test_bad_model_sources_are_refused(source: str, reason: str, root: Path, run_dir: Path) -> None:
    message = refused(source_ok, source, root, run_dir)
    assert reason in message
    assert "runs:/<run_id>/<path>" in message and "models:/m-<32 hex digits>" in message


def test_runs_source_without_a_run_id_is_not_matched(root: Path) -> None:
    assert source_ok(f"runs:/{OTHER_RUN}/model", root, None, run_id=None)


def test_a_symlink_in_the_run_directory_pointing_outside_is_refused(root: Path, run_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    link = run_dir / "model-link"
    try:
        link.symlink_to(outside, target_is_directory=True)
    except (OSError, NotImplementedError) as exc:  # pragma: no cover - platform dependent
        pytest.skip(f"symlinks unavailable: {exc}")
    assert "through a symlink" in refused(source_ok, str(link), root, run_dir)


def test_local_sources_are_refused_when_both_roots_are_remote() -> None:
    message = refused(
        validate_model_version_source,
        "/srv/model",
        run_id=RUN_ID,
        run_artifact_uri="mlflow-artifacts:/1/run/artifacts",
        artifact_root="s3://bucket/root",
    )
    assert "no local paths" in message


def test_an_empty_source_is_refused(root: Path) -> None:
    assert "non-empty string" in refused(source_ok, "", root)


@pytest.mark.skipif(os.name != "posix", reason="POSIX paths")
def test_messages_name_the_allowed_local_directories(root: Path, run_dir: Path) -> None:
    message = refused(source_ok, "/etc/passwd", root, run_dir)
    assert repr(str(run_dir)) in message and repr(str(root)) in message
