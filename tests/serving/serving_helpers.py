"""Helpers of the serving tests: uvicorn on a free loopback port, polling, the registry fixture's data."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

SEED_ROW = [5.1, 3.5, 1.4, 0.2]


@dataclass(frozen=True)
class IrisRegistry:
    """A SQLite store with ``Iris`` v1 (forest, @champion) and v2 (logistic regression), ``Broken`` v1
    (fails its warm-up) and the data they were trained on."""

    tracking_uri: str
    X: Any
    v1: Any
    v2: Any


class FailsOnExample:
    """A custom model that cannot predict on its own input example."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        raise ValueError("this model is broken")


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free 127.0.0.1 port; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    from prefect_mltrack.serving.protocol import PROTOCOL

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", http=PROTOCOL)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, timeout: float = 60.0, process: Any = None) -> float:
    """Poll ``url`` until it answers 200; returns the seconds it took."""
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {process.stderr.read()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout} s")
