"""Issue 15's hand-made cases, end to end on the master record (memory store): identifiers that are one
person become one contact (canonical keys), identifiers that are not a person's never merge people
(guards), and a suspect a later event disproves leaves the steward queue."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from event_examples import PAYLOADS, T0, identity_event as event

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.events import Event, PhoneRegions, parse_event
from touchstream.projections.identifiers import canonical_email, is_role_local_part, salesforce_id_18


@pytest.fixture
def app() -> MasterRecord:
    return MasterRecord.from_url("memory://")


def who(app: MasterRecord, e: Event) -> UUID:
    found = app.resolve(e).contact_id
    assert found is not None
    return app.contact(found).id


def details(email: str, first: str, day: float, **ids: Any) -> Event:
    """An admin's observation: this address is used by this person."""
    payload = {"first_name": first, "last_name": "Smith"}
    return event({"email": email, **ids}, "ContactDetailsObserved", payload, "crm_admin", day)


def inbound(sender: str, subject: str, observed: dict[str, str], day: float, **extra: Any) -> Event:
    payload = {"message_id": f"<{day}@x>", "mailbox": "support@brightlane.io", "subject": subject}
    payload.update(observed=observed, **extra)  # type: ignore[arg-type]
    return event({"email": sender}, "InboundEmailReceived", payload, "zendesk", day)


# --- missed merges: one person written several ways -------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "jane.doe@gmail.com",
        "janedoe@gmail.com",
        "Jane.Doe+newsletter@gmail.com",
        "j.a.n.e.doe@googlemail.com",
    ],
)
def test_gmail_dots_tags_and_googlemail_are_one_mailbox(app: MasterRecord, spelling: str) -> None:
    first = who(app, event({"email": "janedoe@gmail.com"}, day=0))
    assert who(app, event({"email": spelling}, day=1)) == first


@pytest.mark.parametrize(
    ("plain", "tagged"),
    [
        ("jane@outlook.com", "jane+crm@outlook.com"),
        ("jane@hotmail.co.uk", "jane+shop@hotmail.co.uk"),
        ("jane@fastmail.com", "jane+lists@fastmail.com"),
        ("jane@icloud.com", "jane+news@icloud.com"),
        ("jane@proton.me", "jane+x@proton.me"),
        ("jane@yahoo.com", "jane-shopping@yahoo.com"),
    ],
)
def test_sub_addressing_tags_reach_one_contact(app: MasterRecord, plain: str, tagged: str) -> None:
    assert who(app, event({"email": plain}, day=0)) == who(app, event({"email": tagged}, day=1))


def test_a_company_server_keeps_plus_addresses_apart() -> None:
    assert canonical_email("jane+ops@acme.com") == "jane+ops@acme.com"
    assert canonical_email("jane.doe@acme.com") == "jane.doe@acme.com", "dots matter outside gmail"


def test_salesforce_15_and_18_character_ids_of_one_record_are_one_person(app: MasterRecord) -> None:
    assert salesforce_id_18("00300000003T2PG") == "00300000003T2PGAA0"
    assert salesforce_id_18("00300000003t2pgAA0") == "00300000003T2PGAA0", "a lower-cased export"
    short = who(app, event({"external_ids": {"salesforce": "00300000003T2PG"}}, source="salesforce", day=0))
    long = who(app, event({"external_ids": {"salesforce": "00300000003T2PGAA0"}}, source="salesforce", day=1))
    assert short == long
    assert app.owner_of("ext:salesforce:00300000003T2PG") == short


def test_salesforce_account_ids_in_both_lengths_are_one_account(app: MasterRecord) -> None:
    a = app.resolve(event({"email": "a@acme.com", "account_external_ids": {"salesforce": "0013000000zL7K6"}}))
    b = app.resolve(
        event({"email": "b@acme.com", "account_external_ids": {"salesforce": "0013000000zL7K6AAK"}})
    )
    assert a.account_id is not None
    assert a.account_id == b.account_id


def test_a_uk_number_in_national_format_is_read_with_its_sources_region() -> None:
    raw = {
        "event_id": "6f1c1a36-8b0e-4a5e-9d61-4a0f8f3e9a11",
        "type": "EmailOpened",
        "schema_version": 1,
        "occurred_at": T0.isoformat(),
        "recorded_at": T0.isoformat(),
        "source": "zendesk_uk",
        "identifiers": {"email": "jane@acme.co.uk", "phone": "020 7946 0958"},
        "payload": {"campaign_id": "c1", "message_id": "m1"},
    }
    regions = PhoneRegions("US", {"zendesk_uk": "GB"})
    assert parse_event(raw, regions=regions, now=T0).identifiers.phone == "+442079460958"
    kept = parse_event(raw, regions=PhoneRegions("US"), now=T0)  # the default region does not fit
    assert (kept.identifiers.phone, kept.identifiers.phone_unparsed) == (None, "020 7946 0958")


def test_an_unreadable_phone_never_loses_the_event(app: MasterRecord) -> None:
    e = event({"email": "jane@acme.co.uk", "phone": "020 7946 0958"})
    assert e.identifiers.phone_unparsed == "020 7946 0958"
    resolved = app.resolve(e)
    assert resolved.contact_id is not None
    assert app.contact(resolved.contact_id).value("phone") is None, "an unread number is not a phone"


# --- wrong merges: identifiers that are not one person's ----------------------------------------------


@pytest.mark.parametrize("inbox", ["it-support", "servicedesk", "customer.service", "billing", "noreply"])
def test_people_writing_from_a_shared_inbox_stay_apart(app: MasterRecord, inbox: str) -> None:
    people = {
        who(app, event({"email": f"{inbox}@acme.com", "external_ids": {"zendesk": f"z{n}"}}, day=n))
        for n in range(3)
    }
    assert len(people) == 3
    assert list(app.suspects()) == []


def test_role_patterns_name_functions_not_people() -> None:
    for local in ("support", "info", "servicedesk", "it-support", "customer.service", "sales", "billing"):
        assert is_role_local_part(local), local
    for local in ("noreply", "no-reply", "do-not-reply", "helpdesk", "sales.emea", "techsupport"):
        assert is_role_local_part(local), local
    for local in ("jane", "jane.support", "john.sales", "salesforce.admin.jane"):
        assert not is_role_local_part(local), local


def test_a_household_gmail_used_by_two_names_is_a_suspect_not_a_merge(app: MasterRecord) -> None:
    john = who(app, details("smiths@gmail.com", "John", 0, external_ids={"hubspot": "1"}))
    mary = who(app, details("smiths@gmail.com", "Mary", 1, external_ids={"hubspot": "2"}))
    assert john != mary
    assert app.contact(john).value("first_name") == "John", "Mary's name did not overwrite John's"
    (suspect,) = app.suspects()
    assert (suspect.reason, {suspect.contact_id, suspect.other_id}) == ("shared_address", {john, mary})
    assert who(app, details("smiths@gmail.com", "Mary", 2)) == mary, "her later events find her"
    assert who(app, details("smiths@gmail.com", "Johnny", 3)) == john, "a longer form is the same person"


def test_a_household_address_seen_first_without_a_name_still_splits_by_name(app: MasterRecord) -> None:
    first = who(app, event({"email": "thejoneses@outlook.de"}, day=0))
    who(app, details("thejoneses@outlook.de", "Anna", 1))
    other = who(app, details("thejoneses@outlook.de", "Peter", 2))
    assert other != first
    assert app.resolve(event({"email": "thejoneses@outlook.de"}, day=3)).account_id is None


def test_a_forwarded_signature_is_weak_evidence_never_a_merge(app: MasterRecord) -> None:
    bob = who(app, event({"email": "bob@acme.com", "phone": "+14155550177"}, day=0))
    forwarded = inbound(
        "jane@gmail.com", "Fwd: pricing", {"email": "bob@acme.com", "phone": "+14155550177"}, 1
    )
    jane = who(app, forwarded)
    assert jane != bob
    assert app.contact(jane).value("phone") is None, "Bob's phone is not Jane's"
    assert app.contact(jane).value("email") is None
    assert {s.reason for s in app.suspects()} == {"forwarded_identifier"}


def test_quoted_text_is_weak_evidence_whatever_the_subject(app: MasterRecord) -> None:
    bob = who(app, event({"email": "bob@acme.com"}, day=0))
    quoted = inbound("jane@gmail.com", "Re: pricing", {"email": "bob@acme.com"}, 1, observed_in="quoted")
    assert who(app, quoted) != bob
    own = inbound("jane@gmail.com", "Re: pricing", {"phone": "+14155550188"}, 2, observed_in="signature")
    assert app.contact(who(app, own)).value("phone") == "+14155550188", "her own signature still counts"


@pytest.mark.parametrize("domain", ["yahoo.co.in", "outlook.de", "yahoo.com.au", "hotmail.com.ar", "gmx.at"])
def test_regional_free_mail_never_makes_an_account(app: MasterRecord, domain: str) -> None:
    a = app.resolve(event({"email": f"asha@{domain}"}, day=0))
    b = app.resolve(event({"email": f"ravi@{domain}"}, day=1))
    assert (a.account_id, b.account_id) == (None, None)
    assert a.contact_id != b.contact_id


def test_a_disposable_domain_never_makes_an_account(app: MasterRecord) -> None:
    assert app.resolve(event({"email": "x@mailinator.com"})).account_id is None


# --- switchboards, and suspects a later event disproves -----------------------------------------------


def call(phone: str, day: float) -> Event:
    return event({"phone": phone}, "ContactCenterCall", dict(PAYLOADS["ContactCenterCall"]), "genesys", day)


def test_a_switchboard_is_the_accounts_number_and_its_suspects_are_withdrawn(app: MasterRecord) -> None:
    board = "+14155550100"
    a = who(app, event({"email": "ann@acme.com", "phone": board}, day=0))
    b = who(app, event({"email": "ben@acme.com", "phone": board}, day=1))
    (suspect,) = app.suspects()
    assert (suspect.reason, {suspect.contact_id, suspect.other_id}) == ("shared_phone", {a, b})
    c = who(app, event({"email": "cy@acme.com", "phone": board}, day=2))
    assert len({a, b, c}) == 3
    assert list(app.suspects()) == [], "a third person on the number disproves the suspect"
    assert [s.status for s in app.suspects(status=None)] == ["withdrawn"]
    answered = app.resolve(call(board, 3))
    assert answered.contact_id is None, "a call from the switchboard is no one person's"
    assert answered.account_id == app.contact(a).account_id is not None
    d = who(app, event({"email": "di@acme.com", "phone": board}, day=4))
    assert d not in {a, b, c}
    assert list(app.suspects()) == []


def test_a_phone_two_records_share_stays_a_suspect_and_a_call_goes_to_the_older(app: MasterRecord) -> None:
    a = who(app, event({"email": "ann@acme.com", "phone": "+14155550123"}, day=0))
    b = who(app, event({"email": "ann.lee@gmail.com", "phone": "+14155550123"}, day=1))
    assert len(list(app.suspects())) == 1
    assert app.resolve(call("+14155550123", 2)).contact_id == a
    assert a != b


def test_a_phone_one_person_holds_still_finds_them(app: MasterRecord) -> None:
    a = who(app, event({"email": "ann@acme.com", "phone": "+14155550124"}, day=0))
    assert app.resolve(call("+14155550124", 1)).contact_id == a


def test_calls_before_the_number_is_known_join_its_person_whatever_the_order(app: MasterRecord) -> None:
    number = "+14155550125"
    early = [app.resolve(call(number, day)).contact_id for day in (0, 1)]
    assert early[0] == early[1] is not None, "an anonymous caller is one contact"
    ann = who(app, event({"email": "ann@acme.com", "phone": number}, day=2))
    assert {app.contact(c).id for c in early if c} == {ann}, "the number found its person: the calls are hers"
    assert app.resolve(call(number, 3)).contact_id == ann
    assert list(app.suspects()) == []
    ben = who(app, event({"email": "ben@acme.com", "phone": number}, day=4))
    assert ben != ann, "a second person on the number merges with no one"
    assert [s.reason for s in app.suspects()] == ["shared_phone"]


def test_a_merged_anonymous_caller_hands_the_raw_positions_of_its_calls_to_its_person(
    app: MasterRecord,
) -> None:
    number = "+14155550128"
    calls = [app.resolve(call(number, day), raw=(3, 10 + day)) for day in (0, 1)]
    assert calls[0].contact_id == calls[1].contact_id is not None
    assert all(c.contact_keys == () for c in calls), "no cache may answer a call that must be kept"
    app.resolve(call(number, 1), raw=(3, 11))  # the same call again (a retried batch): kept once
    merging = event({"email": "ann@acme.com", "phone": number}, day=2)
    first = app.resolve(merging, raw=(5, 1))
    assert [m.reason for m in first.merges] == ["anonymous_caller"]
    assert first.reattribute == ((3, 10), (3, 11))
    again = app.resolve(merging, raw=(5, 1))
    assert (again.merges, again.reattribute) == ((), first.reattribute), "a retried batch hands them again"
    later = app.resolve(call(number, 3), raw=(3, 12))
    assert (later.contact_id, later.reattribute) == (first.contact_id, ()), (
        "a later call reaches her directly"
    )
    ben = app.resolve(event({"email": "ben@acme.com", "phone": "+14155550129"}, day=4), raw=(1, 1))
    assert ben.reattribute == (), "a person's events are not kept"
    assert ben.contact_keys, "and a cache may answer them"


def test_an_anonymous_caller_stays_apart_when_the_number_is_two_peoples(app: MasterRecord) -> None:
    number = "+14155550126"
    ann = who(app, event({"email": "ann@acme.com", "phone": "+14155550127"}, day=0))
    caller = app.resolve(call(number, 1)).contact_id
    ben = who(app, event({"email": "ben@acme.com", "phone": number}, day=2))
    assert caller is not None
    assert app.contact(caller).id == ben
    assert who(app, event({"email": "ann@acme.com", "phone": number}, day=3)) == ann
    assert app.contact(ann).id != app.contact(ben).id, "a number two people hold links neither"


def test_a_steward_decision_is_never_withdrawn(app: MasterRecord) -> None:
    board = "+14155550101"
    who(app, event({"email": "ann@acme.com", "phone": board}, day=0))
    who(app, event({"email": "ben@acme.com", "phone": board}, day=1))
    (suspect,) = app.suspects()
    app.dismiss(suspect.id, actor="steward-ann")
    who(app, event({"email": "cy@acme.com", "phone": board}, day=2))
    assert [s.status for s in app.suspects(status=None)] == ["dismissed"]


def test_a_suspect_answered_by_a_later_strong_link_leaves_the_queue(app: MasterRecord) -> None:
    a = who(app, event({"email": "ann@acme.com", "phone": "+14155550102"}, day=0))
    b = who(app, event({"email": "ann.lee@gmail.com", "phone": "+14155550102"}, day=1))
    assert len(list(app.suspects())) == 1
    assert who(app, event({"email": "ann@acme.com", "external_ids": {"hubspot": "9"}}, day=2)) == a
    assert who(app, event({"email": "ann.lee@gmail.com", "external_ids": {"hubspot": "9"}}, day=3)) == a
    assert app.contact(b).id == a
    assert list(app.suspects()) == []
    (closed,) = app.suspects(status=None)
    assert (closed.status, closed.decided_by) == ("merged", "resolver")


def test_a_nickname_is_the_same_person_on_a_shared_address(app: MasterRecord) -> None:
    robert = who(app, details("family.lee@gmail.com", "Robert", 0))
    assert who(app, details("family.lee@gmail.com", "Bob", 1)) == robert
    assert who(app, details("family.lee@gmail.com", "Rob", 2)) == robert
    assert who(app, details("family.lee@gmail.com", "Susan", 3)) != robert
