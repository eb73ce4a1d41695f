"""The Segment mapping table: every mapped track name becomes a valid event of its type, and what cannot
be mapped is rejected with a reason a Segment user understands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from touchstream.adapters.gateway.ingest import Rejected
from touchstream.adapters.gateway.segment import TRACK_MAPPINGS, map_message
from touchstream.events import parse_event

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PROPERTIES: dict[str, dict[str, Any]] = {
    "Email Delivered": {"campaign_id": "c", "email_id": "e", "email_subject": "Hello"},
    "Email Opened": {"campaign_id": "c", "email_id": "e"},
    "Email Link Clicked": {"campaign_id": "c", "email_id": "e", "link_url": "https://ex.com/x"},
    "Unsubscribed": {"campaign_id": "c", "reason": "too many"},
    "Form Submitted": {"form_id": "f", "page_url": "https://ex.com/demo", "company": "Acme"},
    "Content Downloaded": {"content_id": "wp", "title": "Report"},
    "Webinar Registered": {"webinar_id": "w", "webinar_name": "Scale"},
    "Webinar Attended": {"webinar_id": "w", "minutes_attended": 30},
    "Ad Clicked": {"campaign_id": "c", "ad_id": "a", "network": "linkedin", "landing_url": "https://ex.com"},
    "Order Completed": {"order_id": "o", "revenue": "10.00", "currency": "EUR"},
    "Trial Started": {
        "subscription_id": "s",
        "plan": "Pro",
        "amount": 49,
        "period": "monthly",
        "trial_end_date": "2026-04-01",
    },
    "Subscription Cancelled": {"subscription_id": "s", "effective_on": "2026-04-01"},
}


def track(name: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": name,
        "userId": "u-1",
        "messageId": "msg-1",
        "timestamp": "2026-03-02T10:00:00+00:00",
        "properties": properties,
        **extra,
    }


def test_the_table_and_its_examples_cover_each_other() -> None:
    assert set(PROPERTIES) == set(TRACK_MAPPINGS)


@pytest.mark.parametrize("name", sorted(TRACK_MAPPINGS))
def test_every_mapped_track_name_becomes_a_valid_event(name: str) -> None:
    draft = map_message(track(name, PROPERTIES[name]), "webapp", now=NOW)
    assert not isinstance(draft, Rejected)
    event = parse_event(draft, now=NOW)
    assert event.type == TRACK_MAPPINGS[name].type
    assert event.source == "webapp"
    assert event.identifiers.external_ids == {"webapp": "u-1"}


def test_ids_are_stable_so_segment_retries_deduplicate() -> None:
    message = track("Email Opened", PROPERTIES["Email Opened"])
    first, again = map_message(message, "webapp"), map_message(dict(message), "webapp")
    assert not isinstance(first, Rejected)
    assert not isinstance(again, Rejected)
    assert first["event_id"] == again["event_id"]
    other_source = map_message(message, "mobile")
    assert not isinstance(other_source, Rejected)
    assert other_source["event_id"] != first["event_id"]
    uuid_id = "6f1c1a36-8b0e-4a5e-9d61-4a0f8f3e9a11"
    kept = map_message({**message, "messageId": uuid_id}, "webapp")
    assert not isinstance(kept, Rejected)
    assert kept["event_id"] == uuid_id


def test_identify_and_group_become_contact_details_and_an_account_link() -> None:
    identify = map_message(
        {
            "userId": "u-1",
            "traits": {"name": "Jane van Doe", "email": "JANE@ACME.COM", "company": {"name": "Acme"}},
        },
        "webapp",
        "identify",
        now=NOW,
    )
    event = parse_event(identify, now=NOW)  # type: ignore[arg-type]
    assert event.payload.model_dump(exclude_none=True) == {
        "first_name": "Jane van",
        "last_name": "Doe",
        "company": "Acme",
        "email": "jane@acme.com",
    }
    assert event.occurred_at == NOW  # no timestamp: the gateway's clock
    group = map_message(
        {"anonymousId": "anon-9", "groupId": "g-1", "traits": {"name": "Acme", "domain": "acme.com"}},
        "webapp",
        "group",
        now=NOW,
    )
    linked = parse_event(group, now=NOW)  # type: ignore[arg-type]
    assert linked.identifiers.account_external_ids == {"webapp": "g-1"}
    assert linked.identifiers.external_ids == {"webapp.anonymous": "anon-9"}
    assert linked.identifiers.account_domain == "acme.com"


def test_identify_reads_rudderstack_traits_from_context_and_the_top_level_wins() -> None:
    # RudderStack's SDKs put an identify's traits in context.traits only.
    rudder = {
        "type": "identify",
        "userId": "u-1",
        "context": {
            "traits": {"firstName": "Jane", "lastName": "Doe", "email": "Jane@Acme.com", "title": "CTO"}
        },
    }
    event = parse_event(map_message(rudder, "webapp", now=NOW), now=NOW)  # type: ignore[arg-type]
    assert event.identifiers.email == "jane@acme.com"
    assert event.payload.model_dump(exclude_none=True) == {
        "first_name": "Jane",
        "last_name": "Doe",
        "job_title": "CTO",
        "email": "jane@acme.com",
    }
    both = map_message({**rudder, "traits": {"title": "CEO"}}, "webapp", now=NOW)
    assert parse_event(both, now=NOW).payload.job_title == "CEO"  # type: ignore[arg-type]
    # A group's traits are the company's: the person's name in context.traits is not the company's name.
    group = {"userId": "u-1", "groupId": "g-1", "context": {"traits": {"name": "Jane Doe"}}}
    draft = map_message(group, "webapp", "group", now=NOW)
    assert isinstance(draft, Rejected)
    assert "needs traits.name" in draft.message


@pytest.mark.parametrize(
    ("message", "call", "reason", "words"),
    [
        (track("Rocket Launched", {}), None, "unmapped", "track event 'Rocket Launched' has no mapping"),
        (
            {"type": "page", "name": "Home"},
            None,
            "unmapped",
            "Segment call 'page' has no Touchstream meaning",
        ),
        ({"userId": "u", "traits": {"name": "Acme"}}, "group", "invalid", "needs a groupId"),
        ({"userId": "u", "groupId": "g"}, "group", "invalid", "needs traits.name"),
        ({"userId": "u"}, "track", "invalid", "needs an event name"),
        ("not an object", "track", "invalid", "a Segment message is a JSON object"),
    ],
)
def test_what_cannot_be_mapped_is_rejected_clearly(
    message: Any, call: str | None, reason: str, words: str
) -> None:
    draft = map_message(message, "webapp", call)
    assert isinstance(draft, Rejected)
    assert draft.reason == reason
    assert words in draft.message


def test_a_catalogue_type_name_passes_properties_through_as_the_payload() -> None:
    draft = map_message(track("NpsSubmitted", {"survey_id": "s", "score": 9}), "webapp")
    assert parse_event(draft).type == "NpsSubmitted"  # type: ignore[arg-type]
