"""The server on PostgreSQL (how a team runs it): our client and the artifact proxy through it."""

from __future__ import annotations

from pathlib import Path

from server.conftest import run_server, server_config


def test_server_on_postgresql_tracks_logs_artifacts_and_searches(postgres_uri: str, tmp_path: Path) -> None:
    from prefect_mltrack.client import MlflowClient
    from prefect_mltrack.entities import Metric

    config = server_config(tmp_path, backend_store_uri=postgres_uri, disable_security_middleware=False)
    with run_server(config) as url:
        client = MlflowClient(url)
        experiment_id = client.create_experiment("pg-team")
        assert client.get_experiment(experiment_id).artifact_location == f"mlflow-artifacts:/{experiment_id}"
        run = client.create_run(experiment_id, run_name="on-postgres")
        run_id = run.info.run_id
        client.log_batch(run_id, metrics=[Metric("loss", 1 / (i + 1), i, i) for i in range(50)])
        client.log_param(run_id, "lr", "0.1")
        client.log_text(run_id, "stored behind the proxy", "notes/readme.txt")
        client.set_terminated(run_id)
        found = client.search_runs([experiment_id], "metrics.loss < 0.1 and params.lr = '0.1'")
        assert [r.info.run_id for r in found] == [run_id]
        assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(50))
        assert [f.path for f in client.list_artifacts(run_id, "notes")] == ["notes/readme.txt"]
    stored = tmp_path / "artifacts" / experiment_id / run_id / "artifacts" / "notes" / "readme.txt"
    assert stored.read_text() == "stored behind the proxy"
