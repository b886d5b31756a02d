"""The official MLflow client against `mltrack server`, unchanged, then what it logged read back by us.

`mlflow_client_scenario.py` runs in MLflow's own virtual environment (`.venv-mlflow`, made by
`make test`) as a separate process: experiments, runs, params, metrics (NaN and infinities), tags,
batches, search, history, artifacts, `mlflow.sklearn.log_model` with MLflow 3's logged-model calls,
registration, stages, aliases and `models:/` loading. The server runs as users start it: the
`mltrack server` command, two workers, a bearer token. Afterwards our package reads the same store,
directly (SQL) and through the server (REST), and must see everything the scenario says it wrote.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_PYTHON = ROOT / ".venv-mlflow" / "bin" / "python"
SCENARIO = Path(__file__).with_name("mlflow_client_scenario.py")
TOKEN = "interop-token"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not MLFLOW_PYTHON.exists():
        pytest.skip("MLflow's virtual environment .venv-mlflow is missing: run `make test` (it creates it)")
    root = tmp_path_factory.mktemp("interop")
    (root / "token").write_text(TOKEN)
    port = _free_port()
    db = f"sqlite:///{root / 'server.db'}"
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect_mltrack", "server", "--port", str(port), "--workers", "2",
         "--backend-store-uri", db, "--artifacts-destination", str(root / "artifacts"),
         "--auth-token-file", str(root / "token")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else "server exited"
            try:
                if httpx.get(f"{url}/health", timeout=2).text == "OK":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mltrack server did not answer /health in 60 s"
            time.sleep(0.1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
        result = subprocess.run(
            [str(MLFLOW_PYTHON), str(SCENARIO), "--tracking-uri", url, "--workdir", str(root / "work"),
             "--token", TOKEN],
            capture_output=True, text=True, timeout=600, env=env, cwd=root,
        )  # fmt: skip
        lines = result.stdout.strip().splitlines()
        assert lines, f"the scenario printed nothing; stderr: {result.stderr[-3000:]}"
        report = json.loads(lines[-1])
        yield {"report": report, "url": url, "db": db, "returncode": result.returncode, "root": root}
    finally:
        server.terminate()
        server.wait(30)


def _wire_float(value: Any) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value, value)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_every_mlflow_client_check_passes(scenario: dict[str, Any]) -> None:
    report = scenario["report"]
    failed = {name: outcome for name, outcome in report["checks"].items() if outcome != "ok"}
    assert not failed, json.dumps(failed, indent=1)
    assert report["ok"] and scenario["returncode"] == 0
    assert len(report["checks"]) >= 30  # the scenario really ran its steps


@pytest.fixture(params=["sql", "rest"])
def client(request: pytest.FixtureRequest, scenario: dict[str, Any], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Our client on the server's own database, and through the server with the token."""
    from prefect_mltrack.client import MlflowClient

    if request.param == "sql":
        return MlflowClient(scenario["db"])
    monkeypatch.setenv("MLTRACK_TRACKING_TOKEN", TOKEN)
    return MlflowClient(scenario["url"])


@pytest.fixture
def rest_client(scenario: dict[str, Any], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Artifacts behind the proxy are reached through the server (the SQL flavour only sees their URIs)."""
    from prefect_mltrack.client import MlflowClient

    monkeypatch.setenv("MLTRACK_TRACKING_TOKEN", TOKEN)
    return MlflowClient(scenario["url"])


def test_runs_params_metrics_and_tags_are_visible_to_our_package(scenario: dict[str, Any], client) -> None:  # type: ignore[no-untyped-def]
    ids, expected = scenario["report"]["ids"], scenario["report"]["expected"]
    run = client.get_run(ids["run_id"])
    assert run.info.run_name == expected["run"]["run_name"] and run.info.status == expected["run"]["status"]
    assert {k: run.data.params[k] for k in expected["params"]} == expected["params"]
    assert {k: run.data.tags[k] for k in expected["tags"]} == expected["tags"]
    for key in expected["deleted_tags"]:
        assert key not in run.data.tags
    for key, value in expected["metrics_latest"].items():
        assert _same(run.data.metrics[key], _wire_float(value)), key
    for key, points in expected["metric_history"].items():
        history = client.get_metric_history(ids["run_id"], key)
        assert [m.step for m in history] == [step for step, _ in points], key
        assert all(_same(m.value, _wire_float(v)) for m, (_, v) in zip(history, points, strict=True)), key
    child = client.get_run(ids["child_run_id"])
    assert child.data.tags["mlflow.parentRunId"] == ids["run_id"]
    assert child.data.metrics == expected["child"]["metrics_latest"]
    batch = client.get_run(ids["batch_run_id"])
    assert len(batch.data.metrics) == expected["log_batch"]["count"]
    assert client.get_run(ids["failed_run_id"]).info.status == "FAILED"


def test_search_gives_what_mlflow_got(scenario: dict[str, Any], client) -> None:  # type: ignore[no-untyped-def]
    ids, expected = scenario["report"]["ids"], scenario["report"]["expected"]
    runs = client.search_runs(
        [ids["experiment_id"]], expected["search"]["filter"], order_by=expected["search"]["order_by"]
    )
    assert [r.info.run_id for r in runs] == expected["search"]["run_ids"]


def test_artifacts_and_datasets_are_readable(scenario: dict[str, Any], rest_client) -> None:  # type: ignore[no-untyped-def]
    client = rest_client
    ids, expected = scenario["report"]["ids"], scenario["report"]["expected"]
    listing = sorted(f.path for f in client.list_artifacts(ids["run_id"]))
    assert set(expected["artifacts"]["root_listing"]) <= set(listing)
    target = scenario["root"] / "download"
    for path, text in expected["artifacts"]["files"].items():
        local = client.download_artifacts(ids["run_id"], path, str(target))
        assert Path(local).read_text() == text, path
    inputs = client.get_run(ids["run_id"]).inputs.dataset_inputs
    dataset = expected["dataset_input"]
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [(dataset["name"], dataset["digest"])]
    assert {t.key: t.value for t in inputs[0].tags} == dataset["tags"]


def test_registry_and_model_loading(scenario: dict[str, Any], rest_client) -> None:  # type: ignore[no-untyped-def]
    client = rest_client
    ids, expected = scenario["report"]["ids"], scenario["report"]["expected"]
    name, registry = ids["model_name"], expected["registry"]
    model = client.get_registered_model(name)
    assert model.aliases == registry["aliases"] and model.tags == registry["model_tags"]
    for version, stage in registry["stages"].items():
        mv = client.get_model_version(name, version)
        assert mv.current_stage == stage and mv.run_id == ids["run_id"]
        assert mv.tags == registry["version_tags"][version]
    # The model MLflow logged (MLflow 3 logged model) loads here and predicts the same.
    import pandas as pd

    import prefect_mltrack as mlflow

    mlflow.set_tracking_uri(client.tracking_uri)
    predictions = expected["predictions"]
    frame = pd.DataFrame(predictions["input_rows"], columns=predictions["input_columns"])
    for uri in (f"models:/{name}@{ids['alias']}", f"models:/{name}/1"):
        assert [int(p) for p in mlflow.pyfunc.load_model(uri).predict(frame)] == predictions["values"], uri
