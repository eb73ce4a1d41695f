"""The data keys of crypto-shredding on PostgreSQL (production); the store itself: `store.py`.

A module of its own so the embedded default (SQLite keys) never imports psycopg (~80 ms a command).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from .store import _SCHEMA, _Connection, _KeyStore

__all__ = ["PostgresKeyStore"]


class PostgresKeyStore(_KeyStore):
    """Keys in PostgreSQL (production), one connection per store, serialized by a lock.

    PostgreSQL keeps the old version of an updated row until VACUUM reclaims it, and its WAL and base
    backups keep copies longer: run `VACUUM (FULL) subject_keys` after erasures (`compact()`), keep WAL
    archives and backups only as long as the erasure policy allows, and rotate the KEK (destroying the
    old one) so that no stale wrapped copy can be unwrapped."""

    _placeholder = "%s"

    def __init__(
        self,
        dsn: str,
        kek: bytes,
        kek_id: str,
        *,
        previous_keks: Mapping[str, bytes] | None = None,
        connect_timeout: int = 10,
    ) -> None:
        super().__init__(kek, kek_id, previous_keks)
        self._lock = threading.Lock()
        self._dsn, self._connect_timeout = dsn, connect_timeout
        self._db = self._connect()
        with self._transaction() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('touchstream.subject_keys.schema'))")
            for statement in _SCHEMA:
                tx.execute(statement.format(blob="BYTEA"))

    # One statement text whatever the number of values: psycopg parses each text it has not seen (its
    # cache keys on the text), and IN lists of every length were a tenth of the relay's busy time.
    def _one_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?)", [list(values)]

    def _insert_keys(self, tx: _Connection, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        columns = [list(column) for column in zip(*rows, strict=True)]
        return self._q(
            tx,
            "INSERT INTO subject_keys (subject, generation, key_id, kek_id, wrapped, created_at) "
            "SELECT * FROM unnest(?::text[], ?::integer[], ?::text[], ?::text[], ?::bytea[], ?::text[]) "
            "ON CONFLICT DO NOTHING RETURNING key_id",
            columns,
        )

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._connect_timeout)

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[_Connection]:
        with self._lock:
            # A server restart leaves the connection broken: the next call (the caller retries) reconnects.
            if self._db.closed or self._db.broken:
                self._db = self._connect()
            with self._db.transaction():
                yield self._db

    def compact(self) -> None:
        """Rewrite the table so destroyed wrappings leave the data files (takes an exclusive lock)."""
        with self._lock:
            self._db.execute("VACUUM (FULL) subject_keys")

    def close(self) -> None:
        self._db.close()
