"""Drive a tracking server with the official MLflow client: every call a user makes, as named checks.

Usage (with an interpreter that has ``mlflow`` and ``scikit-learn``, never ``prefect_mltrack``)::

    python mlflow_client_scenario.py --tracking-uri http://127.0.0.1:5000 --workdir /tmp/scenario [--token T]

The same script runs against ``mlflow server`` and against ``mltrack server``: both must pass every
check. ``--token`` is sent as ``Authorization: Bearer`` (it sets ``MLFLOW_TRACKING_TOKEN``).
``--workdir`` must be writable; downloads and files to upload go there.

The last line on stdout is one JSON document::

    {"ok": true, "checks": {"experiment_set": "ok", ...}, "ids": {...}, "expected": {...},
     "elapsed_s": 12.3, "check_seconds": {...}}

A failed check holds the last lines of its traceback instead of ``"ok"``; later checks still run,
and a check whose input came from a failed one says which. ``ids`` names what was created
(experiments, runs, model, versions); ``expected`` holds the values a reader of the same store must
see (params, latest metrics, metric histories, tags, artifact files, registry state, predictions).
Non-finite floats are written as MLflow writes them on the wire: ``"NaN"``, ``"Infinity"``,
``"-Infinity"``. Exit status 0 only when every check passed.

Example::

    .venv-mlflow/bin/python tests/server/mlflow_client_scenario.py --tracking-uri http://127.0.0.1:5000 \\
        --workdir "$(mktemp -d)" | tail -1 | python -m json.tool
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Set before mlflow is imported: no telemetry, and a failing request fails its check quickly
# instead of being retried with back-off for minutes (the caller's environment wins).
CLIENT_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}
BATCH_METRICS = 1000
LOSS = [1.0, 0.5, 0.25, 0.125, 0.0625]  # logged at steps 0..4
ODD = [math.nan, math.inf, -math.inf]  # logged at steps 0..2; latest (step 2) is -inf
FIXED_TIMESTAMP_MS = 1_700_000_000_000
FLOAT_MAX = sys.float_info.max
SWEEP_ACC = [0.55, 0.95, 0.75, 0.65, 0.85]  # sweep-0..4; metrics.acc > 0.7 keeps 1, 2, 4


def wire(value: float) -> float | str:
    """A float as MLflow's REST JSON writes it (non-finite values as strings)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def same_float(a: float, b: float) -> bool:
    """Equal, NaN equal to NaN; ±inf also equal to ±FLOAT_MAX (what MLflow's SQL store keeps for it)."""
    if math.isinf(b):
        return a == b or a == math.copysign(FLOAT_MAX, b)
    return (math.isnan(a) and math.isnan(b)) or a == b


def expect(condition: bool, message: str) -> None:
    """An assertion that survives ``python -O``."""
    if not condition:
        raise AssertionError(message)


class Scenario:
    """Runs named checks in order, recording "ok" or the end of the traceback for each."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.checks: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.ids: dict[str, Any] = {}
        self.expected: dict[str, Any] = {}
        self.state: dict[str, Any] = {}

    def need(self, key: str) -> Any:
        if key not in self.state:
            raise RuntimeError(f"skipped: an earlier check that provides {key!r} failed")
        return self.state[key]

    def run(self, name: str, fn: Callable[[], None]) -> None:
        started = time.perf_counter()
        try:
            fn()
            self.checks[name] = "ok"
        except Exception as exc:
            lines = traceback.format_exc().strip().splitlines()
            self.checks[name] = " | ".join(line.strip() for line in lines[-4:]) or repr(exc)
            print(f"[scenario] {name} FAILED:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        self.seconds[name] = round(time.perf_counter() - started, 3)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(v == "ok" for v in self.checks.values())


def build_steps(s: Scenario, mlflow: Any) -> list[tuple[str, Callable[[], None]]]:
    """The scenario's checks, in order; they share ``s.state``."""
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag, ViewType
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    client = MlflowClient()
    suffix = uuid.uuid4().hex[:8]
    exp_name, exp2_name = f"scenario-{suffix}", f"scenario-tagged-{suffix}"
    exp2_new_name = f"scenario-renamed-{suffix}"
    model_name = f"scenario-model-{suffix}"
    s.ids.update(experiment_name=exp_name, model_name=model_name)

    # -- experiments -------------------------------------------------------------------------------
    def experiment_set() -> None:
        experiment = mlflow.set_experiment(exp_name)
        expect(experiment.name == exp_name, f"set_experiment returned {experiment.name!r}")
        again = mlflow.set_experiment(exp_name)  # existing: same id, no second experiment
        expect(again.experiment_id == experiment.experiment_id, "set_experiment twice gave two ids")
        s.state["experiment_id"] = s.ids["experiment_id"] = experiment.experiment_id
        s.expected["experiment"] = {"name": exp_name, "lifecycle_stage": "active"}

    def experiment_create_with_tags() -> None:
        tags = {"team": "scenario", "purpose": "interop"}
        experiment_id = client.create_experiment(exp2_name, tags=tags)
        expect(isinstance(experiment_id, str) and experiment_id != "", f"bad experiment id {experiment_id!r}")
        got = client.get_experiment(experiment_id)
        expect(got.name == exp2_name, f"name {got.name!r}")
        expect({k: got.tags.get(k) for k in tags} == tags, f"tags {got.tags}")
        expect(got.artifact_location != "", "empty artifact_location")
        s.state["experiment2_id"] = s.ids["experiment2_id"] = experiment_id
        s.ids["experiment2_name_before_rename"] = exp2_name
        s.expected["experiment2_tags"] = tags

    def experiment_get_by_name() -> None:
        got = client.get_experiment_by_name(exp2_name)
        expect(got is not None and got.experiment_id == s.need("experiment2_id"), f"got {got}")
        missing = client.get_experiment_by_name(f"no-such-experiment-{suffix}")
        expect(missing is None, f"a missing experiment gave {missing}")

    def experiment_search() -> None:
        found = mlflow.search_experiments(filter_string=f"name LIKE '%{suffix}'")
        names = sorted(e.name for e in found)
        expect(names == sorted([exp_name, exp2_name]), f"LIKE search found {names}")
        tagged = client.search_experiments(filter_string="tags.team = 'scenario'")
        expect(s.need("experiment2_id") in {e.experiment_id for e in tagged}, "tag filter missed the experiment")
        ordered = client.search_experiments(filter_string=f"name LIKE '%{suffix}'", order_by=["name DESC"])
        expect([e.name for e in ordered] == sorted(names, reverse=True), "order_by name DESC ignored")

    def experiment_rename() -> None:
        experiment_id = s.need("experiment2_id")
        client.rename_experiment(experiment_id, exp2_new_name)
        expect(client.get_experiment(experiment_id).name == exp2_new_name, "rename not visible")
        expect(client.get_experiment_by_name(exp2_name) is None, "old name still resolves")
        s.ids["experiment2_name"] = exp2_new_name

    def experiment_delete_restore() -> None:
        experiment_id = s.need("experiment2_id")
        client.delete_experiment(experiment_id)
        expect(client.get_experiment(experiment_id).lifecycle_stage == "deleted", "not deleted")
        active = {e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)}
        deleted = {e.experiment_id for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)}
        expect(experiment_id not in active and experiment_id in deleted, "view_type filters wrong after delete")
        client.restore_experiment(experiment_id)
        expect(client.get_experiment(experiment_id).lifecycle_stage == "active", "not restored")
        s.expected["experiment2"] = {"name": exp2_new_name, "lifecycle_stage": "active"}

    # -- the main run: params, metrics, tags, batch, nested child ----------------------------------
    def run_start() -> None:
        mlflow.set_experiment(exp_name)
        run = mlflow.start_run(run_name="scenario-parent")
        expect(run.info.run_name == "scenario-parent", f"run_name {run.info.run_name!r}")
        expect(run.info.status == "RUNNING", f"status {run.info.status}")
        expect(run.info.experiment_id == s.need("experiment_id"), "run in the wrong experiment")
        s.state["run_id"] = s.ids["run_id"] = run.info.run_id

    def run_params() -> None:
        run_id = s.need("run_id")
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"n_estimators": 10, "optimizer": "adam", "empty": ""})
        mlflow.log_param("lr", 0.01)  # the same value again is allowed
        params = client.get_run(run_id).data.params
        expected = {"lr": "0.01", "n_estimators": "10", "optimizer": "adam", "empty": ""}
        expect({k: params.get(k) for k in expected} == expected, f"params {params}")
        s.expected["params"] = expected

    def run_metrics() -> None:
        run_id = s.need("run_id")
        for step, value in enumerate(LOSS):
            mlflow.log_metric("loss", value, step=step)
        for step, value in enumerate(ODD):
            mlflow.log_metric("odd", value, step=step)
        mlflow.log_metric("only_nan", math.nan)
        mlflow.log_metric("fixed_ts", 3.0, step=7, timestamp=FIXED_TIMESTAMP_MS)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=1)
        metrics = client.get_run(run_id).data.metrics
        latest = {"loss": LOSS[-1], "odd": ODD[-1], "only_nan": math.nan, "fixed_ts": 3.0, "acc": 0.9, "f1": 0.8}
        for key, value in latest.items():
            expect(key in metrics and same_float(metrics[key], value), f"{key}: {metrics.get(key)} != {value}")
        s.expected["metrics_latest"] = {k: wire(v) for k, v in latest.items()}
        s.expected["metric_history"] = {
            "loss": [[step, wire(v)] for step, v in enumerate(LOSS)],
            "odd": [[step, wire(v)] for step, v in enumerate(ODD)],
            "only_nan": [[0, "NaN"]],
            "fixed_ts": [[7, 3.0]],
        }
        s.expected["fixed_timestamp_ms"] = {"key": "fixed_ts", "timestamp": FIXED_TIMESTAMP_MS}
        # MLflow's SQL store keeps ±inf as ±1.7976931348623157e308 and answers that finite number.
        s.expected["infinity_may_read_back_as"] = {"Infinity": FLOAT_MAX, "-Infinity": -FLOAT_MAX}

    def run_tags() -> None:
        run_id = s.need("run_id")
        mlflow.set_tag("team", "scenario")
        mlflow.set_tags({"kind": "parent", "to_delete": "x", "unicode": "größe ✓"})
        client.delete_tag(run_id, "to_delete")
        tags = client.get_run(run_id).data.tags
        expected = {"team": "scenario", "kind": "parent", "unicode": "größe ✓"}
        expect({k: tags.get(k) for k in expected} == expected, f"tags {tags}")
        expect("to_delete" not in tags, "delete_tag had no effect")
        expect(tags.get("mlflow.runName") == "scenario-parent", "mlflow.runName tag missing")
        s.expected["tags"] = expected
        s.expected["deleted_tags"] = ["to_delete"]

    def run_log_batch() -> None:
        # A run of its own: MLflow 3's log_model reads the history of every metric of its run
        # (one request per key), so 1000 keys in the model's run would cost ~1000 requests there.
        run_id = client.create_run(s.need("experiment_id"), run_name="scenario-batch").info.run_id
        s.ids["batch_run_id"] = run_id
        timestamp = int(time.time() * 1000)
        metrics = [Metric(f"batch_{j}", j * 0.5, timestamp, 3) for j in range(BATCH_METRICS)]
        client.log_batch(run_id, metrics=metrics, params=[Param("batch_param", "b")], tags=[RunTag("batch_tag", "t")])
        data = client.get_run(run_id).data
        batch = {k: v for k, v in data.metrics.items() if k.startswith("batch_")}
        expect(len(batch) == BATCH_METRICS, f"{len(batch)} batch metrics stored, expected {BATCH_METRICS}")
        expect(batch["batch_999"] == 499.5 and batch["batch_0"] == 0.0, "batch values wrong")
        expect(data.params.get("batch_param") == "b" and data.tags.get("batch_tag") == "t", "batch param/tag lost")
        client.set_terminated(run_id)
        s.expected["log_batch"] = {
            "run_name": "scenario-batch",
            "count": BATCH_METRICS,
            "key_format": "batch_{j}",
            "value": "j * 0.5",
            "step": 3,
            "params": {"batch_param": "b"},
            "tags": {"batch_tag": "t"},
        }

    def run_nested_child() -> None:
        parent_id = s.need("run_id")
        with mlflow.start_run(run_name="scenario-child", nested=True) as child:
            mlflow.log_metric("child_metric", 42.0)
            mlflow.log_param("child_param", "c")
        got = client.get_run(child.info.run_id)
        expect(got.data.tags.get("mlflow.parentRunId") == parent_id, f"parent tag {got.data.tags}")
        expect(got.info.status == "FINISHED" and got.info.end_time is not None, f"child {got.info.status}")
        active = mlflow.active_run()
        expect(active is not None and active.info.run_id == parent_id, "the parent is no longer active")
        s.ids["child_run_id"] = child.info.run_id
        s.expected["child"] = {
            "run_name": "scenario-child",
            "params": {"child_param": "c"},
            "metrics_latest": {"child_metric": 42.0},
            "tags": {"mlflow.parentRunId": parent_id},
            "status": "FINISHED",
        }

    def metric_history() -> None:
        run_id = s.need("run_id")
        loss = client.get_metric_history(run_id, "loss")
        expect([m.step for m in loss] == list(range(len(LOSS))), f"loss steps {[m.step for m in loss]}")
        expect([m.value for m in loss] == LOSS, f"loss values {[m.value for m in loss]}")
        odd = sorted(client.get_metric_history(run_id, "odd"), key=lambda m: m.step)
        expect(len(odd) == 3 and all(same_float(m.value, v) for m, v in zip(odd, ODD, strict=True)), f"odd {odd}")
        fixed = client.get_metric_history(run_id, "fixed_ts")
        expect(len(fixed) == 1 and fixed[0].timestamp == FIXED_TIMESTAMP_MS and fixed[0].step == 7, f"{fixed}")
        expect(client.get_metric_history(run_id, "never_logged") == [], "history of a missing key not empty")

    # -- artifacts ---------------------------------------------------------------------------------
    def artifacts_log() -> None:
        upload = s.workdir / "upload"
        upload.mkdir(exist_ok=True)
        (upload / "hello.txt").write_text("hello artifacts\n")
        (upload / "data.csv").write_text("a,b\n1,2\n")
        mlflow.log_artifact(str(upload / "hello.txt"))
        mlflow.log_artifact(str(upload / "data.csv"), artifact_path="data/raw")
        mlflow.log_text("some notes\n", "notes/readme.txt")
        mlflow.log_dict({"alpha": 1, "nested": {"b": [1, 2]}}, "config/cfg.json")
        mlflow.log_dict({"beta": 2}, "config/cfg.yaml")
        s.expected["artifacts"] = {
            "files": {
                "hello.txt": "hello artifacts\n",
                "data/raw/data.csv": "a,b\n1,2\n",
                "notes/readme.txt": "some notes\n",
                "config/cfg.yaml": "beta: 2\n",
            },
            "dicts": {"config/cfg.json": {"alpha": 1, "nested": {"b": [1, 2]}}},
            "root_listing": sorted(["config", "data", "hello.txt", "notes"]),
            "dirs": ["config", "data", "data/raw", "notes"],
        }

    def artifacts_list() -> None:
        run_id = s.need("run_id")
        root = {f.path: f for f in client.list_artifacts(run_id)}
        expect(sorted(root) == s.expected["artifacts"]["root_listing"], f"root listing {sorted(root)}")
        expect(root["config"].is_dir and not root["hello.txt"].is_dir, "is_dir wrong")
        expect(root["hello.txt"].file_size == len("hello artifacts\n"), f"file_size {root['hello.txt'].file_size}")
        data = [(f.path, f.is_dir) for f in client.list_artifacts(run_id, "data")]
        expect(data == [("data/raw", True)], f"data listing {data}")
        raw = [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, "data/raw")]
        expect(raw == [("data/raw/data.csv", False, 8)], f"data/raw listing {raw}")
        config = sorted(f.path for f in client.list_artifacts(run_id, "config"))
        expect(config == ["config/cfg.json", "config/cfg.yaml"], f"config listing {config}")

    def artifacts_download() -> None:
        run_id = s.need("run_id")
        one = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="hello.txt", dst_path=str(s.workdir / "dl-one")
        )
        expect(Path(one).read_text() == "hello artifacts\n", "downloaded file differs")
        tree = Path(
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data", dst_path=str(s.workdir / "dl"))
        )
        expect((tree / "raw" / "data.csv").read_text() == "a,b\n1,2\n", "downloaded directory differs")
        everything = Path(client.download_artifacts(run_id, "", str(s.workdir / "dl-all")))
        for rel, text in s.expected["artifacts"]["files"].items():
            expect((everything / rel).read_text() == text, f"{rel} differs in the full download")

    def artifacts_load() -> None:
        run_id = s.need("run_id")
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt")
        expect(text == "some notes\n", f"load_text gave {text!r}")
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/config/cfg.yaml")
        expect(text == "beta: 2\n", f"log_dict to YAML gave {text!r}")
        for rel, value in s.expected["artifacts"]["dicts"].items():
            got = mlflow.artifacts.load_dict(f"runs:/{run_id}/{rel}")
            expect(got == value, f"load_dict({rel}) gave {got}")

    # -- dataset input -----------------------------------------------------------------------------
    iris = load_iris(as_frame=True)
    features: pd.DataFrame = iris.data
    target = iris.target

    def log_input() -> None:
        run_id = s.need("run_id")
        frame = features.head(20).assign(target=target.head(20))
        dataset = mlflow.data.from_pandas(frame, name="iris-head", targets="target")
        mlflow.log_input(dataset, context="training", tags={"split": "head"})
        inputs = client.get_run(run_id).inputs.dataset_inputs
        expect(len(inputs) == 1, f"{len(inputs)} dataset inputs")
        got = inputs[0]
        tags = {t.key: t.value for t in got.tags}
        expect(got.dataset.name == "iris-head" and got.dataset.digest == dataset.digest, f"dataset {got.dataset}")
        expect(tags.get("mlflow.data.context") == "training" and tags.get("split") == "head", f"input tags {tags}")
        s.expected["dataset_input"] = {
            "name": "iris-head",
            "digest": dataset.digest,
            "source_type": got.dataset.source_type,
            "context": "training",
            "tags": tags,
        }

    # -- model logging and registration --------------------------------------------------------------
    def log_model() -> None:
        run_id = s.need("run_id")
        from mlflow.models import infer_signature

        clf = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0).fit(features, target)
        sample = features.iloc[[0, 50, 100, 1, 51, 101]]
        signature = infer_signature(features, clf.predict(features))
        # cloudpickle: MLflow 3's default (skops) refuses to load a forest's Tree type unless trusted.
        info = mlflow.sklearn.log_model(
            clf,
            name="model",
            signature=signature,
            input_example=features.head(3),
            registered_model_name=model_name,
            serialization_format="cloudpickle",
            params={"n_estimators": 10, "max_depth": 3},
        )
        expect(info.run_id == run_id, f"model_info.run_id {info.run_id}")
        expect(str(info.registered_model_version) == "1", f"registered version {info.registered_model_version}")
        s.state.update(clf=clf, sample=sample, model_info=info)
        s.ids.update(model_id=info.model_id, model_uri=info.model_uri, model_artifact_path="model")
        s.expected["predictions"] = {
            "input_columns": list(sample.columns),
            "input_rows": sample.to_numpy().tolist(),
            "values": [int(v) for v in clf.predict(sample)],
        }
        s.expected["logged_model"] = {"name": "model", "params": {"n_estimators": "10", "max_depth": "3"}}

    def logged_model_visible() -> None:
        info = s.need("model_info")
        logged = mlflow.get_logged_model(info.model_id)
        expect(logged.status.to_proto() is not None and str(logged.status).endswith("READY"), f"{logged.status}")
        expect(logged.source_run_id == s.need("run_id") and logged.name == "model", f"{logged}")
        # MLflow 3's client copies the run's params into the logged model, next to log_model(params=...).
        wanted = {**s.expected.get("params", {}), "n_estimators": "10", "max_depth": "3"}
        expect(logged.params == wanted, f"logged model params {logged.params} != {wanted}")
        s.expected["logged_model"]["params"] = wanted
        files = sorted(f.path for f in mlflow.artifacts.list_artifacts(f"models:/{info.model_id}"))
        expect("MLmodel" in files, f"logged model files {files}")
        s.expected["logged_model"]["files_include"] = [
            f for f in ("MLmodel", "model.pkl", "input_example.json", "requirements.txt") if f in files
        ]

    def history_after_log_model() -> None:
        # MLflow 3's log_model re-sends the run's points at the model's step (0) with model_id set,
        # through log-batch: a server must not store them twice.
        s.need("model_info")
        run_id = s.need("run_id")
        lengths = {key: len(client.get_metric_history(run_id, key)) for key in ("loss", "odd", "only_nan", "acc")}
        wanted = {"loss": len(LOSS), "odd": len(ODD), "only_nan": 1, "acc": 1}
        expect(lengths == wanted, f"history lengths after log_model {lengths} != {wanted}")
        loss = client.get_metric_history(run_id, "loss")
        expect([m.value for m in sorted(loss, key=lambda m: m.step)] == LOSS, "loss history changed by log_model")

    def register_explicit() -> None:
        run_id = s.need("run_id")
        version = mlflow.register_model(f"runs:/{run_id}/model", model_name)
        expect(version.version == "2" and version.name == model_name, f"version {version.version}")
        expect(version.run_id == run_id, f"run_id {version.run_id}")
        s.state["registered"] = True
        s.ids["model_versions"] = ["1", "2"]

    def transition_stages() -> None:
        s.need("registered")
        client.transition_model_version_stage(model_name, "1", "Production")
        got = client.transition_model_version_stage(model_name, "2", "Production", archive_existing_versions=True)
        expect(got.current_stage == "Production", f"v2 stage {got.current_stage}")
        expect(client.get_model_version(model_name, "1").current_stage == "Archived", "v1 not archived")
        client.transition_model_version_stage(model_name, "1", "Staging")
        stages = {v: client.get_model_version(model_name, v).current_stage for v in ("1", "2")}
        expect(stages == {"1": "Staging", "2": "Production"}, f"stages {stages}")
        s.expected.setdefault("registry", {})["stages"] = stages

    def latest_versions() -> None:
        s.need("registered")
        staging = client.get_latest_versions(model_name, stages=["Staging"])
        expect([v.version for v in staging] == ["1"], f"Staging latest {[v.version for v in staging]}")
        every = {v.current_stage: v.version for v in client.get_latest_versions(model_name)}
        expect(every == {"Staging": "1", "Production": "2"}, f"latest per stage {every}")

    def aliases() -> None:
        s.need("registered")
        client.set_registered_model_alias(model_name, "champion", "2")
        client.set_registered_model_alias(model_name, "challenger", "1")
        got = client.get_model_version_by_alias(model_name, "champion")
        expect(got.version == "2" and "champion" in got.aliases, f"by alias {got.version} {got.aliases}")
        client.delete_registered_model_alias(model_name, "challenger")
        model = client.get_registered_model(model_name)
        expect(model.aliases == {"champion": "2"}, f"aliases {model.aliases}")
        s.expected.setdefault("registry", {})["aliases"] = {"champion": "2"}
        s.ids["alias"] = "champion"

    def registry_tags() -> None:
        s.need("registered")
        client.set_registered_model_tag(model_name, "owner", "scenario")
        client.set_model_version_tag(model_name, "1", "validated", "yes")
        client.set_model_version_tag(model_name, "1", "to_delete", "x")
        client.delete_model_version_tag(model_name, "1", "to_delete")
        client.update_model_version(model_name, "2", description="the champion")
        version = client.get_model_version(model_name, "1")
        expect(version.tags == {"validated": "yes"}, f"version tags {version.tags}")
        expect(client.get_registered_model(model_name).tags.get("owner") == "scenario", "model tag missing")
        expect(client.get_model_version(model_name, "2").description == "the champion", "description lost")
        registry = s.expected.setdefault("registry", {})
        registry.update(
            model_tags={"owner": "scenario"},
            version_tags={"1": {"validated": "yes"}, "2": {}},
            descriptions={"2": "the champion"},
        )

    def registry_search() -> None:
        s.need("registered")
        versions = client.search_model_versions(f"name = '{model_name}'")
        expect(sorted(v.version for v in versions) == ["1", "2"], f"versions {[v.version for v in versions]}")
        expect(all(v.run_id == s.need("run_id") for v in versions), "version run_id wrong")
        models = client.search_registered_models(filter_string=f"name = '{model_name}'")
        expect([m.name for m in models] == [model_name], f"models {[m.name for m in models]}")
        like = client.search_registered_models(filter_string=f"name LIKE 'scenario-model-{suffix}%'")
        expect([m.name for m in like] == [model_name], "LIKE search on registered models failed")
        s.expected.setdefault("registry", {})["versions"] = ["1", "2"]

    def load_models() -> None:
        s.need("registered")
        clf, sample = s.need("clf"), s.need("sample")
        run_id = s.need("run_id")
        wanted = [int(v) for v in clf.predict(sample)]
        uris = [
            f"models:/{model_name}/1",
            f"models:/{model_name}@champion",
            f"models:/{model_name}/Staging",
            f"models:/{model_name}/Production",
            f"runs:/{run_id}/model",
            s.ids["model_uri"],
        ]
        for uri in uris:
            got = [int(v) for v in mlflow.pyfunc.load_model(uri).predict(sample)]
            expect(got == wanted, f"{uri}: predictions {got} != {wanted}")
        native = mlflow.sklearn.load_model(f"models:/{model_name}@champion")
        expect([int(v) for v in native.predict(sample)] == wanted, "sklearn flavor predictions differ")
        s.expected["predictions"]["uris"] = uris

    def run_end() -> None:
        run_id = s.need("run_id")
        mlflow.end_run()
        info = client.get_run(run_id).info
        expect(info.status == "FINISHED" and info.end_time is not None, f"{info.status} {info.end_time}")
        expect(mlflow.active_run() is None, "a run is still active")
        s.expected["run"] = {"run_name": "scenario-parent", "status": "FINISHED", "lifecycle_stage": "active"}

    # -- other runs: failure, sweep, search, delete/restore -------------------------------------------
    def run_failed() -> None:
        try:
            with mlflow.start_run(run_name="scenario-failing") as run:
                mlflow.log_metric("acc", 0.1)
                raise ValueError("training blew up on purpose")
        except ValueError:
            pass
        info = client.get_run(run.info.run_id).info
        expect(info.status == "FAILED" and info.end_time is not None, f"status {info.status}")
        explicit = mlflow.start_run(run_name="scenario-killed")
        mlflow.end_run(status="KILLED")
        expect(client.get_run(explicit.info.run_id).info.status == "KILLED", "end_run(status=KILLED) ignored")
        s.state["failed_run_id"] = run.info.run_id
        s.ids.update(failed_run_id=run.info.run_id, killed_run_id=explicit.info.run_id)
        s.expected["failed_run"] = {"run_name": "scenario-failing", "status": "FAILED", "metrics_latest": {"acc": 0.1}}

    def sweep_runs() -> None:
        experiment_id = s.need("experiment_id")
        ids = []
        for i, acc in enumerate(SWEEP_ACC):
            run = client.create_run(experiment_id, run_name=f"sweep-{i}", tags={"kind": "sweep"})
            client.log_batch(
                run.info.run_id,
                metrics=[Metric("acc", acc, int(time.time() * 1000), 0)],
                params=[Param("i", str(i))],
            )
            client.set_terminated(run.info.run_id)
            ids.append(run.info.run_id)
        s.state["sweep_ids"] = s.ids["sweep_run_ids"] = ids
        s.expected["sweep"] = {"acc": SWEEP_ACC, "run_names": [f"sweep-{i}" for i in range(len(SWEEP_ACC))]}

    def search_runs_pandas() -> None:
        experiment_id, ids = s.need("experiment_id"), s.need("sweep_ids")
        frame = mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string="tags.kind = 'sweep' and metrics.acc > 0.7",
            order_by=["metrics.acc DESC"],
        )
        expect(list(frame["run_id"]) == [ids[1], ids[4], ids[2]], f"filtered order {list(frame['run_id'])}")
        expect(list(frame["metrics.acc"]) == [0.95, 0.85, 0.75], f"acc column {list(frame['metrics.acc'])}")
        for column in ("params.i", "tags.mlflow.runName", "status", "start_time", "experiment_id"):
            expect(column in frame.columns, f"column {column} missing from {list(frame.columns)}")
        expect(list(frame["params.i"]) == ["1", "4", "2"], f"params.i {list(frame['params.i'])}")
        by_name = mlflow.search_runs(experiment_names=[exp_name], filter_string="attributes.run_name = 'sweep-3'")
        expect(list(by_name["run_id"]) == [ids[3]], "search by experiment name and run_name failed")
        s.expected["search"] = {
            "filter": "tags.kind = 'sweep' and metrics.acc > 0.7",
            "order_by": ["metrics.acc DESC"],
            "run_ids": [ids[1], ids[4], ids[2]],
        }

    def search_runs_list() -> None:
        experiment_id, ids = s.need("experiment_id"), s.need("sweep_ids")
        runs = mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string=f"attributes.run_id IN ('{ids[3]}', '{ids[0]}')",
            order_by=["params.i ASC"],
            output_format="list",
        )
        expect([r.info.run_id for r in runs] == [ids[0], ids[3]], f"IN filter {[r.info.run_id for r in runs]}")
        failed = mlflow.search_runs(
            experiment_ids=[experiment_id], filter_string="attributes.status = 'FAILED'", output_format="list"
        )
        failed_ids = [r.info.run_id for r in failed]
        expect(failed_ids == [s.need("failed_run_id")], f"status filter gave {failed_ids}")
        page = client.search_runs([experiment_id], "tags.kind = 'sweep'", max_results=2, order_by=["metrics.acc ASC"])
        expect([r.info.run_id for r in page] == [ids[0], ids[3]], "first page wrong")
        expect(bool(page.token), "no next page token")
        rest = client.search_runs(
            [experiment_id], "tags.kind = 'sweep'", max_results=10, order_by=["metrics.acc ASC"], page_token=page.token
        )
        expect([r.info.run_id for r in rest] == [ids[2], ids[4], ids[1]], "second page wrong")
        like = mlflow.search_runs(
            experiment_ids=[experiment_id], filter_string="attributes.run_name LIKE 'scenario-%'", output_format="list"
        )
        names = sorted(r.info.run_name for r in like)
        expect({"scenario-parent", "scenario-child"} <= set(names), f"LIKE on run_name gave {names}")

    def delete_restore_run() -> None:
        experiment_id, ids = s.need("experiment_id"), s.need("sweep_ids")
        victim = ids[0]
        client.delete_run(victim)
        expect(client.get_run(victim).info.lifecycle_stage == "deleted", "run not deleted")
        active = mlflow.search_runs([experiment_id], "tags.kind = 'sweep'", output_format="list")
        expect(victim not in {r.info.run_id for r in active}, "deleted run still in ACTIVE_ONLY search")
        deleted = mlflow.search_runs(
            [experiment_id], "tags.kind = 'sweep'", run_view_type=ViewType.DELETED_ONLY, output_format="list"
        )
        expect([r.info.run_id for r in deleted] == [victim], "DELETED_ONLY search wrong")
        client.restore_run(victim)
        expect(client.get_run(victim).info.lifecycle_stage == "active", "run not restored")
        s.expected["sweep"]["all_active"] = True

    return [
        ("experiment_set", experiment_set),
        ("experiment_create_with_tags", experiment_create_with_tags),
        ("experiment_get_by_name", experiment_get_by_name),
        ("experiment_search", experiment_search),
        ("experiment_rename", experiment_rename),
        ("experiment_delete_restore", experiment_delete_restore),
        ("run_start", run_start),
        ("run_params", run_params),
        ("run_metrics", run_metrics),
        ("run_tags", run_tags),
        ("run_log_batch_1000", run_log_batch),
        ("run_nested_child", run_nested_child),
        ("metric_history", metric_history),
        ("artifacts_log", artifacts_log),
        ("artifacts_list", artifacts_list),
        ("artifacts_download", artifacts_download),
        ("artifacts_load", artifacts_load),
        ("log_input", log_input),
        ("log_model_registered", log_model),
        ("logged_model_visible", logged_model_visible),
        ("history_after_log_model", history_after_log_model),
        ("register_model_explicit", register_explicit),
        ("transition_stages", transition_stages),
        ("latest_versions", latest_versions),
        ("aliases", aliases),
        ("registry_tags", registry_tags),
        ("registry_search", registry_search),
        ("load_models", load_models),
        ("run_end", run_end),
        ("run_failed", run_failed),
        ("sweep_runs", sweep_runs),
        ("search_runs_pandas", search_runs_pandas),
        ("search_runs_list", search_runs_list),
        ("delete_restore_run", delete_restore_run),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True, help="http://host:port of the server")
    parser.add_argument("--workdir", required=True, type=Path, help="a writable directory for files")
    parser.add_argument("--token", help="bearer token (sets MLFLOW_TRACKING_TOKEN)")
    args = parser.parse_args(argv)
    for name, value in CLIENT_ENV.items():
        os.environ.setdefault(name, value)
    if args.token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = args.token
    args.workdir.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore")  # stage APIs are deprecated; the scenario uses them on purpose
    started = time.perf_counter()

    import mlflow

    mlflow.set_tracking_uri(args.tracking_uri)
    scenario = Scenario(args.workdir.resolve())
    scenario.ids["tracking_uri"] = args.tracking_uri
    scenario.ids["mlflow_version"] = mlflow.__version__
    try:
        for name, step in build_steps(scenario, mlflow):
            scenario.run(name, step)
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run(status="FAILED")
    document = {
        "ok": scenario.ok,
        "checks": scenario.checks,
        "ids": scenario.ids,
        "expected": scenario.expected,
        "elapsed_s": round(time.perf_counter() - started, 3),
        "check_seconds": scenario.seconds,
    }
    print(json.dumps(document, allow_nan=False), flush=True)
    return 0 if scenario.ok else 1


if __name__ == "__main__":
    sys.exit(main())
