"""Property-based fuzzing of the tracking server against its own OpenAPI document (schemathesis).

Every operation gets generated requests, valid and invalid; the server must never answer 5xx, and
every answer must match the status codes, content types and schemas the document declares. The
suite runs a few cases per operation (a few hundred in all); ``make fuzz`` runs many more
(``MLTRACK_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from prefect_mltrack.server.app import create_app
from prefect_mltrack.server.config import ServerConfig

EXAMPLES = int(os.environ.get("MLTRACK_FUZZ_EXAMPLES", "4"))


def _app():  # type: ignore[no-untyped-def]
    root = Path(os.environ.get("MLTRACK_FUZZ_DIR") or __import__("tempfile").mkdtemp(prefix="mltrack-fuzz-"))
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{root / 'fuzz.db'}",
        artifacts_destination=str(root / "artifacts"),
        allowed_hosts=["testserver", "localhost", "127.0.0.1"],
    )
    return create_app(config)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.mark.filterwarnings("ignore")
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_answers_match_the_schema(case):  # type: ignore[no-untyped-def]
    case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    )
