"""The scoring request path both servers share: body -> checks -> parse -> predict -> JSON.

``POST /invocations`` (and ``/models/{name}/invocations`` on the multi-model server) go through
:func:`score_request`, which answers exactly as MLflow's scoring server does:

======================================  =====  ==================================================
situation                               status body
======================================  =====  ==================================================
predictions                             200    ``{"predictions": ...}`` (orjson)
content type not JSON/CSV, a charset    415    text/plain, MLflow's wording
other than utf-8, unknown parameters
body over ``max_body_bytes``            413    ``{"error_code": "REQUEST_LIMIT_EXCEEDED", ...}``
malformed body, empty input, non-UTF-8  400    ``{"error_code": "BAD_REQUEST", "message": ...}``
input that breaks the signature         400    ``INVALID_PARAMETER_VALUE`` naming column and type
the model raises on the input           400    ``BAD_REQUEST`` "Encountered an unexpected error..."
prediction slower than the timeout      504    ``DEADLINE_EXCEEDED``
======================================  =====  ==================================================

Bad input is never a 5xx. Numeric rows for a scikit-learn model skip pandas entirely when a
compiled predictor is available (see :mod:`prefect_mltrack.serving.fast_rows`).

Example:
    >>> scorer = Scorer.load("models:/Iris/1")                                                # doctest: +SKIP
    >>> asyncio.run(scorer.score(b'{"data": [[5.1, 3.5, 1.4, 0.2]]}', "application/json"))   # doctest: +SKIP
    ScoringResult(status=200, body=b'{"predictions":[0]}', media_type='application/json', error_code=None)
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError
from prefect_mltrack.serving.payload import BadRequestError, parse_csv_payload, parse_json_payload, predictions_to_json

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from prefect_mltrack.models.pyfunc import PyFuncModel
    from prefect_mltrack.serving.fast_rows import FastRows

__all__ = [
    "MAX_BODY_BYTES",
    "PayloadTooLargeError",
    "Scorer",
    "ScoringResult",
    "error_result",
    "read_body",
    "score_request",
]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT_S = 60.0
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_CSV = "text/csv"
SUPPORTED_CONTENT_TYPES = (CONTENT_TYPE_CSV, CONTENT_TYPE_JSON)
# Up to this many rows a compiled predictor answers on the event loop: cheaper than a thread hop.
INLINE_ROWS = 1024
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class PayloadTooLargeError(MLTrackError):
    """A request body over the server's limit (HTTP 413)."""

    default_error_code = "REQUEST_LIMIT_EXCEEDED"

    @property
    def http_status(self) -> int:
        return 413


class _DeadlineExceeded(MLTrackError):
    """A prediction that ran past the server's timeout (HTTP 504, as MLflow answers)."""

    default_error_code = "DEADLINE_EXCEEDED"


class _UnsupportedMediaType(Exception):
    """A content type the server does not read (HTTP 415, text/plain as MLflow answers)."""


@dataclass(frozen=True, slots=True)
class ScoringResult:
    """What one scoring request answered; ``error_code`` is set for every non-200 answer."""

    status: int
    body: bytes
    media_type: str = CONTENT_TYPE_JSON
    error_code: str | None = None

    def to_response(self, headers: dict[str, str] | None = None) -> Response:
        from starlette.responses import Response

        return Response(self.body, status_code=self.status, media_type=self.media_type, headers=headers)


def error_result(exc: MLTrackError) -> ScoringResult:
    """MLflow's JSON error body for ``exc``, with its HTTP status."""
    return ScoringResult(exc.http_status, orjson.dumps(exc.to_dict()), CONTENT_TYPE_JSON, exc.error_code)


class Scorer:
    """One loaded model behind MLflow's scoring protocol.

    Args:
        model: the loaded pyfunc model.
        timeout_s: predictions running longer answer 504 (``None``: no limit).
    """

    def __init__(self, model: PyFuncModel, *, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> None:
        from prefect_mltrack.serving.fast_rows import FastRows

        self.model = model
        self.timeout_s = timeout_s
        self.fast: FastRows | None = FastRows.for_model(model)

    @classmethod
    def load(cls, model_uri: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S, warm: bool = True) -> Scorer:
        """Load the model at ``model_uri`` and (by default) warm it on its input example."""
        from prefect_mltrack.models.pyfunc import load_model

        scorer = cls(load_model(model_uri), timeout_s=timeout_s)
        if warm:
            scorer.warm()
        return scorer

    def warm(self) -> bool:
        """Predict once on the saved input example (False when the model has none).

        Also checks the compiled fast path against pyfunc on that example and drops it if they differ.

        Raises:
            MLTrackError: the model cannot predict on its own input example.
        """
        try:
            example = self.model.input_example
        except MLTrackError:
            raise
        except Exception as exc:
            raise BadRequestError(f"Could not read the model's input example: {type(exc).__name__}: {exc}") from exc
        if example is None:
            return False
        try:
            expected = self.model.predict(example)
        except MLTrackError:
            raise
        except Exception as exc:
            raise BadRequestError(
                f"The model failed its warm-up prediction on its own input example: {type(exc).__name__}: {exc}"
            ) from exc
        if self.fast is not None and not self.fast.agrees_with(example, expected):
            logger.warning("The compiled predictor disagrees with the model on its input example; not using it")
            self.fast = None
        return True

    async def score(self, body: bytes, content_type: str | None) -> ScoringResult:
        """Answer one ``POST /invocations`` body; never raises for bad input."""
        try:
            mime = _check_content_type(content_type)
            if mime == CONTENT_TYPE_JSON:
                document = _loads(body)
                fast = await self._score_fast(document)
                if fast is not None:
                    return fast
                data, params = parse_json_payload(document)
            else:
                data, params = parse_csv_payload(_decode(body)), None
            if _is_empty(data):
                raise BadRequestError("The input is empty: send at least one row.")
            return _ok(await self._in_thread(self._predict, data, params))
        except _UnsupportedMediaType as exc:
            return ScoringResult(415, str(exc).encode(), "text/plain; charset=utf-8", "UNSUPPORTED_MEDIA_TYPE")
        except _DeadlineExceeded as exc:
            return error_result(exc)
        except MLTrackError as exc:
            if exc.http_status >= 500:  # raised inside a custom model: still about this input
                exc = BadRequestError(_unexpected(exc))
            return error_result(exc)
        except Exception as exc:
            logger.info("Prediction failed: %s: %s", type(exc).__name__, exc)
            return error_result(BadRequestError(_unexpected(exc)))

    async def _score_fast(self, document: Any) -> ScoringResult | None:
        """Numeric rows through the compiled predictor; None to take the pyfunc path."""
        fast = self.fast
        rows = fast.rows(document) if fast is not None else None
        if fast is None or rows is None:
            return None
        try:
            predictions = fast.predict(rows) if len(rows) <= INLINE_ROWS else await self._in_thread(fast.predict, rows)
        except _DeadlineExceeded:
            raise
        except Exception:  # a fault in the compiled predictor: pyfunc answers instead
            logger.warning("The compiled predictor failed; answering through pyfunc", exc_info=True)
            return None
        return _ok(predictions)

    def _predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        return self.model.predict(data, params=params) if params else self.model.predict(data)

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        future = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        if not self.timeout_s:
            return await future
        try:
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            # The thread finishes on its own; the client gets MLflow's answer now.
            raise _DeadlineExceeded(f"Request processing time exceeded limit ({self.timeout_s:g} s)") from None


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refusing to buffer more than ``max_bytes`` (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(int(declared), max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(size, max_bytes, at_least=True)
        chunks.append(chunk)
    return b"".join(chunks)


async def score_request(request: Request, scorer: Scorer, max_body_bytes: int) -> ScoringResult:
    """Read the body within the limit and score it."""
    try:
        body = await read_body(request, max_body_bytes)
    except PayloadTooLargeError as exc:
        return error_result(exc)
    return await scorer.score(body, request.headers.get("content-type"))


# -- helpers ------------------------------------------------------------------------------------------
def _check_content_type(header: str | None) -> str:
    """MLflow's rules: JSON or CSV, only a ``charset`` parameter, and only utf-8."""
    mime, *parts = (header or "").split(";")
    mime = mime.strip().lower()
    params: dict[str, str] = {}
    for part in parts:
        key, _, value = part.partition("=")
        if key.strip():
            params[key.strip().lower()] = value.strip().strip('"')
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise _UnsupportedMediaType("The scoring server only supports UTF-8")
    unexpected = set(params) - {"charset"}
    if unexpected:
        raise _UnsupportedMediaType(f"Unrecognized content type parameters: {', '.join(sorted(unexpected))}.")
    if mime not in SUPPORTED_CONTENT_TYPES:
        raise _UnsupportedMediaType(
            f"This predictor only supports the following content types: Types: {list(SUPPORTED_CONTENT_TYPES)}. "
            f"Got '{mime}'."
        )
    return mime


def _loads(body: bytes) -> Any:
    if not body.strip():
        raise BadRequestError('The request body is empty; send a JSON document such as {"inputs": [[...]]}.')
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"The request body is not valid JSON (UTF-8): {exc}") from None


def _decode(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"The CSV body is not valid UTF-8: {exc}") from None
    if not text.strip():
        raise BadRequestError("The CSV body is empty; send a header row and at least one data row.")
    return text


def _is_empty(data: Any) -> bool:
    shape = getattr(data, "shape", None)  # DataFrame, Series, ndarray
    if isinstance(shape, tuple):
        return 0 in shape
    if isinstance(data, dict):
        return all(_is_empty(value) for value in data.values())
    if isinstance(data, (list, tuple)):
        return not data
    return False


def _ok(predictions: Any) -> ScoringResult:
    import numpy as np

    if isinstance(predictions, np.ndarray) and predictions.dtype.kind in "biuf":
        payload: Any = {"predictions": predictions}
    else:
        payload = predictions_to_json(predictions)
    try:
        return ScoringResult(200, orjson.dumps(payload, option=_JSON_OPTIONS, default=_default))
    except TypeError as exc:
        raise InvalidParameterError(f"The model's predictions cannot be written as JSON: {exc}") from exc


def _default(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode("ascii")
    return str(value)


def _unexpected(exc: BaseException) -> str:
    detail = exc.message if isinstance(exc, MLTrackError) else f"{type(exc).__name__}: {exc}"
    return (
        "Encountered an unexpected error while evaluating the model. Verify that the input is compatible with "
        f"the model for inference. Error: {detail}"
    )


def _too_large(size: int, limit: int, at_least: bool = False) -> PayloadTooLargeError:
    more = "more than " if at_least else ""
    return PayloadTooLargeError(
        f"The request body is {more}{size} bytes; this server accepts at most {limit} bytes per request. "
        "Send fewer rows per request, or start the server with a larger --max-body-bytes."
    )
