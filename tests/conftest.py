"""Shared fixtures: an isolated MLTRACK_HOME per test and a store on each SQL backend.

PostgreSQL tests use the server at ``MLTRACK_TEST_POSTGRES_URI`` (default: the local one at
127.0.0.1:5432, database ``test``); each test gets its own schema, dropped afterwards. Where no
server answers, those tests skip with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URI = os.environ.get("MLTRACK_TEST_POSTGRES_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_unreachable_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URI.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at {POSTGRES_URI}: {exc}"


_PG_REASON: str | bool | None = False  # False = not probed yet


def postgres_skip_reason() -> str | None:
    global _PG_REASON
    if _PG_REASON is False:
        _PG_REASON = _postgres_unreachable_reason()
    return _PG_REASON  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own MLTRACK_HOME and a clean fluent state."""
    for name in list(os.environ):
        if name.startswith(("MLTRACK_", "MLFLOW_")) and name != "MLTRACK_TEST_POSTGRES_URI":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("MLTRACK_HOME", str(home))
    from prefect_mltrack import fluent, settings
    from prefect_mltrack.store import reset_stores

    settings.set_tracking_uri(None)
    fluent._reset_for_tests()
    yield home
    fluent._reset_for_tests()
    settings.set_tracking_uri(None)
    reset_stores()


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A PostgreSQL URI whose connections use a fresh schema of their own."""
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    raw = POSTGRES_URI.replace("+psycopg", "")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URI}?options=-csearch_path%3D{schema}"
    finally:
        from prefect_mltrack.store import reset_stores

        reset_stores()
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded SQLite store and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'mltrack.db'}"
    return str(request.getfixturevalue("postgres_uri"))


@pytest.fixture
def store(store_uri: str):  # type: ignore[no-untyped-def]
    from prefect_mltrack.store import get_store

    return get_store(store_uri)
