"""Shared data for the query API's tests (no tests here): a generated story that ends yesterday (so signals
are live now), published to an embedded log and projected into a read store by the embedded runner.

chDB allows one data path per process at a time, so every user of `load_story` opens its store(s) on one
path per module and closes them at the end of the module.
"""

from __future__ import annotations

import secrets
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from touchstream.adapters.api.auth import TokenSigner
from touchstream.adapters.api.feed import topic_publisher
from touchstream.adapters.api.sql_door import open_door_store
from touchstream.adapters.bootstrap import Runtime
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.logs.topics import open_log
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate
from touchstream.events import parse_event
from touchstream.streams.embedded import RunStats, run_until_caught_up, stand_in_resolver
from touchstream.streams.ports import AbstractReadStore, ReadStoreError

DAYS = 90
SECRET = secrets.token_urlsafe(32).encode()


def story_config(customers: int = 150, accounts: int = 24, seed: int = 11) -> GeneratorConfig:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS + 1)
    return GeneratorConfig(customers=customers, accounts=accounts, days=DAYS, seed=seed, start=start)


@dataclass
class Story:
    raw_log: Path
    topic_dir: Path
    stats: RunStats


def publish_raw(log: SQLiteEventLog, events: list[dict[str, Any]]) -> None:
    records = []
    for event in events:
        raw = orjson.dumps(event)
        records.append((parse_event(raw).identifiers.strongest().encode(), raw))
    log.append(records)


EXTERNAL_ID = ("salesforce", "00QTESTEXT42")


def wire(type_name: str, payload: dict[str, Any], identifiers: dict[str, Any], source: str) -> dict[str, Any]:
    """A fresh event of `type_name` that happened a minute ago."""
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_name,
        "schema_version": 1,
        "occurred_at": (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
        "recorded_at": now.isoformat().replace("+00:00", "Z"),
        "source": source,
        "identifiers": identifiers,
        "payload": payload,
    }


def external_only_events() -> list[dict[str, Any]]:
    """A person the CRM knows only by its external id (no email): the events are keyed by that id."""
    system, ident = EXTERNAL_ID
    return [
        wire(
            "ContactDetailsObserved",
            {"first_name": "Ezekiel", "last_name": "Quantrill", "company": "Externa Ltd"},
            {"external_ids": {system: ident}},
            "salesforce",
        )
    ]


def load_story(
    store: AbstractReadStore,
    folder: Path,
    config: GeneratorConfig | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> Story:
    """Generate, publish to `folder/raw.sqlite`, project into `store`; messages go to the embedded topic
    logs in `folder/topics` (as the dashboard's feed reads them). `extra` events are published too."""
    prepare_read_store(store)
    topic_dir = folder / "topics"

    def opener(topic: str) -> Any:
        return open_log(topic, embedded_dir=topic_dir)

    raw_log = folder / "raw.sqlite"
    with SQLiteEventLog(raw_log, partitions=3) as log:
        publish_raw(log, list(generate(config or story_config())) + external_only_events() + (extra or []))
        stats = run_until_caught_up(
            log, store, resolve=stand_in_resolver, batch_size=5_000, publish=topic_publisher(opener)
        )
    return Story(raw_log, topic_dir, stats)


def sql_password() -> str:
    """The local ClickHouse server's read-only user's password (deploy/local/clickhouse.sh keeps it)."""
    script = Path(__file__).resolve().parents[2] / "deploy" / "local" / "clickhouse.sh"
    done = subprocess.run([str(script), "sql-password"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def open_door_when_ready(runtime: Runtime) -> AbstractReadStore:
    """The SQL door's server connection, once the server has loaded its users.xml (`services up`
    rewrites it; the server reloads it on its own within seconds)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return open_door_store(runtime)
        except ReadStoreError as exc:
            text = str(exc).lower()
            if ("authentication" not in text and "unknown user" not in text) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def signer() -> TokenSigner:
    return TokenSigner(SECRET)


def token(role: str, subject: str = "tester") -> str:
    return signer().mint(role, subject, 3600)


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role)}"}


def pick_contact(store: AbstractReadStore, where: str = "1") -> dict[str, Any]:
    """A well-known contact of the story (a name and an email), as a dict of customer_360_current."""
    columns, rows = store.query_with_columns(
        "SELECT * FROM customer_360_current WHERE erased = 0 AND first_name != '' AND last_name != '' "
        f"AND email != '' AND ({where}) ORDER BY touches DESC, contact_id LIMIT 1"
    )
    assert rows, f"no contact matches {where}"
    return dict(zip([c for c, _ in columns], rows[0], strict=True))


def check_account_signals(client: TestClient, store: AbstractReadStore, account: str) -> None:
    """An account's answer carries its live account-level signals, the newest version of each (a cleared
    or an expired one is left out), to a role hearing their department, and none to one that does not."""
    columns = ["signal_id", "account_id", "kind", "department", "status", "reason", "evidence"]
    columns += ["raised_at", "expires_at", "cleared_at", "version"]
    raised, later, never = datetime(2026, 5, 1), datetime(2100, 1, 1), datetime(1970, 1, 1)

    def row(signal: str, status: str, expires: datetime, version: int) -> tuple[Any, ...]:
        what = (signal, account, "service_hold_lifted", "sales", status, "T1 solved", [signal])
        return (*what, raised, expires, never, version)

    rows = [row("acc-sig-1", "raised", later, 1), row("acc-sig-2", "raised", later, 1)]
    rows += [row("acc-sig-2", "cleared", later, 2), row("acc-sig-3", "raised", raised, 1)]
    store.insert_rows("account_signals", columns, rows)

    def signals(role: str) -> list[dict[str, Any]]:
        answer = client.get(f"/v1/accounts/{account}", headers=auth(role))
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["signals"]
        return found

    heard = {s["signal_id"]: s for s in signals("sales")}
    assert heard["acc-sig-1"]["evidence"] == ["acc-sig-1"]
    assert heard["acc-sig-1"]["kind"] == "service_hold_lifted"
    assert "acc-sig-2" not in heard  # cleared by its newer version
    assert "acc-sig-3" not in heard  # expired
    assert signals("marketing") == []
