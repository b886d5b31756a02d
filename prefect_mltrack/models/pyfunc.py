"""The ``python_function`` flavor: one way to load and call any model (``mlflow.pyfunc``).

:func:`load_model` reads ``flavors.python_function.loader_module`` and hands the model directory to
that module's ``_load_pyfunc``. MLflow's module names map to ours (``mlflow.sklearn`` ->
:mod:`prefect_mltrack.models.sklearn`, ``mlflow.pyfunc.model`` ->
:mod:`prefect_mltrack.models.python_model`); other ``mlflow.*`` flavors are not supported here; any
other module is imported (from the model's ``code`` directory if it has one) and its
``_load_pyfunc(data_path)`` called, as MLflow does.

``PyFuncModel.predict`` enforces the signature (see :mod:`prefect_mltrack.models.enforcement`)
before calling the model.

.. warning:: Loading a pickled model runs code from the model's files. Load only models you trust.
"""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path
from typing import Any

from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.models.integrity import add_code_to_path, code_dir, model_file, verify_checksums
from prefect_mltrack.models.mlmodel import Model

__all__ = ["FLAVOR_NAME", "PyFuncModel", "add_to_model", "load_model"]

FLAVOR_NAME = "python_function"
# MLflow's loader modules -> the module here that loads the same files.
LOADER_MODULES = {
    "mlflow.sklearn": "prefect_mltrack.models.sklearn",
    "mlflow.pyfunc.model": "prefect_mltrack.models.python_model",
    "prefect_mltrack.models.sklearn": "prefect_mltrack.models.sklearn",
    "prefect_mltrack.models.python_model": "prefect_mltrack.models.python_model",
}


class PyFuncModel:
    """A loaded model behind MLflow's pyfunc interface: ``predict(data, params=None)``.

    Attributes:
        metadata: the model's :class:`~prefect_mltrack.models.Model` (its MLmodel file).
        model_dir: the local directory the model was loaded from.

    Example:
        >>> model = load_model("runs:/<run_id>/model")            # doctest: +SKIP
        >>> model.predict(pd.DataFrame({"x": [1.0, 2.0]}))          # doctest: +SKIP
    """

    def __init__(self, model_meta: Model, model_impl: Any, model_dir: Path, predict_fn: str = "predict") -> None:
        if not hasattr(model_impl, predict_fn):
            raise InvalidParameterError(f"Model implementation is missing required {predict_fn} method")
        self.metadata = model_meta
        self.model_dir = model_dir
        self._impl = model_impl
        self._predict = getattr(model_impl, predict_fn)
        try:
            self._takes_params = "params" in inspect.signature(self._predict).parameters
        except (TypeError, ValueError):  # builtins without a signature
            self._takes_params = False

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict on a DataFrame, numpy array, dict, list or scalar, after enforcing the signature.

        Raises:
            SchemaEnforcementError: the input or params do not match the model signature
                (error code INVALID_PARAMETER_VALUE); the message names the column and type.
        """
        from prefect_mltrack.models.enforcement import enforce_params, enforce_schema

        input_schema = self.metadata.get_input_schema()
        if input_schema is not None:
            data = enforce_schema(data, input_schema)
        params = enforce_params(params, self.metadata.get_params_schema())
        return self._predict(data, params=params) if self._takes_params else self._predict(data)

    def unwrap_python_model(self) -> Any:
        """The user's ``PythonModel`` instance (only for custom Python models)."""
        unwrap = getattr(self._impl, "unwrap_python_model", None)
        if unwrap is None:
            raise InvalidParameterError("unwrap_python_model() is only for models saved from a PythonModel")
        return unwrap()

    def get_raw_model(self) -> Any:
        """The underlying model object (e.g. the scikit-learn estimator)."""
        raw = getattr(self._impl, "get_raw_model", None)
        return raw() if raw is not None else self.unwrap_python_model()

    @property
    def loader_module(self) -> str | None:
        return self.metadata.flavors.get(FLAVOR_NAME, {}).get("loader_module")

    @property
    def model_config(self) -> dict[str, Any] | None:
        context = getattr(self._impl, "context", None)
        return getattr(context, "model_config", None)

    @property
    def input_example(self) -> Any:
        return self.metadata.load_input_example(self.model_dir)

    def __repr__(self) -> str:
        meta = self.metadata
        info = {"artifact_path": meta.artifact_path, "flavor": self.loader_module, "run_id": meta.run_id}
        lines = [f"  {k}: {v}" for k, v in info.items() if v is not None]
        return "mlflow.pyfunc.loaded_model:\n" + "\n".join(lines)


def load_model(
    model_uri: str | os.PathLike[str],
    suppress_warnings: bool = False,
    dst_path: str | os.PathLike[str] | None = None,
    model_config: dict[str, Any] | None = None,
) -> PyFuncModel:
    """Load any model with a ``python_function`` flavor from a URI or a local directory.

    Args:
        model_uri: ``runs:/<run_id>/<path>``, ``models:/<name>/<version>`` (and stage, alias,
            ``latest``), a local directory or a ``file:`` URI.
        dst_path: Where to download a remote model; local models are read in place.
        model_config: Overrides for the model's ``model_config`` (custom Python models).

    .. warning:: Loading a pickled model runs code from the model's files. Load only models you trust.
    """
    del suppress_warnings
    from prefect_mltrack.models.uris import download_model

    model_dir = download_model(model_uri, dst_path)
    return load_from_dir(model_dir, model_config)


def load_from_dir(model_dir: Path, model_config: dict[str, Any] | None = None) -> PyFuncModel:
    """Load the pyfunc model in a local model directory (no URI resolution)."""
    model = Model.load(model_dir)
    conf = model.flavors.get(FLAVOR_NAME)
    if not isinstance(conf, dict):
        raise InvalidParameterError(
            f"Model at {str(model_dir)!r} has no python_function flavor (it has {sorted(model.flavors)}); "
            "load it with its own flavor's load_model"
        )
    loader = conf.get("loader_module")
    if not isinstance(loader, str) or not loader:
        raise InvalidParameterError("MLmodel flavors.python_function.loader_module is missing")
    target = LOADER_MODULES.get(loader)
    if target is not None:
        module = importlib.import_module(target)
        if target.endswith("python_model"):
            impl = module._load_pyfunc(model_dir, model, model_config)
        else:
            impl = module._load_pyfunc(model_dir, model)
    elif loader == "mlflow" or loader.startswith("mlflow."):
        raise InvalidParameterError(
            f"This model's flavor ({loader}) is not supported by prefect_mltrack, which loads the sklearn flavor "
            "and custom Python models; load it with MLflow"
        )
    else:
        impl = _load_with_module(model_dir, conf, loader)
    return PyFuncModel(model, impl, model_dir)


def _load_with_module(model_dir: Path, conf: dict[str, Any], loader: str) -> Any:
    field = f"flavors.{FLAVOR_NAME}"
    data = conf.get("data") or conf.get("model_path")
    data_path = model_file(model_dir, data, f"{field}.data") if data else model_dir
    code = code_dir(model_dir, conf, field)
    verify_checksums(model_dir)
    add_code_to_path(code)
    return importlib.import_module(loader)._load_pyfunc(str(data_path))


def add_to_model(
    model: Model,
    loader_module: str,
    data: str | None = None,
    code: str | None = None,
    conda_env: str | None = None,
    python_env: str | None = None,
    model_config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Model:
    """Add a ``python_function`` flavor to ``model`` (MLflow's helper for flavor authors)."""
    import platform

    params: dict[str, Any] = {"loader_module": loader_module, "python_version": platform.python_version()}
    if code:
        params["code"] = code
    if data:
        params["data"] = data
    env = {k: v for k, v in (("conda", conda_env), ("virtualenv", python_env)) if v}
    if env:
        params["env"] = env
    if model_config:
        params["model_config"] = model_config
    params.update(kwargs)
    return model.add_flavor(FLAVOR_NAME, **params)
