"""Custom Python models (``PythonModel``), saved in the layout of MLflow's ``mlflow.pyfunc.model``.

A model directory holds ``python_model.pkl`` (the instance, cloudpickled), ``artifacts/`` (files
the model asked for, named in ``flavors.python_function.artifacts``) and ``code/`` (its
``code_paths``, put on ``sys.path`` before unpickling). ``loader_module`` is
``mlflow.pyfunc.model``, so ``mlflow.pyfunc.load_model`` reads our directories; our loader maps
that name to this module.

For MLflow to unpickle the instance, its class must not need ``prefect_mltrack``: the pickle
refers to our ``PythonModel`` base through a small function, pickled by value, that returns
MLflow's ``PythonModel`` in a process that has imported ``mlflow.pyfunc`` and ours otherwise. A
class defined in the training script (``__main__``) is pickled by value and so loads in both; a
class imported from your own module is pickled by reference and needs that module on the
loading side (``code_paths``).

.. warning:: Loading a pickled model runs code from the file. Load only models you trust.

Example:
    >>> class AddN(PythonModel):
    ...     def __init__(self, n):
    ...         self.n = n
    ...     def predict(self, context, model_input, params=None):
    ...         return model_input + self.n
    >>> AddN(1).predict(None, 41)
    42
"""

from __future__ import annotations

import builtins
import inspect
import io
import os
import pickle
import platform
import shutil
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError
from prefect_mltrack.models.environment import CONDA_ENV_FILE, PYTHON_ENV_FILE
from prefect_mltrack.models.integrity import (
    add_code_to_path,
    check_tree_inside,
    code_dir,
    copy_code_paths,
    model_file,
    verify_checksums,
)
from prefect_mltrack.models.mlmodel import Model, ModelInfo
from prefect_mltrack.models.signature import ModelSignature

__all__ = ["PythonModel", "PythonModelContext", "log_model", "save_model"]

FLAVOR_NAME = "python_function"
MLFLOW_LOADER_MODULE = "mlflow.pyfunc.model"
PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


class PythonModelContext:
    """What ``load_context`` and ``predict`` receive: local paths of the model's artifacts, and its config."""

    def __init__(self, artifacts: dict[str, str], model_config: dict[str, Any] | None = None) -> None:
        self._artifacts = artifacts
        self._model_config = model_config

    @property
    def artifacts(self) -> dict[str, str]:
        """Artifact name -> absolute local path inside the loaded model directory."""
        return self._artifacts

    @property
    def model_config(self) -> dict[str, Any] | None:
        return self._model_config


class PythonModel:
    """Subclass this for a model MLflow's pyfunc machinery can load and serve.

    Override ``predict(context, model_input, params=None)`` (``context`` may be left out:
    ``predict(self, model_input, params=None)``), and ``load_context(context)`` to read artifacts
    once at load time.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Called once when the model is loaded; read ``context.artifacts`` here."""

    def predict(self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement predict(context, model_input, params=None)")


# -- pickling so MLflow can load it ----------------------------------------------------------------
def _python_model_base() -> Any:  # pragma: no cover - its code runs after unpickling, by value
    import sys

    mlflow_pyfunc = sys.modules.get("mlflow.pyfunc")
    if mlflow_pyfunc is not None:
        return mlflow_pyfunc.PythonModel
    from prefect_mltrack.models.python_model import PythonModel

    return PythonModel


# The same code under module '__main__' with bare globals: cloudpickle then ships it by value.
_portable_base = types.FunctionType(
    _python_model_base.__code__, {"__builtins__": builtins, "__name__": "__main__"}, "_python_model_base"
)


def _portable_pickler() -> type:
    import cloudpickle

    class PortablePickler(cloudpickle.Pickler):  # type: ignore[misc, name-defined]
        def reducer_override(self, obj: Any) -> Any:
            if obj is PythonModel:
                return _portable_base, ()
            return super().reducer_override(obj)

    return PortablePickler


def dump_python_model(python_model: Any, file: Path) -> None:
    with open(file, "wb") as stream:
        try:
            _portable_pickler()(stream, protocol=pickle.DEFAULT_PROTOCOL).dump(python_model)
        except Exception as exc:
            raise InvalidParameterError(
                f"Could not pickle the Python model {type(python_model).__name__}: {exc}"
            ) from exc


class _Unpickler(pickle.Unpickler):
    """Reads pickles written by MLflow without MLflow installed: its PythonModel base maps to ours."""

    _ALIASES: ClassVar[set[tuple[str, str]]] = {
        ("mlflow.pyfunc.model", "PythonModel"),
        ("mlflow.pyfunc", "PythonModel"),
        ("mlflow.pyfunc.model", "PythonModelContext"),
        ("mlflow.pyfunc", "PythonModelContext"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALIASES:
            try:
                return super().find_class(module, name)
            except ImportError:
                return PythonModel if name == "PythonModel" else PythonModelContext
        return super().find_class(module, name)


_DECOMPRESS = {"gzip": "gzip", "lzma": "lzma", "bzip2": "bz2"}


def load_python_model(file: Path, compression: str | None = None) -> Any:
    if compression:
        if compression not in _DECOMPRESS:
            raise InvalidParameterError(f"Unsupported python_model_compression {compression!r}")
        import importlib

        stream: Any = io.BytesIO(importlib.import_module(_DECOMPRESS[compression]).decompress(file.read_bytes()))
    else:
        stream = open(file, "rb")  # noqa: SIM115 - closed below
    try:
        return _Unpickler(stream).load()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "mlflow":
            raise
        # MLflow wraps predict() of PythonModel subclasses with its own functions, which end up in the pickle.
        raise MLTrackError(
            f"{file.name} was pickled by MLflow and refers to MLflow's own code ({exc.name}); "
            "install mlflow to load this custom model, or save it again with prefect_mltrack.pyfunc",
            error_code="INVALID_STATE",
        ) from exc
    finally:
        stream.close()


# -- saving ----------------------------------------------------------------------------------------
def save_model(
    path: str | os.PathLike[str],
    loader_module: str | None = None,
    data_path: str | os.PathLike[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    python_model: PythonModel | None = None,
    artifacts: Mapping[str, str] | None = None,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
) -> None:
    """Save a custom model: ``python_model`` (+ ``artifacts``), or a ``loader_module`` + ``data_path``.

    Args:
        path: The model directory to create (must not exist or be empty).
        python_model: A :class:`PythonModel` instance; pickled with cloudpickle.
        artifacts: Name -> local path, ``file:`` or ``runs:/`` URI; each is copied under ``artifacts/`` and
            handed to ``load_context`` as ``context.artifacts[name]`` (a local path).
        code_paths: Files or directories copied to ``code/`` and put on ``sys.path`` when loading.
        loader_module: Instead of ``python_model``: a module with ``_load_pyfunc(data_path)``.
    """
    if (python_model is None) == (loader_module is None):
        raise InvalidParameterError("Give either python_model (a PythonModel instance) or loader_module, not both")
    if python_model is not None and not callable(getattr(python_model, "predict", None)):
        raise InvalidParameterError(
            f"python_model must be a PythonModel instance with a predict method, got {type(python_model).__name__}"
        )
    if python_model is None and artifacts:
        raise InvalidParameterError("artifacts are only used with python_model")
    from prefect_mltrack.models import saving

    model_dir = saving.new_model_dir(path)
    model = mlflow_model if mlflow_model is not None else Model()
    code = copy_code_paths(code_paths, model_dir)
    flavor: dict[str, Any] = {}
    pickles: list[Path] = []
    if python_model is not None:
        import cloudpickle

        dump_python_model(python_model, model_dir / PYTHON_MODEL_FILE)
        pickles.append(model_dir / PYTHON_MODEL_FILE)
        flavor.update(
            loader_module=MLFLOW_LOADER_MODULE,
            python_model=PYTHON_MODEL_FILE,
            cloudpickle_version=cloudpickle.__version__,
            streamable=False,
        )
        if artifacts:
            flavor["artifacts"] = _copy_artifacts(artifacts, model_dir)
    else:
        assert loader_module is not None
        flavor["loader_module"] = loader_module
        if data_path is not None:
            source = Path(data_path)
            target = model_dir / source.name
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)
            flavor["data"] = source.name
    if model_config:
        flavor["model_config"] = model_config
    flavor.update(
        code=code,
        env={"conda": CONDA_ENV_FILE, "virtualenv": PYTHON_ENV_FILE},
        python_version=platform.python_version(),
    )
    model.add_flavor(FLAVOR_NAME, **flavor)
    if metadata is not None:
        model.metadata = metadata
    predict = None
    if input_example is not None and signature is None:
        predict = _fresh_predictor(model, model_dir, model_config)
    saving.add_example_and_signature(model, model_dir, input_example, signature, predict)
    saving.finish(
        model,
        model_dir,
        requirements=["cloudpickle"] if python_model is not None else [],
        pickles=pickles,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        conda_env=conda_env,
    )


def _copy_artifacts(artifacts: Mapping[str, str], model_dir: Path) -> dict[str, dict[str, str]]:
    """Copy each artifact to ``artifacts/<file name>`` (``artifacts/<name>/<file name>`` on a clash)."""
    from prefect_mltrack.models.uris import download_artifact

    config: dict[str, dict[str, str]] = {}
    root = model_dir / ARTIFACTS_DIR
    root.mkdir()
    for name, uri in artifacts.items():
        source = download_artifact(str(uri))
        relative = source.name
        if (root / relative).exists():
            relative = f"{name}/{source.name}"
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        config[name] = {"path": f"{ARTIFACTS_DIR}/{relative}", "uri": str(uri)}
    return config


def _fresh_predictor(model: Model, model_dir: Path, model_config: dict[str, Any] | None) -> Any:
    """predict() of a copy loaded from the saved files, so load_context never touches the caller's instance."""

    def predict(data: Any, params: dict[str, Any] | None) -> Any:
        wrapper = _load_from_dir(model_dir, model, model_config, verify=False)
        return wrapper.predict(data, params)

    return predict


def log_model(
    artifact_path: str | None = None,
    loader_module: str | None = None,
    data_path: str | os.PathLike[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    conda_env: Any = None,
    python_model: PythonModel | None = None,
    artifacts: Mapping[str, str] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    name: str | None = None,
) -> ModelInfo:
    """Save a custom model (see :func:`save_model`) into the active run's artifacts."""
    del await_registration_for
    from prefect_mltrack.models import saving

    return saving.log_model(
        save_model,
        artifact_path=artifact_path,
        name=name,
        registered_model_name=registered_model_name,
        loader_module=loader_module,
        data_path=data_path,
        code_paths=code_paths,
        conda_env=conda_env,
        python_model=python_model,
        artifacts=artifacts,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        model_config=model_config,
    )


# -- loading ---------------------------------------------------------------------------------------
def _load_pyfunc(model_dir: Path, model: Model, model_config: dict[str, Any] | None = None) -> _PythonModelWrapper:
    return _load_from_dir(model_dir, model, model_config, verify=True)


def _load_from_dir(
    model_dir: Path, model: Model, model_config: dict[str, Any] | None, verify: bool
) -> _PythonModelWrapper:
    conf = model.flavor(FLAVOR_NAME)
    field = f"flavors.{FLAVOR_NAME}"
    if conf.get("model_code_path"):
        raise InvalidParameterError(
            "This model is saved as code (models-from-code), which prefect_mltrack does not load; load it with MLflow"
        )
    file = model_file(model_dir, conf.get("python_model"), f"{field}.python_model")
    artifacts: dict[str, str] = {}
    for name, info in (conf.get("artifacts") or {}).items():
        where = f"{field}.artifacts.{name}.path"
        path = model_file(model_dir, info.get("path") if isinstance(info, dict) else None, where)
        if path.is_dir():
            check_tree_inside(model_dir, path, where)
        artifacts[name] = str(path)
    code = code_dir(model_dir, conf, field)
    if verify:
        verify_checksums(model_dir)
    add_code_to_path(code)
    python_model = load_python_model(file, conf.get("python_model_compression"))
    config = {**(conf.get("model_config") or {}), **(model_config or {})} or None
    context = PythonModelContext(artifacts, config)
    python_model.load_context(context)
    return _PythonModelWrapper(python_model, context)


class _PythonModelWrapper:
    """Calls ``predict`` with or without ``context`` and ``params``, as the model's signature asks."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context
        parameters = inspect.signature(python_model.predict).parameters
        self._takes_params = "params" in parameters
        names = [p for p in parameters if p not in ("self", "params")]
        self._takes_context = "context" in parameters or len(names) == 2

    def unwrap_python_model(self) -> Any:
        return self.python_model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        kwargs = {"params": params} if self._takes_params else {}
        if self._takes_context:
            return self.python_model.predict(self.context, model_input, **kwargs)
        return self.python_model.predict(model_input, **kwargs)
