"""Store contract: search_runs filters, ordering and paging, compiled to SQL on both backends."""

from __future__ import annotations

import math

import pytest

from prefect_mltrack.entities import Metric, Param, RunStatus, RunTag, ViewType
from prefect_mltrack.exceptions import MalformedFilterError, MLTrackError


@pytest.fixture
def runs(store):
    """Five runs in one experiment with varied metrics, params and tags; returns {name: run_id}."""
    experiment_id = store.create_experiment("search")
    table = {
        "r1": ({"acc": 0.9, "loss": 0.3}, {"model": "RandomForest", "depth": "5"}, {"team": "vision"}),
        "r2": ({"acc": 0.7}, {"model": "randomforest", "depth": "3"}, {"team": "nlp"}),
        "r3": ({"acc": math.nan}, {"model": "svm"}, {}),
        "r4": ({"acc": 0.95, "loss": 0.1}, {"model": "svm", "depth": "5"}, {"team": "vision"}),
        "r5": ({}, {}, {"team": "infra"}),
    }
    ids = {}
    for start, (name, (metrics, params, tags)) in enumerate(table.items()):
        run = store.create_run(experiment_id, start_time=1000 + start, run_name=name)
        store.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, 1, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        ids[name] = run.info.run_id
    store.update_run_info(ids["r2"], RunStatus.FINISHED, end_time=5000)
    return experiment_id, ids


def names(found) -> list[str]:
    return [run.info.run_name for run in found]


def search(store, runs, filter_string="", **kwargs) -> list[str]:
    experiment_id, _ = runs
    return names(store.search_runs([experiment_id], filter_string, **kwargs))


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc > 0.8", {"r1", "r4"}),
        ("metrics.acc >= 0.9", {"r1", "r4"}),
        ("metrics.acc < 0.9", {"r2"}),
        ("metrics.acc <= 0.7", {"r2"}),
        ("metrics.acc = 0.95", {"r4"}),
        ("metrics.acc != 0.95", {"r1", "r2", "r3"}),
        ("metrics.loss < 1 and metrics.acc > 0.92", {"r4"}),
        ("params.model = 'svm'", {"r3", "r4"}),
        ("params.model != 'svm'", {"r1", "r2"}),
        ("params.model LIKE 'Random%'", {"r1"}),
        ("params.model ILIKE 'random%'", {"r1", "r2"}),
        ("params.depth IS NULL", {"r3", "r5"}),
        ("params.depth IS NOT NULL", {"r1", "r2", "r4"}),
        ("tags.team = 'vision' and params.depth = '5'", {"r1", "r4"}),
        ("tags.team IS NULL", {"r3"}),
        ("tags.`mlflow.runName` = 'r2'", {"r2"}),
        ("tags.mlflow.runName LIKE 'r_'", {"r1", "r2", "r3", "r4", "r5"}),
        ("attributes.run_name = 'r3'", {"r3"}),
        ("run_name ILIKE 'R1'", {"r1"}),
        ("attributes.status = 'FINISHED'", {"r2"}),
        ("attributes.start_time >= 1003", {"r4", "r5"}),
        ("attributes.end_time > 0", {"r2"}),
        ("", {"r1", "r2", "r3", "r4", "r5"}),
    ],
)
def test_filters(store, runs, filter_string, expected):
    assert set(search(store, runs, filter_string)) == expected


def test_run_id_in_and_not_in(store, runs):
    _, ids = runs
    assert set(search(store, runs, f"attributes.run_id IN ('{ids['r1']}', '{ids['r5']}')")) == {"r1", "r5"}
    assert set(search(store, runs, f"run_id NOT IN ('{ids['r1']}')")) == {"r2", "r3", "r4", "r5"}


def test_default_order_is_newest_first(store, runs):
    assert search(store, runs) == ["r5", "r4", "r3", "r2", "r1"]


def test_order_by_metric_puts_nan_then_missing_last(store, runs):
    assert search(store, runs, order_by=["metrics.acc DESC"]) == ["r4", "r1", "r2", "r3", "r5"]
    assert search(store, runs, order_by=["metrics.acc ASC"]) == ["r2", "r1", "r4", "r3", "r5"]


def test_order_by_several_keys(store, runs):
    assert search(store, runs, order_by=["tags.team ASC", "metrics.acc DESC"]) == ["r5", "r2", "r4", "r1", "r3"]
    assert search(store, runs, order_by=["params.depth DESC", "attributes.start_time ASC"])[:3] == ["r1", "r4", "r2"]
    assert search(store, runs, order_by=["attributes.run_name DESC"]) == ["r5", "r4", "r3", "r2", "r1"]


def test_paging_visits_every_run_once(store, runs):
    experiment_id, _ = runs
    seen, token = [], None
    while True:
        page = store.search_runs([experiment_id], "", max_results=2, order_by=["metrics.acc DESC"], page_token=token)
        seen += names(page)
        token = page.token
        if not token:
            break
    assert seen == ["r4", "r1", "r2", "r3", "r5"]


def test_view_types(store, runs):
    _, ids = runs
    store.delete_run(ids["r3"])
    assert "r3" not in search(store, runs)
    assert search(store, runs, run_view_type=ViewType.DELETED_ONLY) == ["r3"]
    assert len(search(store, runs, run_view_type=ViewType.ALL)) == 5


def test_search_across_experiments(store, runs):
    experiment_id, _ = runs
    other = store.create_experiment("other")
    store.create_run(other, run_name="elsewhere")
    assert len(store.search_runs([experiment_id, other])) == 6
    assert store.search_runs(["999"]) == []


@pytest.mark.parametrize(
    ("filter_string", "fragment"),
    [
        ("metrics.acc > 0.5 OR metrics.acc < 0.1", "Invalid clause(s) in filter string: 'OR'"),
        ("metrics.acc >> 1", "'>>'"),
        ("params.model = svm", "svm"),
        ("metrics.acc > 'high'", "'high'"),
        ("attributes.status IN ('FINISHED')", "IN"),
        ("params.x = 'unterminated", "unterminated"),
        ("nonsense.key = 'x'", "nonsense"),
    ],
)
def test_malformed_filters_point_at_the_token(store, runs, filter_string, fragment):
    experiment_id, _ = runs
    with pytest.raises(MalformedFilterError) as caught:
        store.search_runs([experiment_id], filter_string)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert fragment in caught.value.message
    assert caught.value.position is not None


def test_bad_order_by_and_max_results(store, runs):
    experiment_id, _ = runs
    with pytest.raises(MLTrackError, match="duplicate"):
        store.search_runs([experiment_id], order_by=["metrics.acc", "metrics.acc DESC"])
    with pytest.raises(MLTrackError, match="max_results"):
        store.search_runs([experiment_id], max_results=50_001)
    with pytest.raises(MLTrackError, match="page token"):
        store.search_runs([experiment_id], page_token="not-a-token")


def test_filter_values_are_bound_not_interpolated(store, runs):
    """A value that looks like SQL is compared as a plain string."""
    assert search(store, runs, "params.model = \"svm' OR '1'='1\"") == []
    assert search(store, runs, 'tags.team = "vision\'; DROP TABLE runs; --"') == []
    assert len(search(store, runs)) == 5
