"""The de-duplication port: which event ids were published recently, and with which body.

The gateway asks before publishing and records ids only after the log acknowledged them, so a failed
publish never makes a retry look like a duplicate. An id seen again with the same body hash is a duplicate
(answered, not published); with a different hash it is a conflict (a producer reusing ids: rejected).

The gateway keys its entries by source and event id (`"<source> <event_id>"`): a producer learns only
about its own ids, never whether another source used one.

Memory is a window, not forever: downstream writes are idempotent by event id anyway (ReplacingMergeTree),
so the window only has to cover producers' retries.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ...streams.ports import AbstractDedupStore
from ..private_files import touch_private

DEFAULT_WINDOW_S = 7 * 24 * 3600.0
# Expired rows are purged every this many `remember` calls: often enough to bound the file, rarely enough
# that a DELETE does not ride on every request.
PURGE_EVERY = 1000


_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    event_id TEXT PRIMARY KEY, body_hash TEXT NOT NULL, seen_at REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_at ON seen (seen_at);
"""


class SQLiteDedupStore(AbstractDedupStore):
    """One SQLite file (or `:memory:`). Safe to call from any thread: one connection behind a lock, because
    the gateway calls it from its log thread and tests call it from theirs."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        if str(path) != ":memory:":
            touch_private(Path(path))  # 0600 before SQLite creates it (its -wal and -shm copy this mode)
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._writes = 0

    def seen(self, event_ids: Sequence[str]) -> dict[str, str]:
        if not event_ids:
            return {}
        since = self._clock() - self.window_s
        found: dict[str, str] = {}
        with self._lock:
            # SQLite caps bound parameters (32766 by default in 3.32+); chunk well below it.
            for start in range(0, len(event_ids), 500):
                chunk = list(event_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT event_id, body_hash FROM seen WHERE event_id IN ({marks}) AND seen_at >= ?",
                    (*chunk, since),
                )
                found.update({str(event_id): str(body_hash) for event_id, body_hash in rows})
        return found

    def remember(self, entries: Iterable[tuple[str, str]]) -> None:
        now = self._clock()
        rows = [(event_id, body_hash, now) for event_id, body_hash in entries]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # An expired row is replaced (a new window starts); a live one keeps its first hash.
                self._db.executemany(
                    "INSERT INTO seen VALUES (?, ?, ?) ON CONFLICT (event_id) DO UPDATE SET"
                    " body_hash = excluded.body_hash, seen_at = excluded.seen_at"
                    " WHERE seen.seen_at < excluded.seen_at - ?",
                    [(*row, self.window_s) for row in rows],
                )
                self._writes += 1
                if self._writes % PURGE_EVERY == 0:
                    self._db.execute("DELETE FROM seen WHERE seen_at < ?", (now - self.window_s,))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
