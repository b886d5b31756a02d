"""Store contract: hard deletion of deleted runs and experiments (what `mltrack gc` builds on)."""

from __future__ import annotations

import pytest

from prefect_mltrack.entities import Metric, Param
from prefect_mltrack.exceptions import MLTrackError

# The purge calls are not part of the REST API by design: `mltrack gc` runs where the database is
# (tests/server/test_gc_through_server.py covers gc of a server's runs).
pytestmark = pytest.mark.sql_only


def test_purge_run_removes_everything_it_logged(store):
    keep = store.create_run("0").info.run_id
    gone = store.create_run("0").info.run_id
    for run_id in (keep, gone):
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("p", "1")])
    with pytest.raises(MLTrackError, match="delete it before purging"):
        store.purge_run(gone)
    store.delete_run(gone)
    assert store.deleted_run_ids() == [gone]
    assert store.deleted_run_ids(older_than_ms=3_600_000) == []
    store.purge_run(gone)
    with pytest.raises(MLTrackError) as caught:
        store.get_run(gone)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert store.get_metric_history(keep, "m")[0].value == 1.0
    assert store.get_run(keep).data.params == {"p": "1"}


def test_purged_experiment_frees_its_name(store):
    experiment_id = store.create_experiment("reuse-me")
    run_id = store.create_run(experiment_id).info.run_id
    store.delete_experiment(experiment_id)
    assert store.deleted_experiment_ids() == [experiment_id]
    with pytest.raises(MLTrackError, match="still has runs"):
        store.purge_experiment(experiment_id)
    store.purge_run(run_id)
    store.purge_experiment(experiment_id)
    new_id = store.create_experiment("reuse-me")
    assert store.get_experiment(new_id).name == "reuse-me"
