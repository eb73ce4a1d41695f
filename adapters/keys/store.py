"""The data keys of crypto-shredding, on SQLite (embedded) or PostgreSQL (production: `postgres_store.py`).

Each subject has generations of 32-byte random data keys; the live one is stored wrapped (AES-GCM) with a
key-encryption key (KEK) the caller holds, never in the clear. Shredding sets `wrapped` to NULL and writes
`shred_audit`; a subject seen again after that gets a new generation (never the old key back), which
`reissued()` lists so an erasure is not undone silently. `rotate_kek` rewraps every live key.

Rotating the KEK: give every process the new KEK as `kek` and the old one in `previous_keks`, call
`rotate_kek` once, then drop the old KEK everywhere and destroy it. Rotating after erasures also makes
stale copies of wrapped keys (backups, database WAL, dead row versions) useless.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...streams.ports import batched

log = logging.getLogger(__name__)

KEY_BYTES = 32
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS subject_keys (
        subject TEXT NOT NULL,
        generation INTEGER NOT NULL,
        key_id TEXT NOT NULL UNIQUE,
        kek_id TEXT NOT NULL,
        wrapped {blob} NULL,
        created_at TEXT NOT NULL,
        shredded_at TEXT NULL,
        PRIMARY KEY (subject, generation))""",
    """CREATE TABLE IF NOT EXISTS shred_audit (
        at TEXT NOT NULL,
        subject TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        reason TEXT NOT NULL,
        keys_destroyed INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS shred_audit_subject ON shred_audit (subject)",
    # The subject pepper lives with the keys, so every process that shares the store computes the same
    # subjects (a file per host would not). Who can read this table can read the keys' table too.
    """CREATE TABLE IF NOT EXISTS key_store_secrets (
        name TEXT PRIMARY KEY,
        secret {blob} NOT NULL)""",
)


@dataclass(frozen=True)
class ShredRecord:
    """One line of the erasure audit: who asked, when, why, and how many keys it destroyed."""

    at: str
    subject: str
    requested_by: str
    reason: str
    keys_destroyed: int


@dataclass(frozen=True)
class Reissued:
    """A subject erased before and seen again: it holds a key of a later generation."""

    subject: str
    generation: int
    created_at: str


class _Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...


#: Subjects (or values) bound per statement: far below SQLite's and PostgreSQL's parameter limits.
_IDS_PER_STATEMENT = 500


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class _KeyStore:
    """The rules, written once; the two stores differ only in how they connect and hold a transaction."""

    _placeholder = "?"

    def __init__(self, kek: bytes, kek_id: str, previous_keks: Mapping[str, bytes] | None = None) -> None:
        self._keks = {**(previous_keks or {}), kek_id: _checked(kek, kek_id)}
        self._kek_id = kek_id
        self.reissued_after_erasure = 0  # keys this instance issued to an erased subject

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[_Connection]:
        raise NotImplementedError
        yield

    def _sql(self, text: str) -> str:
        return text if self._placeholder == "?" else text.replace("?", self._placeholder)

    def _one_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """The condition "`column` is one of `values`" and its parameters: an IN list here."""
        return f"{column} IN ({', '.join('?' for _ in values)})", list(values)

    def _insert_keys(self, tx: _Connection, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Insert (subject, generation, key_id, kek_id, wrapped, created_at) rows, skipping those that
        conflict; returns the key ids inserted."""
        values = ", ".join("(?, ?, ?, ?, ?, ?)" for _ in rows)
        return self._q(
            tx,
            "INSERT INTO subject_keys (subject, generation, key_id, kek_id, wrapped, created_at) "
            f"VALUES {values} ON CONFLICT DO NOTHING RETURNING key_id",
            [value for row in rows for value in row],
        )

    def _q(self, tx: _Connection, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = tx.execute(self._sql(text), params)
        return list(cursor.fetchall()) if cursor.description else []

    def pepper(self) -> bytes:
        """The deployment's subject pepper: 32 random bytes made by the first process that asks."""
        with self._transaction(write=True) as tx:
            self._q(
                tx,
                "INSERT INTO key_store_secrets (name, secret) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                ("subject_pepper", os.urandom(KEY_BYTES)),
            )
            rows = self._q(tx, "SELECT secret FROM key_store_secrets WHERE name = ?", ("subject_pepper",))
        return bytes(rows[0][0])

    # --- the KeyStore protocol (streams/sealing.py) -------------------------------------------------------

    def data_key(self, subject: str, create: bool) -> tuple[str, bytes] | None:
        if create:
            return self.data_keys([subject])[subject]
        with self._transaction() as tx:
            return self._live(tx, subject)

    def data_keys(self, subjects: Collection[str]) -> dict[str, tuple[str, bytes]]:
        # A few statements for a whole batch, not a few per subject: a Faust worker seals each batch's
        # new people at once, and one round trip per subject to PostgreSQL was ~2 % of its time.
        wanted = list(dict.fromkeys(subjects))
        with self._transaction() as tx:
            found = self._live_many(tx, wanted)
        missing = [s for s in wanted if s not in found]
        if not missing:
            return found
        reissued: list[tuple[str, int]] = []
        with self._transaction(write=True) as tx:
            found.update(self._create_many(tx, missing, reissued))
        for subject, generation in reissued:
            self.reissued_after_erasure += 1
            log.warning("subject %s was erased and is seen again: new key generation %d", subject, generation)
        return found

    def _live_many(self, tx: _Connection, subjects: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        """Each subject's live key (its newest generation not shredded); subjects without one are left out."""
        newest: dict[str, tuple[int, str, str, bytes]] = {}
        for chunk in batched(subjects, _IDS_PER_STATEMENT):
            among, params = self._one_of("subject", chunk)
            for subject, generation, key_id, kek_id, wrapped in self._q(
                tx,
                "SELECT subject, generation, key_id, kek_id, wrapped FROM subject_keys "
                f"WHERE {among} AND wrapped IS NOT NULL",
                params,
            ):
                held = newest.get(subject)
                if held is None or generation > held[0]:
                    newest[subject] = (int(generation), str(key_id), str(kek_id), bytes(wrapped))
        return {
            subject: (key_id, self._unwrap(wrapped, key_id, subject, kek_id))
            for subject, (_, key_id, kek_id, wrapped) in newest.items()
        }

    def _create_many(
        self, tx: _Connection, subjects: Sequence[str], reissued: list[tuple[str, int]]
    ) -> dict[str, tuple[str, bytes]]:
        """The subjects' live keys, each created as the next generation unless another process just did
        (`reissued` gets the subjects erased before: their new generation is above 1)."""
        found = self._live_many(tx, subjects)
        todo = [s for s in subjects if s not in found]
        latest: dict[str, int] = {}
        for chunk in batched(todo, _IDS_PER_STATEMENT):
            among, params = self._one_of("subject", chunk)
            sql = f"SELECT subject, MAX(generation) FROM subject_keys WHERE {among} GROUP BY subject"
            for subject, generation in self._q(tx, sql, params):
                latest[subject] = int(generation or 0)
        made: dict[str, tuple[str, bytes, int]] = {}
        rows: list[tuple[Any, ...]] = []
        for subject in todo:
            generation, key_id, key = latest.get(subject, 0) + 1, uuid.uuid4().hex, os.urandom(KEY_BYTES)
            made[key_id] = (subject, key, generation)
            wrapped = self._wrap(key, key_id, subject, self._kek_id)
            rows.append((subject, generation, key_id, self._kek_id, wrapped, _now()))
        inserted: set[str] = set()
        for chunk in batched(rows, _IDS_PER_STATEMENT // 6):
            inserted.update(str(row[0]) for row in self._insert_keys(tx, chunk))
        lost: list[str] = []
        for key_id, (subject, key, generation) in made.items():
            if key_id not in inserted:
                lost.append(subject)
                continue
            found[subject] = (key_id, key)
            if generation > 1:
                reissued.append((subject, generation))
        if lost:  # PostgreSQL: another transaction created them first; read committed sees theirs
            theirs = self._live_many(tx, lost)
            if gone := [s for s in lost if s not in theirs]:
                raise LookupError(
                    f"a key for subject {gone[0]} was created and shredded concurrently; try again"
                )
            found.update(theirs)
        return found

    def keys(self, key_ids: Collection[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(key_ids))
        found: dict[str, bytes] = {}
        with self._transaction() as tx:
            for chunk in batched(wanted, _IDS_PER_STATEMENT):
                among, params = self._one_of("key_id", chunk)
                for key_id, subject, kek_id, wrapped in self._q(
                    tx,
                    "SELECT key_id, subject, kek_id, wrapped FROM subject_keys "
                    f"WHERE {among} AND wrapped IS NOT NULL",
                    params,
                ):
                    found[key_id] = self._unwrap(bytes(wrapped), key_id, subject, kek_id)
        return found

    def shred(
        self, subjects: Collection[str], *, requested_by: str, reason: str, once_per_reason: bool = False
    ) -> int:
        destroyed = 0
        at = _now()
        with self._transaction(write=True) as tx:
            for subject in dict.fromkeys(subjects):
                done = "SELECT 1 FROM shred_audit WHERE subject = ? AND reason = ? LIMIT 1"
                if once_per_reason and self._q(tx, done, (subject, reason)):
                    continue  # this request destroyed its keys already: a newer key is not its to destroy
                count = len(
                    self._q(
                        tx,
                        "UPDATE subject_keys SET wrapped = NULL, shredded_at = ? "
                        "WHERE subject = ? AND wrapped IS NOT NULL RETURNING key_id",
                        (at, subject),
                    )
                )
                if not self._q(tx, "SELECT 1 FROM subject_keys WHERE subject = ? LIMIT 1", (subject,)):
                    # Erased before any key existed: a destroyed generation 1, so a later key is a reissue.
                    self._q(
                        tx,
                        "INSERT INTO subject_keys (subject, generation, key_id, kek_id, wrapped, created_at, "
                        "shredded_at) VALUES (?, 1, ?, '', NULL, ?, ?)",
                        (subject, uuid.uuid4().hex, at, at),
                    )
                self._q(
                    tx,
                    "INSERT INTO shred_audit (at, subject, requested_by, reason, keys_destroyed) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (at, subject, requested_by, reason, count),
                )
                destroyed += count
        return destroyed

    def is_shredded(self, subject: str) -> bool:
        with self._transaction() as tx:
            return bool(
                self._q(
                    tx,
                    "SELECT 1 FROM subject_keys WHERE subject = ? AND shredded_at IS NOT NULL LIMIT 1",
                    (subject,),
                )
            )

    # --- administration -----------------------------------------------------------------------------------

    def audit(self, subject: str | None = None) -> list[ShredRecord]:
        """The erasure audit, oldest first (all of it, or one subject's)."""
        where, params = ("WHERE subject = ?", (subject,)) if subject is not None else ("", ())
        with self._transaction() as tx:
            rows = self._q(
                tx,
                "SELECT at, subject, requested_by, reason, keys_destroyed FROM shred_audit "
                f"{where} ORDER BY at, subject",
                params,
            )
        return [ShredRecord(str(a), str(s), str(r), str(why), int(n)) for a, s, r, why, n in rows]

    def reissued(self) -> list[Reissued]:
        """Erased subjects that were seen again and hold a new live key (generation above 1)."""
        with self._transaction() as tx:
            rows = self._q(
                tx,
                "SELECT subject, generation, created_at FROM subject_keys "
                "WHERE generation > 1 AND wrapped IS NOT NULL ORDER BY created_at, subject",
            )
        return [Reissued(str(s), int(g), str(c)) for s, g, c in rows]

    def rotate_kek(self, new_kek: bytes, new_kek_id: str) -> int:
        """Rewrap every live key with `new_kek`, in one transaction; returns how many were rewrapped.
        From then on this store wraps new keys with it; the previous KEK is still accepted here for rows
        another process wrapped meanwhile (see the module docstring for the order of a rotation)."""
        self._keks[new_kek_id] = _checked(new_kek, new_kek_id)
        count = 0
        with self._transaction(write=True) as tx:
            rows = self._q(
                tx, "SELECT key_id, subject, kek_id, wrapped FROM subject_keys WHERE wrapped IS NOT NULL"
            )
            for key_id, subject, kek_id, wrapped in rows:
                key = self._unwrap(bytes(wrapped), key_id, subject, kek_id)
                self._q(
                    tx,
                    "UPDATE subject_keys SET kek_id = ?, wrapped = ? WHERE key_id = ?",
                    (new_kek_id, self._wrap(key, key_id, subject, new_kek_id), key_id),
                )
                count += 1
        self._kek_id = new_kek_id
        return count

    # --- wrapping -----------------------------------------------------------------------------------------

    def _live(self, tx: _Connection, subject: str) -> tuple[str, bytes] | None:
        rows = self._q(
            tx,
            "SELECT key_id, kek_id, wrapped FROM subject_keys WHERE subject = ? AND wrapped IS NOT NULL "
            "ORDER BY generation DESC LIMIT 1",
            (subject,),
        )
        if not rows:
            return None
        key_id, kek_id, wrapped = rows[0]
        return str(key_id), self._unwrap(bytes(wrapped), key_id, subject, kek_id)

    def _wrap(self, key: bytes, key_id: str, subject: str, kek_id: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self._keks[kek_id]).encrypt(nonce, key, _aad(key_id, subject, kek_id))

    def _unwrap(self, wrapped: bytes, key_id: str, subject: str, kek_id: str) -> bytes:
        kek = self._keks.get(kek_id)
        if kek is None:
            raise LookupError(
                f"data key {key_id} is wrapped with KEK {kek_id!r}, which this store was not given"
            )
        return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], _aad(key_id, subject, kek_id))


def _aad(key_id: str, subject: str, kek_id: str) -> bytes:
    return f"{key_id}|{subject}|{kek_id}".encode()


def _checked(kek: bytes, kek_id: str) -> bytes:
    if len(kek) != KEY_BYTES or not kek_id:
        raise ValueError(f"a KEK is {KEY_BYTES} random bytes with a non-empty id (KEK {kek_id!r})")
    return kek


class SQLiteKeyStore(_KeyStore):
    """Keys in one SQLite file (the embedded mode). `secure_delete` zeroes destroyed wrappings in the file,
    and the rollback journal (not WAL) leaves no copy of them beside it once a transaction ends."""

    def __init__(
        self,
        path: str | Path,
        kek: bytes,
        kek_id: str,
        *,
        previous_keks: Mapping[str, bytes] | None = None,
    ) -> None:
        super().__init__(kek, kek_id, previous_keks)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute("PRAGMA journal_mode = DELETE")
        with self._transaction(write=True) as tx:
            for statement in _SCHEMA:
                tx.execute(statement.format(blob="BLOB"))

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[_Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
