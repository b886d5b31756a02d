"""The whole package pointed at a tracking server: ``MLTRACK_TRACKING_URI=http://...`` and nothing else.

Tracking, artifacts, models and the registry all go through the REST store and the artifact proxy;
the test then reads the server's own store to prove everything arrived there, and loads the
model back by every kind of URI a user writes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from live_server import LiveServer, fresh_sql_store

import prefect_mltrack as mlt
from prefect_mltrack.entities import RunStatus
from prefect_mltrack.store.rest import RestStore

sklearn = pytest.importorskip("sklearn")


@pytest.fixture
def server(live_tracking_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    live_tracking_server.swap_store(fresh_sql_store(tmp_path / "server" / "mltrack.db", live_tracking_server.config))
    monkeypatch.setenv("MLTRACK_TRACKING_URI", live_tracking_server.url)
    return live_tracking_server


def test_track_log_register_and_load_through_the_server(server, tmp_path):
    from sklearn.linear_model import LogisticRegression

    import prefect_mltrack.pyfunc
    import prefect_mltrack.sklearn

    X = np.random.RandomState(0).rand(40, 3)
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    clf = LogisticRegression().fit(X, y)
    notes = tmp_path / "notes.txt"
    notes.write_text("trained on synthetic data")

    mlt.set_experiment("through-the-server")
    with mlt.start_run(run_name="fit") as run:
        mlt.log_params({"C": 1.0, "solver": "lbfgs"})
        for step, loss in enumerate([1.0, 0.5, 0.25]):
            mlt.log_metric("loss", loss, step=step)
        mlt.log_metrics({"acc": 0.93, "odd": math.nan})
        mlt.set_tag("team", "vision")
        mlt.log_artifact(str(notes))
        mlt.log_dict({"features": 3}, "config/params.json")
        info = prefect_mltrack.sklearn.log_model(clf, name="model", input_example=X[:2])
    run_id = run.info.run_id

    client = mlt.MlflowClient()
    assert isinstance(client.store, RestStore)
    # What the server's own database now holds.
    stored = server.store.get_run(run_id)
    assert stored.info.status == RunStatus.FINISHED and stored.info.run_name == "fit"
    assert stored.info.artifact_uri == f"mlflow-artifacts:/{stored.info.experiment_id}/{run_id}/artifacts"
    assert stored.data.params == {"C": "1.0", "solver": "lbfgs"}
    assert stored.data.metrics["acc"] == 0.93 and math.isnan(stored.data.metrics["odd"])
    assert stored.data.tags["team"] == "vision"
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [1.0, 0.5, 0.25]
    # The files sit in the server's artifact destination, reached only through the proxy.
    on_server = Path(server.config.artifacts_destination, stored.info.experiment_id, run_id, "artifacts")
    assert (on_server / "notes.txt").read_text() == "trained on synthetic data"
    assert (on_server / "model" / "MLmodel").is_file()
    assert {f.path for f in client.list_artifacts(run_id)} == {"config", "model", "notes.txt"}
    downloaded = Path(client.download_artifacts(run_id, "config", tmp_path / "dl"))
    assert (downloaded / "params.json").read_text().strip().startswith("{")

    version = mlt.register_model(info.model_uri, "iris-remote")
    assert version.version == "1" and version.run_id == run_id
    client.set_registered_model_alias("iris-remote", "champion", "1")
    client.transition_model_version_stage("iris-remote", "1", "Staging")
    assert server.store.get_model_version_by_alias("iris-remote", "champion").version == "1"

    expected = clf.predict(X[:7])
    for uri in ("models:/iris-remote/1", "models:/iris-remote@champion", "models:/iris-remote/Staging",
                f"runs:/{run_id}/model"):  # fmt: skip
        assert list(prefect_mltrack.pyfunc.load_model(uri).predict(X[:7])) == list(expected), uri
    assert list(prefect_mltrack.sklearn.load_model("models:/iris-remote/1").predict(X[:7])) == list(expected)

    found = mlt.search_runs(experiment_names=["through-the-server"])
    assert list(found["run_id"]) == [run_id] and found.loc[0, "metrics.acc"] == 0.93
