"""HTTP plumbing shared by the REST store and the artifact-proxy client.

One pooled ``httpx.Client`` per process (HTTP/1.1 keep-alive; rebuilt in a forked child) carries
every request to every tracking server; :class:`HttpSession` adds what a call to one server needs:

* **Auth**, read from the environment on each request (so a refreshed token applies at once):
  ``MLTRACK_TRACKING_TOKEN`` (or ``MLFLOW_TRACKING_TOKEN``) as ``Authorization: Bearer``, else
  ``..._TRACKING_USERNAME`` / ``..._TRACKING_PASSWORD`` as HTTP Basic.
* **Retries** with exponential backoff and jitter: a connection that could not be opened is retried
  for every request (nothing reached the server); a 429/502/503/504 answer, a timeout or a dropped
  connection only for requests marked idempotent (reads, and writes whose repetition changes
  nothing). ``Retry-After`` is honoured. Tuned by ``MLTRACK_HTTP_REQUEST_MAX_RETRIES`` (default 5),
  ``..._BACKOFF_FACTOR`` (0.5 s, doubled per attempt, capped at 30 s) and ``..._TIMEOUT`` (120 s).
* **Errors**: MLflow's ``{"error_code", "message"}`` answer becomes the matching
  :class:`~prefect_mltrack.exceptions.MLTrackError` subclass with the server's code and message; an
  answer that is not such JSON becomes an error naming the URL and the HTTP status.

TLS: ``MLTRACK_TRACKING_INSECURE_TLS=true`` skips verification, ``MLTRACK_TRACKING_SERVER_CERT_PATH``
names a CA bundle and ``MLTRACK_TRACKING_CLIENT_CERT_PATH`` a client certificate (MLflow's names).

Example:
    >>> session = HttpSession("http://127.0.0.1:5000")            # doctest: +SKIP
    >>> session.call("GET", "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})  # doctest: +SKIP
    {'experiment': {...}}
"""

from __future__ import annotations

import atexit
import base64
import functools
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
import orjson

from prefect_mltrack.exceptions import (
    InvalidParameterError,
    InvalidStateError,
    MalformedFilterError,
    MLTrackError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
)
from prefect_mltrack.settings import env

__all__ = [
    "HttpSession",
    "RetryPolicy",
    "auth_header",
    "error_from_response",
    "reset_shared_client",
    "shared_client",
]

Json = dict[str, Any]
Params = Mapping[str, Any] | list[tuple[str, Any]]

RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
MAX_BACKOFF_S: Final = 30.0
JSON_HEADERS: Final = {"Content-Type": "application/json"}
_ERROR_CLASSES: Final[dict[str, type[MLTrackError]]] = {
    "RESOURCE_DOES_NOT_EXIST": ResourceNotFoundError,
    "NOT_FOUND": ResourceNotFoundError,
    "RESOURCE_ALREADY_EXISTS": ResourceAlreadyExistsError,
    "INVALID_PARAMETER_VALUE": InvalidParameterError,
    "BAD_REQUEST": InvalidParameterError,
    "INVALID_STATE": InvalidStateError,
}
# The search grammar's wording (prefect_mltrack.search): the position survives the trip as text.
_FILTER_POSITION: Final = re.compile(r"^Invalid [\w ]+ \".*\": .* at position (\d+); expected ", re.DOTALL)
_CODE_BY_STATUS: Final = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                          404: "ENDPOINT_NOT_FOUND", 409: "RESOURCE_CONFLICT", 429: "REQUEST_LIMIT_EXCEEDED",
                          501: "NOT_IMPLEMENTED", 503: "TEMPORARILY_UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}  # fmt: skip


# -- configuration ---------------------------------------------------------------------------------
def _env_number(name: str, default: float) -> float:
    raw = env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidParameterError(f"MLTRACK_{name}={raw!r} is not a number; give e.g. {default:g}") from None
    if value < 0:
        raise InvalidParameterError(f"MLTRACK_{name}={raw!r} is negative; give a number >= 0")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is repeated.

    Example:
        >>> RetryPolicy(max_retries=3, backoff_factor=0.5).delay(2, None, jitter=False)
        2.0
    """

    max_retries: int = 5
    backoff_factor: float = 0.5

    @classmethod
    def from_env(cls) -> RetryPolicy:
        return cls(
            max_retries=int(_env_number("HTTP_REQUEST_MAX_RETRIES", cls.max_retries)),
            backoff_factor=_env_number("HTTP_REQUEST_BACKOFF_FACTOR", cls.backoff_factor),
        )

    def delay(self, attempt: int, retry_after: str | None, *, jitter: bool = True) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            try:  # only the delta-seconds form: an HTTP date would need a clock we cannot trust
                return min(max(float(retry_after), 0.0), MAX_BACKOFF_S)
            except ValueError:
                pass
        base = min(self.backoff_factor * (2**attempt), MAX_BACKOFF_S)
        # Full jitter spreads the clients a restarted server sees at once.
        return base * (0.5 + random.random() / 2) if jitter else base


def auth_header() -> str | None:
    """The ``Authorization`` value the environment asks for, or None.

    Example:
        >>> import os
        >>> os.environ["MLTRACK_TRACKING_TOKEN"] = "s3cret"
        >>> auth_header()
        'Bearer s3cret'
        >>> del os.environ["MLTRACK_TRACKING_TOKEN"]
    """
    token = env("TRACKING_TOKEN")
    if token:
        return f"Bearer {token}"
    username = env("TRACKING_USERNAME")
    if username:
        password = env("TRACKING_PASSWORD") or ""
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return None


# -- the process-wide connection pool ----------------------------------------------------------------
_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"prefect-mltrack/{version('prefect-mltrack')}"
    except PackageNotFoundError:
        return "prefect-mltrack"


def _verify() -> bool | str:
    if (env("TRACKING_INSECURE_TLS") or "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    return env("TRACKING_SERVER_CERT_PATH") or True


def shared_client() -> httpx.Client:
    """The process's pooled HTTP client (created on first use; thread-safe)."""
    global _client
    client = _client
    if client is not None:
        return client
    with _client_lock:
        if _client is None:
            timeout = _env_number("HTTP_REQUEST_TIMEOUT", 120.0) or None
            verify, cert = _verify(), env("TRACKING_CLIENT_CERT_PATH")
            transport = httpx.HTTPTransport(
                verify=verify,
                cert=cert,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0),
                # A request goes out as two writes (head, then body): without TCP_NODELAY the body can
                # wait for the server's delayed ACK of the head.
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
            _client = httpx.Client(
                timeout=httpx.Timeout(timeout, connect=min(timeout or 10.0, 10.0)),
                headers={"User-Agent": _user_agent()},
                transport=transport,
                trust_env=True,
            )
        return _client


def _forget_client() -> None:
    # A forked child must not share the parent's sockets; it opens its own on first use.
    global _client
    _client = None


def reset_shared_client() -> None:
    """Close the pool (at exit; in tests; or to pick up changed TLS or timeout settings)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_client)
# Kept-alive sockets are closed politely at exit rather than left to the garbage collector.
atexit.register(reset_shared_client)


# -- errors ----------------------------------------------------------------------------------------
def _error(code: str, message: str, body: Json) -> MLTrackError:
    if code == "INVALID_PARAMETER_VALUE":
        position = body.get("position")
        if not isinstance(position, int):
            match = _FILTER_POSITION.match(message)
            position = int(match.group(1)) if match else None
        if position is not None:
            return MalformedFilterError(message, position=position)
    cls = _ERROR_CLASSES.get(code)
    return cls(message, error_code=code) if cls is not None else MLTrackError(message, error_code=code)


def error_from_response(method: str, url: str, status: int, content: bytes) -> MLTrackError:
    """The error for a non-2xx answer: MLflow's JSON error, or one naming the URL and status.

    Example:
        >>> err = error_from_response("GET", "http://h/api", 404, b'{"error_code": "RESOURCE_DOES_NOT_EXIST", '
        ...                           b'"message": "Run x not found"}')
        >>> type(err).__name__, err.error_code, err.message
        ('ResourceNotFoundError', 'RESOURCE_DOES_NOT_EXIST', 'Run x not found')
        >>> error_from_response("GET", "http://h/x", 502, b"<html>Bad gateway</html>").error_code
        'TEMPORARILY_UNAVAILABLE'
    """
    try:
        body = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error_code"), str):
        message = body.get("message")
        return _error(body["error_code"], message if isinstance(message, str) else str(message), body)
    code = _CODE_BY_STATUS.get(status) or ("TEMPORARILY_UNAVAILABLE" if status in (502, 503) else "INTERNAL_ERROR")
    if isinstance(body, dict) and isinstance(body.get("detail"), str):  # a plain FastAPI/Starlette error
        return _error(code, f"{method} {url} answered HTTP {status}: {body['detail']}", {})
    snippet = content[:200].decode("utf-8", "replace").strip()
    hint = "; check the tracking URI points at an MLflow-compatible server (`mltrack server`)" if status == 404 else ""
    return MLTrackError(
        f"{method} {url} answered HTTP {status} without an MLflow error body"
        f"{f' ({snippet!r})' if snippet else ''}{hint}",
        error_code=code,
    )


# -- one server --------------------------------------------------------------------------------------
class HttpSession:
    """Requests to one tracking server, with auth, retries and MLflow's error mapping.

    Args:
        base_url: ``http(s)://host[:port][/prefix]`` of the server.
        retry: Retry policy; default from the environment.
        send_credentials: Send the environment's credentials; False for a host the user did not
            name (e.g. one read from an artifact URI a server returned).

    Example:
        >>> session = HttpSession("http://127.0.0.1:5000")                       # doctest: +SKIP
        >>> session.call("POST", "/api/2.0/mlflow/runs/search", body={}, idempotent=True)  # doctest: +SKIP
    """

    def __init__(self, base_url: str, retry: RetryPolicy | None = None, *, send_credentials: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry if retry is not None else RetryPolicy.from_env()
        self.send_credentials = send_credentials

    def send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Params | None = None,
        content: bytes | Callable[[], Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request (retried per the policy) and return a 2xx response, else raise.

        ``content`` may be a callable returning a fresh body (e.g. an open file) for each attempt,
        so a streamed upload can be retried. With ``stream=True`` the caller must close the response.
        """
        client = shared_client()
        attempt = 0
        while True:
            request_headers = dict(headers) if headers else {}
            authorization = auth_header() if self.send_credentials else None
            if authorization:
                request_headers["Authorization"] = authorization
            body = content() if callable(content) else content
            try:
                request = client.build_request(
                    method,
                    url,
                    params=params,
                    content=body,
                    headers=request_headers,  # type: ignore[arg-type]
                )
                response = client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing reached the server: safe to repeat whatever the request does.
                _close_body(body)
                if attempt >= self.retry.max_retries:
                    raise self._unreachable(method, str(url), exc) from exc
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                _close_body(body)
                if not idempotent or attempt >= self.retry.max_retries:
                    raise self._unreachable(method, str(url), exc) from exc
            except httpx.HTTPError as exc:  # e.g. a file that changed size while it was uploaded
                _close_body(body)
                raise MLTrackError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from exc
            else:
                _close_body(body)
                status = response.status_code
                if status < 300:
                    return response
                if status in RETRY_STATUSES and idempotent and attempt < self.retry.max_retries:
                    retry_after = response.headers.get("retry-after")
                    response.close()
                    time.sleep(self.retry.delay(attempt, retry_after))
                    attempt += 1
                    continue
                if stream:
                    response.read()
                    response.close()
                raise error_from_response(method, str(url), status, response.content)
            time.sleep(self.retry.delay(attempt, None))
            attempt += 1

    @staticmethod
    @functools.lru_cache(maxsize=512)
    def _parsed(url: str) -> httpx.URL:
        # httpx parses every URL string it is given; API paths repeat, so parse each once.
        return httpx.URL(url)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Json | None = None,
        idempotent: bool = False,
    ) -> Json:
        """One JSON API call: ``path`` is appended to the base URL; the answer is the decoded JSON."""
        url = self.base_url + path
        content = orjson.dumps(body) if body is not None else None
        response = self.send(
            method,
            self._parsed(url),
            params=params,
            content=content,
            headers=JSON_HEADERS if content is not None else None,
            idempotent=idempotent or method == "GET",
        )
        raw = response.content
        if not raw:
            return {}
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise MLTrackError(
                f"{method} {url} answered HTTP {response.status_code} with a body that is not JSON "
                f"({raw[:200].decode('utf-8', 'replace')!r}); check the tracking URI points at an "
                "MLflow-compatible server",
                error_code="INTERNAL_ERROR",
            ) from None
        if not isinstance(answer, dict):
            raise MLTrackError(f"{method} {url} answered with JSON that is not an object", error_code="INTERNAL_ERROR")
        return answer

    def _unreachable(self, method: str, url: str, exc: Exception) -> MLTrackError:
        timed_out = isinstance(exc, httpx.TimeoutException)
        what = "timed out" if timed_out else f"failed ({type(exc).__name__}: {exc})"
        return MLTrackError(
            f"{method} {url} {what} after {self.retry.max_retries + 1} attempt(s). Is the tracking server at "
            f"{self.base_url} running and reachable (`mltrack server`)? Retries and timeout are set with "
            "MLTRACK_HTTP_REQUEST_MAX_RETRIES and MLTRACK_HTTP_REQUEST_TIMEOUT.",
            error_code="DEADLINE_EXCEEDED" if timed_out else "TEMPORARILY_UNAVAILABLE",
        )


def _close_body(body: Any) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()
