"""`mltrack gc` on the database of a tracking server whose runs keep their files behind its artifact proxy.

Runs are logged through a real server (uvicorn on loopback): their artifact URIs are
``mlflow-artifacts:/<experiment>/<run>/artifacts`` and the files lie under the server's
``--artifacts-destination``. gc runs where the database is, so it needs that destination to find them:

    mltrack gc --tracking-uri sqlite:///<server db> --artifacts-destination <destination>
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from live_server import LiveServer
from typer.testing import CliRunner

from prefect_mltrack.cli import app
from prefect_mltrack.client import TrackingClient
from prefect_mltrack.entities import LifecycleStage
from prefect_mltrack.exceptions import MLTrackError
from prefect_mltrack.server.config import ServerConfig

PROXY = "mlflow-artifacts:/"


@dataclass(frozen=True)
class Server:
    """A running tracking server, a client talking to it, and where its data lives."""

    client: TrackingClient
    db_uri: str
    destination: Path

    def files_of(self, run_id: str) -> Path:
        """The local folder behind a run's proxied artifact URI (``<destination>/<exp>/<run>/artifacts``)."""
        artifact_uri = self.client.get_run(run_id).info.artifact_uri or ""
        assert artifact_uri.startswith(PROXY), artifact_uri  # logged through the proxy, not to a local path
        return self.destination / artifact_uri[len(PROXY) :]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    db = tmp_path / "server" / "mltrack.db"
    db.parent.mkdir()
    destination = tmp_path / "artifacts"
    config = ServerConfig(backend_store_uri=f"sqlite:///{db}", artifacts_destination=str(destination))
    with LiveServer(config) as live:
        yield Server(TrackingClient(live.url), f"sqlite:///{db}", destination)


def log_run(server: Server, experiment_id: str, name: str, tmp_path: Path) -> str:
    """A finished run with a param, a metric and one artifact file, all sent through the server."""
    client = server.client
    run_id = client.create_run(experiment_id, run_name=name).info.run_id
    client.log_param(run_id, "alpha", "0.5")
    client.log_metric(run_id, "loss", 0.25, step=3)
    local = tmp_path / f"{name}.txt"
    local.write_text(f"weights of {name}\n")
    client.log_artifact(run_id, local, "outputs")
    client.set_terminated(run_id)
    return run_id


def gc(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["gc", *args])
    # Our own errors must end as a message and an exit code, never as a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_gc_removes_a_deleted_run_and_its_files_under_the_destination(server: Server, tmp_path: Path) -> None:
    client = server.client
    experiment_id = client.create_experiment("nightly")
    gone = log_run(server, experiment_id, "gone", tmp_path)
    kept = log_run(server, experiment_id, "kept", tmp_path)
    gone_files, kept_files = server.files_of(gone), server.files_of(kept)
    assert (gone_files / "outputs" / "gone.txt").read_text() == "weights of gone\n"
    client.delete_run(gone)

    code, output = gc("--tracking-uri", server.db_uri, "--artifacts-destination", str(server.destination))

    assert code == 0, output
    assert "Removed 1 runs and 0 experiments." in output
    with pytest.raises(MLTrackError) as caught:  # the server reads the same database
        client.get_run(gone)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert not gone_files.exists()
    assert not gone_files.parent.exists()  # the emptied <run_id> folder goes too
    # The live run in the same experiment keeps its rows and its files.
    assert (kept_files / "outputs" / "kept.txt").read_text() == "weights of kept\n"
    assert client.get_run(kept).data.params == {"alpha": "0.5"}
    assert [m.value for m in client.get_metric_history(kept, "loss")] == [0.25]
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [kept]


def test_gc_without_the_destination_refuses_and_removes_nothing(server: Server, tmp_path: Path) -> None:
    client = server.client
    run_id = log_run(server, "0", "orphan-to-be", tmp_path)
    files = server.files_of(run_id)
    client.delete_run(run_id)

    code, output = gc("--tracking-uri", server.db_uri)

    assert code == 2, output
    assert f"Run {run_id} keeps its artifacts behind a tracking server" in output
    assert "--artifacts-destination" in output  # says what to pass
    assert "Removed" not in output
    # Nothing went: the run is still there (deleted, restorable) and so are its files.
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert (files / "outputs" / "orphan-to-be.txt").read_text() == "weights of orphan-to-be\n"
    client.restore_run(run_id)
    assert client.get_run(run_id).data.metrics == {"loss": 0.25}
