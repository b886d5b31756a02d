"""Store contract: experiments. Runs on SQLite and PostgreSQL (see conftest.store)."""

from __future__ import annotations

import pytest

from prefect_mltrack.entities import ExperimentTag, LifecycleStage, ViewType
from prefect_mltrack.exceptions import MLTrackError


def test_default_experiment_exists(store):
    default = store.get_experiment("0")
    assert default.name == "Default"
    assert default.lifecycle_stage == LifecycleStage.ACTIVE
    assert default.artifact_location.endswith("/0")


def test_create_get_and_get_by_name(store):
    experiment_id = store.create_experiment("iris", tags=[ExperimentTag("owner", "ml")])
    experiment = store.get_experiment(experiment_id)
    assert experiment.name == "iris"
    assert experiment.tags == {"owner": "ml"}
    assert experiment.artifact_location.endswith(f"/{experiment_id}")
    assert experiment.creation_time == experiment.last_update_time
    assert store.get_experiment_by_name("iris") == experiment
    assert store.get_experiment_by_name("missing") is None


def test_explicit_artifact_location_is_kept(store, tmp_path):
    location = (tmp_path / "elsewhere").as_uri()
    experiment_id = store.create_experiment("placed", artifact_location=location)
    assert store.get_experiment(experiment_id).artifact_location == location
    run = store.create_run(experiment_id)
    assert run.info.artifact_uri == f"{location}/{run.info.run_id}/artifacts"


@pytest.mark.parametrize("experiment_id", ["999", "abc", ""])
def test_unknown_experiment(store, experiment_id):
    with pytest.raises(MLTrackError) as caught:
        store.get_experiment(experiment_id)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_duplicate_name_is_refused_even_when_deleted(store):
    experiment_id = store.create_experiment("dup")
    with pytest.raises(MLTrackError) as caught:
        store.create_experiment("dup")
    assert caught.value.error_code == "RESOURCE_ALREADY_EXISTS"
    store.delete_experiment(experiment_id)
    with pytest.raises(MLTrackError, match="already exists"):
        store.create_experiment("dup")


@pytest.mark.parametrize("name", ["", "   ", "x" * 501, None, 5])
def test_invalid_experiment_names(store, name):
    with pytest.raises(MLTrackError) as caught:
        store.create_experiment(name)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_rename(store):
    experiment_id = store.create_experiment("old")
    store.create_experiment("taken")
    store.rename_experiment(experiment_id, "new")
    assert store.get_experiment(experiment_id).name == "new"
    assert store.get_experiment_by_name("old") is None
    with pytest.raises(MLTrackError) as caught:
        store.rename_experiment(experiment_id, "taken")
    assert caught.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert store.get_experiment(experiment_id).name == "new"


def test_delete_and_restore_take_runs_along(store):
    experiment_id = store.create_experiment("lifecycle")
    run = store.create_run(experiment_id)
    store.delete_experiment(experiment_id)
    assert store.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.DELETED
    assert store.get_run(run.info.run_id).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(MLTrackError, match="non-active experiment"):
        store.create_run(experiment_id)
    store.restore_experiment(experiment_id)
    assert store.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.ACTIVE
    assert store.get_run(run.info.run_id).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_default_experiment_cannot_be_deleted(store):
    with pytest.raises(MLTrackError) as caught:
        store.delete_experiment("0")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_experiment_tags(store):
    experiment_id = store.create_experiment("tagged")
    store.set_experiment_tag(experiment_id, ExperimentTag("a", "1"))
    store.set_experiment_tag(experiment_id, ExperimentTag("a", "2"))
    store.set_experiment_tag(experiment_id, ExperimentTag("b", "x"))
    assert store.get_experiment(experiment_id).tags == {"a": "2", "b": "x"}
    store.delete_experiment_tag(experiment_id, "a")
    assert store.get_experiment(experiment_id).tags == {"b": "x"}
    with pytest.raises(MLTrackError) as caught:
        store.delete_experiment_tag(experiment_id, "a")
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MLTrackError) as caught:
        store.set_experiment_tag(experiment_id, ExperimentTag("bad..key/../x", "v"))
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_experiments_filters_orders_and_pages(store):
    ids = {name: store.create_experiment(name) for name in ("alpha", "beta", "gamma", "Alphabet")}
    store.set_experiment_tag(ids["beta"], ExperimentTag("team", "vision"))
    store.delete_experiment(ids["gamma"])

    names = [e.name for e in store.search_experiments(order_by=["name ASC"])]
    assert names == ["Alphabet", "Default", "alpha", "beta"]
    assert [e.name for e in store.search_experiments(filter_string="name LIKE 'alpha%'")] == ["alpha"]
    assert {e.name for e in store.search_experiments(filter_string="name ILIKE 'alpha%'")} == {"alpha", "Alphabet"}
    assert [e.name for e in store.search_experiments(filter_string="tags.team = 'vision'")] == ["beta"]
    assert [e.name for e in store.search_experiments(view_type=ViewType.DELETED_ONLY)] == ["gamma"]
    assert len(store.search_experiments(view_type=ViewType.ALL)) == 5
    in_filter = f"experiment_id IN ('{ids['alpha']}', '{ids['beta']}')"
    assert {e.name for e in store.search_experiments(filter_string=in_filter)} == {"alpha", "beta"}

    first = store.search_experiments(max_results=3, order_by=["name"])
    assert len(first) == 3 and first.token
    second = store.search_experiments(max_results=3, order_by=["name"], page_token=first.token)
    assert [e.name for e in second] == ["beta"] and second.token is None


def test_search_experiments_rejects_bad_input(store):
    with pytest.raises(MLTrackError) as caught:
        store.search_experiments(filter_string="name = 'a' OR name = 'b'")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MLTrackError):
        store.search_experiments(max_results=0)
