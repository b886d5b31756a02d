"""Statements run on the raw DB-API cursor, for the store's hot paths.

SQLAlchemy's per-statement machinery (result rows, parameter processing, the compiled-cache
lookup) costs more than the database's own work on our hot paths: a 1000-metric ``log_batch``,
a 100,000-point history, the params/tags/metrics of a page of runs. Those statements are still
built with SQLAlchemy Core, compiled once per dialect with *positional* parameters (``?`` on
SQLite, ``%s`` on psycopg), so every caller passes plain tuples on both backends.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement


def positional_dialect(engine: Engine) -> Dialect:
    """``engine``'s dialect, or a twin of it that renders positional ``%s`` markers (psycopg's
    default ``%(name)s`` needs a dict per row)."""
    dialect = engine.dialect
    if dialect.positional:
        return dialect
    dialect_class: Any = type(dialect)
    twin: Dialect = dialect_class(paramstyle="format")
    return twin


class Compiled:
    """One statement compiled for a dialect: its SQL text and the order of its parameters.

    Example:
        >>> from sqlalchemy import bindparam, create_engine, select
        >>> from prefect_mltrack.store.sql import schema
        >>> runs = schema.runs
        >>> stage = Compiled(select(runs.c.lifecycle_stage).where(runs.c.run_id == bindparam("run_id")),
        ...                  create_engine("sqlite://"))
        >>> stage.names, stage.params({"run_id": "abc"})
        (('run_id',), ('abc',))
    """

    def __init__(self, statement: ClauseElement, engine: Engine) -> None:
        compiled: Any = statement.compile(dialect=positional_dialect(engine))  # a SQLCompiler
        self.sql = str(compiled)
        self.names: tuple[str, ...] = tuple(compiled.positiontup)
        self._defaults: dict[str, Any] = dict(compiled.params)  # e.g. SQLite's implicit LIMIT -1

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional parameters for ``values`` (names not given take the statement's own)."""
        defaults = self._defaults
        return tuple(values[name] if name in values else defaults[name] for name in self.names)


def placeholders(dialect: Dialect, count: int) -> str:
    """``count`` positional markers for an ``IN (...)`` list: ``?, ?, ?`` (sqlite3) or ``%s, %s, %s``
    (psycopg, whatever ``dialect.paramstyle`` says: it takes both styles)."""
    return ", ".join(["?" if dialect.paramstyle == "qmark" else "%s"] * count)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects at once.

    With it running, every ~700 new objects trigger a collection and the older generations are
    walked again and again as the new objects age: a third of a 100,000-point history read. Paused,
    the collector meets the new objects once, after the block. Free large temporaries (the fetched
    rows) inside the block so it never walks those at all. The pause is process-wide, for the few
    milliseconds of the block; nested or concurrent blocks are safe, as only the block that found
    the collector on turns it back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
