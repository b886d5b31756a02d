"""Fixtures of the end-to-end UI tests: a real tracking server with the UI, and headless Chromium.

* ``browser`` (session): Debian's Chromium driven by Playwright, headless, with a fresh profile
  (Playwright's ``launch`` gives every browser a new temporary ``--user-data-dir``). Skips with the
  reason when ``/usr/bin/chromium`` or the ``playwright`` package is missing.
* ``ui_server`` (module): ``create_app`` + ``install_ui`` under uvicorn on a free loopback port, on a
  fresh SQLite file and artifact directory, security middleware on (allowed host ``127.0.0.1``).
  Each test module seeds what it needs, through ``ui_server.client()`` (our ``MlflowClient`` over
  the REST API) or ``ui_server.store`` (the server's own SQL store, for bulk rows).
* ``page`` (function): a new browser context (1280x800) and page. Console errors and uncaught page
  errors are collected in ``console_errors`` and must be empty when the test ends; a test expecting
  one (an HTTP 400 the page shows inline) removes it from the list.

Example:
    def test_title(ui_server, page):
        page.goto(ui_server.page_url("#/experiments"))
        expect(page.get_by_role("heading", name="Experiments")).to_be_visible()
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from fastapi import FastAPI
    from playwright.sync_api import Browser, Page

    from prefect_mltrack.client import MlflowClient
    from prefect_mltrack.server.config import ServerConfig
    from prefect_mltrack.store.base import AbstractStore

CHROMIUM = os.environ.get("MLTRACK_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}


@dataclass
class UIServer:
    """A running tracking server with the web UI.

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        config: Its :class:`ServerConfig`.
        root: Its temp directory (``db.sqlite``, ``artifacts/``).
        app: The FastAPI app.
    """

    url: str
    config: ServerConfig
    root: Path
    app: FastAPI

    @property
    def store(self) -> AbstractStore:
        """The server's own store (bulk seeding without HTTP round trips)."""
        return self.app.state.store  # type: ignore[no-any-return]

    def page_url(self, hash_route: str = "") -> str:
        """The UI page for a hash route such as ``#/experiments/1``."""
        return f"{self.url}/{hash_route}"

    def client(self) -> MlflowClient:
        """Our package's client talking to this server over the REST API."""
        from prefect_mltrack.client import MlflowClient

        return MlflowClient(tracking_uri=self.url)

    def api(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        """Call ``/api/2.0/mlflow/<path>`` and return the JSON answer (raises on an HTTP error)."""
        response = httpx.request(method, f"{self.url}/api/2.0/mlflow/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()


def _chromium_skip_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (install Debian's chromium package)"
    if shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} is not executable"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for one test module (each test gets its own context through ``page``).

    Not for the session: Playwright's sync API keeps an asyncio loop running on the main thread while
    it is open, and later tests in the same worker (Prefect's flows) need to start loops of their own.
    """
    reason = _chromium_skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """A tracking server with the UI installed, security middleware on, fresh database and artifacts."""
    from live_server import serve_app

    from prefect_mltrack.server.app import create_app
    from prefect_mltrack.server.config import ServerConfig
    from prefect_mltrack.server.ui import install_ui

    root = tmp_path_factory.mktemp("ui-server")
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{root / 'db.sqlite'}",
        artifacts_destination=str(root / "artifacts"),
        allowed_hosts=["127.0.0.1"],
    )
    app = create_app(config)
    install_ui(app, config)  # idempotent: fine when create_app already installed it
    server = serve_app(app)
    try:
        yield UIServer(url=server.url, config=config, root=root, app=app)
    finally:
        server.stop()


@pytest.fixture
def console_errors() -> list[str]:
    """Console errors and uncaught exceptions of the test's page (asserted empty at teardown)."""
    return []


@pytest.fixture
def page(browser: Browser, console_errors: list[str]) -> Iterator[Page]:
    """A fresh 1280x800 page; fails the test if the page logged console errors it did not expect."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    new_page = context.new_page()
    new_page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    new_page.on("pageerror", lambda exc: console_errors.append(f"uncaught: {exc}"))
    try:
        yield new_page
    finally:
        context.close()
    assert console_errors == [], f"the page logged errors: {console_errors}"
