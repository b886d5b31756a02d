"""The steps every flavor shares when saving and logging a model.

``save_model`` of a flavor: :func:`new_model_dir`, write its own files, :func:`add_example_and_signature`,
then :func:`finish` (environment files, size, checksums, MLmodel last, so a directory with an
MLmodel file is complete). ``log_model``: :func:`log_model` saves into a temporary directory and
copies it into the run's artifacts under the model's path.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prefect_mltrack.artifacts.paths import safe_artifact_path
from prefect_mltrack.exceptions import InvalidParameterError, ResourceAlreadyExistsError
from prefect_mltrack.models.environment import write_environment
from prefect_mltrack.models.examples import InputExample
from prefect_mltrack.models.integrity import write_checksums
from prefect_mltrack.models.mlmodel import MLMODEL_FILE_NAME, Model, ModelInfo
from prefect_mltrack.models.schema import AnyType, ColSpec, Schema
from prefect_mltrack.models.signature import ModelSignature, infer_param_schema, infer_schema

__all__ = ["add_example_and_signature", "finish", "log_model", "new_model_dir"]

logger = logging.getLogger(__name__)

LOGGED_MODELS_TAG = "mlflow.log-model.history"
_TAG_LIMIT = 8000  # MLflow's tag value limit


def new_model_dir(path: str | os.PathLike[str]) -> Path:
    """Create the model directory; an existing non-empty one is refused, as MLflow does."""
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ResourceAlreadyExistsError(f"Path '{target}' already exists and is not empty; save the model elsewhere")
    target.mkdir(parents=True, exist_ok=True)
    return target


def add_example_and_signature(
    model: Model,
    model_dir: Path,
    input_example: Any,
    signature: ModelSignature | bool | None,
    predict: Callable[[Any, dict[str, Any] | None], Any] | None,
) -> None:
    """Save the input example and set the signature, inferring it from the example when none is given.

    ``signature=False`` means: save no signature even though an example was given.
    """
    example = InputExample(input_example) if input_example is not None else None
    if example is not None:
        example.save(model_dir)
        model.saved_input_example_info = example.info
    if signature is False:
        model.signature = None
    elif isinstance(signature, ModelSignature):
        model.signature = signature
    elif signature is not None and signature is not True:
        raise InvalidParameterError(
            f"signature must be a ModelSignature, None or False, got {type(signature).__name__}"
        )
    elif example is not None and predict is not None:
        model.signature = _signature_from_example(example, predict)


def _signature_from_example(
    example: InputExample, predict: Callable[[Any, dict[str, Any] | None], Any]
) -> ModelSignature | None:
    """Input schema from the example, output schema from the model's prediction on it (MLflow's rule)."""
    import copy

    import numpy as np

    from prefect_mltrack.models.enforcement import enforce_params, enforce_schema

    try:
        inputs = infer_schema(example.data)
        params = infer_param_schema(example.params) if example.params else None
        data = enforce_schema(copy.deepcopy(example.data), inputs)
        prediction = predict(data, enforce_params(example.params, params))
    except Exception as exc:
        logger.warning("Could not infer the model signature from the input example: %r", exc)
        return None
    if not inputs.is_tensor_spec() and isinstance(prediction, np.ndarray) and prediction.ndim == 1:
        import pandas as pd

        prediction = pd.Series(prediction)  # one prediction per row: a single column
    try:
        outputs = infer_schema(prediction)
    except Exception as exc:
        logger.warning("Could not infer the output schema from the prediction (%r); using Any", exc)
        outputs = Schema([ColSpec(AnyType())])
    return ModelSignature(inputs, outputs, params)


def finish(
    model: Model,
    model_dir: Path,
    *,
    requirements: Sequence[str],
    pickles: Sequence[Path] = (),
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    conda_env: Any = None,
) -> None:
    """Environment files, ``model_size_bytes``, checksums, then the MLmodel file."""
    write_environment(model_dir, requirements, pickles, pip_requirements, extra_pip_requirements, conda_env)
    model.model_size_bytes = sum(
        (Path(root) / name).stat().st_size for root, _, files in os.walk(model_dir) for name in files
    )
    write_checksums(model_dir)
    model.save(model_dir / MLMODEL_FILE_NAME)


def model_artifact_path(artifact_path: str | None, name: str | None) -> str:
    """The model's path in the run: ``name`` (MLflow 3) or ``artifact_path`` (MLflow 2), default 'model'."""
    if artifact_path is not None and name is not None and artifact_path != name:
        raise InvalidParameterError(
            f"Give the model's path once: artifact_path={artifact_path!r} and name={name!r} differ"
        )
    path = safe_artifact_path(name if name is not None else artifact_path)
    return path or "model"


def log_model(
    save: Callable[..., None],
    *,
    artifact_path: str | None,
    name: str | None,
    registered_model_name: str | None,
    **save_kwargs: Any,
) -> ModelInfo:
    """Save with ``save(path=..., mlflow_model=..., **save_kwargs)`` and copy it into the active run.

    Starts a run when none is active, as MLflow does; registers the model when
    ``registered_model_name`` is given.
    """
    from prefect_mltrack import fluent

    path = model_artifact_path(artifact_path, name)
    active = fluent.active_run()
    run_id = (active or fluent.start_run()).info.run_id
    model = Model(artifact_path=path, run_id=run_id)
    with tempfile.TemporaryDirectory(prefix="mltrack-model-") as tmp:
        local = Path(tmp) / "model"
        save(path=local, mlflow_model=model, **save_kwargs)
        fluent.log_artifacts(local, path, run_id=run_id)
    _record_logged_model(run_id, model)
    model_uri = f"runs:/{run_id}/{path}"
    version = None
    if registered_model_name is not None:
        version = _register(model_uri, registered_model_name)
    return ModelInfo(
        artifact_path=path,
        flavors=model.flavors,
        model_uri=model_uri,
        model_uuid=model.model_uuid,
        run_id=run_id,
        saved_input_example_info=model.saved_input_example_info,
        signature=model.signature,
        utc_time_created=model.utc_time_created,
        mlflow_version=model.mlflow_version,
        metadata=model.metadata,
        registered_model_version=version,
    )


def _record_logged_model(run_id: str, model: Model) -> None:
    """Append the model to the run's ``mlflow.log-model.history`` tag (what MLflow's UI lists)."""
    from prefect_mltrack import fluent

    entry = {
        "run_id": run_id,
        "artifact_path": model.artifact_path,
        "utc_time_created": model.utc_time_created,
        "model_uuid": model.model_uuid,
        "flavors": {k: {kk: vv for kk, vv in v.items() if kk != "config"} for k, v in model.flavors.items()},
    }
    text = append_model_history(fluent.get_run(run_id).data.tags.get(LOGGED_MODELS_TAG), entry)
    if text is not None:
        fluent._client().set_tag(run_id, LOGGED_MODELS_TAG, text, synchronous=True)


def append_model_history(existing_text: str | None, entry: dict[str, Any]) -> str | None:
    """The ``mlflow.log-model.history`` tag value with ``entry`` appended, oldest entries dropped to
    fit the tag limit; None if even ``entry`` alone does not fit.

    Example:
        >>> append_model_history('[{"artifact_path": "a"}]', {"artifact_path": "b"})
        '[{"artifact_path": "a"}, {"artifact_path": "b"}]'
    """
    try:
        existing = json.loads(existing_text or "[]")
    except ValueError:
        existing = []
    history = [*existing, entry] if isinstance(existing, list) else [entry]
    while len(history) > 1 and len(json.dumps(history)) > _TAG_LIMIT:
        history.pop(0)  # the newest models matter most; the oldest entries are dropped
    text = json.dumps(history)
    return text if len(text) <= _TAG_LIMIT else None


def _register(model_uri: str, name: str) -> int | None:
    import prefect_mltrack

    register = getattr(prefect_mltrack, "register_model", None) if "register_model" in prefect_mltrack.__all__ else None
    if register is None:
        raise InvalidParameterError(
            "registered_model_name needs the model registry, which this build of prefect_mltrack does not have yet; "
            f"log without it and register {model_uri!r} later"
        )
    version = register(model_uri, name)
    number = getattr(version, "version", None)
    return int(number) if number is not None else None
