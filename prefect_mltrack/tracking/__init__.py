"""MLflow's ``mlflow.tracking`` import path: ``from prefect_mltrack.tracking import MlflowClient``."""

from prefect_mltrack.client import MlflowClient, TrackingClient

__all__ = ["MlflowClient", "TrackingClient"]
