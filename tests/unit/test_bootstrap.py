"""The composition root picks the embedded or the production adapters from the environment alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from touchstream.adapters.bootstrap import bootstrap
from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.streams.sealed_log import SealedLog
from touchstream.streams.topology import RAW


def test_embedded_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOUCHSTREAM_MODE", raising=False)
    monkeypatch.delenv("TOUCHSTREAM_MASTER_RECORD_URL", raising=False)
    monkeypatch.setenv("TOUCHSTREAM_DATA_DIR", str(tmp_path))
    runtime = bootstrap()
    with runtime.log(RAW) as log:
        assert isinstance(log, SealedLog), "personal fields are sealed before the log (docs/privacy.md)"
        assert isinstance(log.inner, SQLiteEventLog)
        assert log.partitions == 12
    with runtime.read_store() as store:
        assert isinstance(store, ChDBStore)
    assert runtime.master_record_url() == f"sqlite:///{tmp_path / 'master-record.sqlite'}"


def test_production_uses_kafka_clickhouse_and_postgres_without_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOUCHSTREAM_MODE", "production")
    monkeypatch.setenv("TOUCHSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("TOUCHSTREAM_POSTGRES_DSN", "postgresql://u@127.0.0.1:1/x")
    monkeypatch.delenv("TOUCHSTREAM_MASTER_RECORD_URL", raising=False)
    runtime = bootstrap()
    log = runtime.log(RAW)
    assert isinstance(log, SealedLog)
    assert isinstance(log.inner, KafkaEventLog)
    assert (log.inner.bootstrap, log.inner.topic) == ("127.0.0.1:1", RAW)
    store = runtime.read_store()
    assert isinstance(store, ClickHouseServerStore)
    store.close()
    assert runtime.master_record_url() == "postgresql://u@127.0.0.1:1/x"


def test_a_wrong_mode_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUCHSTREAM_MODE", "prod")
    with pytest.raises(ValueError, match="TOUCHSTREAM_MODE='prod': set it to 'embedded' or 'production'"):
        bootstrap()


def test_every_derived_setting_follows_its_source() -> None:
    from touchstream.adapters.config import load_settings

    moved = load_settings({"TOUCHSTREAM_POSTGRES_PORT": "25432", "TOUCHSTREAM_KAFKA_PORT": "29092"})
    assert moved.postgres_dsn == "postgresql://postgres@127.0.0.1:25432/touchstream"
    assert moved.kafka_bootstrap == "127.0.0.1:29092"
    named = load_settings(
        {"TOUCHSTREAM_POSTGRES_DSN": "postgresql://u@db:5432/x", "TOUCHSTREAM_POSTGRES_PORT": "1"}
    )
    assert named.postgres_dsn == "postgresql://u@db:5432/x"  # a whole DSN given wins over its parts
