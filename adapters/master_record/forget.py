"""Forgetting in the master record: the stored events and snapshots of some aggregates, rewritten with every
personal value replaced by "[erased]".

The aggregates, their versions and their non-personal fields stay, so they still load and the history still
says what happened (registered, merged, attribute changed) without saying to whom. The stored states are the
library's JSON transcoding (no compressor or cipher is configured by `application.py`): typed values
(`{"_type_": ..., "_data_": ...}`: ids, times) are kept, and every plain string is replaced unless its field
names no one (`CLEAR_FIELDS`: event ids, attribute names, sources, codes) — identifier keys, anchors,
attribute values, names and company names go.

The linker's kept entries of these contacts (link_cache.py) are deleted, not rewritten: they are made
again from the rewritten events when next read. The rewrite adds no event, so it is counted and its
aggregates logged in tables of their own (kept.py), and any process that kept these aggregates in memory
drops them before its next batch.

SQLite: rewritten with `secure_delete` on, and the write-ahead log checkpointed and truncated, so the old
bytes leave the files. PostgreSQL: the old row versions are dead tuples until VACUUM, which runs after the
rewrite (plain VACUUM frees them for reuse; only VACUUM FULL rewrites the files, an operator's decision).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

import orjson
import psycopg

from ...projections.survivorship import SLOT_SEPARATOR
from .kept import bump_forget_count
from .link_cache import TABLE as LINK_TABLE

__all__ = ["CLEAR_FIELDS", "ERASED", "forget_contact_values", "scrub"]

ERASED = "[erased]"
#: Fields whose string values name no one: kept, so the history stays readable.
CLEAR_FIELDS = frozenset(
    {
        "originator_topic",
        "topic",  # a snapshot's aggregate class
        "event_id",
        "raised_by",
        "attribute",
        "source",
        "department",
        "basis",
        "account_basis",  # the aggregate's copy of an event's `basis`
        "owner_kind",
        "status",
        "reason",
        "purpose",
        "channel",
        "wording_version",
        "survivor_rule",
        "decided_by",
        "actor",
    }
)

Connection = sqlite3.Connection | psycopg.Connection[Any]


def scrub(value: Any) -> tuple[Any, int]:
    """`value` with its personal strings replaced, and how many were replaced. A dict key that quotes
    one of them (an observation's slot, `rank|source|value`: the only keys made of values) has it
    replaced too, numbered when two keys would become one. No other key is touched: attribute and field
    names stay, whatever a value spells (a value "merge" once renamed `merged_into`)."""
    personal: set[str] = set()
    scrubbed, count = _scrub_values(value, "", personal)
    quoted = sorted((v for v in personal if len(v) >= 3), key=len, reverse=True)
    return (_scrub_keys(scrubbed, quoted) if quoted else scrubbed), count


def _scrub_values(value: Any, field: str, personal: set[str]) -> tuple[Any, int]:
    if isinstance(value, dict):
        if "_type_" in value:
            return value, 0
        out: dict[str, Any] = {}
        count = 0
        for key, inner in value.items():
            out[key], n = _scrub_values(inner, key, personal)
            count += n
        return out, count
    if isinstance(value, list):
        items = [_scrub_values(v, field, personal) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    if isinstance(value, str) and field not in CLEAR_FIELDS and value != ERASED:
        personal.add(value)
        return ERASED, 1
    return value, 0


def _scrub_keys(value: Any, quoted: list[str]) -> Any:
    if isinstance(value, list):
        return [_scrub_keys(v, quoted) for v in value]
    if not isinstance(value, dict) or "_type_" in value:
        return value
    out: dict[str, Any] = {}
    for key, inner in value.items():
        new = key
        for text in quoted if SLOT_SEPARATOR in key else ():
            new = new.replace(text, ERASED)
        if new != key and new in out:
            new = f"{new}#{len(out)}"
        out[new] = _scrub_keys(inner, quoted)
    return out


def forget_contact_values(store: str | Connection, aggregate_ids: Iterable[UUID]) -> int:
    """Rewrite the stored events and snapshots of `aggregate_ids` without personal values; returns how many
    values were replaced. `store` is the master record's URL (`sqlite:///PATH`, `postgresql://...`) or an
    open connection to it (left open)."""
    ids = sorted(set(aggregate_ids), key=str)
    if isinstance(store, str):
        parts = urlsplit(store)
        if parts.scheme == "sqlite":
            path = unquote(store.split("://", 1)[1].removeprefix("/"))
            with _closing(sqlite3.connect(path, timeout=30)) as conn:
                return _forget_sqlite(conn, ids)
        if parts.scheme in ("postgresql", "postgres"):
            with psycopg.connect(store) as pg:
                return _forget_postgres(pg, ids)
        raise ValueError(f"cannot forget in {parts.scheme}://: use sqlite:///PATH or postgresql://...")
    if isinstance(store, sqlite3.Connection):
        return _forget_sqlite(store, ids)
    return _forget_postgres(store, ids)


class _closing:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _rewrite(rows: list[tuple[Any, Any, Any]]) -> tuple[list[tuple[bytes, Any, Any]], int]:
    """(new state, originator id, version) for every row whose state held a personal value."""
    updates: list[tuple[bytes, Any, Any]] = []
    replaced = 0
    for originator, version, state in rows:
        scrubbed, count = scrub(orjson.loads(bytes(state)))
        if count:
            updates.append((orjson.dumps(scrubbed), originator, version))
            replaced += count
    return updates, replaced


def _forget_sqlite(conn: sqlite3.Connection, ids: list[UUID]) -> int:
    conn.execute("PRAGMA secure_delete = ON")  # freed page space is zeroed: old states leave the file
    tables = [
        str(r[0])
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        if {"originator_id", "originator_version", "state"}
        <= {str(c[1]) for c in conn.execute(f"PRAGMA table_info({r[0]})").fetchall()}
    ]
    replaced = 0
    with conn:  # one transaction, holding the write lock from its start: see `_forget_postgres`
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
        for chunk in _chunks([i.hex for i in ids]) if LINK_TABLE in tables else ():
            conn.execute(
                f"DELETE FROM {LINK_TABLE} WHERE originator_id IN ({', '.join('?' * len(chunk))})", chunk
            )
        for table in (t for t in tables if t != LINK_TABLE):
            for chunk in _chunks([i.hex for i in ids]):
                marks = ", ".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT originator_id, originator_version, state FROM {table} "
                    f"WHERE originator_id IN ({marks})",
                    chunk,
                ).fetchall()
                updates, count = _rewrite(rows)
                conn.executemany(
                    f"UPDATE {table} SET state = ? WHERE originator_id = ? AND originator_version = ?",
                    updates,
                )
                replaced += count
        bump_forget_count(conn, "?", ids)  # other processes drop these if they kept them (kept.py)
    # The write-ahead log still holds the pages as they were: copy it into the file and empty it.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return replaced


def _forget_postgres(conn: psycopg.Connection[Any], ids: list[UUID]) -> int:
    tables = [
        str(r[0])
        for r in conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND column_name IN ('originator_id', 'originator_version', 'state') "
            "GROUP BY table_name HAVING count(*) = 3"
        ).fetchall()
    ]
    replaced = deleted = 0
    with conn.transaction():
        # No writer adds a row between the reads and the rewrites below: a batch that held these
        # aggregates in memory writes them either before (and is rewritten here) or after this commit
        # (and sees the count move: application.py forgets them again). Reads go on meanwhile.
        conn.execute(f"LOCK TABLE {', '.join(sorted(tables))} IN EXCLUSIVE MODE")
        for chunk in _chunks(ids) if LINK_TABLE in tables else ():
            deleted += conn.execute(
                f"DELETE FROM {LINK_TABLE} WHERE originator_id = ANY(%s)", (chunk,)
            ).rowcount
        for table in (t for t in tables if t != LINK_TABLE):
            for chunk in _chunks(ids):
                rows = conn.execute(
                    f"SELECT originator_id, originator_version, state FROM {table} "
                    "WHERE originator_id = ANY(%s)",
                    (chunk,),
                ).fetchall()
                updates, count = _rewrite([(r[0], r[1], r[2]) for r in rows])
                with conn.cursor() as cursor:
                    cursor.executemany(
                        f"UPDATE {table} SET state = %s WHERE originator_id = %s AND originator_version = %s",
                        updates,
                    )
                replaced += count
        bump_forget_count(conn, "%s", ids)
    # Only when idle: VACUUM cannot run inside a transaction.
    if (replaced or deleted) and not conn.info.transaction_status:
        autocommit = conn.autocommit
        conn.autocommit = True
        try:
            for table in tables:
                conn.execute(f"VACUUM {table}")
        finally:
            conn.autocommit = autocommit
    return replaced


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
