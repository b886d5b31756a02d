"""Shared fixtures of the server tests: the real tracking server on a free loopback port.

``run_server(config)`` starts :func:`prefect_mltrack.server.app.create_app` under uvicorn in a
background thread and yields its base URL; ``live_server`` is one such server per test module, on a
SQLite file and a local artifact directory of its own.

Example:
    def test_health(live_server):
        assert httpx.get(f"{live_server.url}/health").text == "OK"
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from prefect_mltrack.server.app import create_app
from prefect_mltrack.server.config import ServerConfig

API = "/api/2.0/mlflow"


@dataclass(frozen=True)
class LiveServer:
    """A running server: ``url`` is ``http://127.0.0.1:<port>``, ``api`` adds ``/api/2.0/mlflow``."""

    url: str
    config: ServerConfig
    root: Path

    @property
    def api(self) -> str:
        return self.url + API


def server_config(root: Path, **overrides: object) -> ServerConfig:
    """A config on ``root/db.sqlite`` and ``root/artifacts``, security middleware off by default."""
    values: dict[str, object] = {
        "backend_store_uri": f"sqlite:///{root / 'db.sqlite'}",
        "artifacts_destination": str(root / "artifacts"),
        "disable_security_middleware": True,
    }
    values.update(overrides)
    return ServerConfig.model_validate(values)


@contextmanager
def run_server(config: ServerConfig) -> Iterator[str]:
    """Serve the real app for ``config`` on a free 127.0.0.1 port; yields the base URL."""
    # Port 0: the kernel picks a free port, so parallel servers never race for one. (A socket bound
    # here and handed to uvicorn would work too, but socket.socket() has proto 0, so asyncio leaves
    # Nagle on for its connections and every answer waits ~40 ms for a delayed ACK.)
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One tracking server for the whole test module (tests use names of their own)."""
    root = tmp_path_factory.mktemp("server")
    config = server_config(root)
    with run_server(config) as url:
        yield LiveServer(url=url, config=config, root=root)
