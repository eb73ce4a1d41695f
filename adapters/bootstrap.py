"""The composition root: the one place that picks embedded or production adapters.

Entry points (CLI commands, the Faust worker, the gateway, the query API) call `bootstrap()` and take what
they need from the `Runtime`; nothing else decides which backend runs. Nothing connects until a method is
called, and each call opens a fresh client that the caller closes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from touchstream.adapters.config import Settings, load_settings
from touchstream.adapters.event_log import AbstractEventLog
from touchstream.adapters.read_store import AbstractReadStore


@dataclass(frozen=True)
class Runtime:
    settings: Settings = field(default_factory=load_settings)

    @property
    def embedded_dir(self) -> Path:
        return self.settings.data_dir / "log"

    def log(self, base_topic: str) -> AbstractEventLog:
        """The log of one declared topic (touchstream.adapters.topics): Kafka or the embedded file."""
        from touchstream.adapters.topics import open_log

        if self.settings.embedded:
            return open_log(base_topic, prefix=self.settings.topic_prefix, embedded_dir=self.embedded_dir)
        return open_log(
            base_topic, bootstrap=self.settings.kafka_bootstrap, prefix=self.settings.topic_prefix
        )

    def read_store(self) -> AbstractReadStore:
        if self.settings.embedded:
            from touchstream.adapters.chdb_store import ChDBStore

            path = self.settings.data_dir / "chdb"
            path.mkdir(parents=True, exist_ok=True)
            return ChDBStore(str(path), database=self.settings.clickhouse_database)
        from touchstream.adapters.clickhouse_server import ClickHouseServerStore

        return ClickHouseServerStore(
            host=self.settings.clickhouse_host,
            port=self.settings.clickhouse_port,
            database=self.settings.clickhouse_database,
            create_database=True,
        )

    def master_record_url(self) -> str:
        """TOUCHSTREAM_MASTER_RECORD_URL when set; else SQLite in the data folder (embedded) or PostgreSQL."""
        from touchstream.adapters.master_record import MASTER_RECORD_URL_ENV

        if os.environ.get(MASTER_RECORD_URL_ENV):
            return os.environ[MASTER_RECORD_URL_ENV]
        if self.settings.embedded:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{self.settings.data_dir / 'master-record.sqlite'}"
        return self.settings.postgres_dsn


def bootstrap(settings: Settings | None = None) -> Runtime:
    return Runtime(settings or load_settings())
