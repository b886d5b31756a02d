"""`make demo`: train real scikit-learn models on iris and track everything on the embedded store.

A small hyper-parameter sweep: one parent run, one nested run per setting with 5-fold
cross-validation scores logged per fold as a step history, a confusion matrix and a report as
artifacts, then a search that ranks the trials, exactly as an MLflow user would write it.
"""

from __future__ import annotations

import json
import time

from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
from sklearn.model_selection import cross_val_score, train_test_split

import prefect_mltrack as mlflow


def main() -> None:
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    experiment = mlflow.set_experiment("Iris_Classification")
    print(f"Tracking to {mlflow.get_tracking_uri()} (experiment {experiment.name!r}, id {experiment.experiment_id})")

    with mlflow.start_run(run_name=f"sweep-{time.strftime('%H%M%S')}") as sweep:
        mlflow.set_tag("kind", "sweep")
        for n_estimators in (10, 50, 100):
            for max_depth in (2, 5):
                with mlflow.start_run(run_name=f"rf-{n_estimators}-{max_depth}", nested=True):
                    mlflow.log_params({"n_estimators": n_estimators, "max_depth": max_depth, "criterion": "gini"})
                    clf = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=0)
                    for fold, score in enumerate(cross_val_score(clf, X_train, y_train, cv=5), start=1):
                        mlflow.log_metric("cv_accuracy", float(score), step=fold)
                    clf.fit(X_train, y_train)
                    predictions = clf.predict(X_test)
                    mlflow.log_metric("accuracy", accuracy_score(y_test, predictions))
                    mlflow.log_dict(
                        {"confusion_matrix": confusion_matrix(y_test, predictions).tolist()}, "confusion_matrix.json"
                    )
                    mlflow.log_text(classification_report(y_test, predictions), "classification_report.txt")

    best = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{sweep.info.run_id}'",
        order_by=["metrics.accuracy DESC", "params.n_estimators ASC"],
    )
    print("\nTrials, best first:")
    print(
        best[["tags.mlflow.runName", "params.n_estimators", "params.max_depth", "metrics.accuracy"]].to_string(
            index=False
        )
    )
    top = best.iloc[0]
    client = mlflow.MlflowClient()
    history = client.get_metric_history(top["run_id"], "cv_accuracy")
    print(f"\nBest run {top['run_id']}: cv_accuracy per fold {[round(m.value, 3) for m in history]}")
    print("Its artifacts:", json.dumps([f.path for f in client.list_artifacts(top["run_id"])]))
    print("\nBrowse them with:  mltrack runs list --experiment-name Iris_Classification")


if __name__ == "__main__":
    main()
