"""Store contract: runs, params, metrics, tags. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import re

import pytest

from prefect_mltrack.entities import LifecycleStage, Metric, Param, RunStatus, RunTag
from prefect_mltrack.exceptions import MLTrackError


def _code(caught: pytest.ExceptionInfo[MLTrackError]) -> str:
    return caught.value.error_code


def test_create_run_defaults(store):
    run = store.create_run("0", user_id="ada", start_time=123)
    assert re.fullmatch(r"[0-9a-f]{32}", run.info.run_id)
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d{1,3}", run.info.run_name)
    assert run.data.tags["mlflow.runName"] == run.info.run_name
    assert run.info.status == RunStatus.RUNNING == "RUNNING"
    assert run.info.start_time == 123 and run.info.end_time is None
    assert run.info.user_id == "ada"
    assert run.info.artifact_uri.endswith(f"/0/{run.info.run_id}/artifacts")


def test_run_name_from_argument_or_tag(store):
    assert store.create_run("0", run_name="named").data.tags["mlflow.runName"] == "named"
    assert store.create_run("0", tags=[RunTag("mlflow.runName", "by-tag")]).info.run_name == "by-tag"
    with pytest.raises(MLTrackError) as caught:
        store.create_run("0", run_name="a", tags=[RunTag("mlflow.runName", "b")])
    assert _code(caught) == "INVALID_PARAMETER_VALUE"


def test_unknown_run(store):
    with pytest.raises(MLTrackError) as caught:
        store.get_run("0" * 32)
    assert _code(caught) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MLTrackError) as caught:
        store.log_batch("0" * 32, metrics=[Metric("m", 1.0, 0, 0)])
    assert _code(caught) == "RESOURCE_DOES_NOT_EXIST"


def test_update_run_info(store):
    run = store.create_run("0", run_name="before")
    info = store.update_run_info(run.info.run_id, RunStatus.FINISHED, end_time=999, run_name="after")
    assert (info.status, info.end_time, info.run_name) == (RunStatus.FINISHED, 999, "after")
    assert store.get_run(run.info.run_id).data.tags["mlflow.runName"] == "after"


def test_delete_restore_and_logging_to_deleted_run(store):
    run_id = store.create_run("0").info.run_id
    store.delete_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(MLTrackError) as caught:
        store.log_batch(run_id, params=[Param("p", "1")])
    assert _code(caught) == "INVALID_PARAMETER_VALUE"
    assert "active" in caught.value.message
    store.restore_run(run_id)
    store.log_batch(run_id, params=[Param("p", "1")])
    assert store.get_run(run_id).data.params == {"p": "1"}


def test_log_batch_writes_everything(store):
    run_id = store.create_run("0").info.run_id
    store.log_batch(
        run_id,
        metrics=[Metric("loss", 0.5, 10, 1), Metric("acc", 0.9, 10, 1)],
        params=[Param("lr", 0.01), Param("depth", 5)],
        tags=[RunTag("team", "vision")],
    )
    data = store.get_run(run_id).data
    assert data.metrics == {"loss": 0.5, "acc": 0.9}
    assert data.params == {"lr": "0.01", "depth": "5"}
    assert data.tags["team"] == "vision"


def test_params_are_immutable(store):
    run_id = store.create_run("0").info.run_id
    store.log_param(run_id, Param("p", "1"))
    store.log_param(run_id, Param("p", "1"))  # same value: a no-op
    with pytest.raises(MLTrackError) as caught:
        store.log_param(run_id, Param("p", "2"))
    assert _code(caught) == "INVALID_PARAMETER_VALUE"
    assert "value='1'" in caught.value.message and "'2'" in caught.value.message
    assert store.get_run(run_id).data.params == {"p": "1"}


def test_failed_batch_writes_nothing(store):
    run_id = store.create_run("0").info.run_id
    store.log_param(run_id, Param("p", "1"))
    with pytest.raises(MLTrackError):
        store.log_batch(
            run_id,
            metrics=[Metric("m", 1.0, 1, 1)],
            params=[Param("q", "new"), Param("p", "changed")],
            tags=[RunTag("t", "v")],
        )
    data = store.get_run(run_id).data
    assert data.metrics == {} and data.params == {"p": "1"} and "t" not in data.tags
    assert store.get_metric_history(run_id, "m") == []


def test_duplicate_param_keys_in_one_batch(store):
    run_id = store.create_run("0").info.run_id
    store.log_batch(run_id, params=[Param("a", "1"), Param("a", "1")])
    with pytest.raises(MLTrackError, match="Duplicate parameter key 'b'"):
        store.log_batch(run_id, params=[Param("b", "1"), Param("b", "2")])


@pytest.mark.parametrize(
    ("n_metrics", "n_params", "n_tags", "message"),
    [
        (1001, 0, 0, "at most 1000 metrics"),
        (0, 101, 0, "at most 100 params. Got 101 params"),
        (0, 0, 101, "at most 100 tags"),
        (900, 100, 1, "1000 metrics, params and tags in total"),
    ],
)
def test_batch_limits(store, n_metrics, n_params, n_tags, message):
    run_id = store.create_run("0").info.run_id
    with pytest.raises(MLTrackError, match=message):
        store.log_batch(
            run_id,
            metrics=[Metric(f"m{i}", 1.0, 1, 0) for i in range(n_metrics)],
            params=[Param(f"p{i}", "v") for i in range(n_params)],
            tags=[RunTag(f"t{i}", "v") for i in range(n_tags)],
        )
    assert store.get_run(run_id).data.metrics == {}


@pytest.mark.parametrize("key", ["", "a" * 251, "bad!char", "../escape", "/abs", "a/../b", "a//b", "./a", "tab\tkey"])
def test_invalid_keys(store, key):
    run_id = store.create_run("0").info.run_id
    for batch in ({"metrics": [Metric(key, 1.0, 1, 0)]}, {"params": [Param(key, "v")]}, {"tags": [RunTag(key, "v")]}):
        with pytest.raises(MLTrackError) as caught:
            store.log_batch(run_id, **batch)
        assert _code(caught) == "INVALID_PARAMETER_VALUE"
        assert "Names may only contain" in caught.value.message


@pytest.mark.parametrize("key", ["loss", "val/acc", "a.b-c_d e:f", "x" * 250])
def test_valid_keys(store, key):
    run_id = store.create_run("0").info.run_id
    store.log_batch(run_id, metrics=[Metric(key, 1.0, 1, 0)], params=[Param(key, "v")])
    assert store.get_run(run_id).data.metrics == {key: 1.0}


@pytest.mark.parametrize("value", ["1.0", None, True])
def test_non_numeric_metric_values(store, value):
    run_id = store.create_run("0").info.run_id
    with pytest.raises(MLTrackError, match="invalid value"):
        store.log_metric(run_id, Metric.model_construct(key="m", value=value, timestamp=1, step=0, run_id=None))


def test_bad_timestamp_and_step(store):
    run_id = store.create_run("0").info.run_id
    with pytest.raises(MLTrackError, match="timestamp"):
        store.log_metric(run_id, Metric.model_construct(key="m", value=1.0, timestamp=-1, step=0, run_id=None))
    with pytest.raises(MLTrackError, match="step"):
        store.log_metric(run_id, Metric.model_construct(key="m", value=1.0, timestamp=1, step=2**63, run_id=None))


def test_special_float_values_round_trip_exactly(store):
    run_id = store.create_run("0").info.run_id
    values = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "negzero": -0.0, "tiny": 5e-324, "big": 1.7e308}
    store.log_batch(run_id, metrics=[Metric(k, v, 1, 0) for k, v in values.items()])
    stored = store.get_run(run_id).data.metrics
    for key, value in values.items():
        got = stored[key]
        if math.isnan(value):
            assert math.isnan(got)
        else:
            assert got == value and math.copysign(1, got) == math.copysign(1, value), key
    history = store.get_metric_history(run_id, "negzero")
    assert math.copysign(1, history[0].value) == -1


def test_latest_value_is_highest_step_then_timestamp(store):
    run_id = store.create_run("0").info.run_id
    store.log_batch(run_id, metrics=[Metric("m", 5.0, 100, 5)])
    store.log_batch(run_id, metrics=[Metric("m", 3.0, 200, 3)])  # later but a lower step
    assert store.get_run(run_id).data.metrics["m"] == 5.0
    store.log_batch(run_id, metrics=[Metric("m", 6.0, 50, 5)])  # same step, older timestamp
    assert store.get_run(run_id).data.metrics["m"] == 5.0
    store.log_batch(run_id, metrics=[Metric("m", 7.0, 300, 5)])
    assert store.get_run(run_id).data.metrics["m"] == 7.0
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 9), Metric("m", 2.0, 1, 8)])  # one batch
    assert store.get_run(run_id).data.metrics["m"] == 1.0


def test_metric_history_keeps_every_point_and_ignores_exact_duplicates(store):
    run_id = store.create_run("0").info.run_id
    points = [Metric("loss", 1.0 / s, 1000 + s, s) for s in range(1, 6)]
    store.log_batch(run_id, metrics=points)
    store.log_batch(run_id, metrics=points[:2])  # exact duplicates
    store.log_batch(run_id, metrics=[Metric("loss", 0.9, 1001, 1)])  # same step, new value
    history = store.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.9), (1, 1.0), (2, 0.5), (3, 1 / 3), (4, 0.25), (5, 0.2)]
    assert all(m.run_id == run_id and m.key == "loss" for m in history)
    assert store.get_metric_history(run_id, "missing") == []


def test_metric_history_pages(store):
    run_id = store.create_run("0").info.run_id
    store.log_batch(run_id, metrics=[Metric("m", float(s), 1, s) for s in range(7)])
    first = store.get_metric_history(run_id, "m", max_results=3)
    second = store.get_metric_history(run_id, "m", max_results=3, page_token=first.token)
    third = store.get_metric_history(run_id, "m", max_results=3, page_token=second.token)
    assert [m.step for m in first + second + third] == list(range(7))
    assert third.token is None


def test_tags_upsert_and_delete(store):
    run_id = store.create_run("0").info.run_id
    store.set_tag(run_id, RunTag("t", "1"))
    store.set_tag(run_id, RunTag("t", "2"))
    assert store.get_run(run_id).data.tags["t"] == "2"
    store.delete_tag(run_id, "t")
    assert "t" not in store.get_run(run_id).data.tags
    with pytest.raises(MLTrackError) as caught:
        store.delete_tag(run_id, "t")
    assert _code(caught) == "RESOURCE_DOES_NOT_EXIST"
    store.set_tag(run_id, RunTag("mlflow.runName", "renamed"))
    assert store.get_run(run_id).info.run_name == "renamed"


def test_long_values_are_truncated_with_a_warning(store):
    run_id = store.create_run("0").info.run_id
    with pytest.warns(UserWarning, match="truncated to 6000"):
        store.log_param(run_id, Param("long", "x" * 7000))
    with pytest.warns(UserWarning, match="truncated to 8000"):
        store.set_tag(run_id, RunTag("long", "y" * 9000))
    data = store.get_run(run_id).data
    assert len(data.params["long"]) == 6000 and len(data.tags["long"]) == 8000


def test_long_values_refused_when_truncation_is_off(store, monkeypatch):
    monkeypatch.setenv("MLTRACK_TRUNCATE_LONG_VALUES", "false")
    run_id = store.create_run("0").info.run_id
    with pytest.raises(MLTrackError, match="limit is 6000"):
        store.log_param(run_id, Param("long", "x" * 6001))
    assert store.get_run(run_id).data.params == {}


def test_unicode_values_round_trip(store):
    run_id = store.create_run("0").info.run_id
    store.log_batch(run_id, params=[Param("name", "Größe 📈 ñ")], tags=[RunTag("note", "日本語\nline")])
    data = store.get_run(run_id).data
    assert data.params["name"] == "Größe 📈 ñ" and data.tags["note"] == "日本語\nline"


def test_sampled_history_keeps_extremes_and_respects_the_window(store):
    run_id = store.create_run("0").info.run_id
    values = [float(i % 7) for i in range(5000)]
    values[1234], values[4321] = 99.0, -99.0
    for start in range(0, 5000, 1000):
        store.log_batch(run_id, metrics=[Metric("m", values[i], i, i) for i in range(start, start + 1000)])
    sampled = store.get_metric_history_sampled(run_id, "m", 100)
    assert 50 <= len(sampled) <= 100
    assert [m.step for m in sampled] == sorted(m.step for m in sampled)
    assert max(m.value for m in sampled) == 99.0 and min(m.value for m in sampled) == -99.0
    window = store.get_metric_history_sampled(run_id, "m", 100, start_step=1000, end_step=1999)
    assert window and all(1000 <= m.step <= 1999 for m in window) and max(m.value for m in window) == 99.0
    # A history that fits is returned exactly.
    exact = store.get_metric_history_sampled(run_id, "m", 100, start_step=10, end_step=59)
    assert [(m.step, m.value) for m in exact] == [(i, values[i]) for i in range(10, 60)]
