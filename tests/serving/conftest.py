"""Serving test fixtures: a registry with iris models, built once per test process."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_helpers import FailsOnExample, IrisRegistry  # type: ignore[import-not-found]


@pytest.fixture(scope="session")
def iris_registry(tmp_path_factory: pytest.TempPathFactory) -> IrisRegistry:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    import prefect_mltrack as mlflow
    import prefect_mltrack.pyfunc
    import prefect_mltrack.sklearn
    from prefect_mltrack import fluent, settings

    root: Path = tmp_path_factory.mktemp("serving-store")
    uri = f"sqlite:///{root / 'mltrack.db'}"
    X, y = load_iris(return_X_y=True, as_frame=True)
    v1 = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(X, y)
    v2 = LogisticRegression(max_iter=500).fit(X, y)
    broken = type("Broken", (mlflow.pyfunc.PythonModel,), {"predict": FailsOnExample.predict})()
    with settings.tracking_uri_scope(uri):
        for model in (v1, v2):
            with mlflow.start_run():
                prefect_mltrack.sklearn.log_model(
                    model, name="iris", input_example=X.head(2), registered_model_name="Iris"
                )
        with mlflow.start_run():
            prefect_mltrack.pyfunc.log_model(
                name="broken", python_model=broken, input_example=X.head(1), registered_model_name="Broken"
            )
        mlflow.MlflowClient(uri).set_registered_model_alias("Iris", "champion", "1")
    fluent._reset_for_tests()
    return IrisRegistry(uri, X, v1, v2)
