"""Which parts of an event are personal: the split crypto-shredding seals, and the form left after erasure.

Clear is an allow-list: an envelope key, identifier or payload field is clear only when named here, so a
field nobody classified (a new model field, a producer's unknown field, `extra_fields`) is sealed as
personal. `tests/unit/test_privacy.py` checks that every payload field of every type is in exactly one of
`PERSONAL_PAYLOAD_FIELDS` and `CLEAR_PAYLOAD_FIELDS`.

Decisions: the identifiers naming a person (email, phone, phone_unparsed, external_ids) are personal, the
account's (account_domain, account_external_ids) are clear. `actor` and the `owner` / `assignee` / `agent`
fields are our employees, not the data subject: clear. Names, job titles, the employer stated by the person,
free text written by or about them (messages, subjects, reasons, notes, comments, resolutions), URLs they
followed (tracking tokens and click ids ride in query strings), observed details and `extra_fields` are
personal. Ids of records (tickets, orders, leads, opportunities), amounts, enums, catalogue titles and
taxonomy labels stay clear, so counts, funnels and revenue survive an erasure.

Pure: dicts in, dicts out, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

# Envelope keys that are clear; `identifiers` and `payload` are split field by field.
CLEAR_ENVELOPE_KEYS = frozenset(
    {"event_id", "type", "schema_version", "occurred_at", "recorded_at", "source", "department", "actor"}
)
# Identifiers of the company, not of the person.
CLEAR_IDENTIFIERS = frozenset({"account_domain", "account_external_ids"})
# The pseudonymous external id a redacted event names its subject by (a rebuild makes a tombstone contact).
ERASED_SYSTEM = "erased"
# What a required personal text field holds after erasure (the models need a value there).
ERASED_TEXT = "[erased]"
ERASED_URL = "https://erased.invalid/"


def _fields(names: str) -> frozenset[str]:
    return frozenset(names.split())


_OBSERVED = (
    "first_name last_name job_title company email phone phone_unparsed date_of_birth address person_ids"
)

PERSONAL_PAYLOAD_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        # marketing
        "CampaignEmailSent": _fields("subject"),  # subject lines carry merge fields ("Jane, your ...")
        "EmailOpened": _fields(""),
        "EmailClicked": _fields("url"),
        "Unsubscribed": _fields("reason"),
        "FormSubmitted": _fields("page_url first_name last_name company job_title message"),
        "ContentDownloaded": _fields(""),
        "WebinarRegistered": _fields(""),
        "WebinarAttended": _fields(""),
        "AdClicked": _fields("landing_url"),
        "EventBadgeScanned": _fields("first_name last_name job_title company email phone phone_unparsed"),
        # sales
        "LeadCreated": _fields("first_name last_name company job_title"),
        "LeadQualified": _fields("reason"),
        "LeadDisqualified": _fields("reason"),
        "OpportunityCreated": _fields("name"),  # "Jane Doe - Pro" in a consumer business
        "OpportunityStageChanged": _fields(""),
        "OpportunityWon": _fields(""),
        "OpportunityLost": _fields("reason"),
        "MeetingHeld": _fields("subject"),
        "CallLogged": _fields("notes"),
        "QuoteSent": _fields(""),
        # support and contact center
        "TicketOpened": _fields("subject"),
        "TicketUpdated": _fields(""),
        "TicketResolved": _fields("resolution"),
        "TicketReopened": _fields("reason"),
        # a Message-ID written by the sender's mail client often names their host or address
        "InboundEmailReceived": _fields("message_id subject observed"),
        "ContactCenterCall": _fields("stated_company"),
        "CsatSubmitted": _fields("comment"),
        "NpsSubmitted": _fields("comment"),
        "ComplaintLogged": _fields("description"),
        # commerce
        "OrderPlaced": _fields(""),
        "SubscriptionStarted": _fields(""),
        "SubscriptionRenewed": _fields(""),
        "SubscriptionCancelled": _fields("reason"),
        "ProductUsageReported": _fields(""),
        # master data
        "ContactDetailsObserved": _fields(_OBSERVED),
        "ConsentGiven": _fields(""),
        "ConsentWithdrawn": _fields(""),
        "ErasureRequested": _fields("requested_by note"),  # usually the person themselves
    }
)

CLEAR_PAYLOAD_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "CampaignEmailSent": _fields("campaign_id message_id"),
        "EmailOpened": _fields("campaign_id message_id"),
        "EmailClicked": _fields("campaign_id message_id"),
        "Unsubscribed": _fields("campaign_id"),
        "FormSubmitted": _fields("form_id campaign_id"),
        "ContentDownloaded": _fields("content_id title campaign_id"),
        "WebinarRegistered": _fields("webinar_id title campaign_id"),
        "WebinarAttended": _fields("webinar_id minutes_attended"),
        "AdClicked": _fields("campaign_id ad_id network"),
        "EventBadgeScanned": _fields("event_name booth"),
        "LeadCreated": _fields("lead_id lead_source owner campaign_id industry"),
        "LeadQualified": _fields("lead_id owner"),
        "LeadDisqualified": _fields("lead_id"),
        "OpportunityCreated": _fields("opportunity_id amount stage owner expected_close industry"),
        "OpportunityStageChanged": _fields("opportunity_id from_stage to_stage amount owner"),
        "OpportunityWon": _fields("opportunity_id amount"),
        "OpportunityLost": _fields("opportunity_id competitor"),
        "MeetingHeld": _fields("meeting_id owner duration_minutes opportunity_id"),
        "CallLogged": _fields("call_id direction disposition duration_seconds owner"),
        "QuoteSent": _fields("quote_id opportunity_id amount valid_until"),
        "TicketOpened": _fields("ticket_id priority channel product assignee tags"),
        "TicketUpdated": _fields("ticket_id status priority assignee public_reply tags"),
        "TicketResolved": _fields("ticket_id"),
        "TicketReopened": _fields("ticket_id"),
        "InboundEmailReceived": _fields("mailbox ticket_id observed_in"),
        "ContactCenterCall": _fields(
            "call_id intent disposition caller_role duration_seconds agent products_of_interest"
        ),
        "CsatSubmitted": _fields("survey_id score ticket_id"),
        "NpsSubmitted": _fields("survey_id score"),
        "ComplaintLogged": _fields("complaint_id category severity theme ticket_id"),
        "OrderPlaced": _fields("order_id total lines"),
        "SubscriptionStarted": _fields("subscription_id plan amount period renews_on"),
        "SubscriptionRenewed": _fields("subscription_id plan amount renews_on"),
        "SubscriptionCancelled": _fields("subscription_id effective_on"),
        "ProductUsageReported": _fields("product metric used limit period_end"),
        "ContactDetailsObserved": _fields(""),
        "ConsentGiven": _fields("purpose channel wording_version"),
        "ConsentWithdrawn": _fields("purpose channel"),
        "ErasureRequested": _fields("request_id"),
    }
)

# Personal fields a model requires: after erasure they hold a placeholder so the event still parses.
REQUIRED_PLACEHOLDERS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "CampaignEmailSent": {"subject": ERASED_TEXT},
        "EmailClicked": {"url": ERASED_URL},
        "FormSubmitted": {"page_url": ERASED_URL},
        "AdClicked": {"landing_url": ERASED_URL},
        "EventBadgeScanned": {"first_name": ERASED_TEXT, "last_name": ERASED_TEXT},
        "LeadDisqualified": {"reason": ERASED_TEXT},
        "OpportunityCreated": {"name": ERASED_TEXT},
        "OpportunityLost": {"reason": ERASED_TEXT},
        "MeetingHeld": {"subject": ERASED_TEXT},
        "TicketOpened": {"subject": ERASED_TEXT},
        "InboundEmailReceived": {"message_id": ERASED_TEXT, "subject": ERASED_TEXT},
        # The model wants at least one detail observed: a tombstone's name is "[erased]".
        "ContactDetailsObserved": {"first_name": ERASED_TEXT},
    }
)

_NOTHING: frozenset[str] = frozenset()


def split_personal(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(clear part, personal part) of an event's JSON dict, as sent or as `model_dump(mode="json")` gives it.

    Anything not known to be clear is personal: an unknown type's whole payload, an unknown envelope key,
    an `identifiers` or `payload` that is not an object. `join_personal` puts the two back together."""
    clear: dict[str, Any] = {}
    personal: dict[str, Any] = {}
    clear_payload = CLEAR_PAYLOAD_FIELDS.get(raw.get("type"), _NOTHING)  # type: ignore[arg-type]
    for key, value in raw.items():
        if key in CLEAR_ENVELOPE_KEYS:
            clear[key] = value
        elif key == "identifiers" and isinstance(value, dict):  # dict, not Mapping: an ABC check costs
            _split_into(key, value, CLEAR_IDENTIFIERS, clear, personal)
        elif key == "payload" and isinstance(value, dict):
            _split_into(key, value, clear_payload, clear, personal)
        else:
            personal[key] = value
    return clear, personal


def _split_into(
    key: str,
    fields: Mapping[str, Any],
    clear_names: frozenset[str],
    clear: dict[str, Any],
    personal: dict[str, Any],
) -> None:
    clear[key] = {k: v for k, v in fields.items() if k in clear_names}
    hidden = {k: v for k, v in fields.items() if k not in clear_names}
    if hidden:
        personal[key] = hidden


def join_personal(clear: Mapping[str, Any], personal: Mapping[str, Any]) -> dict[str, Any]:
    """The event again from its two parts (the inverse of `split_personal`)."""
    joined = dict(clear)
    for key, value in personal.items():
        inner = joined.get(key)
        if isinstance(inner, dict) and isinstance(value, dict):
            joined[key] = {**inner, **value}
        else:
            joined[key] = value
    return joined


def redacted(raw: Mapping[str, Any], *, subject: str) -> dict[str, Any]:
    """The clear part of an event, parseable again once its key is gone: the person's identifiers become
    one pseudonymous external id (`{"erased": subject}`, so a rebuild makes one tombstone contact per
    subject), personal payload fields are dropped and required ones hold a placeholder. Works on a whole
    event or on its clear part; a `sealed` envelope key is dropped."""
    clear, _ = split_personal({k: v for k, v in raw.items() if k != "sealed"})
    identifiers = dict(clear.get("identifiers") or {})
    identifiers["external_ids"] = {ERASED_SYSTEM: subject}
    payload = dict(clear.get("payload") or {})
    payload.update(REQUIRED_PLACEHOLDERS.get(str(clear.get("type")), {}))
    return {**clear, "identifiers": identifiers, "payload": payload}
