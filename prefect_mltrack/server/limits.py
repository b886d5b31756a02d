"""A cap on JSON request bodies, so one client cannot make a worker hold gigabytes in memory.

Artifact uploads are exempt: the proxy streams them to storage chunk by chunk. The cap is checked
against ``Content-Length`` before anything is read, and against the bytes actually received for
chunked bodies.

Example:
    >>> BodyLimit(lambda scope, receive, send: None, max_bytes=1024).max_bytes
    1024
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

MAX_JSON_BODY = 4 * 1024 * 1024
_EXEMPT_PREFIXES = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse (413) request bodies above ``max_bytes`` outside the artifact proxy."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_JSON_BODY) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Callable[[Message], Awaitable[None]]) -> None:
        body = orjson.dumps(
            {
                "error_code": "INVALID_PARAMETER_VALUE",
                "message": f"Request body is larger than {self.max_bytes} bytes; split it (log-batch takes "
                "at most 1000 metrics, 100 params and 100 tags) or upload files as artifacts",
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
