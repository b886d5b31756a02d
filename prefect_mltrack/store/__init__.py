"""Tracking stores, chosen by URI scheme."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect_mltrack.store.base import AbstractStore

_stores: dict[str, AbstractStore] = {}
_lock = threading.Lock()


def get_store(tracking_uri: str | None = None) -> AbstractStore:
    """The store for a tracking URI, created once per process and URI.

    Example:
        >>> store = get_store("sqlite:////tmp/mltrack-doc.db")   # doctest: +SKIP
    """
    from prefect_mltrack.settings import get_tracking_uri, normalize_tracking_uri

    uri = normalize_tracking_uri(tracking_uri) if tracking_uri else get_tracking_uri()
    store = _stores.get(uri)
    if store is not None:
        return store
    with _lock:
        store = _stores.get(uri)
        if store is None:
            store = _create_store(uri)
            _stores[uri] = store
        return store


def _create_store(uri: str) -> AbstractStore:
    from prefect_mltrack.exceptions import InvalidParameterError

    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in ("sqlite", "postgresql", "postgres"):
        from prefect_mltrack.store.sql.store import SqlStore

        return SqlStore(uri)
    if scheme in ("http", "https"):
        from prefect_mltrack.store.rest import RestStore

        return RestStore(uri)
    raise InvalidParameterError(
        f"Unsupported tracking URI {uri!r}: use sqlite:///<path>, postgresql+psycopg://<user>@<host>/<db>, "
        "http(s)://<host>:<port> (a tracking server), or a local path."
    )


def reset_stores() -> None:
    """Close and forget every cached store (tests, and after fork)."""
    with _lock:
        for store in _stores.values():
            store.close()
        _stores.clear()
