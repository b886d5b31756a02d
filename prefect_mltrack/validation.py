"""MLflow's naming rules and size limits, checked before anything is written.

Each check raises :class:`InvalidParameterError` with a message that names the offending value
and says what is allowed, so a caller can fix the input without reading our source.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
import warnings
from typing import Any, Final

from prefect_mltrack.exceptions import InvalidParameterError

MAX_KEY_LENGTH: Final = 250
MAX_PARAM_VALUE_LENGTH: Final = 6000
MAX_TAG_VALUE_LENGTH: Final = 8000
MAX_EXPERIMENT_NAME_LENGTH: Final = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH: Final = 20_000
MAX_METRICS_PER_BATCH: Final = 1000
MAX_PARAMS_PER_BATCH: Final = 100
MAX_TAGS_PER_BATCH: Final = 100
MAX_ENTITIES_PER_BATCH: Final = 1000
MAX_RESULTS_SEARCH_RUNS: Final = 50_000
MAX_RESULTS_SEARCH_EXPERIMENTS: Final = 50_000
INT64_MAX: Final = 2**63 - 1
INT64_MIN: Final = -(2**63)

_KEY_CHARS = re.compile(r"^[\w\-./ :]+$")
_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_KEY_RULE = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), "
    "colon(:) and slashes (/), must be at most 250 characters, and must be a relative path "
    "without '..', './' or '//' (for example 'loss', 'val/accuracy')."
)


def validate_key(key: Any, what: str = "metric") -> str:
    """Check a metric, param or tag key against MLflow's rules and return it."""
    if not isinstance(key, str) or not key:
        raise InvalidParameterError(f"Invalid {what} name {key!r}: a non-empty string is required. {_KEY_RULE}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidParameterError(f"Invalid {what} name '{key[:40]}...': it has {len(key)} characters. {_KEY_RULE}")
    if not _KEY_CHARS.match(key) or _is_bad_path(key):
        raise InvalidParameterError(f"Invalid {what} name {key!r}. {_KEY_RULE}")
    return key


def _is_bad_path(key: str) -> bool:
    if key.startswith("/"):
        return True
    return posixpath.normpath(key) != key.rstrip("/") or ".." in key.split("/")


def validate_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise InvalidParameterError(
            f"Invalid run ID {run_id!r}: it must start with a letter or digit and hold at most 256 "
            "letters, digits, underscores or dashes."
        )
    return run_id


def validate_experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"Invalid experiment name {name!r}: a non-empty string is required.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameterError(
            f"Invalid experiment name '{name[:40]}...': it has {len(name)} characters; "
            f"the limit is {MAX_EXPERIMENT_NAME_LENGTH}."
        )
    return name


def _truncate_long_values() -> bool:
    flag = os.environ.get("MLTRACK_TRUNCATE_LONG_VALUES", os.environ.get("MLFLOW_TRUNCATE_LONG_VALUES", "true"))
    return flag.strip().lower() not in ("0", "false", "no", "off")


def limit_value(key: str, value: str, limit: int, what: str) -> str:
    """Apply a value-length limit as MLflow does: truncate with a warning, or refuse when
    ``MLTRACK_TRUNCATE_LONG_VALUES=false``."""
    if len(value) <= limit:
        return value
    if _truncate_long_values():
        warnings.warn(
            f"The value of {what} '{key}' has {len(value)} characters and was truncated to {limit}.",
            stacklevel=4,
        )
        return value[:limit]
    raise InvalidParameterError(
        f"The value of {what} '{key}' has {len(value)} characters; the limit is {limit}. "
        "Shorten it, or log it as an artifact instead."
    )


def validate_metric_value(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            import numpy as np  # numpy scalars are common metric values

            if isinstance(value, np.number) and not isinstance(value, np.bool_):
                return float(value)
        except ImportError:  # pragma: no cover - numpy ships with our deps
            pass
        raise InvalidParameterError(
            f"Got invalid value {value!r} for metric '{key}': a number (int or float, not bool) is required."
        )
    return float(value)


def validate_timestamp(key: str, timestamp: Any) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp <= INT64_MAX:
        raise InvalidParameterError(
            f"Got invalid timestamp {timestamp!r} for metric '{key}': "
            "a non-negative integer of milliseconds since the epoch is required."
        )
    return timestamp


def validate_step(key: str, step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, int) or not INT64_MIN <= step <= INT64_MAX:
        raise InvalidParameterError(f"Got invalid step {step!r} for metric '{key}': a 64-bit integer is required.")
    return step


def validate_batch_limits(n_metrics: int, n_params: int, n_tags: int) -> None:
    for count, limit, what in (
        (n_metrics, MAX_METRICS_PER_BATCH, "metrics"),
        (n_params, MAX_PARAMS_PER_BATCH, "params"),
        (n_tags, MAX_TAGS_PER_BATCH, "tags"),
    ):
        if count > limit:
            raise InvalidParameterError(
                f"A batch logging request can contain at most {limit} {what}. Got {count} {what}. "
                f"Please split up {what} across multiple requests and try again."
            )
    total = n_metrics + n_params + n_tags
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidParameterError(
            f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} metrics, params "
            f"and tags in total. Got {total}. Please split the batch and try again."
        )


def validate_max_results(max_results: Any, limit: int) -> int:
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= limit:
        raise InvalidParameterError(
            f"Invalid value {max_results!r} for max_results: an integer between 1 and {limit} is required."
        )
    return max_results


def is_finite_number(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def split_batch(metrics: list[Any], params: list[Any], tags: list[Any]) -> list[tuple[list[Any], list[Any], list[Any]]]:
    """Split a request into batches within MLflow's limits (params and tags first, as MLflow's client)."""
    batches: list[tuple[list[Any], list[Any], list[Any]]] = []
    while metrics or params or tags:
        p, params = params[:MAX_PARAMS_PER_BATCH], params[MAX_PARAMS_PER_BATCH:]
        t, tags = tags[:MAX_TAGS_PER_BATCH], tags[MAX_TAGS_PER_BATCH:]
        room = min(MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH - len(p) - len(t))
        m, metrics = metrics[:room], metrics[room:]
        batches.append((m, p, t))
    return batches


# -- model registry ------------------------------------------------------------------------------

MAX_REGISTERED_MODEL_NAME_LENGTH: Final = 256
MAX_REGISTRY_TAG_VALUE_LENGTH: Final = 100_000
MAX_ALIAS_LENGTH: Final = 255
MAX_RESULTS_SEARCH_REGISTERED_MODELS: Final = 1000
MAX_RESULTS_SEARCH_MODEL_VERSIONS: Final = 200_000

_ALIAS_CHARS = re.compile(r"^[\w\-]+$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")


def validate_model_name(name: Any, what: str = "name") -> str:
    """A registered model name: not empty, no '/' or ':', not '.'/'..'-like, at most 256 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"Missing value for parameter '{what}': a non-empty model name is required.")
    if "/" in name or ":" in name:
        raise InvalidParameterError(
            f"Invalid model name {name!r}. Names cannot contain '/' or ':' (they separate the parts of "
            "models:/<name>/<version> URIs); use '-', '_' or '.' instead."
        )
    if name == "." or name.startswith(".."):
        raise InvalidParameterError(f"Invalid model name {name!r}: it must not be '.' or start with '..'.")
    if len(name) > MAX_REGISTERED_MODEL_NAME_LENGTH:
        raise InvalidParameterError(
            f"Invalid model name '{name[:40]}...': it has {len(name)} characters; "
            f"the limit is {MAX_REGISTERED_MODEL_NAME_LENGTH}."
        )
    return name


def validate_model_version(version: Any) -> int:
    """A version number given as an int or a digit string ("3"); returns the int."""
    text = str(version).strip() if isinstance(version, int | str) and not isinstance(version, bool) else ""
    if not (text.isascii() and text.isdigit()):
        raise InvalidParameterError(
            f"Invalid version {version!r}: a model version number such as 1 or '1' is required."
        )
    return int(text)


def validate_alias(alias: Any, *, allow_reserved: bool = False) -> str:
    """An alias: letters, digits, '_' and '-', at most 255 characters; ``latest`` (any case) and
    ``v<digits>`` are reserved unless ``allow_reserved`` (lookups accept them)."""
    if not isinstance(alias, str) or not alias:
        raise InvalidParameterError("Registered model alias name cannot be empty.")
    if not _ALIAS_CHARS.match(alias):
        raise InvalidParameterError(
            f"Invalid alias name: {alias!r}. Aliases may only contain letters, digits, underscores (_) "
            "and dashes (-), e.g. 'champion' or 'prod-eu'."
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidParameterError(
            f"Invalid alias name '{alias[:40]}...': it has {len(alias)} characters; the limit is {MAX_ALIAS_LENGTH}."
        )
    if not allow_reserved and alias.lower() == "latest":
        raise InvalidParameterError(
            "'latest' alias name (case insensitive) is reserved: models:/<name>@latest always means the "
            "highest version. Choose another alias."
        )
    if not allow_reserved and _VERSION_ALIAS.match(alias):
        raise InvalidParameterError(
            f"Version alias name {alias!r} is reserved (v<number> refers to that version). Choose another alias."
        )
    return alias


def validate_registry_tag(key: Any, value: Any, what: str) -> tuple[str, str]:
    """A registered-model or model-version tag: MLflow's key rules; the value is refused (not
    truncated) beyond 100,000 characters."""
    validate_key(key, what)
    if value is None:
        raise InvalidParameterError(f"The value of {what} '{key}' is None; give a string (it may be empty).")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_REGISTRY_TAG_VALUE_LENGTH:
        raise InvalidParameterError(
            f"The value of {what} '{key}' has {len(text)} characters; the limit is "
            f"{MAX_REGISTRY_TAG_VALUE_LENGTH}. Shorten it, or log it as an artifact instead."
        )
    return key, text
