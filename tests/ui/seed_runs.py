"""Real data for the experiments/runs UI tests: what a user's tracking server would hold.

``seed(server)`` fills a running :class:`UIServer` (see ``conftest.py``) and returns the ids the
tests look for. Bulk runs go straight into the server's SQL store; the featured run's artifacts
and model go through our client over HTTP, the way a training script writes them.

Example:
    ids = seed(ui_server)
    page.goto(ui_server.page_url(f"#/experiments/{ids.experiment_id}"))
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prefect_mltrack.entities import Metric, Param, RunStatus, RunTag

if TYPE_CHECKING:
    from conftest import UIServer

BULK_RUNS = 150
PREFECT_URL = "http://127.0.0.1:4200/runs/flow-run/5d0c6f0e-0000-4000-8000-000000000001"
HTML_ARTIFACT = '<html><body><h1 id="evil">pwned</h1><iframe src="https://example.com"></iframe></body></html>\n'
SVG_ARTIFACT = '<svg xmlns="http://www.w3.org/2000/svg" id="evil-svg" width="10" height="10"><circle r="5"/></svg>\n'


@dataclass
class Seeded:
    """Ids and names the tests refer to."""

    experiment_id: str
    other_experiment_id: str
    featured_run_id: str
    running_run_id: str
    chain: list[str] = field(default_factory=list)
    """featured run -> child -> grandchild -> great-grandchild (run ids, top first)."""
    bulk_acc: dict[str, float] = field(default_factory=dict)
    """run name -> its latest acc, for the bulk runs."""
    model_name: str = "ui-seed-model"


def png_bytes(width: int = 8, height: int = 6) -> bytes:
    """A valid RGB PNG (a red-green gradient) written by hand, no imaging library needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _bulk_runs(server: UIServer, experiment_id: str, base_ms: int) -> dict[str, float]:
    store = server.store
    accs: dict[str, float] = {}
    for i in range(BULK_RUNS):
        name = f"bulk-{i:03d}"
        run = store.create_run(experiment_id, user_id="alice", start_time=base_ms + i * 1000, run_name=name)
        acc = round(((i * 37) % BULK_RUNS) / BULK_RUNS, 4)  # shuffled, so sorting by acc reorders the runs
        accs[name] = acc
        store.log_batch(
            run.info.run_id,
            metrics=[
                Metric(key="acc", value=acc, timestamp=base_ms + i * 1000 + 500, step=0),
                Metric(key="loss", value=1 - acc, timestamp=base_ms + i * 1000 + 500, step=0),
            ],
            params=[Param(key="lr", value=str(0.001 * (i % 5 + 1))), Param(key="depth", value=str(i % 7))],
            tags=[RunTag(key="team", value="vision" if i % 2 else "nlp")],
        )
        store.update_run_info(run.info.run_id, RunStatus.FINISHED, end_time=base_ms + i * 1000 + 900)
    return accs


def _artifacts(server: UIServer, run_id: str, workdir: Path) -> None:
    client = server.client()
    client.log_text(run_id, "epoch 1 loss 0.9\nepoch 2 loss 0.5\n", "logs/train.log")
    client.log_text(run_id, "plain notes about this run\n", "notes.txt")
    client.log_dict(run_id, {"model": {"depth": 3, "kind": "forest"}, "seed": 42}, "config.json")
    client.log_text(run_id, 'name,score\nalpha,0.91\nbeta,0.87\n"gamma, the third",0.5\n', "scores.csv")
    client.log_text(run_id, HTML_ARTIFACT, "report.html")
    client.log_text(run_id, SVG_ARTIFACT, "figure.svg")
    image = workdir / "plot.png"
    image.write_bytes(png_bytes())
    client.log_artifact(run_id, image, "plots")


def _model(server: UIServer, run_id: str, model_name: str) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import prefect_mltrack
    import prefect_mltrack.sklearn

    features = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
    labels = np.array([0, 1, 0, 1])
    prefect_mltrack.set_tracking_uri(server.url)
    try:
        with prefect_mltrack.start_run(run_id=run_id):
            prefect_mltrack.sklearn.log_model(
                LogisticRegression().fit(features, labels), name="model", input_example=features[:2]
            )
    finally:
        prefect_mltrack.set_tracking_uri(None)
    client = server.client()
    client.create_registered_model(model_name)
    client.create_model_version(model_name, f"runs:/{run_id}/model", run_id=run_id)


def seed(server: UIServer, workdir: Path) -> Seeded:
    """Experiments, 150+ runs, a 4-level run tree, a RUNNING run, artifacts and a registered model."""
    client = server.client()
    store = server.store
    experiment_id = client.create_experiment("ui-main")
    other_id = client.create_experiment("ui-other")
    now = int(time.time() * 1000)
    base = now - 3_600_000
    accs = _bulk_runs(server, experiment_id, base)
    for i in range(3):
        run = store.create_run(other_id, user_id="bob", start_time=base + i, run_name=f"other-{i}")
        store.log_batch(run.info.run_id, metrics=[Metric(key="acc", value=0.2 * i, timestamp=base, step=0)])
        store.update_run_info(run.info.run_id, RunStatus.FINISHED, end_time=base + 10)

    featured = store.create_run(experiment_id, user_id="alice", start_time=now - 60_000, run_name="featured-run")
    fid = featured.info.run_id
    store.log_batch(
        fid,
        metrics=[Metric(key="acc", value=0.5 + 0.1 * s, timestamp=now - 60_000 + s * 1000, step=s) for s in range(4)]
        + [Metric(key="val/loss", value=0.4, timestamp=now - 50_000, step=3)],
        params=[Param(key="lr", value="0.01"), Param(key="optimizer", value="adam")],
        tags=[
            RunTag(key="team", value="vision"),
            RunTag(key="prefect.flow_run_url", value=PREFECT_URL),
            RunTag(key="prefect.flow_run_id", value="5d0c6f0e-0000-4000-8000-000000000001"),
        ],
    )
    chain = [fid]
    for depth, name in enumerate(("child-run", "grandchild-run", "great-grandchild-run"), start=1):
        child = store.create_run(
            experiment_id,
            user_id="alice",
            start_time=now - 60_000 + depth * 100,
            run_name=name,
            tags=[RunTag(key="mlflow.parentRunId", value=chain[-1])],
        )
        store.log_batch(child.info.run_id, metrics=[Metric(key="acc", value=0.6, timestamp=now, step=0)])
        store.update_run_info(child.info.run_id, RunStatus.FINISHED, end_time=now - 30_000)
        chain.append(child.info.run_id)
    _artifacts(server, fid, workdir)
    _model(server, fid, Seeded.model_name)
    store.update_run_info(fid, RunStatus.FINISHED, end_time=now - 20_000)

    running = store.create_run(experiment_id, user_id="carol", start_time=now - 10_000, run_name="live-run")
    store.log_batch(running.info.run_id, metrics=[Metric(key="acc", value=0.3, timestamp=now - 5_000, step=0)])
    return Seeded(
        experiment_id=experiment_id,
        other_experiment_id=other_id,
        featured_run_id=fid,
        running_run_id=running.info.run_id,
        chain=chain,
        bulk_acc=accs,
    )


def screenshot_dir() -> Path:
    """Where the UI tests save screenshots: ``docs/img`` when ``MLTRACK_SCREENSHOTS=1`` (``make
    screenshots``), else a scratch folder, so a test run leaves the repository untouched."""
    import os
    import tempfile

    if os.environ.get("MLTRACK_SCREENSHOTS") == "1":
        return Path(__file__).resolve().parents[2] / "docs" / "img"
    return Path(tempfile.gettempdir()) / "mltrack-ui-screenshots"
