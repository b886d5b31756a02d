"""One Prefect API for the whole session (its start costs ~10 s) and no heartbeat per flow run.

Prefect's flow engine joins a heartbeat thread at the end of every flow run, ~1 s each; switching
it off brings a flow run to ~0.1 s.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """The URL of a real Prefect API server (``prefect_test_harness``) shared by the session."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(autouse=True)
def no_heartbeat(prefect_api: str) -> Iterator[None]:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
