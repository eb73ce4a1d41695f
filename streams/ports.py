"""The ports: what the pipeline steps need of the world, as abstract classes and protocols.

They live here, below `adapters/`, so `streams/` never imports an adapter: each backend (SQLite, Kafka,
chDB, the ClickHouse server, PostgreSQL) subclasses one of these in `adapters/`, and the composition root
(`adapters/bootstrap.py`) picks which. Nothing here does I/O.

- `AbstractEventLog` (+ `LogRecord`, `LogUnavailable`): an append-only, partitioned log with consumer-group
  positions (Kafka in production, SQLite embedded).
- `AbstractReadStore` (+ `ReadStoreError`, `check_identifier`, `batched`): one ClickHouse-dialect database
  (the ClickHouse server or chDB). Parameters use clickhouse-driver's client-side ``%(name)s``
  substitution on both engines; rows come back as tuples of plain Python values.
- `AbstractDedupStore`: which event ids the gateway published recently, with which body hash.
- `FeedSource` (+ `FeedMessage`): the live feed of `customer360.changes` and `signals.*`, in
  `feed_port.py`.
- `Forwarder`: where the worker forwards master-record changes (the webhook).
- `Producer`: what the master record's relay needs of a Kafka producer (or the embedded log's stand-in).
- `ContactLinker` (+ `LinkCounts`): scores new or changed contacts against every other one (the
  probabilistic duplicate suspects, adapters/master_record/linkage.py), for `streams/linking.py`.
"""

from __future__ import annotations

import abc
import contextlib
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from types import TracebackType
from typing import Any, Protocol, Self

from . import forgetting
from .forgetting import ForgetReport

# --- the log --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: float


class LogUnavailable(Exception):
    """The log could not take or serve records now (broker down, timeout). Callers answer "retry later"
    rather than losing data. For a failed append, `placed` (when known) holds each record's (partition,
    offset) or None, so a caller can tell which records did make it and not publish them twice."""

    def __init__(self, message: str, placed: list[tuple[int, int] | None] | None = None) -> None:
        super().__init__(message)
        self.placed = placed


class AbstractEventLog(ABC):
    @property
    @abstractmethod
    def partitions(self) -> int: ...

    @abstractmethod
    def append(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
        """Append (key, value) pairs atomically; returns each one's (partition, offset)."""

    @abstractmethod
    def read(self, partition: int, from_offset: int, max_records: int) -> list[LogRecord]: ...

    @abstractmethod
    def end_offset(self, partition: int) -> int:
        """The offset the next record of this partition will get."""

    @abstractmethod
    def committed(self, group: str, partition: int) -> int:
        """The next offset this consumer group will read (0 when it never committed)."""

    @abstractmethod
    def commit(self, group: str, positions: Iterable[tuple[int, int]]) -> None:
        """Record (partition, next offset) positions for a consumer group."""

    def lag(self, group: str) -> int:
        return sum(self.end_offset(p) - self.committed(group, p) for p in range(self.partitions))

    def read_containing(
        self, partition: int, from_offset: int, end_offset: int, needles: Sequence[bytes]
    ) -> list[LogRecord]:
        """The records of [from_offset, end_offset) whose value, as stored, contains any of `needles`, in
        offset order. Read and filtered here by default; a log that can search where it stores the
        records (SQLite) overrides it, so the rest never become Python objects."""
        found: list[LogRecord] = []
        position = from_offset
        while position < end_offset and (
            batch := self.read(partition, position, min(5_000, end_offset - position))
        ):
            found += [r for r in batch if r.offset < end_offset and any(n in r.value for n in needles)]
            position = batch[-1].offset + 1
        return found

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> AbstractEventLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# --- the read store -------------------------------------------------------------------------------------


__all__ = [
    "AbstractReadStore",
    "Column",
    "ForgetReport",
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

    #: Values per ``IN`` list of `query_chunked`: ``max_query_size`` (256 KiB) holds ~6,500 quoted uuids.
    in_chunk: int = 2_000

    def query_chunked(
        self, sql: str, name: str, values: Sequence[Any], params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """`query` once per `in_chunk` of `values`, bound as ``%(name)s`` (a tuple), rows concatenated. Each
        value's rows must not depend on the others (a filter or a ``GROUP BY`` on the listed key)."""
        return [
            row
            for chunk in batched(values, self.in_chunk)
            for row in self.query(sql, {**(params or {}), name: tuple(chunk)})
        ]

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

    @contextlib.contextmanager
    def mutations_in_background(self) -> Iterator[None]:
        """Within it an ``ALTER TABLE ... DELETE/UPDATE`` returns once queued, and the caller waits with
        ``wait_for_mutations``: here that is the engine's only way (18.16). Engines that wait for each
        mutation by default (chDB) override this, so that several run side by side."""
        yield

    def forget_contacts(self, contact_ids: Collection[str], *, drop_parts: bool = True) -> ForgetReport:
        """Remove what the read models still hold about erased contacts, after the fold wrote their
        tombstone: older 360 and state versions deleted, facts kept with their personal columns blanked,
        the replaced parts dropped from disk as promptly as the engine allows (`streams/forgetting.py`).
        Contacts with no tombstone yet are left alone and listed in `ForgetReport.not_erased`."""
        return forgetting.forget_contacts(self, contact_ids, drop_parts=drop_parts)

    def drop_inactive_parts(self, tables: Sequence[str], timeout: float = 60.0) -> int:
        """Make the parts that mutations replaced in ``tables`` leave the disk; return how many remain.

        Here (the ClickHouse server) they go when the server's own cleanup finds them older than its
        ``merge_tree`` setting ``old_parts_lifetime`` (480 s by default; 18.16 cannot change it per table):
        set it low in the server's configuration where erasure must reach the disk promptly. They are
        never readable by a query meanwhile. Engines that can do better override this.
        """
        return self.inactive_parts(tables)

    def inactive_parts(self, tables: Sequence[str]) -> int:
        """How many replaced (inactive) parts of ``tables`` in the current database are still on disk."""
        if not tables:
            return 0
        names = tuple(check_identifier(t) for t in tables)
        rows = self.query(
            "SELECT count() FROM system.parts "
            "WHERE database = currentDatabase() AND table IN %(tables)s AND active = 0",
            {"tables": names},
        )
        return int(rows[0][0])

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- the gateway's de-duplication store -----------------------------------------------------------------


class AbstractDedupStore(ABC):
    """event_id -> body hash, remembered for `window_s` seconds."""

    @abstractmethod
    def seen(self, event_ids: Sequence[str]) -> dict[str, str]:
        """The body hash of each given id seen within the window (ids not seen are absent)."""

    @abstractmethod
    def remember(self, entries: Iterable[tuple[str, str]]) -> None:
        """Record (event_id, body hash) pairs as published now. Re-recording an id keeps the first hash."""

    @abstractmethod
    def close(self) -> None: ...


# --- the relay's producer -------------------------------------------------------------------------------


class Producer(Protocol):
    """What the relay needs of kafka-python's KafkaProducer."""

    def send(self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...


# --- the webhook forwarder ------------------------------------------------------------------------------


class MessageRefused(Exception):
    """The receiver refused one message for good (e.g. a 4xx): retrying cannot help, skip it."""


class Forwarder(Protocol):
    """Sends masterdata.events records on to an outside receiver (adapters/master_record/webhook.py);
    returns how many it forwarded. Raises `MessageRefused` for a final refusal, anything else for a failure
    worth a retry."""

    def forward(self, messages: Iterable[Mapping[str, Any]]) -> int: ...


# --- the linker -----------------------------------------------------------------------------------------


@dataclass
class LinkCounts:
    """What linking one batch's contacts did."""

    contacts: int = 0  # contacts scored against their blocking partners
    pairs: int = 0
    suspects: int = 0  # probable-match suspects raised
    merges: int = 0  # pairs merged (over the merge threshold, and a strong identifier agrees)
    withdrawn: int = 0  # open suspects the model disproved

    def add(self, other: LinkCounts) -> None:
        self.contacts += other.contacts
        self.pairs += other.pairs
        self.suspects += other.suspects
        self.merges += other.merges
        self.withdrawn += other.withdrawn


class ContactLinker(Protocol):
    """The incremental record linker (adapters/master_record/linkage.py's `Linker`): brings its index up to
    date with the master record, then scores each of these contacts (ids as strings) that changed since it
    last scored it, raising, merging and withdrawing suspects in the master record."""

    def link(self, contact_ids: Collection[str]) -> LinkCounts: ...
