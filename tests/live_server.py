"""A real tracking server for tests: the app from ``create_app`` in uvicorn, on a thread, on loopback.

One server per test session is cheap to share: :meth:`LiveServer.swap_store` points the running app at
a fresh store (the previous one is closed), so each test sees an empty database while the process,
port and connection pool stay. Import it from any test module as ``from live_server import ...``
(``tests/`` is on ``sys.path`` through the root ``conftest.py``).

Example::

    with LiveServer(ServerConfig(backend_store_uri=f"sqlite:///{db}", artifacts_destination=str(root))) as server:
        store = RestStore(server.url)
        store.get_experiment("0")
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from prefect_mltrack.server.app import create_app
from prefect_mltrack.server.config import ServerConfig
from prefect_mltrack.store.base import AbstractStore

__all__ = ["LiveServer", "fresh_sql_store", "free_port_socket", "serve_app"]


def free_port_socket() -> socket.socket:
    """A listening-ready socket bound to a free 127.0.0.1 port (no race between picking and binding)."""
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
    # TCP, and without it every answer written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class _ThreadedServer:
    """Any ASGI app served by uvicorn on a daemon thread; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, app: Any, **uvicorn_options: Any) -> None:
        self._sock = free_port_socket()
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        options = {"log_level": "warning", "access_log": False, "lifespan": "on", "timeout_keep_alive": 30}
        self._server = uvicorn.Server(uvicorn.Config(app, **{**options, **uvicorn_options}))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"uvicorn-{self.port}", daemon=True
        )

    def start(self, probe: str = "/health", timeout: float = 20.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError(f"uvicorn on {self.url} exited during startup; see the captured log")
            if self._server.started:
                try:
                    if httpx.get(self.url + probe, timeout=2.0).status_code < 500:
                        return
                except httpx.HTTPError as exc:
                    last_error = exc
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"Server on {self.url} did not answer {probe} within {timeout}s: {last_error!r}")

    def stop(self, timeout: float = 20.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()


def serve_app(app: Any, probe: str = "/health", **uvicorn_options: Any) -> _ThreadedServer:
    """Start any ASGI app (e.g. a tiny test double of a flaky network) and return its running server."""
    server = _ThreadedServer(app, **uvicorn_options)
    server.start(probe)
    return server


def fresh_sql_store(db_path: Path, config: ServerConfig) -> AbstractStore:
    """A new SQLite store as the server would open it (new experiments under the server's artifact root)."""
    from prefect_mltrack.store.sql.store import SqlStore

    db_path.parent.mkdir(parents=True, exist_ok=True)
    return SqlStore(f"sqlite:///{db_path}", artifact_root=config.default_artifact_root)


class LiveServer:
    """The tracking server app (``create_app``) running on a free loopback port.

    Args:
        config: The server's configuration (host and port in it are ignored).
        store: The first store; default: opened from ``config.backend_store_uri``.

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        app: The FastAPI app, e.g. to inspect ``app.state``.
    """

    def __init__(self, config: ServerConfig, store: AbstractStore | None = None) -> None:
        self.config = config
        self.app = create_app(config, store=store)
        self._server = _ThreadedServer(self.app)
        self.url = self._server.url
        self.port = self._server.port

    @property
    def store(self) -> AbstractStore:
        return self.app.state.store  # type: ignore[no-any-return]

    def start(self) -> LiveServer:
        self._server.start()
        return self

    def swap_store(self, store: AbstractStore) -> None:
        """Serve ``store`` from the next request on; the previous store is closed.

        Call it between tests, when no request is in flight.
        """
        previous = self.app.state.store
        self.app.state.store = store
        if previous is not store:
            previous.close()

    def stop(self) -> None:
        """Stop uvicorn (in-flight requests finish; the lifespan closes the current store)."""
        self._server.stop()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
