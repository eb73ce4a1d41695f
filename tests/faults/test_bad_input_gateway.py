"""The hostile corpus, and hypothesis, against the HTTP gateway on the embedded log (in-process ASGI).

Every answer is 2xx or 4xx with a JSON body naming what was wrong; nothing bad reaches the log; what is
valid, however hostile its strings, reaches the log unchanged.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults.corpus import (
    CONTROL_STRINGS,
    HOSTILE_NAMES,
    MALFORMED_BODIES,
    NOT_EVENTS,
    ODD_EMAILS,
    ODD_PHONES,
    TIMESTAMPS,
    WRONG_TYPES,
    Answer,
    GatewayHarness,
    assert_clear_answer,
    good,
    hostile_valid_events,
    with_field,
)
from hypothesis import HealthCheck, given, settings, strategies as st

from touchstream.adapters.gateway.app import GatewaySettings
from touchstream.events import EVENT_TYPES

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHarness]:
    harness = GatewayHarness(tmp_path_factory.mktemp("gateway"))
    yield harness
    harness.close()


def _single(answer: Answer) -> dict[str, Any]:
    (result,) = answer.body["results"]
    assert isinstance(result, dict)
    return result


@pytest.mark.parametrize("name", sorted(MALFORMED_BODIES))
@pytest.mark.parametrize("path", ["/v1/events", "/v1/batch", "/v1/track"])
def test_bodies_that_are_not_json_are_400_with_the_reason(
    gateway: GatewayHarness, name: str, path: str
) -> None:
    answer = gateway.post_bytes(MALFORMED_BODIES[name], path)
    assert_clear_answer(answer)
    assert answer.status == 400
    assert "JSON" in answer.body["message"] or "json" in answer.body["message"]


@pytest.mark.parametrize("name", sorted(NOT_EVENTS))
def test_json_that_is_not_an_event_is_refused(gateway: GatewayHarness, name: str) -> None:
    answer = gateway.post_bytes(NOT_EVENTS[name])
    assert_clear_answer(answer)
    assert answer.status == 400


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES, ids=[f"{f}={v!r:.30}" for f, v in WRONG_TYPES])
def test_a_wrong_field_is_422_naming_that_field(gateway: GatewayHarness, field: str, value: Any) -> None:
    before = len(gateway.published())
    answer = gateway.post(with_field(good(), field, value))
    assert_clear_answer(answer)
    assert answer.status == 422, answer.body
    result = _single(answer)
    assert result["reason"] == "invalid"
    paths = [p["path"] for p in result["problems"]]
    assert any(p == field or p.startswith(field + ".") for p in paths), paths
    # In a batch the same event costs only itself.
    batch = gateway.post([with_field(good(), field, value), good()])
    assert batch.status == 200
    assert [r["status"] for r in batch.body["results"]] == ["rejected", "accepted"]
    assert len(gateway.published()) == before + 1


@pytest.mark.parametrize("text", CONTROL_STRINGS)
def test_control_characters_are_refused_where_they_stand(gateway: GatewayHarness, text: str) -> None:
    sent = good("MeetingHeld")
    sent["payload"] = {**sent["payload"], "subject": text}
    answer = gateway.post(sent)
    assert answer.status == 422
    (problem,) = _single(answer)["problems"]
    assert problem["path"] == "payload.subject"
    assert "control character" in problem["message"]


@pytest.mark.parametrize("email", ODD_EMAILS)
def test_odd_emails_are_normalized_or_refused_naming_the_field(gateway: GatewayHarness, email: str) -> None:
    sent = good(identifiers={"email": email})
    answer = gateway.post(sent)
    assert_clear_answer(answer)
    if answer.status == 200:
        (stored,) = [e for e in gateway.published() if e["event_id"] == sent["event_id"]]
        assert stored["identifiers"]["email"] == stored["identifiers"]["email"].lower()
        assert "\x00" not in stored["identifiers"]["email"]
    else:
        assert answer.status == 422
        assert [p["path"] for p in _single(answer)["problems"]] == ["identifiers.email"]


@pytest.mark.parametrize("phone", ODD_PHONES)
def test_odd_phones_become_e164_or_are_refused_naming_the_field(gateway: GatewayHarness, phone: str) -> None:
    sent = good(identifiers={"email": "jane@example.com", "phone": phone})
    answer = gateway.post(sent)
    assert_clear_answer(answer)
    if answer.status == 200:
        (stored,) = [e for e in gateway.published() if e["event_id"] == sent["event_id"]]
        e164 = stored["identifiers"]["phone"]
        if e164 is None:  # a number no region reads: kept as written and flagged, the event kept
            assert stored["identifiers"]["phone_unparsed"] == phone.strip()
            return
        assert e164.startswith("+"), e164
        assert e164[1:].isdigit(), e164
        assert len(e164) <= 16, e164
    else:
        assert answer.status == 422
        assert [p["path"] for p in _single(answer)["problems"]] == ["identifiers.phone"]


@pytest.mark.parametrize(("moment", "accepted"), TIMESTAMPS)
def test_timestamps_far_in_the_past_or_future_are_refused(
    gateway: GatewayHarness, moment: str, accepted: bool
) -> None:
    answer = gateway.post(good(occurred_at=moment, recorded_at=moment))
    assert_clear_answer(answer)
    if accepted:
        assert answer.status == 200, answer.body
    else:
        assert answer.status == 422
        paths = {p["path"] for p in _single(answer)["problems"]}
        assert paths == {"occurred_at", "recorded_at"}


def test_hostile_strings_in_valid_events_reach_the_log_unchanged(gateway: GatewayHarness) -> None:
    sent = hostile_valid_events()
    answer = gateway.post(sent)
    assert answer.status == 200
    assert answer.body["accepted"] == len(sent), answer.body
    stored = {e["event_id"]: e for e in gateway.published()}
    for event in sent:
        kept = stored[event["event_id"]]
        assert kept["payload"] == {
            **event["payload"],
            **{k: v for k, v in kept["payload"].items() if v is None},
        }
        if "actor" in event:
            assert kept["actor"] == event["actor"]
    assert any(e["payload"].get("subject") == "'); DROP TABLE touchpoints; --" for e in stored.values())


def test_sizes_over_the_limits_are_413_naming_the_limit(tmp_path: Path) -> None:
    harness = GatewayHarness(
        tmp_path, settings=GatewaySettings(max_batch_events=10, max_request_bytes=200_000)
    )
    try:
        over_event = good("NpsSubmitted")
        over_event["payload"] = {**over_event["payload"], "comment": "x" * 70_000}
        single = harness.post(over_event)
        assert single.status == 413
        assert "the limit is 65536" in _single(single)["message"]
        too_many = harness.post([good() for _ in range(11)])
        assert too_many.status == 413
        assert "the limit is 10" in too_many.body["message"]
        too_big = harness.post_bytes(b"[" + b" " * 300_000 + b"]")
        assert too_big.status == 413
        assert "200000 bytes" in too_big.body["message"]
        # A gzip bomb: 50 MB of zeros in ~50 KB; the gateway stops inflating at its byte limit.
        bomb = gzip.compress(b"0" * 50_000_000)
        for path in ("/v1/events", "/v1/batch"):
            answer = harness.post_bytes(bomb, path, headers={"Content-Encoding": "gzip"})
            assert_clear_answer(answer)
            assert answer.status == 413
        broken = harness.post_bytes(b"not gzip", headers={"Content-Encoding": "gzip"})
        assert broken.status == 400
        assert "gzip" in broken.body["message"]
        assert harness.published() == []
    finally:
        harness.close()


@pytest.mark.parametrize("depth", [100, 300, 1_000, 100_000])
def test_deep_nesting_is_refused_not_a_500(gateway: GatewayHarness, depth: int) -> None:
    """Regression: a value nested deeper than orjson writes (254) made the gateway answer 500."""
    nested = "[" * depth + "]" * depth
    in_a_field = json.dumps(good())[:-1] + f', "extra": {nested}}}'
    for body in (in_a_field.encode(), f"[{nested}]".encode(), f"[{in_a_field}]".encode()):
        answer = gateway.post_bytes(body)
        assert_clear_answer(answer)
        if depth > 1_000:
            assert answer.status == 400
            assert "depth" in answer.body["message"]
        else:
            assert answer.status in (200, 422)
            assert answer.body["results"][0]["status"] == "rejected"


def test_a_reused_event_id_with_another_body_is_a_conflict_and_the_first_body_stays(
    gateway: GatewayHarness,
) -> None:
    first = good()
    assert gateway.post(first).status == 200
    for changed in (
        {**first, "payload": {"campaign_id": "other", "message_id": "m-1"}},
        {**first, "type": "EmailClicked", "payload": {**first["payload"], "url": "https://ex.com/x"}},
        {**first, "occurred_at": "2026-03-01T10:00:00Z"},
    ):
        answer = gateway.post(changed)
        assert answer.status == 409
        assert _single(answer)["reason"] == "conflict"
    same_request = good()
    other = {**same_request, "payload": {"campaign_id": "x", "message_id": "y"}}
    statuses = [r["status"] for r in gateway.post([same_request, other, same_request]).body["results"]]
    assert statuses == ["accepted", "rejected", "duplicate"]
    stored = [
        e for e in gateway.published() if e["event_id"] in (first["event_id"], same_request["event_id"])
    ]
    assert len(stored) == 2
    assert next(e for e in stored if e["event_id"] == first["event_id"])["payload"] == first["payload"]


def test_a_touchpoint_after_an_erasure_request_is_accepted(tmp_path: Path) -> None:
    """The gateway does not know who is erased (that is the master record's and the projections'
    business; docs/bad-input.md): the touchpoint is answered like any other, and nothing crashes. The
    erasure itself needs a key that names it (a privileged type)."""
    harness = GatewayHarness(tmp_path, privileged=("ErasureRequested",))
    try:
        who = {"email": "erase-me@example.com"}
        erasure = good("ErasureRequested", identifiers=who)
        after = good("TicketOpened", identifiers=who)
        answer = harness.post([erasure, after])
        assert [r["status"] for r in answer.body["results"]] == ["accepted", "accepted"]
    finally:
        harness.close()


def test_an_erasure_request_without_its_grant_is_403(gateway: GatewayHarness) -> None:
    answer = gateway.post(good("ErasureRequested", identifiers={"email": "erase-me@example.com"}))
    assert answer.status == 403
    assert 'event_types = ["ErasureRequested"]' in _single(answer)["message"]


@pytest.mark.parametrize(
    "message",
    [
        {"type": [], "userId": "u1"},
        {"type": {"x": 1}, "event": "Email Opened"},
        {"type": "track", "event": ["x"], "userId": {"id": 1}},
        {"type": "track", "event": "Email Opened", "userId": "u1", "properties": [1, 2]},
        {"type": "identify", "userId": "u1", "traits": "not a dict"},
        {"type": "identify", "userId": None, "anonymousId": None, "traits": {"email": 5}},
        {"type": "group", "groupId": {"id": 1}, "traits": {"name": "'); DROP TABLE x; --"}},
        {"type": "track", "event": "'); DROP TABLE touchpoints; --", "userId": "u", "messageId": 5},
        {"type": "track", "event": "x", "timestamp": "9999-99-99", "userId": "u"},
        {"type": "track", "event": "x", "timestamp": 1e308, "userId": "u"},
    ],
)
def test_hostile_segment_messages_are_answered(gateway: GatewayHarness, message: dict[str, Any]) -> None:
    for path, body in (("/v1/batch", {"batch": [message]}), ("/v1/track", message)):
        answer = gateway.post(body, path)
        assert answer.status < 500, answer.text[:500]
        assert isinstance(answer.body, dict), answer.text[:300]
        assert "success" in answer.body, answer.text[:300]


# --- hypothesis: structured mutations of valid events, and arbitrary bytes ------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from([*HOSTILE_NAMES, *CONTROL_STRINGS, *ODD_EMAILS, *ODD_PHONES])
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=16,
)
_FIELDS = (
    *("event_id", "type", "schema_version", "occurred_at", "recorded_at"),
    *("source", "department", "actor", "identifiers", "payload"),
)


@st.composite
def _mutated_event(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event of any type, then one to three structured mutations."""
    event = good(draw(st.sampled_from(sorted(EVENT_TYPES))), source="hubspot")
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["replace", "delete", "add", "payload", "identifier", "nest"]))
        field = draw(st.sampled_from(_FIELDS))
        if action == "replace":
            event[field] = draw(_json_values)
        elif action == "delete":
            event.pop(field, None)
        elif action == "add":
            event[draw(st.text(max_size=12))] = draw(_json_values)
        elif action == "payload" and isinstance(event.get("payload"), dict) and event["payload"]:
            key = draw(st.sampled_from(sorted(event["payload"])))
            event["payload"] = {**event["payload"], key: draw(_json_values)}
        elif action == "identifier":
            kind = draw(st.sampled_from(["email", "phone", "external_ids", "account_domain", "other"]))
            event["identifiers"] = {kind: draw(_json_values)}
        elif action == "nest":
            depth = draw(st.integers(1, 400))
            event[field] = json.loads("[" * depth + "]" * depth)
    return event


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(events=st.lists(_mutated_event(), min_size=1, max_size=3), single=st.booleans())
def test_fuzz_mutated_events_get_a_clear_answer_per_event(
    gateway: GatewayHarness, events: list[dict[str, Any]], single: bool
) -> None:
    body: Any = events[0] if single else events
    answer = gateway.post_bytes(json.dumps(body, allow_nan=False).encode())
    assert_clear_answer(answer)
    assert answer.status in (200, 403, 409, 413, 422), answer.body
    results = answer.body["results"]
    assert len(results) == (1 if single else len(events))
    for result in results:
        assert result["status"] in ("accepted", "duplicate", "rejected")
        if result.get("reason") == "invalid":
            assert result["problems"], result  # every invalid answer names at least one field


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    raw=st.binary(max_size=400)
    | st.builds(lambda v: json.dumps(v).encode(), _json_values)
    | st.builds(lambda e, cut: json.dumps(e).encode()[:cut], _mutated_event(), st.integers(0, 400)),
    path=st.sampled_from(["/v1/events", "/v1/batch", "/v1/track", "/v1/identify", "/v1/group"]),
)
def test_fuzz_arbitrary_bytes_never_make_a_5xx(gateway: GatewayHarness, raw: bytes, path: str) -> None:
    answer = gateway.post_bytes(raw, path)
    assert answer.status < 500, answer.text[:500]
    assert isinstance(answer.body, dict), answer.text[:200]
    if answer.status >= 400 and path == "/v1/events":
        assert_clear_answer(answer)


def test_the_fuzzed_gateway_published_only_valid_events(gateway: GatewayHarness) -> None:
    """After everything above (the module shares one gateway), the log holds only events that parse."""
    from touchstream.events import parse_event

    stored = gateway.published()
    assert stored, "the module published nothing: the checks above would prove little"
    for event in stored:
        parse_event(event, now=None)  # raises if anything invalid had slipped through
    ids = [e["event_id"] for e in stored]
    assert len(ids) == len(set(ids)), "an event id was published twice"
    assert uuid.UUID(ids[0])
