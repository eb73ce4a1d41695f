"""The log port: an append-only, partitioned, ordered record log with consumer-group positions.

Kafka is the production backend; `SQLiteEventLog` is the embedded one, so the demo, the gateway and the
tests run with no broker. Keys are partitioned with Kafka's own murmur2 hash (streams/partitioning.py), so
a key lands on the same partition number in both.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ...streams.partitioning import partition_for
from ...streams.ports import AbstractEventLog, LogRecord

_SELECT_RECORDS = "SELECT partition, offset, key, value, timestamp FROM records"  # a LogRecord's fields

# A record's timestamp after the one before it: a microsecond, several float steps at today's epoch.
_TICK = 1e-6

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    partition INTEGER NOT NULL, offset INTEGER NOT NULL, key BLOB, value BLOB NOT NULL,
    timestamp REAL NOT NULL, PRIMARY KEY (partition, offset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions (
    group_id TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, partition)) WITHOUT ROWID;
"""


class SQLiteEventLog(AbstractEventLog):
    """A durable log in one SQLite file (WAL mode); safe for several processes on one machine."""

    def __init__(self, path: str | Path, partitions: int = 3) -> None:
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('partitions', ?)", (str(partitions),))
        stored = int(self._db.execute("SELECT value FROM meta WHERE name='partitions'").fetchone()[0])
        if stored != partitions:
            raise ValueError(
                f"log {path} has {stored} partitions, not {partitions}; open it with partitions={stored}"
            )
        self._partitions = stored

    @property
    def partitions(self) -> int:
        return self._partitions

    def append(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
        placed: list[tuple[int, int]] = []
        with self._transaction():
            stamp = self._first_stamp()
            next_offset = {p: self._end_offset(p) for p in range(self._partitions)}
            rows = []
            for key, value in records:
                partition = partition_for(key, self._partitions)
                offset = next_offset[partition]
                next_offset[partition] = offset + 1
                rows.append((partition, offset, key, value, stamp))
                placed.append((partition, offset))
                stamp += _TICK
            self._db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?)", rows)
            if rows:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_stamp', ?)", (repr(rows[-1][4]),))
        return placed

    def _first_stamp(self) -> float:
        """Every record gets its own timestamp, a microsecond after the one appended before it in any
        partition (in this or another process: appends take turns), so the timestamps tell the order the
        whole log was appended in (steps.arrival_order), not only each partition's."""
        row = self._db.execute("SELECT value FROM meta WHERE name = 'last_stamp'").fetchone()
        return max(time.time(), float(row[0]) + _TICK) if row else time.time()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")  # one writer at a time, so offsets never collide
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def read(self, partition: int, from_offset: int, max_records: int) -> list[LogRecord]:
        cursor = self._db.execute(
            _SELECT_RECORDS + " WHERE partition = ? AND offset >= ? ORDER BY offset LIMIT ?",
            (partition, from_offset, max_records),
        )
        return [LogRecord(*row) for row in cursor]

    def read_containing(
        self, partition: int, from_offset: int, end_offset: int, needles: Sequence[bytes]
    ) -> list[LogRecord]:
        if not needles:
            return []
        # instr() on BLOBs is a byte search, in C: the records without a needle never reach Python.
        search = " OR ".join("instr(value, ?) > 0" for _ in needles)
        cursor = self._db.execute(
            f"{_SELECT_RECORDS} WHERE partition = ? AND offset >= ? AND offset < ?"
            f" AND ({search}) ORDER BY offset",
            (partition, from_offset, end_offset, *needles),
        )
        return [LogRecord(*row) for row in cursor]

    def _end_offset(self, partition: int) -> int:
        row = self._db.execute("SELECT max(offset) FROM records WHERE partition = ?", (partition,)).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def end_offset(self, partition: int) -> int:
        return self._end_offset(partition)

    def committed(self, group: str, partition: int) -> int:
        row = self._db.execute(
            "SELECT next_offset FROM positions WHERE group_id = ? AND partition = ?", (group, partition)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def commit(self, group: str, positions: Iterable[tuple[int, int]]) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT INTO positions VALUES (?, ?, ?) ON CONFLICT (group_id, partition)"
                " DO UPDATE SET next_offset = excluded.next_offset",
                [(group, p, o) for p, o in positions],
            )

    def close(self) -> None:
        self._db.close()
