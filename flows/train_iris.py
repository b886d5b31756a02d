"""The walkthrough's iris example as a tracked Prefect flow: one flow run, one tracking run.

Run it once:            python flows/train_iris.py
Deploy it (schedule):   prefect deploy --all   (see prefect.yaml beside this file)

The flow's parameters become the run's params; the fitting is a Prefect task whose per-step
metric calls go straight to the flow's run (no task per metric). The model is logged in MLflow's
format and registered as a new version of ``IrisClassifier``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import cross_val_score, train_test_split

import prefect_mltrack as mlflow
from prefect_mltrack.flow_tracking import track
from prefect_mltrack.promotion import register_model_task
from prefect_mltrack.tasks import log_model_task


@task(name="Fit random forest", cache_policy=NO_CACHE)
def fit_random_forest(n_estimators: int, max_depth: int, random_state: int = 42) -> tuple[Any, float, Any]:
    """Fit on iris, log 5-fold CV accuracy per fold and the test accuracy; return (model, accuracy, example)."""
    X, y = load_iris(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=random_state)
    clf = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=random_state)
    for fold, score in enumerate(cross_val_score(clf, X_train, y_train, cv=5), start=1):
        mlflow.log_metric("cv_accuracy", float(score), step=fold)
    clf.fit(X_train, y_train)
    accuracy = float(accuracy_score(y_test, clf.predict(X_test)))
    mlflow.log_metric("accuracy", accuracy)
    mlflow.log_text(f"Model Accuracy: {accuracy}", "output.txt")
    return clf, accuracy, X_train.head(3)


@flow(name="train-iris", log_prints=True)
@track(experiment="Iris_Classification")
def train_iris(n_estimators: int = 100, max_depth: int = 5, registered_model_name: str = "IrisClassifier") -> dict:
    """Train a random forest on iris, log it in MLflow's format and register it (unless the name is empty)."""
    mlflow.set_tag("team", "vision")
    model, accuracy, example = fit_random_forest(n_estimators, max_depth)
    info = log_model_task(model, "iris_model", input_example=example)
    result: dict[str, Any] = {"accuracy": accuracy, "run_id": info.run_id, "model_uri": info.model_uri, "version": None}
    if registered_model_name:
        result["version"] = register_model_task(info.model_uri, registered_model_name).version
    print(f"accuracy={accuracy:.3f} run={info.run_id} registered version={result['version']}")
    return result


if __name__ == "__main__":
    train_iris()
