"""Segment tracking-API messages -> Touchstream events (wire-form dicts), by the table in docs/segment.md.
RudderStack's SDKs speak the same API: the one difference that matters is that their identify carries the
person's traits in `context.traits` only, so an identify reads both (the top-level `traits` win).

Pure: no I/O, no clock except for a message that carries no timestamp. The event language still validates
every result; this module only translates shapes and names, and rejects what it cannot translate with a
reason a Segment user understands (the call, the event name, the property).

- identify -> ContactDetailsObserved (traits -> observed details; userId -> external_ids[<source>])
- group    -> ContactDetailsObserved with the account link: groupId -> account_external_ids[<source>],
              traits.website/domain -> account_domain, traits.name -> company
- track    -> the type in TRACK_MAPPINGS for its event name, or, when the name is a catalogue type
              (`EmailOpened`), that type with `properties` as its payload verbatim
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from ...events import EVENT_TYPES
from .ingest import Draft, Rejected

# uuid5 namespace for Segment messageIds that are not UUIDs: the same messageId from the same source is
# always the same event_id, so Segment's retries are de-duplicated like ours.
SEGMENT_NAMESPACE = uuid.UUID("0b6f3d0e-6c55-4f1e-9a53-5e67d1d5a4a1")
SUPPORTED_CALLS = ("track", "identify", "group")

Props = Mapping[str, Any]


def _first(props: Props, *names: str) -> Any:
    for name in names:
        value = props.get(name)
        if value is not None and value != "":
            return value
    return None


def _money(amount: Any, currency: Any) -> dict[str, Any] | None:
    if amount is None:
        return None
    return {"amount": str(amount), "currency": currency or "USD"}


def _order_lines(products: Any, currency: Any) -> list[dict[str, Any]] | None:
    if not isinstance(products, list):
        return None
    lines = []
    for product in products:
        if not isinstance(product, Mapping):
            return None  # let the event language say what is wrong with `lines`
        lines.append(
            {
                "sku": _first(product, "sku", "product_id", "id"),
                "quantity": product.get("quantity", 1),
                "unit_price": _money(product.get("price"), currency),
            }
        )
    return lines


@dataclass(frozen=True)
class TrackMapping:
    """How one Segment `track` event name becomes one of our types: each payload field takes the first
    present of its Segment property names; `derived` fields are computed from all properties."""

    type: str
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    derived: dict[str, Callable[[Props], Any]] = field(default_factory=dict)

    def payload(self, props: Props) -> dict[str, Any]:
        payload = {name: _first(props, *sources) for name, sources in self.fields.items()}
        payload.update({name: compute(props) for name, compute in self.derived.items()})
        return {name: value for name, value in payload.items() if value is not None}


_CAMPAIGN = ("campaign_id",)
_EMAIL_ID = ("email_id", "message_id")

# Segment's spec'd event names (Email, Ecommerce and B2B SaaS specs) first, then a few common ones.
TRACK_MAPPINGS: dict[str, TrackMapping] = {
    "Email Delivered": TrackMapping(
        "CampaignEmailSent",
        {"campaign_id": _CAMPAIGN, "message_id": _EMAIL_ID, "subject": ("email_subject", "subject")},
    ),
    "Email Opened": TrackMapping("EmailOpened", {"campaign_id": _CAMPAIGN, "message_id": _EMAIL_ID}),
    "Email Link Clicked": TrackMapping(
        "EmailClicked", {"campaign_id": _CAMPAIGN, "message_id": _EMAIL_ID, "url": ("link_url", "url")}
    ),
    "Unsubscribed": TrackMapping("Unsubscribed", {"campaign_id": _CAMPAIGN, "reason": ("reason",)}),
    "Form Submitted": TrackMapping(
        "FormSubmitted",
        {
            "form_id": ("form_id",),
            "page_url": ("page_url", "url"),
            "campaign_id": _CAMPAIGN,
            "first_name": ("first_name", "firstName"),
            "last_name": ("last_name", "lastName"),
            "company": ("company",),
            "job_title": ("job_title", "title"),
            "message": ("message",),
        },
    ),
    "Content Downloaded": TrackMapping(
        "ContentDownloaded", {"content_id": ("content_id",), "title": ("title",), "campaign_id": _CAMPAIGN}
    ),
    "Webinar Registered": TrackMapping(
        "WebinarRegistered",
        {"webinar_id": ("webinar_id",), "title": ("title", "webinar_name"), "campaign_id": _CAMPAIGN},
    ),
    "Webinar Attended": TrackMapping(
        "WebinarAttended", {"webinar_id": ("webinar_id",), "minutes_attended": ("minutes_attended",)}
    ),
    "Ad Clicked": TrackMapping(
        "AdClicked",
        {
            "campaign_id": _CAMPAIGN,
            "ad_id": ("ad_id",),
            "network": ("network", "source"),
            "landing_url": ("landing_url", "url"),
        },
    ),
    "Order Completed": TrackMapping(
        "OrderPlaced",
        {"order_id": ("order_id",)},
        {
            "total": lambda p: _money(_first(p, "total", "revenue"), p.get("currency")),
            "lines": lambda p: _order_lines(p.get("products"), p.get("currency")),
        },
    ),
    "Trial Started": TrackMapping(
        "SubscriptionStarted",
        {
            "subscription_id": ("subscription_id",),
            "plan": ("plan", "plan_name"),
            "period": ("period", "billing_period"),
            "renews_on": ("renews_on", "trial_end_date"),
        },
        {"amount": lambda p: _money(p.get("amount"), p.get("currency"))},
    ),
    "Subscription Cancelled": TrackMapping(
        "SubscriptionCancelled",
        {"subscription_id": ("subscription_id",), "effective_on": ("effective_on",), "reason": ("reason",)},
    ),
}


def _event_id(message: Props, source: str) -> str:
    message_id = message.get("messageId")
    if isinstance(message_id, str) and message_id:
        try:
            return str(uuid.UUID(message_id))
        except ValueError:
            return str(uuid.uuid5(SEGMENT_NAMESPACE, f"{source}/{message_id}"))
    # No messageId: derive one from the message itself, so a resend is still the same event.
    return str(uuid.uuid5(SEGMENT_NAMESPACE, f"{source}/" + orjson.dumps(message, default=str).decode()))


def _domain(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    return urlsplit(text if "//" in text else "//" + text).hostname or text


def _identifiers(message: Props, source: str, traits: Props) -> dict[str, Any]:
    context_traits = _mapping(_mapping(message.get("context")).get("traits"))
    identifiers: dict[str, Any] = {}
    email = _first(traits, "email") or _first(context_traits, "email")
    phone = _first(traits, "phone") or _first(context_traits, "phone")
    if email is not None:
        identifiers["email"] = email
    if phone is not None:
        identifiers["phone"] = phone
    user_id, anonymous_id = message.get("userId"), message.get("anonymousId")
    if user_id not in (None, ""):
        identifiers["external_ids"] = {source: str(user_id)}
    elif anonymous_id not in (None, ""):
        identifiers["external_ids"] = {f"{source}.anonymous": str(anonymous_id)}
    return identifiers


def _split_name(traits: Props) -> tuple[Any, Any]:
    first, last = _first(traits, "firstName", "first_name"), _first(traits, "lastName", "last_name")
    full = traits.get("name")
    if first is None and last is None and isinstance(full, str) and " " in full.strip():
        first, last = full.strip().rsplit(" ", 1)
    return first, last


def _company(traits: Props) -> Any:
    company = traits.get("company")
    return company.get("name") if isinstance(company, Mapping) else company


def _observed(traits: Props) -> dict[str, Any]:
    first, last = _split_name(traits)
    observed = {
        "first_name": first,
        "last_name": last,
        "job_title": _first(traits, "title", "job_title", "jobTitle"),
        "company": _company(traits),
        "email": _first(traits, "email"),
        "phone": _first(traits, "phone"),
    }
    return {name: value for name, value in observed.items() if value is not None}


def _timestamp(message: Props, now: datetime) -> Any:
    return _first(message, "timestamp", "originalTimestamp") or now.isoformat()


def _envelope(message: Props, source: str, type_name: str, version: int, now: datetime) -> dict[str, Any]:
    when = _timestamp(message, now)
    return {
        "event_id": _event_id(message, source),
        "type": type_name,
        "schema_version": version,
        # Segment has one instant; the source recorded it when it happened.
        "occurred_at": when,
        "recorded_at": when,
        "source": source,
    }


def _mapping(value: Any) -> Props:
    return value if isinstance(value, Mapping) else {}


def _person_traits(message: Props) -> Props:
    """An identify's traits: Segment sends them as `traits`, RudderStack as `context.traits` (and nothing
    at the top level); where both carry a trait, the top level wins. Only for identify: a group's `traits`
    describe the company, while its `context.traits` still describe the person."""
    return {**_mapping(_mapping(message.get("context")).get("traits")), **_mapping(message.get("traits"))}


def map_message(message: Any, source: str, call: str | None = None, now: datetime | None = None) -> Draft:
    """One Segment message as an event draft, or Rejected saying why it has no Touchstream meaning."""
    now = now or datetime.now(UTC)
    if not isinstance(message, Mapping):
        return Rejected("invalid", "a Segment message is a JSON object")
    kind = message.get("type") or call
    if kind not in SUPPORTED_CALLS:
        return Rejected(
            "unmapped",
            f"Segment call {kind!r} has no Touchstream meaning; send track, identify or group",
        )
    traits = _person_traits(message) if kind == "identify" else _mapping(message.get("traits"))
    identifiers = _identifiers(message, source, traits)
    event_id = _event_id(message, source)
    if kind == "identify":
        event = _envelope(message, source, "ContactDetailsObserved", 1, now)
        event.update(identifiers=identifiers, payload=_observed(traits))
        return event
    if kind == "group":
        draft = _group(message, source, traits, identifiers, now)
    else:
        draft = _track(message, source, identifiers, now)
    if isinstance(draft, Rejected):  # name the event, so the answer can be matched to the message
        return Rejected(draft.reason, draft.message, draft.problems, event_id, draft.type)
    return draft


def _group(message: Props, source: str, traits: Props, identifiers: dict[str, Any], now: datetime) -> Draft:
    group_id = message.get("groupId")
    if group_id in (None, ""):
        return Rejected("invalid", "a group call needs a groupId")
    identifiers["account_external_ids"] = {source: str(group_id)}
    domain = _domain(_first(traits, "website", "domain"))
    if domain is not None:
        identifiers["account_domain"] = domain
    if traits.get("name") in (None, ""):
        return Rejected("invalid", "a group call needs traits.name (the company's name) to link to")
    event = _envelope(message, source, "ContactDetailsObserved", 1, now)
    event.update(identifiers=identifiers, payload={"company": traits["name"]})
    return event


def _track(message: Props, source: str, identifiers: dict[str, Any], now: datetime) -> Draft:
    name = message.get("event")
    props = _mapping(message.get("properties"))
    if not isinstance(name, str) or not name:
        return Rejected("invalid", "a track call needs an event name")
    mapping = TRACK_MAPPINGS.get(name)
    if mapping is not None:
        cls = EVENT_TYPES[mapping.type]
        event = _envelope(message, source, mapping.type, cls.current_version(), now)
        event.update(identifiers=identifiers, payload=mapping.payload(props))
        return event
    cls_native = EVENT_TYPES.get(name)
    if cls_native is not None:
        event = _envelope(message, source, name, cls_native.current_version(), now)
        event.update(identifiers=identifiers, payload=dict(props))
        return event
    known = ", ".join(repr(n) for n in TRACK_MAPPINGS)
    return Rejected(
        "unmapped",
        f"track event {name!r} has no mapping; use one of {known} or a Touchstream type name "
        "(see docs/segment.md)",
    )
