"""MLflow's model format: ``MLmodel`` files, signatures, input examples, flavors (``mlflow.models``).

Flavors live in :mod:`prefect_mltrack.sklearn` and :mod:`prefect_mltrack.pyfunc`; this package
holds what they share. See ``docs/models.md``.

Example:
    >>> from prefect_mltrack.models import ModelSignature, infer_signature
    >>> import numpy as np
    >>> infer_signature(np.zeros((2, 3), dtype="float32"), np.zeros(2)).to_dict()["inputs"]
    '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]'
"""

from __future__ import annotations

import os
from typing import Any

from prefect_mltrack.models.examples import convert_input_example_to_serving_input
from prefect_mltrack.models.mlmodel import MLFLOW_VERSION, Model, ModelInfo
from prefect_mltrack.models.signature import ModelSignature, infer_signature

__all__ = [
    "MLFLOW_VERSION",
    "Model",
    "ModelInfo",
    "ModelInputExample",
    "ModelSignature",
    "convert_input_example_to_serving_input",
    "get_model_info",
    "infer_signature",
    "validate_schema",
]

ModelInputExample = Any
"""A DataFrame, numpy array, dict, list or scalar, optionally as a ``(data, params)`` tuple."""


def validate_schema(data: Any, expected_schema: Any) -> None:
    """Raise :class:`~prefect_mltrack.exceptions.SchemaEnforcementError` when ``data`` breaks ``expected_schema``."""
    from prefect_mltrack.models.enforcement import enforce_schema

    enforce_schema(data, expected_schema)


def get_model_info(model_uri: str | os.PathLike[str]) -> ModelInfo:
    """The :class:`ModelInfo` of a saved or logged model, read from its MLmodel file."""
    from prefect_mltrack.models.uris import download_model

    model = Model.load(download_model(model_uri))
    return ModelInfo(
        artifact_path=model.artifact_path or "",
        flavors=model.flavors,
        model_uri=os.fspath(model_uri),
        model_uuid=model.model_uuid,
        run_id=model.run_id or "",
        saved_input_example_info=model.saved_input_example_info,
        signature=model.signature,
        utc_time_created=model.utc_time_created,
        mlflow_version=model.mlflow_version,
        metadata=model.metadata,
        model_id=model.model_id,
    )
