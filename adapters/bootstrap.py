"""The composition root: the one place that picks embedded or production adapters.

Entry points (CLI commands, the Faust worker, the gateway, the query API) call `bootstrap()` and take what
they need from the `Runtime`; nothing else decides which backend runs. Nothing connects until a method is
called, and each call opens a fresh client that the caller closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..projections.config import DEFAULT_CONFIG, ProjectionConfig
from ..streams.embedded import EmbeddedPipeline
from ..streams.ports import AbstractEventLog, AbstractReadStore
from .config import Settings, load_settings
from .private_files import private_dir

if TYPE_CHECKING:
    from .master_record.application import MasterRecord as MasterRecordApp


@dataclass(frozen=True)
class Runtime:
    settings: Settings = field(default_factory=load_settings)

    def __post_init__(self) -> None:
        # The data folder holds the API secret, the revocation list and every embedded store: 0700 when
        # made here, before any of them creates it with the process umask.
        private_dir(self.settings.data_dir)

    @property
    def embedded_dir(self) -> Path:
        return self.settings.data_dir / "log"

    def log(self, base_topic: str) -> AbstractEventLog:
        """The log of one declared topic (touchstream.adapters.logs.topics): Kafka or the embedded file."""
        from .logs.topics import open_log

        if self.settings.embedded:
            return open_log(base_topic, prefix=self.settings.topic_prefix, embedded_dir=self.embedded_dir)
        return open_log(
            base_topic, bootstrap=self.settings.kafka_bootstrap, prefix=self.settings.topic_prefix
        )

    def read_store(self) -> AbstractReadStore:
        if self.settings.embedded:
            from .storage.chdb_store import ChDBStore

            path = self.settings.data_dir / "chdb"
            path.mkdir(parents=True, exist_ok=True)
            return ChDBStore(str(path), database=self.settings.clickhouse_database)
        from .storage.clickhouse_server import ClickHouseServerStore

        return ClickHouseServerStore(
            host=self.settings.clickhouse_host,
            port=self.settings.clickhouse_port,
            database=self.settings.clickhouse_database,
            create_database=True,
            cluster=bool(self.settings.clickhouse_cluster),
        )

    def master_record_url(self) -> str:
        """TOUCHSTREAM_MASTER_RECORD_URL when set; else SQLite in the data folder (embedded) or PostgreSQL."""
        if self.settings.master_record_url:
            return self.settings.master_record_url
        if self.settings.embedded:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{self.settings.data_dir / 'master-record.sqlite'}"
        return self.settings.postgres_dsn

    def embedded_pipeline(self, store: AbstractReadStore, batch_size: int = 5_000) -> EmbeddedPipeline:
        """The embedded pipeline of this data folder, everything taken from the settings."""
        return open_embedded_pipeline(
            self.embedded_dir,
            store,
            self.master_record_url(),
            prefix=self.settings.topic_prefix,
            settings=self.settings,
            batch_size=batch_size,
        )

    def open_master_record(self) -> MasterRecordApp:
        """The master record of these settings (its store, identity rules and thresholds)."""
        from .master_record.application import MasterRecord

        return MasterRecord.from_url(self.master_record_url(), settings=self.settings)

    def prepare_master_record(self) -> str:
        """Create what the master record's store needs before first use: the data folder (SQLite) or the
        PostgreSQL database (connecting to the server's `postgres` database to create it). Idempotent;
        returns what was done, for the log line."""
        url = self.master_record_url()
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            return f"master record: {url}"
        if url.startswith(("postgresql://", "postgres://")):
            from .master_record.postgres_setup import ensure_database

            created = ensure_database(url)
            return f"master record: PostgreSQL database {created.database} " + (
                "created" if created.created else "present"
            )
        return f"master record: {url}"


def open_embedded_pipeline(
    log_dir: Path,
    store: AbstractReadStore,
    master_record_url: str,
    *,
    prefix: str = "",
    config: ProjectionConfig = DEFAULT_CONFIG,
    settings: Settings | None = None,
    batch_size: int = 5_000,
) -> EmbeddedPipeline:
    """The embedded pipeline over the logs in `log_dir` (`<prefix><topic>.sqlite`, as
    `adapters/logs/topics.py` names them), the master record at `master_record_url` and its relay to the
    embedded `masterdata.events`; closing it closes what this opened (not the store). `settings` give the
    identity rules' configuration and the phone regions (defaults without)."""
    from ..streams.embedded import RELAY_NAME, LogProducer
    from ..streams.topology import DLQ, MASTERDATA, RAW, RESOLVED
    from .logs.topics import open_log
    from .master_record.application import MasterRecord
    from .master_record.identity_config import phone_regions
    from .master_record.relay import MasterDataRelay

    logs = [open_log(t, prefix=prefix, embedded_dir=log_dir) for t in (RAW, RESOLVED, DLQ, MASTERDATA)]
    app = MasterRecord.from_url(master_record_url, settings=settings)
    raw, resolved, dlq, masterdata = logs
    relay = MasterDataRelay(app, LogProducer(masterdata), name=RELAY_NAME, batch_size=batch_size)
    return EmbeddedPipeline(
        raw=raw,
        resolved=resolved,
        dlq=dlq,
        masterdata=masterdata,
        master_record=app,
        relay=relay,
        store=store,
        config=config,
        regions=phone_regions(settings),
        batch_size=batch_size,
        close=[*logs, app],
    )


def bootstrap(settings: Settings | None = None) -> Runtime:
    return Runtime(settings or load_settings())
