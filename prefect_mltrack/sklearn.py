"""MLflow's ``mlflow.sklearn`` import path: ``import prefect_mltrack.sklearn``.

Example:
    >>> import prefect_mltrack as mlflow
    >>> import prefect_mltrack.sklearn
    >>> mlflow.sklearn.log_model  # doctest: +ELLIPSIS
    <function log_model at ...>
"""

from prefect_mltrack.models.sklearn import (
    FLAVOR_NAME,
    SERIALIZATION_FORMAT_CLOUDPICKLE,
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_SKOPS,
    SUPPORTED_SERIALIZATION_FORMATS,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)

__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMAT_CLOUDPICKLE",
    "SERIALIZATION_FORMAT_PICKLE",
    "SERIALIZATION_FORMAT_SKOPS",
    "SUPPORTED_SERIALIZATION_FORMATS",
    "get_default_pip_requirements",
    "load_model",
    "log_model",
    "save_model",
]
