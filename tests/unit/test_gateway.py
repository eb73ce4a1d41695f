"""POST /v1/events on the embedded log, through an in-process ASGI client: what is answered per event is
what the log holds afterwards."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from event_examples import wire_event
from fastapi import FastAPI

from touchstream.adapters.gateway.app import GatewaySettings, create_gateway
from touchstream.adapters.gateway.auth import Keyring, add_key
from touchstream.adapters.gateway.dedup import SQLiteDedupStore
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.events import parse_event
from touchstream.streams.ports import AbstractEventLog, LogUnavailable

pytestmark = pytest.mark.timeout(60)


class Client:
    """A synchronous face on httpx's in-process ASGI transport (no sockets, no threads of its own)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)


class FlakyLog(SQLiteEventLog):
    """The embedded log with a switch: `down` makes appends fail as a stopped broker would; `partial`
    appends only the first record and reports per record, as kafka-python's futures can."""

    down = False
    partial = False

    def append(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
        if self.down:
            raise LogUnavailable("broker stopped (test)")
        if self.partial:
            first = super().append(records[:1])
            exc = LogUnavailable(f"{len(records) - 1} of {len(records)} records were not acknowledged")
            exc.placed = [first[0]] + [None] * (len(records) - 1)  # type: ignore[attr-defined]
            raise exc
        return super().append(records)


class Env:
    def __init__(self, tmp_path: Path, settings: GatewaySettings | None = None) -> None:
        self.path = tmp_path / "log.sqlite"
        self.keys_path = tmp_path / "keys.toml"
        self.key, _ = add_key(self.keys_path, name="hubspot-prod", source="hubspot")
        self.marketing_key, _ = add_key(
            self.keys_path, name="hubspot-mkt", source="hubspot", departments=["marketing"]
        )
        self.admin_key, _ = add_key(
            self.keys_path,
            name="crm-admin",
            source="crm_admin",
            departments=[],
            event_types=["ErasureRequested", "ConsentWithdrawn"],
        )
        self.zendesk_key, _ = add_key(self.keys_path, name="zendesk", source="zendesk")
        self.flaky: FlakyLog | None = None
        self.probe_down: str | None = None
        self.dedup = SQLiteDedupStore(tmp_path / "dedup.sqlite")
        self.app = create_gateway(
            self._open_log,
            Keyring.from_file(self.keys_path),
            self.dedup,
            settings or GatewaySettings(max_batch_events=50, max_request_bytes=256 * 1024, retry_after_s=7),
            readiness=lambda log: self.probe_down,
        )
        self.client = Client(self.app)

    def _open_log(self) -> AbstractEventLog:
        self.flaky = FlakyLog(self.path)
        return self.flaky

    def post(self, body: Any, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return self.client.post("/v1/events", content=json.dumps(body), headers=headers)

    def published(self) -> list[dict[str, Any]]:
        """Everything on the log, read by a connection of its own."""
        with SQLiteEventLog(self.path) as log:
            records = [r for p in range(log.partitions) for r in log.read(p, 0, 100_000)]
        return [json.loads(r.value) for r in records]

    def close(self) -> None:
        self.app.state.gateway.ingestor.close()
        self.dedup.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    environment = Env(tmp_path)
    yield environment
    environment.close()


def event(type_name: str = "EmailOpened", **overrides: Any) -> dict[str, Any]:
    version = 2 if type_name == "OpportunityCreated" else 1
    return wire_event(type_name, version, event_id=str(uuid.uuid4()), **overrides)


def statuses(response: httpx.Response) -> list[tuple[str, str | None]]:
    return [(r["status"], r.get("reason")) for r in response.json()["results"]]


def test_a_single_event_is_acknowledged_by_the_log_before_the_answer(env: Env) -> None:
    sent = event()
    response = env.post(sent)
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["status"] == "accepted"
    assert result["event_id"] == sent["event_id"]
    (stored,) = env.published()
    assert stored["event_id"] == sent["event_id"]
    # What is published is the validated, normalized event: readers anywhere parse the same thing.
    assert stored["identifiers"]["phone"] == "+14155550134"
    assert parse_event(json.dumps(stored)).model_dump() == parse_event(sent).model_dump()
    with SQLiteEventLog(env.path) as log:
        assert log.read(result["partition"], result["offset"], 1)[0].key == b"email:jane.doe@acme-widgets.com"


def test_a_batch_publishes_its_good_events_and_names_each_problem(env: Env) -> None:
    bad_score = event("CsatSubmitted")
    bad_score["payload"] = {**bad_score["payload"], "score": 9}
    unknown = {**event("EmailOpened"), "type": "EmailOpend"}
    good = [event("EmailOpened"), event("TicketOpened"), event("OpportunityCreated")]
    response = env.post([good[0], bad_score, good[1], unknown, good[2]])

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (3, 0, 2)
    assert statuses(response) == [
        ("accepted", None),
        ("rejected", "invalid"),
        ("accepted", None),
        ("rejected", "invalid"),
        ("accepted", None),
    ]
    score_problem = body["results"][1]["problems"][0]
    assert score_problem["path"] == "payload.score"
    assert score_problem["got"] == "9"
    assert "did you mean EmailOpened" in body["results"][3]["problems"][0]["message"]
    assert sorted(e["event_id"] for e in env.published()) == sorted(e["event_id"] for e in good)


def test_a_resent_event_is_a_duplicate_and_is_not_published_again(env: Env) -> None:
    sent = event()
    assert statuses(env.post(sent)) == [("accepted", None)]
    again = env.post([sent, event()])
    assert statuses(again) == [("duplicate", None), ("accepted", None)]
    # Normalization makes the same event the same body, whatever case the producer wrote the email in.
    shouted = {**sent, "identifiers": {**sent["identifiers"], "email": "JANE.DOE@ACME-WIDGETS.COM"}}
    assert statuses(env.post(shouted)) == [("duplicate", None)]
    assert [e["event_id"] for e in env.published()].count(sent["event_id"]) == 1
    assert len(env.published()) == 2


def test_an_id_reused_for_another_body_is_a_conflict(env: Env) -> None:
    sent = event()
    env.post(sent)
    changed = {**sent, "payload": {"campaign_id": "other", "message_id": "m-2"}}
    response = env.post(changed)
    assert response.status_code == 409
    assert statuses(response) == [("rejected", "conflict")]
    twice_in_one = event()
    other_body = {**twice_in_one, "payload": {"campaign_id": "x", "message_id": "y"}}
    assert statuses(env.post([twice_in_one, twice_in_one, other_body])) == [
        ("accepted", None),
        ("duplicate", None),
        ("rejected", "conflict"),
    ]
    assert len(env.published()) == 2


def test_missing_or_wrong_keys_are_401_and_publish_nothing(env: Env) -> None:
    no_key = env.client.post("/v1/events", json=event())
    assert no_key.status_code == 401
    assert no_key.json()["error"] == "unauthorized"
    assert "Bearer" in no_key.headers["WWW-Authenticate"]
    assert env.post(event(), key="tsk_not-a-key").status_code == 401
    broken_basic = env.client.post("/v1/events", json=event(), headers={"Authorization": "Basic !!!"})
    assert broken_basic.status_code == 401
    assert not env.path.exists() or env.published() == []


def test_scope_is_403_for_a_single_event_and_per_event_in_a_batch(env: Env) -> None:
    support = event("TicketOpened")
    single = env.post(support, key=env.marketing_key)
    assert single.status_code == 403
    assert "TicketOpened is a support event" in single.json()["results"][0]["message"]
    other_source = event(source="salesforce")
    batch = env.post([event(), support, other_source], key=env.marketing_key)
    assert batch.status_code == 200
    assert statuses(batch) == [("accepted", None), ("rejected", "forbidden"), ("rejected", "forbidden")]
    assert "source 'hubspot', not 'salesforce'" in batch.json()["results"][2]["message"]
    assert len(env.published()) == 1


def test_the_type_decides_the_department_not_the_producer(env: Env) -> None:
    """A marketing key cannot open a support ticket, however the producer labels it: the department is the
    catalogue's, and the 403 names the type and the grant it needs."""
    for department in ("support", "marketing"):
        ticket = env.post(event("TicketOpened", department=department), key=env.marketing_key)
        assert ticket.status_code == 403
        message = ticket.json()["results"][0]["message"]
        assert "TicketOpened" in message
        assert 'departments = ["support"] or event_types = ["TicketOpened"]' in message
    mislabelled = env.post(event("EmailOpened", department="support"), key=env.marketing_key)
    assert mislabelled.status_code == 403
    assert (
        "may not label a EmailOpened with department 'support'" in mislabelled.json()["results"][0]["message"]
    )
    assert env.post(event("EmailOpened", department="marketing"), key=env.marketing_key).status_code == 200
    assert len(env.published()) == 1


@pytest.mark.parametrize("type_name", ["ErasureRequested", "ConsentWithdrawn", "ConsentGiven"])
def test_privileged_types_need_a_grant_by_name(env: Env, type_name: str) -> None:
    """Neither a department grant nor "every department" covers erasure or consent: only naming the type."""
    for key in (env.marketing_key, env.key):  # departments ["marketing"], and ["*"]
        refused = env.post(event(type_name), key=key)
        assert refused.status_code == 403
        message = refused.json()["results"][0]["message"]
        assert f"{type_name} is privileged" in message
        assert f'event_types = ["{type_name}"]' in message
    granted = env.post(event(type_name, source="crm_admin"), key=env.admin_key)
    if type_name == "ConsentGiven":  # the admin key names only erasure and withdrawal
        assert granted.status_code == 403
    else:
        assert granted.status_code == 200, granted.json()
    # ...and naming privileged types grants nothing else.
    assert env.post(event("EmailOpened", source="crm_admin"), key=env.admin_key).status_code == 403


def test_dedup_is_per_source_and_another_sources_id_is_not_revealed(env: Env) -> None:
    """The same event id from another source answers as a new event would (not 409): a producer cannot
    learn which ids exist elsewhere. Within one source, resends and conflicts answer as before."""
    sent = event("TicketOpened", source="zendesk")
    assert env.post(sent, key=env.zendesk_key).status_code == 200
    probe = {**event("EmailOpened"), "event_id": sent["event_id"]}
    answer = env.post(probe, key=env.key)
    assert answer.status_code == 200
    assert statuses(answer) == [("accepted", None)]
    assert statuses(env.post(sent, key=env.zendesk_key)) == [("duplicate", None)]
    assert statuses(env.post(probe, key=env.key)) == [("duplicate", None)]
    changed = {**sent, "payload": {**sent["payload"], "subject": "another subject"}}
    assert env.post(changed, key=env.zendesk_key).status_code == 409


def test_the_key_is_checked_before_the_body_is_read(env: Env) -> None:
    """No key, or a wrong one: 401 even for a body that is not JSON and over the size limit."""
    junk = b"\x00not json" * 100_000
    for headers in ({}, {"Authorization": "Bearer tsk_wrong"}):
        answer = env.client.post("/v1/events", content=junk, headers=headers)
        assert answer.status_code == 401, answer.text


def test_limits_answer_413_with_the_limit(env: Env) -> None:
    too_many = env.post([event() for _ in range(51)])
    assert too_many.status_code == 413
    assert "the limit is 50" in too_many.json()["message"]
    huge = event("NpsSubmitted")
    huge["payload"] = {**huge["payload"], "comment": "x" * 9000}
    too_big = env.post([huge] * 30)  # ~300 KB
    assert too_big.status_code == 413
    assert "over 262144 bytes" in too_big.json()["message"]
    oversized = event("NpsSubmitted")
    oversized["payload"] = {**oversized["payload"], "comment": "x" * 70_000}
    single = env.post(oversized)
    assert single.status_code == 413
    assert statuses(single) == [("rejected", "too_large")]
    assert "the limit is 65536" in single.json()["results"][0]["message"]
    assert statuses(env.post([oversized, event()])) == [("rejected", "too_large"), ("accepted", None)]
    assert len(env.published()) == 1


def test_bodies_that_are_not_events_are_400(env: Env) -> None:
    headers = {"Authorization": f"Bearer {env.key}"}
    assert env.client.post("/v1/events", content=b"{not json", headers=headers).status_code == 400
    assert env.client.post("/v1/events", content=b'"text"', headers=headers).status_code == 400
    assert env.client.post("/v1/events", content=b"[]", headers=headers).status_code == 400
    assert statuses(env.post([1, "x"])) == [("rejected", "invalid"), ("rejected", "invalid")]


def test_a_log_that_is_down_gets_nothing_and_answers_503_with_retry_after(env: Env) -> None:
    sent = [event(), event("TicketOpened")]
    env.probe_down = "broker stopped"
    response = env.post(sent)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"] == "unavailable"
    assert response.json()["retry_after_s"] == 7
    assert env.client.get("/readyz").status_code == 503
    env.probe_down = None
    assert env.flaky is not None
    env.flaky.down = True  # the probe said yes, then the append failed: still nothing half-way
    failed = env.post(sent)
    assert failed.status_code == 503
    assert statuses(failed) == [("rejected", "unavailable")] * 2
    assert env.published() == []
    env.flaky.down = False
    # Nothing was remembered: the retry is accepted, not answered "duplicate".
    assert statuses(env.post(sent)) == [("accepted", None), ("accepted", None)]
    assert len(env.published()) == 2


def test_a_partial_failure_reports_what_was_acknowledged(env: Env) -> None:
    env.post(event())  # opens the log
    assert env.flaky is not None
    sent = [event(), event("TicketOpened"), event("LeadCreated")]
    env.flaky.partial = True
    response = env.post(sent)
    assert response.status_code == 503
    unacknowledged = ("rejected", "unavailable")
    assert statuses(response) == [("accepted", None), unacknowledged, unacknowledged]
    env.flaky.partial = False
    # The retry of the whole batch publishes only what the log did not acknowledge.
    assert statuses(env.post(sent)) == [("duplicate", None), ("accepted", None), ("accepted", None)]
    ids = [e["event_id"] for e in env.published()]
    assert len(ids) == len(set(ids)) == 4
    assert {e["event_id"] for e in sent} <= set(ids)


def test_health_readiness_and_metrics(env: Env) -> None:
    assert env.client.get("/healthz").json() == {"status": "ok"}
    assert env.client.get("/readyz").json() == {"status": "ok"}
    env.post([event(), event(), {"type": "Nope"}])
    env.post(event("TicketOpened"), key=env.marketing_key)
    text = env.client.get("/metrics").text
    assert 'touchstream_gateway_events_total{endpoint="events",status="accepted"} 2.0' in text
    assert 'touchstream_gateway_rejected_events_total{reason="invalid"} 1.0' in text
    assert 'touchstream_gateway_rejected_events_total{reason="forbidden"} 1.0' in text
    assert 'touchstream_gateway_requests_total{code="403",endpoint="events"} 1.0' in text
    assert 'touchstream_gateway_request_seconds_count{endpoint="events"} 2.0' in text
    assert "touchstream_gateway_log_append_seconds_count 1.0" in text


def test_duplicates_are_forgotten_after_the_window(tmp_path: Path) -> None:
    now = [1000.0]
    store = SQLiteDedupStore(tmp_path / "d.sqlite", window_s=60, clock=lambda: now[0])
    store.remember([("a", "h1")])
    assert store.seen(["a", "b"]) == {"a": "h1"}
    now[0] += 61
    assert store.seen(["a"]) == {}
    store.remember([("a", "h2")])  # an expired id starts a new window with its new body
    assert store.seen(["a"]) == {"a": "h2"}
    store.remember([("a", "h3")])  # a live one keeps its first body
    assert store.seen(["a"]) == {"a": "h2"}
    store.close()
