"""The ``sklearn`` flavor: scikit-learn estimators saved as MLflow saves them (``mlflow.sklearn``).

Files: ``model.pkl`` (``cloudpickle``, the default here, or ``pickle``) or ``model.skops``
(``skops``, needs ``pip install skops``). The ``python_function`` flavor names
``loader_module: mlflow.sklearn`` so MLflow loads our directories; we map that name back to
this module.

.. warning:: A pickled model runs arbitrary code when it is loaded. Load only models you trust.
   skops limits loading to known types, but its trusted-type list is read from the model's own
   MLmodel file, so it is no protection against a crafted model either.

Example:
    >>> import prefect_mltrack.sklearn                      # doctest: +SKIP
    >>> info = prefect_mltrack.sklearn.log_model(clf, "model", input_example=X[:5])  # doctest: +SKIP
    >>> prefect_mltrack.sklearn.load_model(info.model_uri).predict(X)              # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError
from prefect_mltrack.models.environment import CONDA_ENV_FILE, PYTHON_ENV_FILE
from prefect_mltrack.models.integrity import add_code_to_path, code_dir, copy_code_paths, model_file, verify_checksums
from prefect_mltrack.models.mlmodel import Model, ModelInfo
from prefect_mltrack.models.signature import ModelSignature

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

logger = logging.getLogger(__name__)

FLAVOR_NAME = "sklearn"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"
SERIALIZATION_FORMAT_SKOPS = "skops"
SUPPORTED_SERIALIZATION_FORMATS = [
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_CLOUDPICKLE,
    SERIALIZATION_FORMAT_SKOPS,
]
# The loader module MLflow imports for our directories; ours is mapped from it.
MLFLOW_LOADER_MODULE = "mlflow.sklearn"
_PICKLE_FILE = "model.pkl"
_SKOPS_FILE = "model.skops"
_SKOPS_MISSING = (
    "This model is saved in the skops format, and skops is not installed: run `pip install skops` "
    "(skops is optional for prefect_mltrack; cloudpickle models load without it)"
)


def get_default_pip_requirements(include_cloudpickle: bool = False, include_skops: bool = False) -> list[str]:
    """Packages a sklearn model needs to load (pinned later to the installed versions)."""
    names = ["scikit-learn", "numpy", "scipy", "pandas"]
    if include_cloudpickle:
        names.append("cloudpickle")
    if include_skops:
        names.append("skops")
    return names


def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    mlflow_model: Model | None = None,
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    skops_trusted_types: Sequence[str] | None = None,
) -> None:
    """Save a scikit-learn model as an MLflow model directory at ``path`` (which must not exist or be empty).

    With ``input_example`` and no ``signature``, the signature is inferred from the example and the
    model's prediction on it. ``signature=False`` saves none.
    """
    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise InvalidParameterError(
            f"Unrecognized serialization format {serialization_format!r}; use one of {SUPPORTED_SERIALIZATION_FORMATS}"
        )
    if not hasattr(sk_model, pyfunc_predict_fn):
        raise InvalidParameterError(f"The model has no {pyfunc_predict_fn!r} method to use as pyfunc_predict_fn")
    from prefect_mltrack.models import saving

    model_dir = saving.new_model_dir(path)
    model = mlflow_model if mlflow_model is not None else Model()
    code = copy_code_paths(code_paths, model_dir)
    file_name = _SKOPS_FILE if serialization_format == SERIALIZATION_FORMAT_SKOPS else _PICKLE_FILE
    _dump(sk_model, model_dir / file_name, serialization_format, skops_trusted_types)
    wrapper = _SklearnModelWrapper(sk_model, pyfunc_predict_fn)
    saving.add_example_and_signature(model, model_dir, input_example, signature, wrapper.predict)
    if metadata is not None:
        model.metadata = metadata
    import platform

    import sklearn

    model.add_flavor(
        "python_function",
        loader_module=MLFLOW_LOADER_MODULE,
        model_path=file_name,
        predict_fn=pyfunc_predict_fn,
        python_version=platform.python_version(),
        env={"conda": CONDA_ENV_FILE, "virtualenv": PYTHON_ENV_FILE},
        code=code,
    )
    model.add_flavor(
        FLAVOR_NAME,
        pickled_model=file_name,
        sklearn_version=sklearn.__version__,
        serialization_format=serialization_format,
        code=code,
        skops_trusted_types=list(skops_trusted_types) if skops_trusted_types else None,
    )
    defaults = get_default_pip_requirements(
        include_cloudpickle=serialization_format == SERIALIZATION_FORMAT_CLOUDPICKLE,
        include_skops=serialization_format == SERIALIZATION_FORMAT_SKOPS,
    )
    pickles = [] if serialization_format == SERIALIZATION_FORMAT_SKOPS else [model_dir / file_name]
    saving.finish(
        model,
        model_dir,
        requirements=defaults,
        pickles=pickles,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        conda_env=conda_env,
    )


def log_model(
    sk_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    registered_model_name: str | None = None,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    skops_trusted_types: Sequence[str] | None = None,
    name: str | None = None,
) -> ModelInfo:
    """Save a scikit-learn model into the active run's artifacts (starting a run if none is active).

    Returns:
        A :class:`ModelInfo`; ``model_info.model_uri`` is ``runs:/<run_id>/<artifact_path>``.

    Example:
        >>> with prefect_mltrack.start_run():                                  # doctest: +SKIP
        ...     info = prefect_mltrack.sklearn.log_model(clf, name="iris_model", input_example=X[:3])
    """
    del await_registration_for  # registration here is synchronous
    from prefect_mltrack.models import saving

    return saving.log_model(
        save_model,
        artifact_path=artifact_path,
        name=name,
        registered_model_name=registered_model_name,
        sk_model=sk_model,
        conda_env=conda_env,
        code_paths=code_paths,
        serialization_format=serialization_format,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        pyfunc_predict_fn=pyfunc_predict_fn,
        metadata=metadata,
        skops_trusted_types=skops_trusted_types,
    )


def load_model(model_uri: str, dst_path: str | os.PathLike[str] | None = None) -> Any:
    """Load the scikit-learn estimator from a ``runs:/`` / ``models:/`` URI or a local model directory.

    .. warning:: Loading a pickled model runs code from the model file. Load only trusted models.
    """
    from prefect_mltrack.models.uris import download_model

    model_dir = download_model(model_uri, dst_path)
    model = Model.load(model_dir)
    return _load_estimator(model_dir, model)


def _load_estimator(model_dir: Path, model: Model) -> Any:
    conf = model.flavor(FLAVOR_NAME)
    field = f"flavors.{FLAVOR_NAME}"
    file = model_file(model_dir, conf.get("pickled_model"), f"{field}.pickled_model")
    code = code_dir(model_dir, conf, field)
    verify_checksums(model_dir)
    add_code_to_path(code)
    fmt = conf.get("serialization_format", SERIALIZATION_FORMAT_PICKLE)
    return _read(file, fmt, conf.get("skops_trusted_types"))


def _load_pyfunc(model_dir: Path, model: Model) -> _SklearnModelWrapper:
    """The pyfunc implementation: ``python_function.model_path`` read with the sklearn flavor's format."""
    pyfunc_conf = model.flavor("python_function")
    conf = model.flavors.get(FLAVOR_NAME) or {}
    file = model_file(
        model_dir, pyfunc_conf.get("model_path", conf.get("pickled_model")), "flavors.python_function.model_path"
    )
    code = code_dir(model_dir, pyfunc_conf, "flavors.python_function")
    verify_checksums(model_dir)
    add_code_to_path(code)
    fmt = conf.get("serialization_format", SERIALIZATION_FORMAT_PICKLE)
    estimator = _read(file, fmt, conf.get("skops_trusted_types"))
    return _SklearnModelWrapper(estimator, pyfunc_conf.get("predict_fn", "predict"))


def _dump(sk_model: Any, file: Path, fmt: str, trusted: Sequence[str] | None) -> None:
    if fmt == SERIALIZATION_FORMAT_SKOPS:
        try:
            import skops.io
            from skops.io.exceptions import UntrustedTypesFoundException
        except ImportError:
            raise InvalidParameterError(
                "serialization_format='skops' needs skops: run `pip install skops`, or use 'cloudpickle'"
            ) from None
        skops.io.dump(sk_model, file)
        try:
            skops.io.load(file, trusted=list(trusted) if trusted else None)
        except UntrustedTypesFoundException as exc:
            file.unlink(missing_ok=True)
            raise InvalidParameterError(
                "The skops file of this model references types skops does not trust by default; if loading them "
                f"is safe, pass them as skops_trusted_types. {exc}"
            ) from None
        return
    with open(file, "wb") as stream:
        try:
            if fmt == SERIALIZATION_FORMAT_CLOUDPICKLE:
                import cloudpickle

                cloudpickle.dump(sk_model, stream, protocol=pickle.DEFAULT_PROTOCOL)
            else:
                pickle.dump(sk_model, stream, protocol=pickle.DEFAULT_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise InvalidParameterError(f"Could not pickle {type(sk_model).__name__} with {fmt}: {exc}") from exc


def _read(file: Path, fmt: str, trusted: Sequence[str] | None) -> Any:
    if fmt == SERIALIZATION_FORMAT_SKOPS:
        try:
            import skops.io
        except ImportError:
            raise MLTrackError(_SKOPS_MISSING, error_code="INVALID_STATE") from None
        return skops.io.load(file, trusted=list(trusted) if trusted else None)
    if fmt not in (SERIALIZATION_FORMAT_PICKLE, SERIALIZATION_FORMAT_CLOUDPICKLE):
        raise InvalidParameterError(
            f"Unrecognized serialization format {fmt!r} in MLmodel; supported: {SUPPORTED_SERIALIZATION_FORMATS}"
        )
    with open(file, "rb") as stream:
        # cloudpickle files are plain pickles that import cloudpickle's helpers on the way.
        return pickle.load(stream)


class _SklearnModelWrapper:
    """What pyfunc calls: ``predict(data, params)`` on the estimator's ``predict_fn`` method.

    A dict or a list of dicts becomes a DataFrame first, so JSON-shaped input works without a signature.
    """

    def __init__(self, sk_model: Any, predict_fn: str = "predict") -> None:
        self.sklearn_model = sk_model
        self._predict = getattr(sk_model, predict_fn)

    def get_raw_model(self) -> Any:
        return self.sklearn_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if isinstance(data, dict) or (isinstance(data, list) and data and all(isinstance(r, dict) for r in data)):
            import numpy as np
            import pandas as pd

            if isinstance(data, dict) and all(v is None or np.isscalar(v) for v in data.values()):
                data = pd.DataFrame([data])
            else:
                data = pd.DataFrame(data)
        return self._predict(data)
