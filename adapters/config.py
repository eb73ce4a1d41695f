"""Configuration: the one reader of the environment. Everything else takes a `Settings` (or a part of it).

`TOUCHSTREAM_MODE` picks the runtime: `embedded` (default: SQLite logs, chDB, SQLite master record) or
`production` (Kafka, ClickHouse server, PostgreSQL). Every other setting has a loopback default that
matches deploy/local/services, and every setting derived from another follows it: changing
`TOUCHSTREAM_POSTGRES_PORT` moves the PostgreSQL DSN as `TOUCHSTREAM_KAFKA_PORT` moves Kafka's bootstrap.
Read when called (`load_settings()`), never at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["embedded", "production"]

#: Every variable `load_settings` reads, with what it sets (for `--help` texts and docs).
VARIABLES: dict[str, str] = {
    "TOUCHSTREAM_MODE": "embedded (default) or production",
    "TOUCHSTREAM_DATA_DIR": "where the embedded logs, chDB, the SQLite master record and secrets live",
    "TOUCHSTREAM_KAFKA_BOOTSTRAP": "Kafka bootstrap servers (default 127.0.0.1:$TOUCHSTREAM_KAFKA_PORT)",
    "TOUCHSTREAM_KAFKA_PORT": "Kafka's port on loopback (default 19092)",
    "TOUCHSTREAM_TOPIC_PREFIX": "prefix of every topic and consumer group (tenants, tests)",
    "TOUCHSTREAM_CLICKHOUSE_HOST": "ClickHouse server host (default 127.0.0.1)",
    "TOUCHSTREAM_CLICKHOUSE_PORT": "ClickHouse native port (default 19000)",
    "TOUCHSTREAM_CLICKHOUSE_DATABASE": "the read models' database (default touchstream)",
    "TOUCHSTREAM_CLICKHOUSE_CLUSTER": "the ClickHouse cluster of `db migrate --cluster` (empty: one server); "
    "sets insert_distributed_sync=1 so a write returns once on its shards (docs/deploy.md)",
    "TOUCHSTREAM_CLICKHOUSE_SQL_USER": "the read-only ClickHouse user `touchstream sql` connects as "
    "(default touchstream_sql; docs/security.md)",
    "TOUCHSTREAM_CLICKHOUSE_SQL_PASSWORD": "that user's password (deploy/local/clickhouse.sh sql-password)",
    "TOUCHSTREAM_POSTGRES_DSN": "the master record's PostgreSQL (default built from the three below)",
    "TOUCHSTREAM_POSTGRES_HOST": "PostgreSQL host (default 127.0.0.1)",
    "TOUCHSTREAM_POSTGRES_PORT": "PostgreSQL port (default 15432)",
    "TOUCHSTREAM_POSTGRES_DATABASE": "the master record's PostgreSQL database (default touchstream)",
    "TOUCHSTREAM_MASTER_RECORD_URL": "the master record's store URL, overriding the mode's default",
    "TOUCHSTREAM_DEFAULT_REGION": "region for phone numbers without a country code (default US)",
    "TOUCHSTREAM_SOURCE_REGIONS": "phone region per source system, e.g. zendesk_uk=GB,hubspot_de=DE",
    "TOUCHSTREAM_FREE_MAIL_DOMAINS_FILE": "a file of extra free-mail domains, one a line (# comments)",
    "TOUCHSTREAM_ROLE_LOCAL_PARTS": "extra role mailbox names, comma-separated (e.g. desk,frontoffice)",
    "TOUCHSTREAM_IDENTITY_MAX_MERGES_PER_IDENTIFIER": "merges one identifier may cause (default 3)",
    "TOUCHSTREAM_IDENTITY_MAX_CONTACTS_PER_EVENT": "contacts one event may merge (default 3)",
    "TOUCHSTREAM_IDENTITY_MAX_HOLDERS_FOR_SUSPICION": "holders of a name at a company still suspected (5)",
    "TOUCHSTREAM_IDENTITY_SWITCHBOARD_HOLDERS": "people sharing a phone that make it a switchboard (3)",
    "TOUCHSTREAM_IDENTITY_MAX_EMAILS_PER_CONTACT": "emails one contact may collect (default 8)",
    "TOUCHSTREAM_LINKAGE_SUSPECT_THRESHOLD": "match probability from which a pair becomes a steward suspect "
    "(default 0.5; docs/identity.md)",
    "TOUCHSTREAM_LINKAGE_MERGE_THRESHOLD": "match probability from which a pair merges, only when a strong "
    "identifier also agrees (default 0.999)",
    "TOUCHSTREAM_LINKAGE_WITHDRAW_BELOW": "an open suspect of the resolver's (shared address, shared phone, "
    "same name) whose pair the model scores below this is withdrawn by the scan (default 0.01)",
    "TOUCHSTREAM_LINKAGE_MAX_BLOCK": "records sharing one blocking key beyond which the key proposes no "
    "pairs (default 400)",
    "TOUCHSTREAM_LINKAGE_MAX_INDEXED": "contacts the incremental linker keeps in its in-memory index at most "
    "(default 500000; the least recently changed leave first)",
    "TOUCHSTREAM_LINKAGE_INCREMENTAL": "on (default) or off: link each resolved batch's new or changed "
    "contacts as events arrive (docs/identity.md)",
    "TOUCHSTREAM_WORKER_ID": "the Faust app id, hence the consumer group (default touchstream-worker)",
    "TOUCHSTREAM_WORKER_BATCH": "records per take_events batch (default 5000)",
    "TOUCHSTREAM_WORKER_BATCH_WITHIN": "seconds to wait for a batch to fill (default 0.5)",
    "TOUCHSTREAM_WORKER_DATADIR": "Faust's data folder (default $TOUCHSTREAM_DATA_DIR/faust)",
    "TOUCHSTREAM_WORKER_METRICS_EVERY": "seconds between the worker's metric log lines (default 60)",
    "TOUCHSTREAM_WORKER_ACCOUNT_SIGNALS_EVERY": "seconds between account-level signal passes (default 10)",
    "TOUCHSTREAM_STATE_CACHE_MB": "MiB of per-contact fold states kept between batches (default 256)",
    "TOUCHSTREAM_MASTER_RECORD_KEPT": "master-record aggregates the resolve step keeps between batches "
    "(default 20000, ~3 KB each; 0 reads each batch's from the store)",
    "TOUCHSTREAM_WEBHOOK_URL": "where the worker forwards attribute changes (off when empty)",
    "TOUCHSTREAM_WEBHOOK_SECRET": "the webhook's HMAC secret",
    "TOUCHSTREAM_API_SECRET": "the query API's token-signing secret (default: a file made in the data dir)",
    "TOUCHSTREAM_API_ROLES": "a TOML file adding or redefining roles ([roles.<name>])",
    "TOUCHSTREAM_SEALING": "on (default) or off: personal fields encrypted per subject before the log "
    "(docs/privacy.md)",
    "TOUCHSTREAM_KEY_STORE_URL": "where the subjects' data keys live (default: keys.sqlite in the data dir "
    "embedded, the master record's PostgreSQL database in production)",
    "TOUCHSTREAM_KEY_ENCRYPTION_KEY": "base64 of 32 bytes wrapping every data key (default: a file made in "
    "the data dir; set it in production, the same for every process)",
    "TOUCHSTREAM_KEY_ENCRYPTION_KEY_ID": "a name for that key, recorded beside each wrapped key (kek-1)",
}


@dataclass(frozen=True)
class Settings:
    mode: Mode
    data_dir: Path
    kafka_bootstrap: str
    topic_prefix: str
    clickhouse_host: str
    clickhouse_port: int
    clickhouse_database: str
    postgres_dsn: str
    default_region: str
    master_record_url: str = ""  # empty: the mode's default (see `bootstrap.Runtime.master_record_url`)
    worker_id: str = "touchstream-worker"
    worker_batch: int = 5_000
    worker_batch_within_s: float = 0.5
    worker_datadir: Path | None = None
    worker_metrics_every_s: float = 60.0
    # The fold's per-contact states kept in memory between batches (streams/state_cache.py), in MiB.
    state_cache_mb: float = 256.0
    # The master record's aggregates kept between batches (adapters/master_record/kept.py, DEFAULT_KEPT).
    master_record_kept: int = 20_000
    worker_account_signals_every_s: float = 10.0
    webhook_url: str = ""
    webhook_secret: str = ""
    api_secret: str = ""
    api_roles_file: Path | None = None
    clickhouse_sql_user: str = "touchstream_sql"  # the SQL door's read-only user (docs/security.md)
    clickhouse_sql_password: str = ""
    clickhouse_cluster: str = ""  # a remote_servers name: Distributed tables over shards (docs/deploy.md)
    # Identity (adapters/master_record/identity_config.py turns these into the rules' IdentityConfig and
    # PhoneRegions).
    source_regions: tuple[tuple[str, str], ...] = ()
    free_mail_domains_file: str = ""
    role_local_parts: tuple[str, ...] = ()
    identity_max_merges_per_identifier: int = 3
    identity_max_contacts_per_event: int = 3
    identity_max_holders_for_suspicion: int = 5
    identity_switchboard_holders: int = 3
    identity_max_emails_per_contact: int = 8
    # Probabilistic suspects (projections/linkage.py, adapters/master_record/linkage.py).
    linkage_suspect_threshold: float = 0.5
    linkage_merge_threshold: float = 0.999
    linkage_withdraw_below: float = 0.01
    linkage_max_block: int = 400
    linkage_max_indexed: int = 500_000  # contacts the incremental linker's in-memory index holds at most
    linkage_incremental: bool = True  # link each resolved batch's changed contacts (streams/linking.py)
    # Privacy (docs/privacy.md): crypto-shredding of personal fields on every log.
    sealing: bool = True
    key_store_url: str = ""  # empty: the mode's default (see `bootstrap.Runtime.key_store_url`)
    key_encryption_key: str = ""  # base64; empty: a file in the data dir (bootstrap)
    key_encryption_key_id: str = "kek-1"

    @property
    def embedded(self) -> bool:
        return self.mode == "embedded"


class SettingsError(ValueError):
    """A variable holds a value that cannot be used; the message names it and the fix."""


def _number(env: Mapping[str, str], name: str, default: str, kind: type[int] | type[float]) -> float:
    text = env.get(name, "").strip() or default
    try:
        return kind(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a {kind.__name__}; set it to e.g. {default}") from None


def _count(env: Mapping[str, str], name: str, default: str) -> int:
    value = int(_number(env, name, default, int))
    if value < 0:
        raise SettingsError(f"{name}={value} is negative; set it to 0 or more, e.g. {default}")
    return value


def _probability(env: Mapping[str, str], name: str, default: str) -> float:
    value = _number(env, name, default, float)
    if not 0.0 < value < 1.0:
        raise SettingsError(f"{name}={value} is not a probability between 0 and 1; set it to e.g. {default}")
    return value


def _on_off(env: Mapping[str, str], name: str, default: str) -> bool:
    text = (env.get(name, "").strip() or default).lower()
    if text not in ("on", "off"):
        raise SettingsError(f"{name}={text!r}: set it to 'on' or 'off'")
    return text == "on"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ

    def get(name: str, default: str = "") -> str:
        return env.get(name, "").strip() or default

    def count(name: str, default: str) -> int:
        return int(_number(env, f"TOUCHSTREAM_IDENTITY_{name}", default, int))

    mode = get("TOUCHSTREAM_MODE", "embedded")
    if mode not in ("embedded", "production"):
        raise SettingsError(f"TOUCHSTREAM_MODE={mode!r}: set it to 'embedded' or 'production'")
    postgres_dsn = get("TOUCHSTREAM_POSTGRES_DSN") or (
        f"postgresql://postgres@{get('TOUCHSTREAM_POSTGRES_HOST', '127.0.0.1')}:"
        f"{int(_number(env, 'TOUCHSTREAM_POSTGRES_PORT', '15432', int))}/"
        f"{get('TOUCHSTREAM_POSTGRES_DATABASE', 'touchstream')}"
    )
    kafka_port = int(_number(env, "TOUCHSTREAM_KAFKA_PORT", "19092", int))
    sealing = get("TOUCHSTREAM_SEALING", "on").lower()
    if sealing not in ("on", "off"):
        raise SettingsError(f"TOUCHSTREAM_SEALING={sealing!r}: set it to 'on' or 'off'")
    worker_datadir = get("TOUCHSTREAM_WORKER_DATADIR")
    return Settings(
        mode="production" if mode == "production" else "embedded",
        data_dir=Path(get("TOUCHSTREAM_DATA_DIR", str(Path.home() / ".local" / "share" / "touchstream"))),
        kafka_bootstrap=get("TOUCHSTREAM_KAFKA_BOOTSTRAP", f"127.0.0.1:{kafka_port}"),
        topic_prefix=get("TOUCHSTREAM_TOPIC_PREFIX"),
        clickhouse_host=get("TOUCHSTREAM_CLICKHOUSE_HOST", "127.0.0.1"),
        clickhouse_port=int(_number(env, "TOUCHSTREAM_CLICKHOUSE_PORT", "19000", int)),
        clickhouse_database=get("TOUCHSTREAM_CLICKHOUSE_DATABASE", "touchstream"),
        postgres_dsn=postgres_dsn,
        default_region=get("TOUCHSTREAM_DEFAULT_REGION", "US"),
        master_record_url=get("TOUCHSTREAM_MASTER_RECORD_URL"),
        worker_id=get("TOUCHSTREAM_WORKER_ID", "touchstream-worker"),
        worker_batch=int(_number(env, "TOUCHSTREAM_WORKER_BATCH", "5000", int)),
        worker_batch_within_s=_number(env, "TOUCHSTREAM_WORKER_BATCH_WITHIN", "0.5", float),
        worker_datadir=Path(worker_datadir) if worker_datadir else None,
        worker_metrics_every_s=_number(env, "TOUCHSTREAM_WORKER_METRICS_EVERY", "60", float),
        state_cache_mb=_number(env, "TOUCHSTREAM_STATE_CACHE_MB", "256", float),
        master_record_kept=_count(env, "TOUCHSTREAM_MASTER_RECORD_KEPT", "20000"),
        worker_account_signals_every_s=_number(env, "TOUCHSTREAM_WORKER_ACCOUNT_SIGNALS_EVERY", "10", float),
        webhook_url=get("TOUCHSTREAM_WEBHOOK_URL"),
        webhook_secret=env.get("TOUCHSTREAM_WEBHOOK_SECRET", ""),
        api_secret=env.get("TOUCHSTREAM_API_SECRET", ""),
        api_roles_file=Path(roles) if (roles := get("TOUCHSTREAM_API_ROLES")) else None,
        clickhouse_sql_user=get("TOUCHSTREAM_CLICKHOUSE_SQL_USER", "touchstream_sql"),
        clickhouse_sql_password=env.get("TOUCHSTREAM_CLICKHOUSE_SQL_PASSWORD", ""),
        clickhouse_cluster=get("TOUCHSTREAM_CLICKHOUSE_CLUSTER"),
        source_regions=_pairs(get("TOUCHSTREAM_SOURCE_REGIONS"), "TOUCHSTREAM_SOURCE_REGIONS"),
        free_mail_domains_file=get("TOUCHSTREAM_FREE_MAIL_DOMAINS_FILE"),
        role_local_parts=tuple(
            p.strip().lower() for p in get("TOUCHSTREAM_ROLE_LOCAL_PARTS").split(",") if p.strip()
        ),
        identity_max_merges_per_identifier=count("MAX_MERGES_PER_IDENTIFIER", "3"),
        identity_max_contacts_per_event=count("MAX_CONTACTS_PER_EVENT", "3"),
        identity_max_holders_for_suspicion=count("MAX_HOLDERS_FOR_SUSPICION", "5"),
        identity_switchboard_holders=count("SWITCHBOARD_HOLDERS", "3"),
        identity_max_emails_per_contact=count("MAX_EMAILS_PER_CONTACT", "8"),
        linkage_suspect_threshold=_probability(env, "TOUCHSTREAM_LINKAGE_SUSPECT_THRESHOLD", "0.5"),
        linkage_merge_threshold=_probability(env, "TOUCHSTREAM_LINKAGE_MERGE_THRESHOLD", "0.999"),
        linkage_withdraw_below=_probability(env, "TOUCHSTREAM_LINKAGE_WITHDRAW_BELOW", "0.01"),
        linkage_max_block=int(_number(env, "TOUCHSTREAM_LINKAGE_MAX_BLOCK", "400", int)),
        linkage_max_indexed=int(_number(env, "TOUCHSTREAM_LINKAGE_MAX_INDEXED", "500000", int)),
        linkage_incremental=_on_off(env, "TOUCHSTREAM_LINKAGE_INCREMENTAL", "on"),
        sealing=sealing == "on",
        key_store_url=get("TOUCHSTREAM_KEY_STORE_URL"),
        key_encryption_key=env.get("TOUCHSTREAM_KEY_ENCRYPTION_KEY", "").strip(),
        key_encryption_key_id=get("TOUCHSTREAM_KEY_ENCRYPTION_KEY_ID", "kek-1"),
    )


def _pairs(text: str, name: str) -> tuple[tuple[str, str], ...]:
    """`a=GB, b=DE` -> (("a", "GB"), ("b", "DE"))."""
    pairs = []
    for item in (i.strip() for i in text.split(",")):
        key, sep, value = item.partition("=")
        if not item:
            continue
        if not sep or not key.strip() or not value.strip():
            raise SettingsError(f"{name}: {item!r} is not source=REGION; write e.g. zendesk_uk=GB,hubspot=US")
        pairs.append((key.strip().lower(), value.strip().upper()))
    return tuple(pairs)
