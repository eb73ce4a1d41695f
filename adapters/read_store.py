"""The read-store port: the one door the projections use to ClickHouse-compatible engines.

Two adapters implement it (see ``docs/clickhouse.md``):

- :class:`touchstream.adapters.clickhouse_server.ClickHouseServerStore` — a ClickHouse server over the
  native protocol (clickhouse-driver); production and the integration tests.
- :class:`touchstream.adapters.chdb_store.ChDBStore` — chDB, ClickHouse embedded in this process; the
  embedded default and the fast tests.

Both take the same SQL and return the same Python values, so a projection never knows which engine it
writes to. Parameters use clickhouse-driver's client-side ``%(name)s`` substitution on both engines (its own
escaping, never ours); a literal ``%`` in a statement with parameters is written ``%%``. Rows come back as
tuples of plain Python values: ``int``, ``float``, ``str``, ``Decimal``, ``date``, naive-UTC ``datetime``,
``UUID``, ``None`` for NULL, lists for arrays and tuples for tuples.

Nothing here connects on import or construction of the module.
"""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from types import TracebackType
from typing import Any, Self

__all__ = [
    "AbstractReadStore",
    "Column",
    "ReadStoreError",
    "batched",
    "check_identifier",
    "first_line",
]

#: ``(name, ClickHouse type)`` of one result column, e.g. ``("amount", "Decimal(18, 2)")``.
Column = tuple[str, str]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def first_line(sql: str) -> str:
    """The first non-blank line of a statement, for error messages."""
    for line in sql.splitlines():
        if line.strip():
            return line.strip()
    return ""


class ReadStoreError(Exception):
    """Any failure of a read-store engine, with the first line of the SQL that caused it.

    The engine's own exception is kept as ``__cause__`` (``raise ... from exc``).
    """

    def __init__(self, engine: str, sql: str, cause: BaseException | str) -> None:
        self.engine = engine
        self.sql_first_line = first_line(sql)
        text = cause if isinstance(cause, str) else (str(cause) or type(cause).__name__)
        # Server messages carry a stack trace; keep the message itself, on one line.
        text = text.split("Stack trace", 1)[0]
        self.detail = " ".join(text.split())[:500]
        super().__init__(f"{engine}: {self.detail} [sql: {self.sql_first_line}]")


def check_identifier(name: str, *, qualified: bool = False) -> str:
    """Return ``name`` if it is a plain identifier (``db.table`` too when ``qualified``), else raise.

    Table and column names are never substituted as values, so they are checked instead of escaped.
    """
    parts = name.split(".") if qualified else [name]
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def batched(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    """Split ``rows`` into lists of at most ``size`` rows, lazily."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


class AbstractReadStore(abc.ABC):
    """One ClickHouse-dialect database the projections read and write.

    Implementations are used from one thread at a time; open one store per worker.
    """

    #: Rows per insert block. ClickHouse prefers few big inserts to many small ones.
    batch_size: int = 10_000

    @abc.abstractmethod
    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one statement whose result is not needed (DDL, ``INSERT ... SELECT``, ``ALTER``)."""

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one ``SELECT`` and return its rows."""
        return self.query_with_columns(sql, params)[1]

    @abc.abstractmethod
    def query_with_columns(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[Column], list[tuple[Any, ...]]]:
        """Run one ``SELECT`` and return ``([(name, type), ...], rows)``."""

    @abc.abstractmethod
    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert ``rows`` (values in the order of ``columns``) in batches; return how many were written.

        Values travel as data, never spliced into SQL text, so any string content is safe. ``table`` may
        be ``name`` or ``database.name``; names must be plain identifiers.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection or session. Closing twice is harmless."""

    def wait_for_mutations(self, table: str, timeout: float = 30.0) -> None:
        """Block until every ``ALTER TABLE ... DELETE/UPDATE`` on ``table`` has finished.

        ClickHouse 18.16 has no ``mutations_sync`` setting, so this polls ``system.mutations`` — which
        works on every version. ``table`` is ``name`` (current database) or ``database.name``.
        """
        check_identifier(table, qualified=True)
        database, _, name = table.rpartition(".")
        where_db = "database = %(database)s" if database else "database = currentDatabase()"
        sql = f"SELECT count() FROM system.mutations WHERE {where_db} AND table = %(table)s AND is_done = 0"
        params = {"database": database, "table": name}
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            pending = self.query(sql, params)[0][0]
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise ReadStoreError(
                    type(self).__name__, sql, f"{pending} mutation(s) on {table} not done after {timeout}s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
