"""Store contract for the paths that run on the raw DB-API cursor (history reads, the pages of runs
behind search_runs and get_run, log_batch's rows and latest values). Runs on SQLite and PostgreSQL,
whose drivers take different parameter markers."""

from __future__ import annotations

import math
import random

import pytest

from prefect_mltrack.entities import Metric, Param, RunStatus, RunTag
from prefect_mltrack.exceptions import MLTrackError


def same_float(a: float, b: float) -> bool:
    """Equal, with NaN equal to NaN and -0.0 different from 0.0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def test_history_is_ordered_by_step_timestamp_value_with_special_values_exact(store):
    run_id = store.create_run("0").info.run_id
    expected = [  # (step, timestamp, value) in history order; NaN and -0.0 stored as flagged 0.0
        (0, 5, -math.inf),
        (0, 5, -1.0),
        (0, 5, math.nan),
        (0, 5, 2.5),
        (0, 7, -0.0),
        (1, 1, 0.0),
        (1, 2, math.inf),
        (2, 0, 5e-324),
        (3, 9, 1.7e308),
        (2**40, 2**41, -2.0),
    ]
    shuffled = expected[:]
    random.Random(7).shuffle(shuffled)
    store.log_batch(run_id, metrics=[Metric("m", value, timestamp, step) for step, timestamp, value in shuffled])

    history = store.get_metric_history(run_id, "m")
    assert [(m.step, m.timestamp) for m in history] == [(s, t) for s, t, _ in expected]
    assert all(same_float(m.value, value) for m, (_, _, value) in zip(history, expected, strict=True))
    assert all(type(m) is Metric and m.key == "m" and m.run_id == run_id for m in history)
    assert history[5] == Metric(key="m", value=0.0, timestamp=1, step=1, run_id=run_id)

    pages, token = [], None
    while True:
        page = store.get_metric_history(run_id, "m", max_results=3, page_token=token)
        pages.append(page)
        token = page.token
        if token is None:
            break
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    paged = [m for page in pages for m in page]
    assert all(same_float(a.value, b.value) and a.step == b.step for a, b in zip(paged, history, strict=True))


def test_history_of_unknown_run_or_key(store):
    with pytest.raises(MLTrackError) as caught:
        store.get_metric_history("0" * 32, "m")
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    run_id = store.create_run("0").info.run_id
    assert store.get_metric_history(run_id, "m") == []
    assert store.get_metric_history(run_id, "m", max_results=5).token is None


def _latest_reference(points: list[tuple[str, int, int, float]]) -> dict[str, tuple[int, int, float]]:
    """The rule, applied point by point: replace when (step, timestamp, stored value) is higher,
    where NaN and -0.0 are stored as 0.0."""
    latest: dict[str, tuple[int, int, float]] = {}
    for key, step, timestamp, value in points:
        stored = 0.0 if math.isnan(value) else value + 0.0
        current = latest.get(key)
        if current is None:
            latest[key] = (step, timestamp, value)
            continue
        current_stored = 0.0 if math.isnan(current[2]) else current[2] + 0.0
        if (step, timestamp, stored) > (current[0], current[1], current_stored):
            latest[key] = (step, timestamp, value)
    return latest


def test_latest_values_from_large_batches(store):
    """250 keys x 4 points in one batch (the upsert runs in chunks), ties included, then a second
    batch that only raises some of them."""
    run_id = store.create_run("0").info.run_id
    rng = random.Random(3)
    specials = [math.nan, -0.0, 0.0, math.inf, -math.inf]
    points = []
    for i in range(250):
        for step in range(4):
            value = specials[i % 5] if step == 3 and i % 7 == 0 else rng.choice([0.5, 1.5, 2.5])
            timestamp = 100 if i % 3 == 0 else 100 + step  # every third key: ties on (step, timestamp)
            points.append((f"k{i}", step % 2 if i % 11 == 0 else step, timestamp, value))
    rng.shuffle(points)
    store.log_batch(run_id, metrics=[Metric(k, value, ts, step) for k, step, ts, value in points])
    later = [(f"k{i}", 3 if i % 2 else 9, 200, float(i)) for i in range(0, 250, 5)]
    store.log_batch(run_id, metrics=[Metric(k, value, ts, step) for k, step, ts, value in later])

    expected = _latest_reference(points + later)
    got = store.get_run(run_id).data.metrics
    assert set(got) == set(expected)
    for key, (_, _, value) in expected.items():
        assert same_float(got[key], value), (key, got[key], value)


def test_latest_value_on_a_tie_is_the_first_logged(store):
    """NaN, -0.0 and 0.0 are all stored as 0.0, so at one (step, timestamp) they tie: the first
    point logged stays the latest, within one batch as across batches."""
    run_id = store.create_run("0").info.run_id
    store.log_batch(
        run_id,
        metrics=[
            *(Metric("a", value, 5, 1) for value in (math.nan, -0.0, 0.0)),
            *(Metric("b", value, 5, 1) for value in (-0.0, math.nan, 0.0)),
            *(Metric("c", value, 5, 1) for value in (0.0, -0.0)),
        ],
    )
    store.log_batch(run_id, metrics=[Metric("c", math.nan, 5, 1)])
    got = store.get_run(run_id).data.metrics
    assert math.isnan(got["a"]) and same_float(got["b"], -0.0) and same_float(got["c"], 0.0)


def test_failed_metric_in_a_large_batch_writes_nothing(store):
    run_id = store.create_run("0").info.run_id
    good = [Metric(f"k{i}", float(i), 1, 0) for i in range(500)]
    bad = Metric.model_construct(key="k500", value="x", timestamp=1, step=0, run_id=None)
    with pytest.raises(MLTrackError, match="invalid value"):
        store.log_batch(run_id, metrics=[*good, bad])
    assert store.get_run(run_id).data.metrics == {}
    assert store.get_metric_history(run_id, "k0") == []


def test_metric_values_are_checked_even_for_known_keys(store):
    run_id = store.create_run("0").info.run_id
    store.log_batch(run_id, metrics=[Metric("known", 1.0, 1, 0)])
    for bad in (
        Metric.model_construct(key="known", value=True, timestamp=1, step=0, run_id=None),
        Metric.model_construct(key="known", value=1.0, timestamp=-1, step=0, run_id=None),
        Metric.model_construct(key="known", value=1.0, timestamp=True, step=0, run_id=None),
        Metric.model_construct(key="known", value=1.0, timestamp=1, step=2**63, run_id=None),
        Metric.model_construct(key="known", value=1.0, timestamp=1, step=1.0, run_id=None),
        Metric.model_construct(key=5, value=1.0, timestamp=1, step=0, run_id=None),
    ):
        with pytest.raises(MLTrackError) as caught:
            store.log_batch(run_id, metrics=[bad])
        assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    store.log_batch(run_id, metrics=[Metric.model_construct(key="known", value=7, timestamp=2, step=1, run_id=None)])
    history = store.get_metric_history(run_id, "known")
    assert [(m.value, type(m.value)) for m in history] == [(1.0, float), (7.0, float)]


def test_pages_of_runs_read_back_in_chunks(store, monkeypatch):
    """get_run and search_runs read params, tags and latest metrics ``IN (...)`` chunks of ids;
    a chunk of 2 makes five runs span three."""
    monkeypatch.setattr("prefect_mltrack.store.sql.rows._IN_CHUNK", 2)
    experiment_id = store.create_experiment("chunks")
    values = [math.nan, -0.0, math.inf, 0.25, -3.0]
    ids = []
    for i, value in enumerate(values):
        run_id = store.create_run(experiment_id, start_time=1000 + i, run_name=f"r{i}").info.run_id
        store.log_batch(
            run_id,
            metrics=[Metric("m", value, 1, 0), Metric(f"only{i}", float(i), 1, 0)],
            params=[Param("p", str(i)), Param("unicode", "Größe 📈")],
            tags=[RunTag("t", f"tag-{i}")],
        )
        ids.append(run_id)
    store.update_run_info(ids[1], RunStatus.FINISHED, end_time=2000)

    found = store.search_runs([experiment_id], max_results=10)
    assert [run.info.run_id for run in found] == ids[::-1]  # newest first
    for run in found:
        i = ids.index(run.info.run_id)
        assert run.info.run_name == f"r{i}" and run.info.experiment_id == experiment_id
        assert run.data.params == {"p": str(i), "unicode": "Größe 📈"}
        assert run.data.tags["t"] == f"tag-{i}" and run.data.tags["mlflow.runName"] == f"r{i}"
        assert set(run.data.metrics) == {"m", f"only{i}"}
        assert same_float(run.data.metrics["m"], values[i])
        again = store.get_run(run.info.run_id)
        assert again.info == run.info and again.data.params == run.data.params and again.data.tags == run.data.tags
    finished = found[3].info
    assert finished.status == RunStatus.FINISHED and isinstance(finished.status, RunStatus)
    assert (finished.end_time, finished.start_time) == (2000, 1001)
    assert found[0].info.status is RunStatus.RUNNING and found[0].info.end_time is None
