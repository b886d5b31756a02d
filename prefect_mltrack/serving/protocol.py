"""uvicorn's HTTP protocol with ``TCP_NODELAY`` set on every connection.

asyncio turns Nagle's algorithm off only for sockets created with ``proto=IPPROTO_TCP``. The
listening socket uvicorn binds itself for ``--workers N`` (and sockets handed to
``Server.run(sockets=...)``) have ``proto=0``, so their connections keep Nagle on: a response
written in two parts (headers, then body) waits for the client's delayed ACK, about 40 ms per
keep-alive request on Linux. Pass ``http=PROTOCOL`` to uvicorn to avoid that::

    uvicorn.run("prefect_mltrack.serving.app:app_from_env", factory=True, workers=4, http=PROTOCOL)
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

__all__ = ["PROTOCOL", "NoDelayHTTPProtocol"]

PROTOCOL = "prefect_mltrack.serving.protocol:NoDelayHTTPProtocol"


def _base() -> Any:
    from uvicorn.protocols.http.auto import AutoHTTPProtocol  # httptools when installed, else h11

    return AutoHTTPProtocol


class NoDelayHTTPProtocol(_base()):  # type: ignore[misc]
    """uvicorn's default HTTP protocol, sending each write at once."""

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
