"""The composition root: the one place that picks embedded or production adapters.

Entry points (CLI commands, the Faust worker, the gateway, the query API) call `bootstrap()` and take what
they need from the `Runtime`; nothing else decides which backend runs. Nothing connects until a method is
called, and each call opens a fresh client that the caller closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..projections.config import DEFAULT_CONFIG, ProjectionConfig
from ..streams.embedded import EmbeddedPipeline
from ..streams.ports import AbstractEventLog, AbstractReadStore
from .config import Settings, load_settings
from .private_files import private_dir

if TYPE_CHECKING:
    from ..streams.erasure import Eraser
    from ..streams.sealed_log import Codec
    from ..streams.sealing import Sealer
    from .keys.postgres_store import PostgresKeyStore
    from .keys.store import SQLiteKeyStore
    from .master_record.application import MasterRecord as MasterRecordApp

    KeyStoreAdapter = SQLiteKeyStore | PostgresKeyStore


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
        """The log of one declared topic (touchstream.adapters.logs.topics): Kafka or the embedded file;
        what carries personal data sealed on the way in and opened on the way out (docs/privacy.md)."""
        return sealed(self.stored_log(base_topic), base_topic, self.settings)

    def stored_log(self, base_topic: str) -> AbstractEventLog:
        """The same log as stored: records read as they are (sealed), for projections that keep them so
        (the `dead_letters` rows keep each original sealed)."""
        from .logs.topics import open_log

        if self.settings.embedded:
            return open_log(base_topic, prefix=self.settings.topic_prefix, embedded_dir=self.embedded_dir)
        return open_log(
            base_topic, bootstrap=self.settings.kafka_bootstrap, prefix=self.settings.topic_prefix
        )

    def key_store_url(self) -> str:
        """TOUCHSTREAM_KEY_STORE_URL when set; else keys.sqlite in the data folder (embedded) or the
        master record's PostgreSQL database (production): the keys live beside the record of who is who."""
        if self.settings.key_store_url:
            return self.settings.key_store_url
        if self.settings.embedded:
            return f"sqlite:///{self.settings.data_dir / 'keys.sqlite'}"
        return self.master_record_url()

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
            cluster=self.settings.clickhouse_cluster,
        )

    def master_record_url(self) -> str:
        """TOUCHSTREAM_MASTER_RECORD_URL when set; else SQLite in the data folder (embedded) or PostgreSQL."""
        if self.settings.master_record_url:
            return self.settings.master_record_url
        if self.settings.embedded:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{self.settings.data_dir / 'master-record.sqlite'}"
        return self.settings.postgres_dsn

    def embedded_pipeline(
        self, store: AbstractReadStore | None, batch_size: int = 5_000, linking: bool = True
    ) -> EmbeddedPipeline:
        """The embedded pipeline of this data folder, everything taken from the settings (without a
        store and linker: one step only, `open_embedded_pipeline`)."""
        return open_embedded_pipeline(
            self.embedded_dir,
            store,
            self.master_record_url(),
            prefix=self.settings.topic_prefix,
            settings=self.settings,
            batch_size=batch_size,
            linking=linking,
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
    store: AbstractReadStore | None,
    master_record_url: str,
    *,
    prefix: str = "",
    config: ProjectionConfig = DEFAULT_CONFIG,
    settings: Settings | None = None,
    batch_size: int = 5_000,
    linking: bool = True,
) -> EmbeddedPipeline:
    """The embedded pipeline over the logs in `log_dir` (`<prefix><topic>.sqlite`, as
    `adapters/logs/topics.py` names them), the master record at `master_record_url` and its relay to the
    embedded `masterdata.events`; closing it closes what this opened (not the store). `settings` give the
    identity rules' configuration and the phone regions (defaults without). Without a `store` it only
    resolves; `linking=False` leaves the linker out (a pipeline that only projects)."""
    from ..streams.embedded import RELAY_NAME, LogProducer
    from ..streams.topology import DLQ, MASTERDATA, RAW, RESOLVED
    from .logs.topics import open_log
    from .master_record.application import MasterRecord
    from .master_record.identity_config import phone_regions
    from .master_record.relay import MasterDataRelay

    logs = [open_log(t, prefix=prefix, embedded_dir=log_dir) for t in (RAW, RESOLVED, DLQ, MASTERDATA)]
    app = MasterRecord.from_url(master_record_url, settings=settings)
    raw, resolved, dlq, masterdata = logs
    stored_dlq = dlq
    if settings is not None:
        raw, resolved = sealed(raw, RAW, settings), sealed(resolved, RESOLVED, settings)
        dlq, masterdata = sealed(dlq, DLQ, settings), sealed(masterdata, MASTERDATA, settings)
    relay = MasterDataRelay(app, LogProducer(masterdata), name=RELAY_NAME, batch_size=batch_size)
    linker = None
    if linking and (settings is None or settings.linkage_incremental):
        from .master_record.linkage import Linker

        linker = Linker.open(app, settings)
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
        eraser=(
            eraser_for(settings, app, store, defer_part_drop=True)
            if settings is not None and store is not None
            else None
        ),
        stored_dlq=stored_dlq,
        **({"state_cache_mb": settings.state_cache_mb} if settings is not None else {}),
        linker=linker,
    )


def bootstrap(settings: Settings | None = None) -> Runtime:
    return Runtime(settings or load_settings())


# --- privacy: the key store and the sealer ------------------------------------------------------------------

KEK_FILE = "key-encryption-key"
_SEALERS: dict[tuple[str, str, str], Sealer] = {}


def decoded_secret(text: str, what: str) -> bytes:
    import base64
    import binascii

    try:
        secret = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what}: not base64; give 32 random bytes in base64") from None
    if len(secret) != 32:
        raise ValueError(f"{what}: {len(secret)} bytes; give exactly 32 random bytes in base64")
    return secret


def _secret_file(settings: Settings, file_name: str, first_line: str) -> str:
    """The data folder's secret file (made with `first_line` on first use, 0600), stripped."""
    from .private_files import create_private

    path = settings.data_dir / file_name
    if not path.exists():
        private_dir(settings.data_dir)
        create_private(path, first_line + "\n")  # two processes starting at once get one secret
    return path.read_text(encoding="utf-8").strip()


def new_secret() -> str:
    """32 random bytes in base64: a fresh KEK or pepper."""
    import base64
    import os

    return base64.b64encode(os.urandom(32)).decode()


def key_encryption_key(settings: Settings) -> tuple[str, bytes]:
    """(id, key): TOUCHSTREAM_KEY_ENCRYPTION_KEY with its _ID when set, else the data folder's file, which
    holds `<id> <base64>` (made on first use; `touchstream privacy rotate-kek` replaces it)."""
    if settings.key_encryption_key:
        key = decoded_secret(settings.key_encryption_key, "TOUCHSTREAM_KEY_ENCRYPTION_KEY")
        return settings.key_encryption_key_id, key
    text = _secret_file(settings, KEK_FILE, f"{settings.key_encryption_key_id} {new_secret()}")
    kek_id, _, encoded = text.rpartition(" ")
    return kek_id or settings.key_encryption_key_id, decoded_secret(encoded, KEK_FILE)


def open_key_store(settings: Settings) -> KeyStoreAdapter:
    """The subjects' key store of these settings (SQLite file or PostgreSQL)."""
    from .keys.store import SQLiteKeyStore

    url = Runtime(settings).key_store_url()
    kek_id, kek = key_encryption_key(settings)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteKeyStore(path, kek, kek_id)
    from .keys.postgres_store import PostgresKeyStore  # only here: psycopg costs the embedded mode ~80 ms

    return PostgresKeyStore(url, kek, kek_id)


def sealer_for(settings: Settings) -> Sealer | None:
    """This process's sealer for these settings (one per key store), or None with TOUCHSTREAM_SEALING=off."""
    if not settings.sealing:
        return None
    from ..streams.sealing import Sealer
    from .master_record.identity_config import phone_regions

    url = Runtime(settings).key_store_url()
    cache_key = (url, key_encryption_key(settings)[0], str(settings.data_dir))
    found = _SEALERS.get(cache_key)
    if found is None:
        store = open_key_store(settings)
        found = Sealer(store, store.pepper(), regions=phone_regions(settings))
        _SEALERS[cache_key] = found
    return found


class _LazySealer:
    """This process's sealer, looked up when a record first needs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _sealer(self) -> Sealer:
        found = sealer_for(self.settings)
        assert found is not None, "sealing is on"
        return found

    def seal_dicts(self, raws: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._sealer().seal_dicts(raws)

    def open_dicts(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._sealer().open_dicts(records)


def codec_for(base_topic: str, settings: Settings) -> Codec | None:
    """How records of `base_topic` are sealed and opened (docs/privacy.md): the event topics
    (`touchpoints.raw`, `.resolved`), the dead letters' originals (`.dlq`) and the master record's events
    (`masterdata.events`); None for the others, or with TOUCHSTREAM_SEALING=off."""
    from ..streams.sealed_log import DeadLetterCodec, MasterdataCodec, RawCodec, ResolvedCodec
    from ..streams.topology import DLQ, MASTERDATA, RAW, RESOLVED

    if not settings.sealing:
        return None
    sealer = _LazySealer(settings)  # the key store connects on the first record, not when a log opens
    codecs: dict[str, Codec] = {
        RAW: RawCodec(sealer),
        RESOLVED: ResolvedCodec(sealer),
        DLQ: DeadLetterCodec(RawCodec(sealer)),
        MASTERDATA: MasterdataCodec(sealer),
    }
    return codecs.get(base_topic)


def sealed(log: AbstractEventLog, base_topic: str, settings: Settings) -> AbstractEventLog:
    """`log`, sealing what it is given and opening what it is read, when its topic carries personal data."""
    from ..streams.sealed_log import SealedLog

    codec = codec_for(base_topic, settings)
    return log if codec is None else SealedLog(log, codec)


def eraser_for(
    settings: Settings,
    master_record: MasterRecordApp,
    store: AbstractReadStore,
    *,
    defer_part_drop: bool = False,
) -> Eraser:
    """The erasure step of these settings: the key store's shredding when sealing is on, the master
    record's and the read store's forgetting always (streams/erasure.py)."""
    from ..streams.erasure import Eraser, ErasureScope
    from ..streams.sealed_log import aggregate_envelope
    from ..streams.sealing import subjects_of_identifiers

    sealer = sealer_for(settings)
    if sealer is None:
        return Eraser(master_record, store, defer_part_drop=defer_part_drop)
    keys = open_key_store(settings)
    pepper = keys.pepper()

    def subjects_of(scope: ErasureScope) -> set[str]:
        # The identifiers' subjects (the logs' events) and the aggregates' (masterdata.events).
        aggregates = (sealer.subject_of_raw(aggregate_envelope(str(a), "", {})) for a in scope.aggregate_ids)
        return subjects_of_identifiers(scope.identifier_keys, pepper) | {s for s in aggregates if s}

    return Eraser(
        master_record,
        store,
        keys=keys,
        subjects_of=subjects_of,
        caches=[sealer],
        defer_part_drop=defer_part_drop,
    )
