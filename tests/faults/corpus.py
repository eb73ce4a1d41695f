"""The hostile-input corpus: what broken and malicious producers send, in one place for every door.

Imported by the bad-input tests as `faults.corpus` (`tests/` is on the pytest path). Each entry says what
must happen to it: a clear error naming the field, a dead letter, or - for the hostile strings that are
valid - being stored byte for byte. docs/bad-input.md explains the choices.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from event_examples import wire_event
from fastapi import FastAPI

from touchstream.adapters.gateway.app import GatewaySettings, create_gateway
from touchstream.adapters.gateway.auth import Keyring, add_key
from touchstream.adapters.gateway.dedup import SQLiteDedupStore
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.streams.ports import AbstractEventLog

# --- strings that are valid in names and ids, and must reach ClickHouse byte for byte -----------------

#: One-line strings the event language accepts (no control characters, no outer whitespace).
HOSTILE_NAMES: tuple[str, ...] = (
    "'); DROP TABLE touchpoints; --",
    "Robert'); DROP TABLE customer_360;--",
    "x' OR '1'='1",
    '"; DELETE FROM dead_letters WHERE "1"="1',
    "back\\slash \\' \\\\ trailing\\",
    "\\N",  # ClickHouse's TSV spelling of NULL
    "NULL",
    "%(event_id)s %s %% {0} {{x}}",  # client-side parameter markers
    "`backtick` and $dollar$ and ${shell}",
    "O'Brien \"The Hammer\" d'Artagnan",
    "🚀 emoji 👩🏽‍💻 and 🇪🇺 flags",
    "\u202eright-to-left override\u202c and zero\u200bwidth",
    "日本語の名前 — Ünïcödé ß",
    "a" * 200,  # the longest Name
    "0x00 \\x00 \\u0000 (looks like NUL, is not)",
    "</script><script>alert(1)</script>",
    "../../etc/passwd",
)

#: Free text (comments, descriptions) may carry tabs and line breaks too.
HOSTILE_TEXTS: tuple[str, ...] = (
    "line one\nline two\r\n'); DROP TABLE touchpoints; --\ttabbed",
    "\\N\n\\t\\n literal escapes\\",
    "quote ' double \" backtick ` backslash \\",
)

#: Strings with control characters: refused by the event language wherever they appear in a string.
CONTROL_STRINGS: tuple[str, ...] = (
    "nul\x00inside",
    "bell\x07",
    "escape\x1b[31mred",
    "del\x7f",
    "c1\x85next-line",
)

# --- bodies that are not events ------------------------------------------------------------------------

MALFORMED_BODIES: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"  \n\t ",
    "truncated object": b'{"event_id": "6f1c1a36',
    "trailing comma": b'{"type": "EmailOpened",}',
    "two objects": b'{"a": 1}{"b": 2}',
    "single quotes": b"{'type': 'EmailOpened'}",
    "NaN": b'{"type": NaN}',
    "infinity": b'{"schema_version": 1e400}',
    "invalid utf-8": b'{"type": "\xff\xfe"}',
    "overlong utf-8": b'{"type": "\xc0\xaf"}',
    "lone surrogate escape": b'{"type": "\\ud800"}',
    "raw NUL": b'{"type": "Email\x00Opened"}',
    "utf-16": '{"type": "EmailOpened"}'.encode("utf-16"),
    "utf-8 BOM": b'\xef\xbb\xbf{"type": "EmailOpened"}',
    "binary": bytes(range(256)),
    "nested arrays 100k": b"[" * 100_000 + b"]" * 100_000,
    "nested objects 100k": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "unclosed nesting": b"[" * 5_000,
}

#: Valid JSON that is not an event or a batch of events.
NOT_EVENTS: dict[str, bytes] = {
    "null": b"null",
    "true": b"true",
    "number": b"42",
    "huge integer": b"9" * 5_000,
    "string": b'"EmailOpened"',
    "empty array": b"[]",
}

# --- field-level damage to a valid event: (field, value) pairs and the field the error must name -------

WRONG_TYPES: tuple[tuple[str, Any], ...] = (
    ("event_id", 123),
    ("event_id", "not-a-uuid"),
    ("event_id", None),
    ("event_id", ["6f1c1a36-8b0e-4a5e-9d61-4a0f8f3e9a11"]),
    ("event_id", "'); DROP TABLE touchpoints; --"),
    ("type", 5),
    ("type", ""),
    ("type", None),
    ("type", {"name": "EmailOpened"}),
    ("type", "EmailOpened\x00"),
    ("type", "'); DROP TABLE touchpoints; --"),
    ("schema_version", "1"),
    ("schema_version", 1.5),
    ("schema_version", True),
    ("schema_version", -1),
    ("schema_version", 10**20),
    ("occurred_at", 0),
    ("occurred_at", "yesterday"),
    ("occurred_at", "2026-13-45T00:00:00Z"),
    ("occurred_at", "2026-03-02T10:00:00"),  # no offset
    ("occurred_at", ["2026-03-02T10:00:00Z"]),
    ("source", ""),
    ("source", "HubSpot; DROP TABLE x"),
    ("source", 7),
    ("department", "finance"),
    ("department", ["marketing"]),
    ("actor", "nul\x00actor"),
    ("actor", {"name": "x"}),
    ("identifiers", {}),
    ("identifiers", []),
    ("identifiers", "jane@acme.com"),
    ("identifiers", {"email": 5}),
    ("identifiers", {"external_ids": "hubspot:1"}),
    ("identifiers", {"email": "jane@acme.com", "ssn": "123"}),
    ("payload", None),
    ("payload", []),
    ("payload", "text"),
    # An unknown payload field is kept aside (payload.extra_fields), not refused; a malformed one is.
    ("payload", {"campaign_id": "c", "message_id": "m", "extra_fields": "not an object"}),
    ("payload", {"campaign_id": ["c"], "message_id": "m"}),
    ("payload", {"campaign_id": "c" * 10_000, "message_id": "m"}),
)

#: Every shape of email a CRM export holds. Each is accepted (and lower-cased) or refused naming the field.
ODD_EMAILS: tuple[str, ...] = (
    "Jane.Doe@Acme-Widgets.COM",
    "o'brien@example.com",
    "first+tag@example.com",
    '"quoted local"@example.com',
    "user@[127.0.0.1]",
    "ü@exämple.com",
    "a@b",
    "@example.com",
    "jane@",
    "jane@@example.com",
    "jane doe@example.com",
    "jane@example..com",
    "jane@-example.com",
    ".jane@example.com",
    "jane.@example.com",
    "x" * 300 + "@example.com",
    "'); DROP TABLE touchpoints; --@example.com",
    "jane@example.com\n",
    "jane@example.com\x00",
    "jane@example.com, john@example.com",
    "<jane@example.com>",
    "mailto:jane@example.com",
    "",
    " ",
    "🚀@example.com",
)

#: Every shape of phone number. Each becomes E.164 or is refused naming the field.
ODD_PHONES: tuple[str, ...] = (
    "(415) 555-0134",
    "+1 415 555 0134",
    "415.555.0134 ext. 12",
    "+44 20 7946 0958",
    "00 44 20 7946 0958",
    "+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨",  # Arabic-Indic digits
    "0",
    "+",
    "++1 415 555 0134",
    "+999999999999999999999",
    "phone",
    "1-800-FLOWERS",
    "'); DROP TABLE touchpoints; --",
    "415\x00555\x000134",
    "",
    "+1 415 555 0134 " * 20,
)

#: (occurred_at, accepted?) - the contract: after 1970-01-02, at most one day ahead of the reader's clock.
TIMESTAMPS: tuple[tuple[str, bool], ...] = (
    ("0001-01-01T00:00:00Z", False),
    ("1900-01-01T00:00:00Z", False),
    ("1969-12-31T23:59:59Z", False),
    ("1970-01-01T00:00:00Z", False),
    ("1970-01-03T00:00:00Z", True),
    ("2026-03-02T10:00:00+14:00", True),
    ("2026-03-02T10:00:00-12:00", True),
    ("2999-01-01T00:00:00Z", False),
    ("9999-12-31T23:59:59Z", False),
    ("10000-01-01T00:00:00Z", False),
    ("2026-02-30T00:00:00Z", False),
    ("2026-03-02T25:00:00Z", False),
)


def good(type_name: str = "EmailOpened", **overrides: Any) -> dict[str, Any]:
    """A valid wire event with a fresh id."""
    version = 2 if type_name == "OpportunityCreated" else 1
    return wire_event(type_name, version, event_id=str(uuid.uuid4()), **overrides)


def with_field(base: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    return {**base, field: value}


def hostile_valid_events() -> list[dict[str, Any]]:
    """Valid events carrying every hostile name and text in fields that reach ClickHouse columns: the
    touchpoint's title, owner, actor, ids and the payload JSON."""
    events = []
    for n, name in enumerate(HOSTILE_NAMES):
        events.append(
            good(
                "MeetingHeld",
                actor=name,
                identifiers={"email": f"hostile{n}@example.com"},
                payload={"meeting_id": name[:128], "subject": name, "owner": name, "duration_minutes": 5},
            )
        )
    for n, text in enumerate(HOSTILE_TEXTS):
        events.append(
            good(
                "CallLogged",
                identifiers={"email": f"hostile-text{n}@example.com"},
                payload={
                    "call_id": f"c-{n}",
                    "direction": "inbound",
                    "disposition": "connected",
                    "duration_seconds": 1,
                    "notes": text,
                },
            )
        )
    return events


# --- the gateway on the embedded log, in-process ---------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: Any  # decoded JSON (the tests assert it is JSON)
    text: str


class GatewayHarness:
    """create_gateway on a log of the caller's choosing, with one key for source `hubspot`, and a
    synchronous in-process ASGI client (no sockets)."""

    def __init__(
        self,
        folder: Path,
        open_log: Callable[[], AbstractEventLog] | None = None,
        settings: GatewaySettings | None = None,
        privileged: tuple[str, ...] = (),
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "log.sqlite"
        keys = folder / "keys.toml"
        self.key, _ = add_key(keys, name="hubspot", source="hubspot", event_types=privileged)
        self.dedup = SQLiteDedupStore(folder / "dedup.sqlite")
        self.app: FastAPI = create_gateway(
            open_log or (lambda: SQLiteEventLog(self.log_path)),
            Keyring.from_file(keys),
            self.dedup,
            settings or GatewaySettings(max_batch_events=100, max_request_bytes=1024 * 1024),
        )

    def post_bytes(
        self, body: bytes, path: str = "/v1/events", headers: dict[str, str] | None = None
    ) -> Answer:
        async def go() -> httpx.Response:
            # raise_app_exceptions=False: an unhandled error must show up as the 500 a client would get.
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=60) as c:
                sent = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
                return await c.post(path, content=body, headers={**sent, **(headers or {})})

        response = asyncio.run(go())
        try:
            body_json = response.json()
        except ValueError:
            body_json = None
        return Answer(response.status_code, body_json, response.text)

    def post(self, body: Any, path: str = "/v1/events") -> Answer:
        return self.post_bytes(json.dumps(body).encode(), path)

    def published(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        with SQLiteEventLog(self.log_path) as log:
            records = [r for p in range(log.partitions) for r in log.read(p, 0, 1_000_000)]
        return [json.loads(r.value) for r in records]

    def close(self) -> None:
        self.app.state.gateway.ingestor.close()
        self.dedup.close()


ERROR_STATUSES = frozenset({400, 401, 403, 409, 413, 422})


def assert_clear_answer(answer: Answer) -> None:
    """Never a 5xx; always a JSON body that says what was wrong (a message, or per-event problems)."""
    assert answer.status < 500, f"{answer.status}: {answer.text[:500]}"
    assert isinstance(answer.body, dict), f"not a JSON object: {answer.text[:200]!r}"
    if answer.status in ERROR_STATUSES:
        results = answer.body.get("results") or []
        rejected = [r for r in results if r.get("status") == "rejected"]
        assert answer.body.get("message") or rejected, answer.body
        for result in rejected:
            assert result.get("reason"), result
            assert result.get("message"), result
            for problem in result.get("problems", []):
                assert problem["path"], problem
                assert problem["message"], problem
