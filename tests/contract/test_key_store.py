"""The key store's contract (adapters/keys/store.py), one suite subclassed per store: SQLite and PostgreSQL.

Whatever the store, a subject has one live key, shredding destroys it for good and is audited, a subject
seen again after erasure gets a new key (flagged), and a KEK rotation rewraps every live key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from touchstream.adapters.keys.postgres_store import PostgresKeyStore
from touchstream.adapters.keys.store import SQLiteKeyStore

KEK, KEK_2 = os.urandom(32), os.urandom(32)
Opener = Callable[..., Any]


class KeyStoreContract:
    @pytest.fixture
    def opener(self, tmp_path: Path) -> Opener:
        raise NotImplementedError

    @pytest.fixture
    def store(self, opener: Opener) -> Iterator[Any]:
        opened = opener(KEK, "kek-1")
        yield opened
        opened.close()

    def test_a_subject_has_one_live_key(self, store: Any) -> None:
        assert store.data_key("s1", create=False) is None
        key_id, key = store.data_key("s1", create=True)
        assert len(key) == 32
        assert store.data_key("s1", create=True) == (key_id, key)
        assert store.data_key("s1", create=False) == (key_id, key)
        assert store.data_keys(["s1", "s2"])["s1"] == (key_id, key)
        assert store.keys([key_id, "nope"]) == {key_id: key}

    def test_a_second_store_on_the_same_database_sees_the_same_keys(self, store: Any, opener: Opener) -> None:
        key_id, key = store.data_key("s1", create=True)
        other = opener(KEK, "kek-1")  # schema creation is idempotent
        try:
            assert other.keys([key_id]) == {key_id: key}
        finally:
            other.close()

    def test_shredding_destroys_the_key_and_is_audited(self, store: Any) -> None:
        key_id, _ = store.data_key("s1", create=True)
        kept_id, kept = store.data_key("s2", create=True)
        assert not store.is_shredded("s1")
        assert store.shred(["s1", "never-seen"], requested_by="dpo@us", reason="art. 17") == 1
        assert store.is_shredded("s1")
        assert store.is_shredded("never-seen")
        assert store.data_key("s1", create=False) is None
        assert store.keys([key_id, kept_id]) == {kept_id: kept}
        audit = {(r.subject, r.requested_by, r.reason, r.keys_destroyed) for r in store.audit()}
        assert audit == {("s1", "dpo@us", "art. 17", 1), ("never-seen", "dpo@us", "art. 17", 0)}
        assert [r.subject for r in store.audit("s1")] == ["s1"]

    def test_a_request_shreds_a_subject_once_when_asked(self, store: Any) -> None:
        store.data_key("s1", create=True)
        assert store.shred(["s1"], requested_by="dpo@us", reason="request 1", once_per_reason=True) == 1
        new_id, new = store.data_key("s1", create=True)  # the person came back
        assert store.shred(["s1"], requested_by="dpo@us", reason="request 1", once_per_reason=True) == 0
        assert store.keys([new_id]) == {new_id: new}
        assert [r.reason for r in store.audit("s1")] == ["request 1"]
        assert store.shred(["s1"], requested_by="dpo@us", reason="request 2", once_per_reason=True) == 1
        assert store.keys([new_id]) == {}

    def test_a_subject_seen_again_gets_a_new_key_and_is_flagged(self, store: Any) -> None:
        old_id, old = store.data_key("s1", create=True)
        store.shred(["s1"], requested_by="dpo@us", reason="asked")
        store.shred(["s2"], requested_by="dpo@us", reason="asked before any key")
        assert store.reissued() == []
        new_id, new = store.data_key("s1", create=True)
        store.data_key("s2", create=True)
        assert (new_id, new) != (old_id, old)
        assert store.keys([old_id]) == {}
        assert {(r.subject, r.generation) for r in store.reissued()} == {("s1", 2), ("s2", 2)}
        assert store.reissued_after_erasure == 2

    def test_a_batch_of_subjects_gets_the_keys_one_at_a_time_would(self, store: Any, opener: Opener) -> None:
        subjects = [f"m{n}" for n in range(1_200)]  # more than one statement's worth
        first = store.data_keys(subjects[:400])
        keys = store.data_keys(subjects)
        assert len({key_id for key_id, _ in keys.values()}) == len(subjects)
        assert all(keys[s] == first[s] for s in subjects[:400])  # the live ones are kept, not made again
        other = opener(KEK, "kek-1")
        try:
            assert all(other.data_key(s, create=False) == keys[s] for s in subjects[::97])
        finally:
            other.close()
        store.shred(subjects[:10], requested_by="dpo@us", reason="asked")
        again = store.data_keys(subjects)
        assert all(again[s] != keys[s] for s in subjects[:10])
        assert all(again[s] == keys[s] for s in subjects[10:])
        assert {(r.subject, r.generation) for r in store.reissued()} == {(s, 2) for s in subjects[:10]}
        assert store.reissued_after_erasure == 10

    def test_rotating_the_kek_rewraps_every_live_key(self, store: Any, opener: Opener) -> None:
        key_id, key = store.data_key("s1", create=True)
        store.data_key("s2", create=True)
        store.shred(["s2"], requested_by="dpo@us", reason="asked")
        assert store.rotate_kek(KEK_2, "kek-2") == 1
        with_new = opener(KEK_2, "kek-2")
        with_old = opener(KEK, "kek-1")
        try:
            assert with_new.keys([key_id]) == {key_id: key}
            with pytest.raises(LookupError, match="kek-2"):
                with_old.keys([key_id])
            # New keys are wrapped with the new KEK too.
            fresh_id, fresh = store.data_key("s3", create=True)
            assert with_new.keys([fresh_id]) == {fresh_id: fresh}
        finally:
            with_new.close()
            with_old.close()

    def test_a_wrong_kek_is_refused(self, opener: Opener) -> None:
        with pytest.raises(ValueError, match="32 random bytes"):
            opener(b"short", "kek-1")


class TestSQLite(KeyStoreContract):
    @pytest.fixture
    def opener(self, tmp_path: Path) -> Opener:
        return lambda kek, kek_id: SQLiteKeyStore(tmp_path / "keys.db", kek, kek_id)

    def test_no_wrapped_key_bytes_remain_in_the_file_after_shredding(
        self, store: Any, tmp_path: Path
    ) -> None:
        for n in range(50):
            store.data_key(f"s{n}", create=True)
        wrapped = {
            subject: bytes(blob)
            for subject, blob in store._db.execute("SELECT subject, wrapped FROM subject_keys").fetchall()
        }
        store.shred([f"s{n}" for n in range(25)], requested_by="dpo@us", reason="asked")
        files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        for n in range(50):
            # A 16-byte slice of each wrapping: shredded ones are gone, the others are still there.
            assert (wrapped[f"s{n}"][12:28] in files) == (n >= 25), n

    def test_old_wrappings_leave_the_file_after_rotation(self, store: Any, tmp_path: Path) -> None:
        store.data_key("s1", create=True)
        (before,) = store._db.execute("SELECT wrapped FROM subject_keys").fetchone()
        store.rotate_kek(KEK_2, "kek-2")
        files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        assert bytes(before)[12:28] not in files


@pytest.mark.integration
class TestPostgreSQL(KeyStoreContract):
    @pytest.fixture
    def opener(self, pg_url: str) -> Opener:
        return lambda kek, kek_id: PostgresKeyStore(pg_url, kek, kek_id)

    def test_compact_rewrites_the_table(self, store: Any) -> None:
        store.data_key("s1", create=True)
        store.shred(["s1"], requested_by="dpo@us", reason="asked")
        store.compact()
        assert store.data_key("s1", create=False) is None
