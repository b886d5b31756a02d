"""The Prefect guide's example (docs/examples/prefect_flow.py), run on the session's Prefect API."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_prefect_guide_example_tracks_a_flow_and_a_sweep() -> None:
    import importlib.util

    import prefect_mltrack as mlflow
    from prefect_mltrack.flow_tracking import run_id_for_flow_run

    spec = importlib.util.spec_from_file_location("prefect_flow_example", EXAMPLES / "prefect_flow.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    state = module.train(max_depth=4, return_state=True)
    run = mlflow.get_run(run_id_for_flow_run(state.state_details.flow_run_id))
    assert run.data.params == {"n_estimators": "100", "max_depth": "4"}
    assert [m.step for m in mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")] == [1, 2, 3]
    state = module.sweep(return_state=True)
    parent = mlflow.get_run(run_id_for_flow_run(state.state_details.flow_run_id))
    trials = mlflow.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'", output_format="list"
    )
    assert sorted(t.data.params["max_depth"] for t in trials) == ["2", "4", "8"]
    assert parent.data.metrics["best_accuracy"] == 0.98
