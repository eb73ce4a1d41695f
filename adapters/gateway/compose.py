"""The gateway's composition root: settings and options in, an app wired to the chosen log out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from ...streams import topology
from ...streams.ports import AbstractEventLog
from ..bootstrap import sealed
from ..config import Settings, load_settings
from ..logs.sqlite_log import SQLiteEventLog
from ..master_record.identity_config import phone_regions
from ..private_files import private_dir
from .app import GatewaySettings, create_gateway
from .auth import Keyring
from .dedup import SQLiteDedupStore
from .ingest import Readiness, log_readiness


def build_gateway(
    *,
    keys: Path,
    embedded_log: Path | None = None,
    kafka: str | None = None,
    topic: str | None = None,
    dedup_db: Path | None = None,
    dedup_window_s: float = 7 * 24 * 3600,
    max_batch: int = 1000,
    max_bytes: int = 8 * 1024 * 1024,
    retry_after: int = 5,
    kafka_timeout: float = 10.0,
    body_timeout: float = 30.0,
    settings: Settings | None = None,
) -> FastAPI:
    """The gateway of `settings` (default: the environment's): its log, its key store for sealing."""
    config = settings or load_settings()
    if kafka is None and embedded_log is None:
        if config.embedded:
            # The same file `touchstream run` reads (bootstrap's layout): data dir / log / <topic>.sqlite.
            embedded_log = (
                config.data_dir / "log" / f"{topology.topic_name(topology.RAW, config.topic_prefix)}.sqlite"
            )
        else:
            kafka = config.kafka_bootstrap
    topic_name = topic or topology.topic_name(topology.RAW, config.topic_prefix)
    open_log: Callable[[], AbstractEventLog]
    readiness: Readiness = log_readiness
    if kafka is not None:
        from ..logs.kafka_log import KafkaEventLog
        from .ready import KafkaReadiness

        bootstrap = kafka

        def open_log() -> AbstractEventLog:
            return sealed(KafkaEventLog(bootstrap, topic_name, timeout_s=kafka_timeout), topology.RAW, config)

        readiness = KafkaReadiness(bootstrap, topic_name, timeout_s=min(2.0, kafka_timeout))
    else:
        assert embedded_log is not None
        log_path = embedded_log
        private_dir(log_path.parent)

        def open_log() -> AbstractEventLog:
            # The declared partition count, as every other reader and writer of the raw log opens it.
            log = SQLiteEventLog(log_path, topology.spec_for(topology.RAW).partitions)
            return sealed(log, topology.RAW, config)  # personal fields never reach the log in the clear

    dedup_path = dedup_db or config.data_dir / "gateway-dedup.sqlite"
    private_dir(dedup_path.parent)
    return create_gateway(
        open_log,
        Keyring.from_file(keys),
        SQLiteDedupStore(dedup_path, window_s=dedup_window_s),
        GatewaySettings(
            max_batch_events=max_batch,
            max_request_bytes=max_bytes,
            retry_after_s=retry_after,
            body_timeout_s=body_timeout,
            default_region=config.default_region,
            regions=phone_regions(config),
        ),
        readiness=readiness,
    )
