"""The ``mltrack`` command against real SQLite files: output, exit codes and store state."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefect_mltrack.cli import app
from prefect_mltrack.client import TrackingClient
from prefect_mltrack.entities import LifecycleStage, ViewType
from prefect_mltrack.exceptions import InvalidStateError, ResourceNotFoundError
from prefect_mltrack.store import reset_stores


@pytest.fixture
def uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MLTRACK_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")  # rich tables wide enough that ids are never cut
    yield f"sqlite:///{tmp_path}/t.db"
    reset_stores()


@pytest.fixture
def client(uri: str) -> TrackingClient:
    return TrackingClient(uri)


def mltrack(uri: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--tracking-uri", uri])
    # Our own errors must never surface as exceptions (tracebacks).
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def make_runs(client: TrackingClient, experiment_id: str = "0") -> dict[str, str]:
    ids = {}
    for name, acc, x in (("low", 0.5, "1"), ("mid", 0.92, "1"), ("high", 0.97, "2")):
        run = client.create_run(experiment_id, run_name=name)
        client.log_metric(run.info.run_id, "acc", acc, step=1)
        client.log_param(run.info.run_id, "x", x)
        client.set_terminated(run.info.run_id)
        ids[name] = run.info.run_id
    return ids


def test_experiments_create_list_rename_delete_restore(uri: str, client: TrackingClient) -> None:
    code, out, _ = mltrack(uri, "experiments", "create", "fraud", "--artifact-location", "/tmp/somewhere")
    assert code == 0
    experiment_id = out.strip()
    assert client.get_experiment(experiment_id).name == "fraud"

    code, out, _ = mltrack(uri, "experiments", "list")
    assert code == 0 and "fraud" in out and "Default" in out and "/tmp/somewhere" in out
    assert "Z" in out  # creation time in ISO UTC

    code, out, _ = mltrack(uri, "experiments", "list", "--json", "--filter", "name = 'fraud'")
    listed = json.loads(out)
    assert [e["experiment_id"] for e in listed] == [experiment_id]
    assert listed[0]["lifecycle_stage"] == "active"

    assert mltrack(uri, "experiments", "rename", experiment_id, "fraud-v2")[0] == 0
    assert client.get_experiment(experiment_id).name == "fraud-v2"
    assert mltrack(uri, "experiments", "delete", experiment_id)[0] == 0
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.DELETED
    assert "fraud-v2" not in mltrack(uri, "experiments", "list")[1]
    assert "fraud-v2" in mltrack(uri, "experiments", "list", "--view", "deleted")[1]
    assert mltrack(uri, "experiments", "restore", experiment_id)[0] == 0
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.ACTIVE


def test_create_duplicate_experiment_is_a_clean_error(uri: str, client: TrackingClient) -> None:
    client.create_experiment("dup")
    code, out, err = mltrack(uri, "experiments", "create", "dup")
    assert code == 2
    assert err.startswith("Error (RESOURCE_ALREADY_EXISTS):")
    assert "Traceback" not in out + err


def test_runs_list_shows_runs_and_metrics(uri: str, client: TrackingClient) -> None:
    ids = make_runs(client)
    code, out, _ = mltrack(uri, "runs", "list", "--experiment-id", "0")
    assert code == 0
    for name, run_id in ids.items():
        assert run_id in out and name in out
    assert "acc=0.97" in out and "FINISHED" in out


def test_runs_filter_and_order_by(uri: str, client: TrackingClient) -> None:
    ids = make_runs(client)
    args = ("--experiment-id", "0", "--json", "--filter", "metrics.acc > 0.9 and params.x = '1'")
    code, out, _ = mltrack(uri, "runs", "list", *args)
    assert code == 0
    assert [r["info"]["run_id"] for r in json.loads(out)] == [ids["mid"]]

    code, out, _ = mltrack(uri, "runs", "search", "-x", "0", "--json", "--order-by", "metrics.acc DESC")
    assert [r["info"]["run_name"] for r in json.loads(out)] == ["high", "mid", "low"]
    code, out, _ = mltrack(
        uri, "runs", "search", "-x", "0", "--json", "--order-by", "params.x DESC", "--order-by", "metrics.acc ASC"
    )
    assert [r["info"]["run_name"] for r in json.loads(out)] == ["high", "low", "mid"]


def test_runs_list_by_experiment_name(uri: str, client: TrackingClient) -> None:
    experiment_id = client.create_experiment("named")
    ids = make_runs(client, experiment_id)
    code, out, _ = mltrack(uri, "runs", "list", "--experiment-name", "named", "--json")
    assert code == 0 and {r["info"]["run_id"] for r in json.loads(out)} == set(ids.values())
    code, _, err = mltrack(uri, "runs", "list", "--experiment-name", "nope")
    assert code == 2 and "nope" in err


def test_malformed_filter_points_at_the_token(uri: str, client: TrackingClient) -> None:
    make_runs(client)
    code, out, err = mltrack(uri, "runs", "list", "-x", "0", "--filter", "metrics.acc >> 0.9")
    assert code == 2
    assert "Error (INVALID_PARAMETER_VALUE):" in err
    assert "'>>'" in err and "position 12" in err
    lines = err.splitlines()
    assert lines[-1].index("^") == lines[-2].index("metrics.acc") + 12  # the caret sits under '>>'
    assert out == ""

    code, _, err = mltrack(uri, "runs", "list", "-x", "0", "--order-by", "metrics.acc SIDEWAYS")
    assert code == 2 and "SIDEWAYS" in err


def test_other_errors_exit_1(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: TrackingClient, run_id: str) -> None:
        raise InvalidStateError(f"Run {run_id} is in an impossible state")

    monkeypatch.setattr(TrackingClient, "get_run", broken)
    code, _, err = mltrack(uri, "runs", "describe", "abc")
    assert code == 1
    assert err.strip() == "Error (INVALID_STATE): Run abc is in an impossible state"


def test_runs_list_needs_an_experiment(uri: str) -> None:
    code, _, err = mltrack(uri, "runs", "list")
    assert code == 2 and "--experiment-id" in err


def test_runs_describe(uri: str, client: TrackingClient) -> None:
    run_id = make_runs(client)["high"]
    client.set_tag(run_id, "team", "vision")
    client.log_text(run_id, "hello", "notes/readme.txt")
    client.log_text(run_id, "{}", "config.json")

    code, out, _ = mltrack(uri, "runs", "describe", run_id)
    assert code == 0
    for expected in (run_id, "high", "FINISHED", "acc", "0.97", "team", "vision", "config.json", "notes/"):
        assert expected in out

    code, out, _ = mltrack(uri, "runs", "describe", run_id, "--json")
    described = json.loads(out)
    assert described["info"]["run_id"] == run_id
    assert described["data"]["params"] == {"x": "2"}
    assert described["data"]["metrics"] == {"acc": 0.97}
    assert {a["path"] for a in described["artifacts"]} == {"config.json", "notes"}


def test_describe_unknown_run_exits_2(uri: str) -> None:
    code, out, err = mltrack(uri, "runs", "describe", "f" * 32)
    assert code == 2
    assert err.startswith("Error (RESOURCE_DOES_NOT_EXIST):") and "f" * 32 in err
    assert "Traceback" not in out + err


def test_runs_delete_restore_round_trip(uri: str, client: TrackingClient) -> None:
    run_id = make_runs(client)["low"]
    assert mltrack(uri, "runs", "delete", run_id)[0] == 0
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert run_id not in mltrack(uri, "runs", "list", "-x", "0")[1]
    assert run_id in mltrack(uri, "runs", "list", "-x", "0", "--view", "deleted")[1]
    assert mltrack(uri, "runs", "restore", run_id)[0] == 0
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    assert run_id in mltrack(uri, "runs", "list", "-x", "0")[1]


def test_tracking_uri_at_group_and_root_level(uri: str, client: TrackingClient) -> None:
    client.create_experiment("where")
    runner = CliRunner()
    for args in (["experiments", "-t", uri, "list"], ["-t", uri, "experiments", "list"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "where" in result.stdout


def test_tracking_uri_from_environment(uri: str, client: TrackingClient, monkeypatch: pytest.MonkeyPatch) -> None:
    client.create_experiment("from-env")
    monkeypatch.setenv("MLTRACK_TRACKING_URI", uri)
    result = CliRunner().invoke(app, ["experiments", "list"])
    assert result.exit_code == 0 and "from-env" in result.stdout


def test_gc_removes_runs_artifacts_and_frees_experiment_names(uri: str, client: TrackingClient) -> None:
    experiment_id = client.create_experiment("doomed")
    ids = make_runs(client, experiment_id)
    kept = make_runs(client)["mid"]
    artifact_dirs = {}
    for run_id in [*ids.values(), kept]:
        client.log_text(run_id, "payload", "out/file.txt")
        artifact_dirs[run_id] = Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://"))
        assert (artifact_dirs[run_id] / "out" / "file.txt").is_file()
    client.delete_experiment(experiment_id)

    code, out, _ = mltrack(uri, "gc")
    assert code == 0
    assert "Removed 3 runs and 1 experiments" in out
    for run_id in ids.values():
        with pytest.raises(ResourceNotFoundError):
            client.get_run(run_id)
        assert not artifact_dirs[run_id].exists()
        assert not artifact_dirs[run_id].parent.exists()  # the emptied <run_id> folder goes too
    assert (artifact_dirs[kept] / "out" / "file.txt").is_file()
    assert client.get_run(kept).info.lifecycle_stage == LifecycleStage.ACTIVE
    with pytest.raises(ResourceNotFoundError):
        client.get_experiment(experiment_id)
    reused = client.create_experiment("doomed")  # the name is free again
    assert client.get_experiment(reused).name == "doomed"


def test_gc_older_than_keeps_recent_deletions(uri: str, client: TrackingClient) -> None:
    ids = make_runs(client)
    client.delete_run(ids["low"])
    code, out, _ = mltrack(uri, "gc", "--older-than", "1h")
    assert code == 0 and "Removed 0 runs" in out
    assert client.get_run(ids["low"]).info.lifecycle_stage == LifecycleStage.DELETED

    time.sleep(0.01)
    code, out, _ = mltrack(uri, "gc", "--older-than", "0s")
    assert code == 0 and "Removed 1 runs" in out
    with pytest.raises(ResourceNotFoundError):
        client.get_run(ids["low"])


def test_gc_older_than_keeps_experiment_with_recent_runs(uri: str, client: TrackingClient) -> None:
    experiment_id = client.create_experiment("half")
    ids = make_runs(client, experiment_id)
    client.delete_experiment(experiment_id)
    code, out, _ = mltrack(uri, "gc", "--older-than", "30d")
    assert code == 0 and "Removed 0 runs and 0 experiments" in out
    assert client.get_run(ids["low"]).info.lifecycle_stage == LifecycleStage.DELETED
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.DELETED


def test_gc_with_run_ids(uri: str, client: TrackingClient) -> None:
    ids = make_runs(client)
    client.delete_run(ids["low"])
    client.delete_run(ids["mid"])
    code, out, _ = mltrack(uri, "gc", "--run-ids", ids["low"])
    assert code == 0 and "Removed 1 runs" in out
    with pytest.raises(ResourceNotFoundError):
        client.get_run(ids["low"])
    assert client.get_run(ids["mid"]).info.lifecycle_stage == LifecycleStage.DELETED


def test_gc_refuses_active_run_ids(uri: str, client: TrackingClient) -> None:
    ids = make_runs(client)
    client.delete_run(ids["low"])
    code, _, err = mltrack(uri, "gc", "--run-ids", f"{ids['low']},{ids['high']}")
    assert code == 2
    assert "Error (INVALID_PARAMETER_VALUE):" in err and ids["high"] in err and "active" in err
    # Validation happens before anything is removed.
    assert client.get_run(ids["low"]).info.lifecycle_stage == LifecycleStage.DELETED
    assert client.get_run(ids["high"]).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_gc_with_experiment_ids(uri: str, client: TrackingClient) -> None:
    first, second = client.create_experiment("first"), client.create_experiment("second")
    make_runs(client, first)
    second_runs = make_runs(client, second)
    client.delete_experiment(first)
    client.delete_experiment(second)
    code, out, _ = mltrack(uri, "gc", "--experiment-ids", first)
    assert code == 0 and "Removed 3 runs and 1 experiments" in out
    assert client.get_experiment_by_name("first") is None
    assert client.get_experiment(second).lifecycle_stage == LifecycleStage.DELETED
    assert client.get_run(second_runs["low"]).info.lifecycle_stage == LifecycleStage.DELETED

    code, _, err = mltrack(uri, "gc", "--experiment-ids", "0")
    assert code == 2 and "active" in err


def test_gc_rejects_a_bad_age(uri: str) -> None:
    code, _, err = mltrack(uri, "gc", "--older-than", "3 weeks")
    assert code == 2 and "--older-than" in err


def test_gc_many_runs_with_progress(uri: str, client: TrackingClient) -> None:
    run_ids = [client.create_run("0").info.run_id for _ in range(25)]
    for run_id in run_ids:
        client.delete_run(run_id)
    code, out, _ = mltrack(uri, "gc")
    assert code == 0 and "Removed 25 runs and 0 experiments" in out
    assert client.search_runs("0", run_view_type=ViewType.ALL) == []


def test_db_upgrade_creates_the_schema(tmp_path: Path, uri: str) -> None:
    from prefect_mltrack.store.sql.engine import SCHEMA_HEAD

    db = tmp_path / "fresh" / "new.db"
    result = CliRunner().invoke(app, ["db", "upgrade", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    assert SCHEMA_HEAD in result.stdout
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "runs" in tables
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(SCHEMA_HEAD,)]
    # Running it again on an up-to-date store is a no-op.
    assert CliRunner().invoke(app, ["db", "upgrade", f"sqlite:///{db}"]).exit_code == 0


def test_db_upgrade_defaults_to_the_tracking_uri(tmp_path: Path, uri: str) -> None:
    code, out, _ = mltrack(uri, "db", "upgrade")
    assert code == 0 and "t.db" in out
    assert (tmp_path / "t.db").is_file()


def test_db_upgrade_refuses_non_sql_uris(uri: str) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade", "http://localhost:5000"])
    assert result.exit_code == 2
    assert "Error (INVALID_PARAMETER_VALUE):" in result.stderr and "SQL" in result.stderr


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("experiments", "runs", "db", "gc"):
        assert command in result.stdout


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "prefect_mltrack", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "experiments" in result.stdout
