"""MLflow's ``mlflow.types.schema`` import path (``from prefect_mltrack.types.schema import Schema, ColSpec``)."""

from prefect_mltrack.types import *  # noqa: F403  the same names as the package
from prefect_mltrack.types import __all__ as __all__
