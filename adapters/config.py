"""Configuration from the environment: small functions, read when called, never at import.

`TOUCHSTREAM_MODE` picks the runtime: `embedded` (default: SQLite log, chDB, SQLite master record) or
`production` (Kafka, ClickHouse server, PostgreSQL). Every other setting has a loopback default that
matches deploy/local/services.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["embedded", "production"]


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


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

    @property
    def embedded(self) -> bool:
        return self.mode == "embedded"


def load_settings() -> Settings:
    mode = _env("TOUCHSTREAM_MODE", "embedded")
    if mode not in ("embedded", "production"):
        raise ValueError(f"TOUCHSTREAM_MODE={mode!r}: expected 'embedded' or 'production'")
    return Settings(
        mode="production" if mode == "production" else "embedded",
        data_dir=Path(_env("TOUCHSTREAM_DATA_DIR", str(Path.home() / ".local" / "share" / "touchstream"))),
        kafka_bootstrap=_env(
            "TOUCHSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:" + _env("TOUCHSTREAM_KAFKA_PORT", "19092")
        ),
        topic_prefix=_env("TOUCHSTREAM_TOPIC_PREFIX", ""),
        clickhouse_host=_env("TOUCHSTREAM_CLICKHOUSE_HOST", "127.0.0.1"),
        clickhouse_port=int(_env("TOUCHSTREAM_CLICKHOUSE_PORT", "19000")),
        clickhouse_database=_env("TOUCHSTREAM_CLICKHOUSE_DATABASE", "touchstream"),
        postgres_dsn=_env("TOUCHSTREAM_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:15432/touchstream"),
        default_region=_env("TOUCHSTREAM_DEFAULT_REGION", "US"),
    )
