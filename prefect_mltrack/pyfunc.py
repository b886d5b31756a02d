"""MLflow's ``mlflow.pyfunc`` import path: ``import prefect_mltrack.pyfunc``.

Example:
    >>> import prefect_mltrack.pyfunc as pyfunc
    >>> class Echo(pyfunc.PythonModel):
    ...     def predict(self, context, model_input, params=None):
    ...         return model_input
    >>> pyfunc.save_model("/tmp/mltrack-doc-echo", python_model=Echo())  # doctest: +SKIP
    >>> pyfunc.load_model("/tmp/mltrack-doc-echo").predict([1, 2])       # doctest: +SKIP
    [1, 2]
"""

from prefect_mltrack.models.pyfunc import FLAVOR_NAME, PyFuncModel, add_to_model, load_model
from prefect_mltrack.models.python_model import PythonModel, PythonModelContext, log_model, save_model

__all__ = [
    "FLAVOR_NAME",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "add_to_model",
    "load_model",
    "log_model",
    "save_model",
]
