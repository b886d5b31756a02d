"""The ``MLmodel`` file: a model directory's YAML description, in MLflow's format.

Top-level fields (MLflow 3.x names; ``artifact_path`` is run-relative, as MLflow 2.x wrote it,
because our models live in the run's artifacts)::

    artifact_path: iris_model                 # where log_model put it in the run (absent for save_model)
    flavors: {python_function: {...}, sklearn: {...}}
    model_uuid: 4f0c...                       # 32 hex digits
    model_id: null
    run_id: 1a44...                           # when logged from a run
    utc_time_created: '2026-01-01 12:00:00.000000'
    mlflow_version: 3.17.2                    # the MLflow release whose format we write (MLFLOW_VERSION)
    signature: {inputs: '<json>', outputs: '<json>', params: null}
    saved_input_example_info: {artifact_path, type, pandas_orient, serving_input_path}
    model_size_bytes: 12005
    metadata: {...}                           # free-form, the caller's

Unknown keys are kept on read and written back, so files from newer MLflow versions survive a
round trip.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect_mltrack.exceptions import InvalidParameterError, ResourceNotFoundError
from prefect_mltrack.models.signature import ModelSignature

__all__ = ["MLFLOW_VERSION", "MLMODEL_FILE_NAME", "Model", "ModelInfo"]

MLMODEL_FILE_NAME = "MLmodel"
# The MLflow release whose MLmodel layout we write and test against (tests/models/test_interop.py).
MLFLOW_VERSION = "3.17.2"
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_KNOWN = (
    "artifact_path",
    "run_id",
    "utc_time_created",
    "flavors",
    "signature",
    "saved_input_example_info",
    "model_uuid",
    "mlflow_version",
    "metadata",
    "model_size_bytes",
    "model_id",
)


def _yaml() -> Any:
    import yaml

    return yaml


class Model:
    """The content of one ``MLmodel`` file.

    Example:
        >>> m = Model(run_id="abc", artifact_path="model")
        >>> _ = m.add_flavor("python_function", loader_module="mlflow.sklearn", model_path="model.pkl")
        >>> sorted(Model.from_dict(m.to_dict()).flavors)
        ['python_function']
    """

    def __init__(
        self,
        artifact_path: str | None = None,
        run_id: str | None = None,
        utc_time_created: str | None = None,
        flavors: dict[str, dict[str, Any]] | None = None,
        signature: ModelSignature | None = None,
        saved_input_example_info: dict[str, Any] | None = None,
        model_uuid: str | None = None,
        mlflow_version: str | None = MLFLOW_VERSION,
        metadata: dict[str, Any] | None = None,
        model_size_bytes: int | None = None,
        model_id: str | None = None,
        **extra: Any,
    ) -> None:
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.utc_time_created = utc_time_created or dt.datetime.now(dt.UTC).strftime(_TIME_FORMAT)
        self.flavors: dict[str, dict[str, Any]] = dict(flavors or {})
        self.signature = signature
        self.saved_input_example_info = saved_input_example_info
        self.model_uuid = model_uuid or uuid.uuid4().hex
        self.mlflow_version = mlflow_version
        self.metadata = metadata
        self.model_size_bytes = model_size_bytes
        self.model_id = model_id
        self.extra: dict[str, Any] = dict(extra)

    # -- flavors ----------------------------------------------------------------------------------
    def add_flavor(self, name: str, **params: Any) -> Model:
        """Add (or replace) a flavor's configuration; returns self for chaining."""
        self.flavors[name] = params
        return self

    def flavor(self, name: str) -> dict[str, Any]:
        """One flavor's configuration, or RESOURCE_DOES_NOT_EXIST naming the flavors the model has."""
        conf = self.flavors.get(name)
        if not isinstance(conf, dict):
            raise ResourceNotFoundError(f"Model does not have the {name!r} flavor; it has {sorted(self.flavors)}")
        return conf

    # -- signature --------------------------------------------------------------------------------
    def get_input_schema(self) -> Any:
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self) -> Any:
        return self.signature.outputs if self.signature is not None else None

    def get_params_schema(self) -> Any:
        return self.signature.params if self.signature is not None else None

    def load_input_example(self, path: str | os.PathLike[str]) -> Any:
        """The saved input example, read from the model directory ``path`` (None if there is none)."""
        from prefect_mltrack.models.examples import read_input_example

        return read_input_example(self, Path(path))

    # -- (de)serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        data.update(
            {
                "flavors": self.flavors,
                "model_uuid": self.model_uuid,
                "model_id": self.model_id,
                "utc_time_created": self.utc_time_created,
                "mlflow_version": self.mlflow_version,
            }
        )
        optional = {
            "artifact_path": self.artifact_path,
            "run_id": self.run_id,
            "signature": self.signature.to_dict() if self.signature is not None else None,
            "saved_input_example_info": self.saved_input_example_info,
            "metadata": self.metadata,
            "model_size_bytes": self.model_size_bytes,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        return data

    def to_yaml(self) -> str:
        # MLflow writes sorted keys in block style; so do we, so the files diff cleanly.
        text: str = _yaml().safe_dump(self.to_dict(), default_flow_style=False, sort_keys=True)
        return text

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to ``path`` (the MLmodel file itself), atomically."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(self.to_yaml(), encoding="utf-8")
        os.replace(tmp, target)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        if not isinstance(data, dict):
            raise InvalidParameterError(f"An MLmodel file holds a YAML mapping, got {type(data).__name__}")
        known = {k: data.get(k) for k in _KNOWN if k in data}
        extra = {k: v for k, v in data.items() if k not in _KNOWN}
        flavors = known.get("flavors") or {}
        if not isinstance(flavors, dict):
            raise InvalidParameterError("MLmodel 'flavors' must be a mapping of flavor name to configuration")
        signature = known.get("signature")
        created = known.get("utc_time_created")
        return cls(
            artifact_path=known.get("artifact_path"),
            run_id=known.get("run_id"),
            # An unquoted timestamp comes back from YAML as a datetime; keep MLflow's string form.
            utc_time_created=created.strftime(_TIME_FORMAT) if isinstance(created, dt.datetime) else created,
            flavors=flavors,
            signature=ModelSignature.from_dict(signature) if isinstance(signature, dict) else None,
            saved_input_example_info=known.get("saved_input_example_info"),
            model_uuid=known.get("model_uuid"),
            mlflow_version=known.get("mlflow_version"),
            metadata=known.get("metadata"),
            model_size_bytes=known.get("model_size_bytes"),
            model_id=known.get("model_id"),
            **extra,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read an MLmodel file, or the one in the model directory ``path``."""
        target = Path(path)
        if target.is_dir():
            target = target / MLMODEL_FILE_NAME
        if not target.is_file():
            raise ResourceNotFoundError(
                f"No MLmodel file at {str(target)!r}; a model directory holds an MLmodel file next to the model files"
            )
        yaml = _yaml()
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            data = yaml.load(target.read_text(encoding="utf-8"), Loader=loader)
        except yaml.YAMLError as exc:
            raise InvalidParameterError(f"MLmodel file {str(target)!r} is not valid YAML: {exc}") from exc
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return f"<Model run_id={self.run_id!r} artifact_path={self.artifact_path!r} flavors={sorted(self.flavors)}>"


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns: where the model went and what it holds.

    ``model_uri`` (``runs:/<run_id>/<artifact_path>``) is what ``load_model`` and
    ``register_model`` take.
    """

    artifact_path: str
    flavors: dict[str, Any]
    model_uri: str
    model_uuid: str
    run_id: str
    saved_input_example_info: dict[str, Any] | None
    signature: ModelSignature | None
    utc_time_created: str
    mlflow_version: str | None
    metadata: dict[str, Any] | None = None
    registered_model_version: int | None = None
    model_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def signature_dict(self) -> dict[str, Any] | None:
        return self.signature.to_dict() if self.signature is not None else None

    @property
    def name(self) -> str:
        """MLflow 3's name for the model's path in the run."""
        return self.artifact_path
