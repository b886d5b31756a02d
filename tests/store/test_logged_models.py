"""Store contract: MLflow 3's logged models, run outputs and dataset inputs. Runs on SQLite,
PostgreSQL and through the tracking server (see conftest.store); tests that read SQL rows themselves are
``sql_only``. The 0002 -> 0003 upgrade is in test_logged_models_migration.py.
"""

from __future__ import annotations

import math
import re
import time

import pytest

from prefect_mltrack.entities import Dataset, DatasetInput, InputTag, Metric
from prefect_mltrack.entities.logged_model import (
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    ModelMetric,
    RunOutputs,
)
from prefect_mltrack.exceptions import MLTrackError
from prefect_mltrack.store.base import AbstractStore

INVALID = "INVALID_PARAMETER_VALUE"
MISSING = "RESOURCE_DOES_NOT_EXIST"


def fails(code: str, match: str | None = None):  # type: ignore[no-untyped-def]
    """pytest.raises for an MLTrackError with this error code."""

    class _Check:
        def __enter__(self):  # type: ignore[no-untyped-def]
            self.raises = pytest.raises(MLTrackError, match=match)
            self.info = self.raises.__enter__()
            return self.info

        def __exit__(self, *exc):  # type: ignore[no-untyped-def]
            suppressed = self.raises.__exit__(*exc)
            assert self.info.value.error_code == code, self.info.value
            return suppressed

    return _Check()


def tick() -> None:
    time.sleep(0.003)  # let the millisecond clock move


def dataset(name: str = "iris", digest: str = "d41d8cd9", context: str | None = "training") -> DatasetInput:
    tags = [InputTag(key="mlflow.data.context", value=context)] if context else []
    return DatasetInput(
        dataset=Dataset(
            name=name,
            digest=digest,
            source_type="code",
            source='{"tags": {}}',
            schema='{"mlflow_colspec": [{"type": "double", "name": "x"}]}',
            profile='{"num_rows": 3}',
        ),
        tags=tags,
    )


@pytest.fixture
def store(store):  # type: ignore[no-untyped-def]
    """conftest's store, skipped for a backend that has no logged models yet (they answer
    NOT_IMPLEMENTED through the seam's defaults)."""
    if type(store).create_logged_model is AbstractStore.create_logged_model:
        pytest.skip(f"{type(store).__name__} does not implement logged models yet")
    return store


@pytest.fixture
def run_id(store) -> str:  # type: ignore[no-untyped-def]
    return store.create_run("0", run_name="trainer").info.run_id


# -- create / get ---------------------------------------------------------------------------------


def test_create_and_get_logged_model(store, run_id):
    created = store.create_logged_model(
        "0",
        name="model",
        source_run_id=run_id,
        tags=[LoggedModelTag(key="mlflow.user", value="me")],
        params=[LoggedModelParameter(key="n_estimators", value="10")],
        model_type="sklearn",
    )
    assert re.fullmatch(r"m-[0-9a-f]{32}", created.model_id)
    assert created.status == LoggedModelStatus.PENDING
    assert created.name == "model" and created.experiment_id == "0" and created.source_run_id == run_id
    assert created.model_type == "sklearn"
    root = store.get_experiment("0").artifact_location.rstrip("/")
    assert created.artifact_location == f"{root}/models/{created.model_id}/artifacts"
    assert created.artifact_uri == created.artifact_location
    assert created.model_uri == f"models:/{created.model_id}"
    assert created.tags == {"mlflow.user": "me"} and created.params == {"n_estimators": "10"}
    assert created.metrics == []
    assert created.creation_timestamp == created.last_updated_timestamp > 0
    assert store.get_logged_model(created.model_id) == created


def test_unnamed_model_gets_a_generated_name(store):
    model = store.create_logged_model("0")
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d+", model.name), model.name
    assert model.source_run_id is None and model.model_type is None


def test_each_model_gets_its_own_id(store, run_id):
    ids = {store.create_logged_model("0", "model", run_id).model_id for _ in range(3)}
    assert len(ids) == 3


def test_model_artifacts_follow_the_experiment_location(store):
    experiment_id = store.create_experiment("custom-location", artifact_location="s3://bucket/exp/")
    model = store.create_logged_model(experiment_id, "model")
    assert model.artifact_location == f"s3://bucket/exp/models/{model.model_id}/artifacts"


def test_invalid_model_names(store):
    # Cases loop inside one test: each store costs a fresh database (and a migration on PostgreSQL).
    # Not "": over REST an empty name is an unset one (proto3), and the server generates a name.
    for name in ["   ", "a/b", "a:b", "a.b", "50%", 'say"', "it's", "x" * 501]:
        with fails(INVALID, "Invalid model name"):
            store.create_logged_model("0", name=name)
    assert store.search_logged_models(["0"]) == []


def test_create_needs_an_active_experiment_and_a_known_run(store):
    with fails(MISSING, "No Experiment with id=999"):
        store.create_logged_model("999", "model")
    experiment_id = store.create_experiment("gone")
    store.delete_experiment(experiment_id)
    with fails(INVALID, "active"):
        store.create_logged_model(experiment_id, "model")
    with fails(MISSING, "source_run_id"):
        store.create_logged_model("0", "model", source_run_id="0" * 32)


def test_unknown_model(store):
    with fails(MISSING, "Logged model with ID 'm-nope' not found"):
        store.get_logged_model("m-nope")
    for call in (
        lambda: store.finalize_logged_model("m-nope", LoggedModelStatus.READY),
        lambda: store.delete_logged_model("m-nope"),
        lambda: store.set_logged_model_tags("m-nope", [LoggedModelTag(key="k", value="v")]),
        lambda: store.delete_logged_model_tag("m-nope", "k"),
        lambda: store.log_logged_model_params("m-nope", [LoggedModelParameter(key="k", value="v")]),
    ):
        with fails(MISSING):
            call()


# -- status, delete, tags, params -------------------------------------------------------------------


def test_finalize(store):
    for given, expected in (
        (LoggedModelStatus.READY, LoggedModelStatus.READY),
        ("LOGGED_MODEL_READY", LoggedModelStatus.READY),
        ("LOGGED_MODEL_UPLOAD_FAILED", LoggedModelStatus.FAILED),
        (3, LoggedModelStatus.FAILED),
    ):
        model = store.create_logged_model("0", "model")
        tick()
        finalized = store.finalize_logged_model(model.model_id, given)
        assert finalized.status == expected, given
        assert finalized.last_updated_timestamp > model.last_updated_timestamp
        assert store.get_logged_model(model.model_id).status == expected


def test_finalize_refuses_unknown_statuses(store):
    model = store.create_logged_model("0", "model")
    for status in ("DONE", 7, "LOGGED_MODEL_STATUS_UNSPECIFIED"):
        with fails(INVALID):
            store.finalize_logged_model(model.model_id, status)
    assert store.get_logged_model(model.model_id).status == LoggedModelStatus.PENDING


def test_deleted_model_is_hidden(store, run_id):
    model = store.create_logged_model("0", "model", run_id)
    store.delete_logged_model(model.model_id)
    with fails(MISSING):
        store.get_logged_model(model.model_id)
    assert store.get_logged_model(model.model_id, allow_deleted=True).model_id == model.model_id
    assert store.search_logged_models(["0"]) == []


def test_tags_upsert_and_delete(store):
    model = store.create_logged_model("0", "model", tags=[LoggedModelTag(key="a", value="1")])
    store.set_logged_model_tags(
        model.model_id,
        [LoggedModelTag(key="a", value="2"), LoggedModelTag(key="b", value="x"), LoggedModelTag(key="b", value="y")],
    )
    assert store.get_logged_model(model.model_id).tags == {"a": "2", "b": "y"}
    store.delete_logged_model_tag(model.model_id, "a")
    assert store.get_logged_model(model.model_id).tags == {"b": "y"}
    with fails(MISSING, "No tag with key 'a'"):
        store.delete_logged_model_tag(model.model_id, "a")


def test_registered_versions_tag_holds_long_json(store):
    model = store.create_logged_model("0", "model")
    value = '[{"name": "iris-rf", "version": "1"}]' * 1000  # 37,000 characters: not truncated
    store.set_logged_model_tags(model.model_id, [LoggedModelTag(key="mlflow.modelVersions", value=value)])
    assert store.get_logged_model(model.model_id).tags["mlflow.modelVersions"] == value


def test_invalid_tag_and_param_keys(store):
    model = store.create_logged_model("0", "model")
    with fails(INVALID):
        store.set_logged_model_tags(model.model_id, [LoggedModelTag(key="../up", value="v")])
    with fails(INVALID):
        store.create_logged_model("0", "model", params=[LoggedModelParameter(key="bad key!", value="v")])


def test_params_are_added_and_updated(store):
    model = store.create_logged_model("0", "model", params=[LoggedModelParameter(key="a", value="1")])
    store.log_logged_model_params(
        model.model_id, [LoggedModelParameter(key="a", value="3"), LoggedModelParameter(key="b", value="2")]
    )
    assert store.get_logged_model(model.model_id).params == {"a": "3", "b": "2"}


# -- metrics linked to models -------------------------------------------------------------------------


def test_model_metrics_are_linked_once(store, run_id):
    model = store.create_logged_model("0", "model", run_id)
    points = [
        ModelMetric("acc", 0.9, 1000, 0, run_id, model_id=model.model_id, dataset_name="iris", dataset_digest="d1"),
        ModelMetric("loss", math.nan, 1000, 0, run_id, model_id=model.model_id),
    ]
    store.log_model_metrics(points)
    store.log_model_metrics(points)  # the client re-logs: an exact duplicate is ignored
    got = store.get_logged_model(model.model_id).metrics
    assert [(m.key, m.run_id, m.model_id, m.dataset_name, m.dataset_digest) for m in got] == [
        ("acc", run_id, model.model_id, "iris", "d1"),
        ("loss", run_id, model.model_id, None, None),
    ]
    assert got[0].value == 0.9 and math.isnan(got[1].value)


def test_model_metrics_need_a_known_model(store, run_id):
    with fails(MISSING):
        store.log_model_metrics([ModelMetric("acc", 0.9, 1000, 0, run_id, model_id="m-nope")])
    with fails(INVALID, "model_id"):
        store.log_model_metrics([ModelMetric("acc", 0.9, 1000, 0, run_id)])


def test_relogging_identical_run_metrics_is_harmless(store, run_id):
    """MLflow's log_model re-sends the run's metrics (now carrying model_id) through log-batch."""
    store.log_batch(run_id, metrics=[Metric("acc", 0.9, 1000, 0)])
    store.log_batch(run_id, metrics=[Metric("acc", 0.9, 1000, 0)])
    assert [m.value for m in store.get_metric_history(run_id, "acc")] == [0.9]
    assert store.get_run(run_id).data.metrics == {"acc": 0.9}


# -- search -----------------------------------------------------------------------------------------


@pytest.fixture
def three_models(store, run_id):  # type: ignore[no-untyped-def]
    """m1 (READY, acc .7), m2 (FAILED, acc .9, other run), m3 (PENDING, no acc), created in that order."""
    other_run = store.create_run("0").info.run_id
    made = []
    for name, source, tag, acc in (
        ("alpha", run_id, "x", 0.7),
        ("beta", other_run, "y", 0.9),
        ("gamma", run_id, None, None),
    ):
        tags = [LoggedModelTag(key="team", value=tag)] if tag else []
        model = store.create_logged_model(
            "0", name, source, tags=tags, params=[LoggedModelParameter(key="p", value=name)]
        )
        if acc is not None:
            store.log_model_metrics(
                [ModelMetric("acc", acc, 1000, 0, source, model_id=model.model_id, dataset_name="iris")]
            )
        made.append(model)
        tick()
    store.finalize_logged_model(made[0].model_id, LoggedModelStatus.READY)
    store.finalize_logged_model(made[1].model_id, LoggedModelStatus.FAILED)
    return made


def names(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.name for m in page]


def test_search_default_order_is_newest_first(store, three_models):
    assert names(store.search_logged_models(["0"])) == ["gamma", "beta", "alpha"]


SEARCH_FILTERS = [
    ("name = 'alpha'", ["alpha"]),
    ("attributes.name LIKE '%a'", ["gamma", "beta", "alpha"]),
    ("name IN ('alpha', 'gamma')", ["gamma", "alpha"]),
    ("status = 'READY'", ["alpha"]),
    ("status = 'LOGGED_MODEL_UPLOAD_FAILED'", ["beta"]),
    ("status != 'LOGGED_MODEL_PENDING'", ["beta", "alpha"]),
    ("tags.team = 'x'", ["alpha"]),
    ("tags.team IS NULL", ["gamma"]),
    ("params.p = 'beta'", ["beta"]),
    ("metrics.acc > 0.8", ["beta"]),
    ("metrics.acc >= 0.7 AND tags.team != 'y'", ["alpha"]),
    ("creation_timestamp > 0", ["gamma", "beta", "alpha"]),
    ("creation_time < 0", []),
]


def test_search_filters(store, three_models):
    for filter_string, expected in SEARCH_FILTERS:
        assert names(store.search_logged_models(["0"], filter_string)) == expected, filter_string


def test_search_by_source_run(store, three_models, run_id):
    found = store.search_logged_models(["0"], f"source_run_id = '{run_id}'")
    assert names(found) == ["gamma", "alpha"]


def test_search_by_dataset(store, three_models):
    assert names(store.search_logged_models(["0"], datasets=[{"dataset_name": "iris"}])) == ["beta", "alpha"]
    assert store.search_logged_models(["0"], datasets=[{"dataset_name": "iris", "dataset_digest": "zz"}]) == []
    with fails(INVALID, "dataset_name"):
        store.search_logged_models(["0"], datasets=[{"dataset_digest": "zz"}])


SEARCH_ORDERS = [
    ([{"field_name": "name", "ascending": True}], ["alpha", "beta", "gamma"]),
    (["name DESC"], ["gamma", "beta", "alpha"]),
    ([{"field_name": "creation_timestamp", "ascending": True}], ["alpha", "beta", "gamma"]),
    ([{"field_name": "metrics.acc", "ascending": False}], ["beta", "alpha", "gamma"]),  # missing last
    ([{"field_name": "metrics.acc", "ascending": True}], ["alpha", "beta", "gamma"]),
]


def test_search_order(store, three_models):
    for order_by, expected in SEARCH_ORDERS:
        assert names(store.search_logged_models(["0"], order_by=order_by)) == expected, order_by


def test_search_pages(store, three_models):
    first = store.search_logged_models(["0"], max_results=2)
    assert names(first) == ["gamma", "beta"] and first.token
    second = store.search_logged_models(["0"], max_results=2, page_token=first.token)
    assert names(second) == ["alpha"] and second.token is None


def test_search_is_scoped_to_experiments(store, three_models):
    other = store.create_experiment("elsewhere")
    store.create_logged_model(other, "delta")
    assert names(store.search_logged_models([other])) == ["delta"]
    assert len(store.search_logged_models(["0", other])) == 4
    assert store.search_logged_models([]) == []


def test_search_rejects_bad_filters(store):
    for bad in (
        "nme = 'x'",
        "name = 'a' OR name = 'b'",
        "metrics.acc > 'high'",
        "datasets.name = 'iris'",
        "status = 'DONE'",
    ):
        with fails(INVALID):
            store.search_logged_models(["0"], bad)


def test_search_rejects_bad_order(store):
    with fails(INVALID):
        store.search_logged_models(["0"], order_by=[{"field_name": "params.p"}])
    with fails(INVALID):
        store.search_logged_models(["0"], order_by=["name", "name DESC"])


# -- run outputs ------------------------------------------------------------------------------------


@pytest.mark.sql_only
def test_log_outputs(store, run_id):
    from prefect_mltrack.store.sql.rows import run_outputs_by_run

    first = store.create_logged_model("0", "model", run_id)
    tick()
    second = store.create_logged_model("0", "model", run_id)
    store.log_outputs(run_id, [LoggedModelOutput(model_id=first.model_id, step=0)])
    store.log_outputs(run_id, [LoggedModelOutput(model_id=second.model_id, step=5)])
    store.log_outputs(run_id, [LoggedModelOutput(model_id=first.model_id, step=2)])  # re-logged: step moves
    other = store.create_run("0").info.run_id
    with store.engine.connect() as conn:
        outputs = run_outputs_by_run(conn, [run_id, other])
    assert outputs[run_id] == RunOutputs(
        model_outputs=[
            LoggedModelOutput(model_id=first.model_id, step=2),
            LoggedModelOutput(model_id=second.model_id, step=5),
        ]
    )
    assert outputs[other].model_outputs == []


def test_log_outputs_checks_run_and_model(store, run_id):
    model = store.create_logged_model("0", "model", run_id)
    with fails(MISSING, "Run with id"):
        store.log_outputs("0" * 32, [LoggedModelOutput(model_id=model.model_id)])
    with fails(MISSING, "m-nope"):
        store.log_outputs(run_id, [LoggedModelOutput(model_id="m-nope")])
    store.delete_run(run_id)
    with fails(INVALID, "active"):
        store.log_outputs(run_id, [LoggedModelOutput(model_id=model.model_id)])


# -- dataset inputs ---------------------------------------------------------------------------------


def test_log_inputs_shows_on_the_run(store, run_id):
    store.log_inputs(run_id, [dataset("iris", "aaaa1111"), dataset("wine", "bbbb2222", context=None)])
    inputs = store.get_run(run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("iris", "aaaa1111"), ("wine", "bbbb2222")]
    first = inputs[0]
    assert first.tags == [InputTag(key="mlflow.data.context", value="training")]
    assert first.dataset.source_type == "code" and first.dataset.source == '{"tags": {}}'
    assert first.dataset.schema_ == '{"mlflow_colspec": [{"type": "double", "name": "x"}]}'
    assert first.dataset.profile == '{"num_rows": 3}'
    assert inputs[1].tags == []


def test_relogging_a_dataset_keeps_one_input_and_updates_its_tags(store, run_id):
    store.log_inputs(run_id, [dataset(context="training")])
    store.log_inputs(run_id, [dataset(context="eval")])
    inputs = store.get_run(run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].tags == [InputTag(key="mlflow.data.context", value="eval")]


@pytest.mark.sql_only
def test_one_dataset_row_serves_many_runs(store, run_id):
    other = store.create_run("0").info.run_id
    store.log_inputs(run_id, [dataset()])
    store.log_inputs(other, [dataset(context="eval")])
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM datasets").scalar() == 1
    assert store.get_run(other).inputs.dataset_inputs[0].tags[0].value == "eval"
    assert store.get_run(run_id).inputs.dataset_inputs[0].tags[0].value == "training"


def test_search_runs_carries_each_runs_inputs(store, run_id):
    bare = store.create_run("0").info.run_id
    store.log_inputs(run_id, [dataset("iris", "aaaa1111")])
    by_id = {run.info.run_id: run for run in store.search_runs(["0"])}
    assert [i.dataset.name for i in by_id[run_id].inputs.dataset_inputs] == ["iris"]
    assert by_id[bare].inputs.dataset_inputs == []


@pytest.mark.sql_only
def test_log_inputs_with_models(store, run_id):
    model = store.create_logged_model("0", "model")
    store.log_inputs(run_id, models=[LoggedModelInput(model_id=model.model_id)])
    store.log_inputs(run_id, models=[LoggedModelInput(model_id=model.model_id)])  # idempotent
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM run_model_inputs").scalar() == 1
    with fails(MISSING):
        store.log_inputs(run_id, models=[LoggedModelInput(model_id="m-nope")])


def test_log_inputs_validates_datasets(store, run_id):
    for bad in ({"name": ""}, {"name": "x" * 501}, {"digest": "d" * 37}, {"source_type": ""}):
        fields = {"name": "iris", "digest": "abcd", "source_type": "code", "source": "{}", **bad}
        with fails(INVALID):
            store.log_inputs(run_id, [DatasetInput(dataset=Dataset(**fields))])
    assert store.get_run(run_id).inputs.dataset_inputs == []


def test_log_inputs_needs_an_active_run(store, run_id):
    with fails(MISSING):
        store.log_inputs("0" * 32, [dataset()])
    store.delete_run(run_id)
    with fails(INVALID, "active"):
        store.log_inputs(run_id, [dataset()])


@pytest.mark.sql_only
def test_purging_a_run_drops_its_links_but_keeps_its_model(store, run_id):
    model = store.create_logged_model("0", "model", run_id)
    store.log_outputs(run_id, [LoggedModelOutput(model_id=model.model_id)])
    store.log_inputs(run_id, [dataset()])
    store.delete_run(run_id)
    store.purge_run(run_id)
    with store.engine.connect() as conn:
        for table in ("run_outputs", "dataset_inputs", "dataset_input_tags"):
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0, table
    assert store.get_logged_model(model.model_id).source_run_id == run_id


# -- the seam -----------------------------------------------------------------------------------------


def test_stores_without_logged_models_say_not_implemented():
    bare_store = type("BareStore", (AbstractStore,), {})
    bare_store.__abstractmethods__ = frozenset()  # a store that implements nothing at all
    bare = bare_store()
    with fails("NOT_IMPLEMENTED", "BareStore does not support logged models"):
        bare.get_logged_model("m-1")
    with fails("NOT_IMPLEMENTED"):
        bare.log_inputs("r", [dataset()])


# -- registering a logged model ---------------------------------------------------------------------


def test_a_logged_model_registers_by_its_models_uri(store, run_id):
    """MLflow 3's log_model(registered_model_name=...) registers the source ``models:/m-<id>``."""
    model = store.create_logged_model("0", "model", run_id)
    store.create_registered_model("iris-rf")
    version = store.create_model_version("iris-rf", model.model_uri, run_id=run_id)
    assert version.source == model.model_uri and version.run_id == run_id
    assert store.get_model_version_download_uri("iris-rf", version.version) == model.artifact_location
    with fails(MISSING):
        store.create_model_version("iris-rf", "models:/m-" + "0" * 32)


DATASET_FILTERS = [
    ("datasets.name = 'iris'", {"a", "b"}),
    ("datasets.name IN ('wine')", {"b"}),
    ("datasets.digest = 'bbbb2222'", {"b"}),
    ("datasets.context = 'eval'", {"b"}),
    ("datasets.context LIKE 'train%'", {"a"}),
    ("datasets.name != 'iris'", {"b"}),
]


@pytest.mark.sql_only
def test_run_dataset_clause_selects_runs_by_their_inputs(store):
    """The clause search_runs can use for ``datasets.*`` filters (wired in by store/sql/search.py)."""
    from sqlalchemy import select

    from prefect_mltrack.search import parse_filter
    from prefect_mltrack.store.sql import schema
    from prefect_mltrack.store.sql.logged_model_rows import run_dataset_clause

    ids = {name: store.create_run("0", run_name=name).info.run_id for name in ("a", "b", "c")}
    store.log_inputs(ids["a"], [dataset("iris", "aaaa1111", "training")])
    store.log_inputs(ids["b"], [dataset("iris", "aaaa1111", "eval"), dataset("wine", "bbbb2222", None)])
    for filter_string, expected in DATASET_FILTERS:
        clauses = [run_dataset_clause(c) for c in parse_filter(filter_string, "run")]
        with store.engine.connect() as conn:
            found = set(conn.execute(select(schema.runs.c.name).where(*clauses)).scalars())
        assert found == expected, filter_string
