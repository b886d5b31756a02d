"""Security layer of the tracking server: one pure ASGI middleware, safe by default, cheap per request.

Every HTTP request goes through these steps in order; the first that fails answers and the app never runs:

1. **Host allow-list** (DNS rebinding): a Host outside ``allowed_hosts`` -> 403 ``PERMISSION_DENIED``.
   Runs first so nothing else (not even whether auth is on) is revealed to a rebinding page. The Host and
   Origin parsing rules live in :mod:`prefect_mltrack.server.hosts`.
2. **CORS preflight** (``OPTIONS`` + ``Access-Control-Request-Method``): 204 with ``Access-Control-Allow-*``
   for an allowed origin, 403 otherwise. Before auth because browsers never send credentials on a preflight.
3. **Token auth** (when ``auth_token`` is set): ``Authorization: Bearer <token>`` or HTTP Basic with the
   token as password (what ``MLFLOW_TRACKING_TOKEN`` / ``MLFLOW_TRACKING_PASSWORD`` send) -> else 401
   ``UNAUTHENTICATED``. It covers every route (UI, ``/docs``, ``/openapi.json``, artifacts) except
   :data:`OPEN_PATHS`.
4. **Cross-origin writes**: on POST/PUT/PATCH/DELETE an ``Origin`` must be the server's own or listed in
   ``cors_allowed_origins``; ``Sec-Fetch-Site: cross-site`` without such an origin is refused too -> 403.
5. **JSON only** on POST/PATCH/DELETE with a body under ``/api/`` and ``/ajax-api/`` (MLflow's rule and
   wording) -> 400 ``BAD_REQUEST``; the artifact proxy (raw bytes) is exempt. A ``text/plain`` form post
   therefore cannot create anything even if step 4 were bypassed.

Every response then gets ``X-Content-Type-Options: nosniff``, ``X-Frame-Options``, ``Referrer-Policy`` and,
outside the API, a ``Content-Security-Policy``.

:data:`OPEN_PATHS` (``/health``, ``/version``) skip steps 1 and 3 so load balancers can probe the server by
IP address without the token; they only answer fixed text. ``disable=True`` (``--disable-security-middleware``)
turns off every check and header except the token, which stays enforced when one is configured.

Example:
    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> install_security(app, SecurityConfig.from_cli(host="127.0.0.1", cors_allowed_origins="https://ui.example"))
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import os
import re
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.server.hosts import (
    LOOPBACK_HOSTS,
    HostRules,
    default_allowed_hosts,
    normalise_host_pattern,
    normalise_origin,
    same_origin,
    split_host_port,
)

__all__ = [
    "API_PREFIXES",
    "DEFAULT_CSP",
    "LOOPBACK_HOSTS",
    "OPEN_PATHS",
    "RAW_BODY_PREFIXES",
    "SecurityConfig",
    "SecurityMiddleware",
    "default_allowed_hosts",
    "install_security",
]

logger = logging.getLogger(__name__)

OPEN_PATHS: Final = frozenset({"/health", "/version"})
API_PREFIXES: Final = ("/api/", "/ajax-api/")
# The artifact proxy takes raw file bytes with whatever Content-Type the client guessed.
RAW_BODY_PREFIXES: Final = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")
# frame-ancestors is appended to match x_frame_options (the modern form of the same rule).
DEFAULT_CSP: Final = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'"
)
_FRAME_ANCESTORS: Final = {"DENY": "'none'", "SAMEORIGIN": "'self'"}
_STATE_CHANGING: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_JSON_BODY_METHODS: Final = frozenset({"POST", "PATCH", "DELETE"})
_CORS_METHODS: Final = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_CONTENT_TYPE_MESSAGE: Final = "Bad Request. Content-Type must be one of ['application/json']"
# Bearer for API clients; Basic as well so a browser opening the UI prompts (any user name, token as password).
_CHALLENGES: Final = (
    (b"www-authenticate", b'Bearer realm="mltrack"'),
    (b"www-authenticate", b'Basic realm="mltrack", charset="UTF-8"'),
)
_HEADER_LIST: Final = re.compile(rb"^[A-Za-z0-9!#$%&'*+.^_`|~, -]*$")
_TOKEN_CHARS: Final = re.compile(r"^[\x21-\x7e]+$")
_HOST_CACHE_SIZE: Final = 256


def _split_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item.strip()]


class SecurityConfig(BaseModel):
    """What the security middleware enforces; validated when built, so a bad option fails at startup.

    Example:
        >>> config = SecurityConfig(allowed_hosts=["LocalHost", "*.corp.example", "::1"])
        >>> config.allowed_hosts
        ['localhost', '*.corp.example', '[::1]']
        >>> SecurityConfig().x_frame_options
        'DENY'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_hosts: list[str] = Field(
        default_factory=lambda: list(LOOPBACK_HOSTS),
        description="Host header values accepted: 'name' or '[v6]' (any port), 'name:port', 'name:*', "
        "'*.example.com', an IP network like '10.0.0.0/8', or '*' for any.",
    )
    cors_allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) besides the server's own that may call it from a browser; "
        "'*' allows any origin without credentials.",
    )
    auth_token: SecretStr | None = Field(default=None, description="Token every request must carry.")
    x_frame_options: str = Field(default="DENY", description="DENY, SAMEORIGIN, or NONE to send no header.")
    content_security_policy: str | None = Field(
        default=None,
        description="CSP for non-API responses; None: DEFAULT_CSP with frame-ancestors matching "
        "x_frame_options; '': send none.",
    )
    static_prefix: str = Field(default="", description="Path prefix the whole server is mounted under.")
    raw_body_prefixes: list[str] = Field(
        default_factory=lambda: list(RAW_BODY_PREFIXES),
        description="API paths (after the static prefix) that take bodies of any content type.",
    )
    disable: bool = Field(default=False, description="Turn off every check and header except the token.")

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _none_means_loopback(cls, value: Any) -> Any:
        return list(LOOPBACK_HOSTS) if value is None else value

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        hosts = [normalise_host_pattern(pattern) for pattern in value if pattern.strip()]
        if not hosts:
            raise InvalidParameterError("--allowed-hosts is empty; give at least one host, or '*' for any")
        return hosts

    @field_validator("cors_allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        return [normalise_origin(origin) for origin in value if origin.strip()]

    @field_validator("auth_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN_CHARS.match(value.get_secret_value()):
            raise InvalidParameterError(
                "The auth token must be non-empty printable ASCII without spaces (it travels in an HTTP header); "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("x_frame_options")
    @classmethod
    def _check_frame_options(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in ("DENY", "SAMEORIGIN", "NONE"):
            raise InvalidParameterError(f"--x-frame-options {value!r} must be DENY, SAMEORIGIN or NONE")
        return value

    @field_validator("static_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not value.startswith("/"):
            raise InvalidParameterError(f"--static-prefix {value!r} must start with '/', like '/mlflow'")
        return value

    @classmethod
    def from_cli(
        cls,
        *,
        host: str = "127.0.0.1",
        allowed_hosts: str | Sequence[str] | None = None,
        cors_allowed_origins: str | Sequence[str] | None = None,
        auth_token: str | SecretStr | None = None,
        auth_token_file: str | os.PathLike[str] | None = None,
        x_frame_options: str = "DENY",
        content_security_policy: str | None = None,
        static_prefix: str = "",
        disable: bool = False,
    ) -> SecurityConfig:
        """Build the config from command-line style values (comma-separated lists, a token file).

        Args:
            host: The address the server binds; picks the default ``allowed_hosts``.
            allowed_hosts: ``--allowed-hosts``; None: :func:`default_allowed_hosts` of ``host``.
            cors_allowed_origins: ``--cors-allowed-origins``.
            auth_token: The token itself (e.g. from an environment variable or a block's ``SecretStr``).
            auth_token_file: A file holding the token (surrounding whitespace is stripped).

        Raises:
            InvalidParameterError: A bad option, both a token and a token file, or an empty/missing file.

        Example:
            >>> SecurityConfig.from_cli(host="localhost", allowed_hosts="a.example, b.example:8080").allowed_hosts
            ['a.example', 'b.example:8080']
        """
        if auth_token is not None and auth_token_file is not None:
            raise InvalidParameterError("Give the auth token or a token file, not both")
        if auth_token_file is not None:
            auth_token = _read_token_file(Path(auth_token_file))
        return cls(
            allowed_hosts=_split_list(allowed_hosts) or default_allowed_hosts(host),
            cors_allowed_origins=_split_list(cors_allowed_origins) or [],
            auth_token=SecretStr(auth_token) if isinstance(auth_token, str) else auth_token,
            x_frame_options=x_frame_options,
            content_security_policy=content_security_policy,
            static_prefix=static_prefix,
            disable=disable,
        )


def _read_token_file(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(f"Cannot read the auth token file {str(path)!r}: {exc}") from None
    if not token:
        raise InvalidParameterError(
            f"The auth token file {str(path)!r} is empty; write the token into it, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE"
        )
    if os.name == "posix" and path.stat().st_mode & 0o077:
        logger.warning("The auth token file %r can be read by other users; restrict it with chmod 600", str(path))
    return token


class SecurityMiddleware:
    """The checks listed in the module docstring, as one ASGI layer (one pass over the headers).

    Example:
        >>> from starlette.applications import Starlette
        >>> wrapped = SecurityMiddleware(Starlette(), config=SecurityConfig())
    """

    def __init__(self, app: ASGIApp, config: SecurityConfig) -> None:
        self.app = app
        self.checks = not config.disable
        prefix = config.static_prefix
        self.open_paths = frozenset(prefix + path for path in OPEN_PATHS)
        self.api_prefixes = tuple(prefix + path for path in API_PREFIXES)
        self.raw_body_prefixes = tuple(prefix + path for path in config.raw_body_prefixes)
        self.hosts = HostRules.compile(config.allowed_hosts)
        self.allowed_host_cache: set[bytes] = set()
        self.any_origin = "*" in config.cors_allowed_origins
        self.origins = frozenset(origin.encode("latin-1") for origin in config.cors_allowed_origins)
        self.token = config.auth_token.get_secret_value().encode() if config.auth_token else None
        common = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
        if config.x_frame_options != "NONE":
            common.append((b"x-frame-options", config.x_frame_options.encode()))
        csp = config.content_security_policy
        if csp is None:
            ancestors = _FRAME_ANCESTORS.get(config.x_frame_options)
            csp = f"{DEFAULT_CSP}; frame-ancestors {ancestors}" if ancestors else DEFAULT_CSP
        self.api_headers = tuple(common)
        self.page_headers = (*common, (b"content-security-policy", csp.encode())) if csp else self.api_headers
        if self.any_origin and self.token is None:
            logger.warning("CORS allows any origin and no auth token is set: any web page can write to this server")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = dict(scope["headers"])
        path: str = scope["path"]
        method: str = scope.get("method", "GET")
        is_open = path in self.open_paths
        origin = headers.get(b"origin")
        cors_headers: tuple[tuple[bytes, bytes], ...] = ()
        if self.checks:
            host = headers.get(b"host", b"")
            if not is_open and host not in self.allowed_host_cache and not self._host_allowed(host):
                name = host.decode("latin-1")
                logger.warning("Refused a request for Host %r (not in allowed hosts)", name)
                bare = (split_host_port(name) or (name, None))[0]
                message = (
                    f"Host {name!r} is not allowed on this server (DNS rebinding protection). If clients reach "
                    f"the server by this name, start it with --allowed-hosts including {bare!r}."
                )
                return await self._reject(scope, send, 403, "PERMISSION_DENIED", message)
            if origin is not None and method == "OPTIONS" and b"access-control-request-method" in headers:
                return await self._preflight(scope, send, origin, host, headers)
        if self.token is not None and not is_open and not self._authorized(headers.get(b"authorization")):
            missing = b"authorization" not in headers
            message = (
                f"{'Missing' if missing else 'Wrong'} credentials. Send 'Authorization: Bearer <token>' "
                "(MLFLOW_TRACKING_TOKEN) or HTTP Basic auth with the token as password (MLFLOW_TRACKING_PASSWORD)."
            )
            return await self._reject(scope, send, 401, "UNAUTHENTICATED", message, _CHALLENGES)
        if not self.checks:
            await self.app(scope, receive, send)
            return
        if origin is not None:
            same = same_origin(origin, headers.get(b"host", b""))
            allowed = same or self.any_origin or origin.lower() in self.origins
            if not same and allowed:
                cors_headers = self._cors_headers(origin)
        else:
            allowed = headers.get(b"sec-fetch-site") != b"cross-site"
        if not allowed and (kind == "websocket" or method in _STATE_CHANGING):
            shown = origin.decode("latin-1") if origin is not None else "a cross-site page"
            logger.warning("Refused a cross-origin %s %s from %r", method, path, shown)
            message = (
                f"Cross-origin request from {shown!r} refused. If that web app should call this server, start "
                "it with --cors-allowed-origins including its origin (scheme://host[:port])."
            )
            return await self._reject(scope, send, 403, "PERMISSION_DENIED", message)
        if kind == "websocket":
            await self.app(scope, receive, send)
            return
        is_api = path.startswith(self.api_prefixes)
        if is_api and method in _JSON_BODY_METHODS and not path.startswith(self.raw_body_prefixes):
            content_type = headers.get(b"content-type", b"")
            if content_type.partition(b";")[0].strip().lower() != b"application/json":
                has_body, receive = await _has_body(headers, receive)
                if has_body:
                    return await self._reject(scope, send, 400, "BAD_REQUEST", _CONTENT_TYPE_MESSAGE)
        extra = (*self.api_headers, *cors_headers) if is_api else (*self.page_headers, *cors_headers)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = message.get("headers") or []
                names = {name.lower() for name, _ in present}
                # The app's own value wins (e.g. a page with its own CSP); Vary lists combine.
                added = (pair for pair in extra if pair[0] not in names or pair[0] == b"vary")
                message["headers"] = [*present, *added]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _host_allowed(self, host: bytes) -> bool:
        if self.hosts.any_host:
            return True
        if not self.hosts.allows(host.decode("latin-1")):
            return False
        # Most traffic repeats one Host value; remembering it skips parsing. Bounded: wildcards allow many.
        if len(self.allowed_host_cache) < _HOST_CACHE_SIZE:
            self.allowed_host_cache.add(host)
        return True

    def _authorized(self, header: bytes | None) -> bool:
        if header is None:
            return False
        scheme, _, credentials = header.strip().partition(b" ")
        scheme = scheme.lower()
        if scheme == b"bearer":
            candidate = credentials.strip()
        elif scheme == b"basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            _user, sep, candidate = decoded.partition(b":")
            if not sep:
                return False
        else:
            return False
        assert self.token is not None
        return hmac.compare_digest(candidate, self.token)

    def _cors_headers(self, origin: bytes) -> tuple[tuple[bytes, bytes], ...]:
        if self.any_origin and origin.lower() not in self.origins:
            # '*' with credentials is refused by browsers and would hand any site the user's session.
            return ((b"access-control-allow-origin", b"*"),)
        return (
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        )

    async def _preflight(
        self, scope: Scope, send: Send, origin: bytes, host: bytes, headers: dict[bytes, bytes]
    ) -> None:
        if not (self.any_origin or origin.lower() in self.origins or same_origin(origin, host)):
            message = (
                f"Cross-origin requests from {origin.decode('latin-1')!r} are not allowed; start the server "
                "with --cors-allowed-origins including that origin if it should call this server."
            )
            return await self._reject(scope, send, 403, "PERMISSION_DENIED", message)
        requested = headers.get(b"access-control-request-headers", b"")
        allow_headers = requested if _HEADER_LIST.match(requested) and requested else b"authorization, content-type"
        response_headers = [
            *self._cors_headers(origin),
            (b"access-control-allow-methods", _CORS_METHODS),
            (b"access-control-allow-headers", allow_headers),
            (b"access-control-max-age", b"600"),
            *self.api_headers,
        ]
        await send({"type": "http.response.start", "status": 204, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})

    async def _reject(
        self,
        scope: Scope,
        send: Send,
        status: int,
        error_code: str,
        message: str,
        extra: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        if scope["type"] == "websocket":
            # Closing before accept makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error_code": error_code, "message": message}, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *(self.api_headers if self.checks else ()),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _has_body(headers: dict[bytes, bytes], receive: Receive) -> tuple[bool, Receive]:
    """Whether the request carries a body, without reading it when Content-Length tells.

    Without Content-Length (chunked, HTTP/2) the first non-empty chunk is read and handed back to the app
    through the returned ``receive``.
    """
    length = headers.get(b"content-length")
    if length is not None:
        return length.strip() != b"0", receive
    seen: deque[Message] = deque()
    while True:
        message = await receive()
        seen.append(message)
        if message["type"] != "http.request" or message.get("body"):
            # A disconnect also counts: there is no reason to run the app for a client that left.
            has_body = True
            break
        if not message.get("more_body", False):
            has_body = False
            break

    async def replay() -> Message:
        return seen.popleft() if seen else await receive()

    return has_body, replay


def install_security(app: Any, config: SecurityConfig) -> None:
    """Add the security middleware to a Starlette/FastAPI app.

    Call it after every other ``add_middleware`` so it is the outermost user middleware and sees each request
    first. With ``disable=True`` and no token nothing is installed (no cost at all).

    Example:
        >>> from fastapi import FastAPI
        >>> app = FastAPI()
        >>> install_security(app, SecurityConfig(auth_token="s3cret-token"))
        >>> [m.cls.__name__ for m in app.user_middleware]
        ['SecurityMiddleware']
    """
    if config.disable:
        logger.warning("Security middleware disabled: no Host, Origin or content-type checks")
        if config.auth_token is None:
            return
    app.add_middleware(SecurityMiddleware, config=config)
