"""The resolution rules of docs/identity.md, as pure code: evidence in, plan out (no store involved)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from event_examples import T0, identity_event as event
from hypothesis import given, strategies as st

from touchstream.adapters.config import load_settings
from touchstream.adapters.master_record.identity_config import identity_config
from touchstream.events import Event
from touchstream.projections.identity import (
    AccountFacts,
    ContactFacts,
    Known,
    company_key,
    decide,
    domain_key,
    evidence_of,
    name_key,
    new_account_id,
    new_contact_id,
    normalize_company,
)

CONFIG = identity_config()


def badge(
    email: str | None, company: str | None = "Acme Widgets", phone: str | None = None, **ids: Any
) -> Event:
    payload: dict[str, Any] = {"event_name": "SaaStr 2026", "first_name": "Jane", "last_name": "Doe"}
    if email:
        payload["email"] = email
    if phone:
        payload["phone"] = ids["phone"] = phone
    if company:
        payload["company"] = company
    identifiers = {"email": email, **ids} if email else dict(ids)
    return event(identifiers, "EventBadgeScanned", payload, source="marketo")


def contact(n: int, days: int = 0, account: UUID | None = None, emails: int = 1) -> ContactFacts:
    return ContactFacts(uuid.UUID(int=n), T0 + timedelta(days=days), account, emails)


def known(*contacts: ContactFacts, **kwargs: Any) -> Known:
    return Known(contacts={c.contact_id: c for c in contacts}, **kwargs)


# --- evidence -------------------------------------------------------------------------------------------


def test_evidence_normalizes_and_sorts_identifiers_by_strength() -> None:
    ev = evidence_of(
        event({"email": "Jane.Doe@Acme.COM", "phone": "(415) 555-0134", "external_ids": {"hubspot": "7"}}),
        CONFIG,
    )
    assert ev.strong == ("email:jane.doe@acme.com", "ext:hubspot:7")
    assert ev.phones == ("phone:+14155550134",)
    assert ev.account_domains == ("domain:acme.com",)


def test_free_mail_domains_never_name_an_account() -> None:
    ev = evidence_of(event({"email": "jane@gmail.com"}), CONFIG)
    assert ev.strong == ("email:jane@gmail.com",)
    assert ev.account_domains == ()


def test_the_free_mail_lists_are_the_maintained_packages_and_can_be_extended(tmp_path: Any) -> None:
    assert {"gmail.com", "outlook.com", "gmx.de", "comcast.net"} <= CONFIG.free_mail_domains
    assert CONFIG.is_free_mail("mailinator.com"), "disposable domains never make an account either"
    extra = tmp_path / "more.txt"
    extra.write_text("# ours\nexample-isp.net\n")
    config = identity_config(load_settings({"TOUCHSTREAM_FREE_MAIL_DOMAINS_FILE": str(extra)}))
    assert config.is_free_mail("example-isp.net")
    assert not CONFIG.is_free_mail("example-isp.net")


def test_role_addresses_are_not_person_identifiers() -> None:
    ev = evidence_of(event({"email": "Support@Acme.com"}), CONFIG)
    assert ev.strong == ()
    assert ev.role == ("role:support@acme.com",)
    assert ev.account_domains == ("domain:acme.com",), "a role address still names its company"
    custom = identity_config(load_settings({"TOUCHSTREAM_ROLE_LOCAL_PARTS": "desk"}))
    assert evidence_of(event({"email": "desk@acme.com"}), custom).role == ("role:desk@acme.com",)


def test_payload_details_are_observations_and_weak_evidence() -> None:
    ev = evidence_of(badge("jane@acme.com", company="Acme Widgets, Inc.", phone="+1 415 555 0134"), CONFIG)
    assert {o.attribute for o in ev.observations} == {"first_name", "last_name", "company", "email", "phone"}
    assert ev.names == ("name:jane doe|acme widgets",)
    assert ev.phones == ("phone:+14155550134",)
    assert all(o.source == "marketo" and o.confidence == 0.7 for o in ev.observations)


def test_an_email_observed_in_a_signature_is_a_strong_identifier() -> None:
    payload = {
        "message_id": "<1@x>",
        "mailbox": "support@brightlane.io",
        "subject": "Help",
        "observed": {"email": "jane@acme.com", "phone": "+14155550199"},
    }
    ev = evidence_of(event({"email": "jane@gmail.com"}, "InboundEmailReceived", payload, "zendesk"), CONFIG)
    assert ev.strong == ("email:jane@gmail.com", "email:jane@acme.com")
    assert ev.account_domains == ("domain:acme.com",)


def test_company_names_fold_to_one_key() -> None:
    assert normalize_company("Acme Widgets, Inc.") == normalize_company("ACME widgets") == "acme widgets"
    assert company_key("Inc.") == "company:inc", "a lone legal form is kept rather than erased"
    assert name_key("Björn", "Ödegaard", "Nordic AB") == "name:bjorn odegaard|nordic"


# --- contacts -------------------------------------------------------------------------------------------


def test_an_unknown_strong_identifier_creates_a_contact_with_an_id_derived_from_it() -> None:
    plan = decide(evidence_of(event({"email": "jane@acme.com"}), CONFIG), Known(), CONFIG)
    assert plan.is_new_contact
    assert plan.contact_id == new_contact_id("email:jane@acme.com")
    assert plan.claims == ("email:jane@acme.com",)


def test_a_new_strong_identifier_seen_with_a_known_one_is_attached() -> None:
    jane = contact(1)
    ev = evidence_of(event({"email": "jane@acme.com", "external_ids": {"hubspot": "7"}}), CONFIG)
    plan = decide(ev, known(jane, owners={"email:jane@acme.com": jane.contact_id}), CONFIG)
    assert (plan.contact_id, plan.is_new_contact) == (jane.contact_id, False)
    assert plan.claims == ("ext:hubspot:7",)
    assert plan.merges == ()


def test_two_known_contacts_linked_by_strong_identifiers_merge_into_the_oldest() -> None:
    old, young = contact(2, days=0), contact(1, days=5)
    ev = evidence_of(event({"email": "jane@acme.com", "external_ids": {"salesforce": "003A"}}), CONFIG)
    owners = {"email:jane@acme.com": young.contact_id, "ext:salesforce:003A": old.contact_id}
    plan = decide(ev, known(old, young, owners=owners), CONFIG)
    assert plan.contact_id == old.contact_id
    assert [(m.survivor, m.merged) for m in plan.merges] == [(old.contact_id, young.contact_id)]
    assert plan.merges[0].identifiers == ("email:jane@acme.com", "ext:salesforce:003A")


def test_a_shared_phone_raises_a_suspect_and_never_merges() -> None:
    jane, other = contact(1), contact(2)
    ev = evidence_of(event({"email": "jane@acme.com", "phone": "+14155550134"}), CONFIG)
    plan = decide(
        ev,
        known(
            jane,
            other,
            owners={"email:jane@acme.com": jane.contact_id},
            holders={"phone:+14155550134": frozenset({other.contact_id})},
        ),
        CONFIG,
    )
    assert plan.merges == ()
    assert [(s.contact_id, s.other_id, s.reason) for s in plan.suspects] == [
        (jane.contact_id, other.contact_id, "shared_phone")
    ]
    assert plan.weak_adds == ("phone:+14155550134",)


def test_same_name_at_the_same_company_raises_a_suspect() -> None:
    jane, other = contact(1), contact(2)
    ev = evidence_of(badge("jane.doe@acme.com"), CONFIG)
    holders = {"name:jane doe|acme widgets": frozenset({other.contact_id})}
    plan = decide(ev, known(jane, other, holders=holders), CONFIG)
    assert plan.is_new_contact
    assert plan.merges == ()
    assert [s.reason for s in plan.suspects] == ["same_name_and_company"]


def test_a_switchboard_number_shared_by_many_raises_no_suspects() -> None:
    many = [contact(n) for n in range(2, 9)]
    ev = evidence_of(event({"email": "jane@acme.com", "phone": "+14155550100"}), CONFIG)
    holders = {"phone:+14155550100": frozenset(c.contact_id for c in many)}
    plan = decide(ev, known(*many, holders=holders), CONFIG)
    assert plan.suspects == ()


def test_a_phone_alone_attributes_the_event_to_its_only_holder_without_linking() -> None:
    only = contact(1, days=0)
    ev = evidence_of(event({"phone": "+14155550134"}), CONFIG)
    plan = decide(ev, known(only, holders={"phone:+14155550134": frozenset({only.contact_id})}), CONFIG)
    assert (plan.contact_id, plan.is_new_contact) == (only.contact_id, False)
    assert (plan.merges, plan.suspects) == ((), ())


def test_a_phone_alone_held_by_two_goes_to_the_oldest_and_by_a_switchboard_to_no_one() -> None:
    first, second, third = contact(1, days=0), contact(2, days=3), contact(3, days=4)
    ev = evidence_of(event({"phone": "+14155550134"}), CONFIG)
    two = {"phone:+14155550134": frozenset({first.contact_id, second.contact_id})}
    plan = decide(ev, known(first, second, holders=two), CONFIG)
    assert (plan.contact_id, plan.is_new_contact) == (first.contact_id, False)
    assert (plan.merges, plan.suspects) == ((), ())
    three = {"phone:+14155550134": frozenset({first.contact_id, second.contact_id, third.contact_id})}
    plan = decide(ev, known(first, second, third, holders=three), CONFIG)
    assert (plan.contact_id, plan.is_new_contact, plan.merges, plan.suspects) == (None, False, (), ())
    assert plan.refused == ("shared_number:phone:+14155550134",)


def test_an_unknown_phone_alone_creates_an_anonymous_contact_from_the_event() -> None:
    ev = evidence_of(event({"phone": "+14155550134"}), CONFIG)
    plan = decide(ev, Known(), CONFIG)
    assert plan.is_new_contact
    assert plan.contact_id == new_contact_id("event:" + ev.event_id)
    assert plan.weak_adds == ("phone:+14155550134",)
    assert plan.claims == ()


def test_an_anonymous_caller_merges_into_the_person_its_number_turns_out_to_be() -> None:
    caller = ContactFacts(uuid.UUID(int=1), T0, anonymous=True)
    phone = {"phone:+14155550134": frozenset({caller.contact_id})}
    ev = evidence_of(event({"email": "jane@acme.com", "phone": "+14155550134"}), CONFIG)
    plan = decide(ev, known(caller, holders=phone), CONFIG)
    assert plan.is_new_contact
    assert [(m.survivor, m.merged, m.reason, m.identifiers) for m in plan.merges] == [
        (plan.contact_id, caller.contact_id, "anonymous_caller", ("phone:+14155550134",))
    ]
    assert plan.suspects == (), "one person, not a pair for the steward"


def test_an_anonymous_caller_on_a_number_another_person_holds_merges_nowhere() -> None:
    caller, ben = ContactFacts(uuid.UUID(int=1), T0, anonymous=True), contact(2)
    phone = {"phone:+14155550134": frozenset({caller.contact_id, ben.contact_id})}
    ev = evidence_of(event({"email": "jane@acme.com", "phone": "+14155550134"}), CONFIG)
    plan = decide(ev, known(caller, ben, holders=phone), CONFIG)
    assert plan.merges == ()
    named = contact(3)  # a contact with identifiers is a person, whatever it was made from
    phone = {"phone:+14155550134": frozenset({named.contact_id})}
    assert decide(ev, known(named, holders=phone), CONFIG).merges == ()


def test_a_role_address_with_a_person_links_nothing() -> None:
    jane = contact(1)
    ev = evidence_of(
        event({"email": "support@acme.com", "external_ids": {"zendesk": "9"}}),
        CONFIG,
    )
    plan = decide(ev, known(jane, owners={"ext:zendesk:9": jane.contact_id}), CONFIG)
    assert plan.contact_id == jane.contact_id
    assert plan.claims == ()
    assert plan.merges == ()


def test_a_role_address_alone_gets_a_role_contact_of_its_own() -> None:
    plan = decide(evidence_of(event({"email": "info@acme.com"}), CONFIG), Known(), CONFIG)
    assert plan.role_contact
    assert plan.is_new_contact
    assert plan.claims == ("role:info@acme.com",)


def test_an_identifier_that_caused_too_many_merges_causes_no_more() -> None:
    old, young = contact(1, days=0), contact(2, days=1)
    ev = evidence_of(event({"email": "jane@acme.com", "external_ids": {"hubspot": "7"}}), CONFIG)
    owners = {"email:jane@acme.com": old.contact_id, "ext:hubspot:7": young.contact_id}
    capped = Known(
        owners=owners,
        merges_caused={"ext:hubspot:7": CONFIG.max_merges_per_identifier},
        contacts={old.contact_id: old, young.contact_id: young},
    )
    plan = decide(ev, capped, CONFIG)
    assert plan.merges == ()
    assert [s.reason for s in plan.suspects] == ["merge_cap"]
    assert plan.refused == ("merge_cap:ext:hubspot:7",)


def test_an_event_tying_too_many_contacts_together_merges_none() -> None:
    people = [contact(n, days=n) for n in range(1, 6)]
    ids = {"email": "a@acme.com", "external_ids": {f"s{n}": str(n) for n in range(1, 5)}}
    ev = evidence_of(event(ids), CONFIG)
    owners = dict(zip(ev.strong, (c.contact_id for c in people), strict=True))
    plan = decide(ev, known(*people, owners=owners), CONFIG)
    assert plan.merges == ()
    assert plan.claims == ()
    assert {s.reason for s in plan.suspects} == {"too_many_contacts"}


def test_a_contact_stops_collecting_emails_at_the_cap() -> None:
    full = contact(1, emails=CONFIG.max_emails_per_contact)
    ev = evidence_of(event({"email": "new@acme.com", "external_ids": {"hubspot": "7"}}), CONFIG)
    plan = decide(ev, known(full, owners={"ext:hubspot:7": full.contact_id}), CONFIG)
    assert plan.claims == ()
    assert plan.refused == ("email_cap:email:new@acme.com",)


# --- accounts -------------------------------------------------------------------------------------------


def test_an_unknown_company_domain_gets_a_provisional_account() -> None:
    plan = decide(evidence_of(badge("jane@acme.com", account_domain="acme.com"), CONFIG), Known(), CONFIG)
    assert plan.account is not None
    assert plan.account.is_new
    assert plan.account.provisional
    assert plan.account.account_id == new_account_id("domain:acme.com")
    assert plan.link_account == plan.account.account_id
    assert "company:acme widgets" in plan.account.claims


def test_a_new_person_at_a_known_domain_joins_that_account() -> None:
    acme = uuid.UUID(int=99)
    state = Known(owners={"domain:acme.com": acme}, accounts={acme: AccountFacts(acme, frozenset({"sf"}))})
    plan = decide(evidence_of(badge("new.person@acme.com"), CONFIG), state, CONFIG)
    assert plan.is_new_contact
    assert plan.account is not None
    assert not plan.account.is_new
    assert plan.link_account == acme


def test_free_mail_never_creates_an_account() -> None:
    plan = decide(evidence_of(badge("jane@gmail.com", company=None), CONFIG), Known(), CONFIG)
    assert plan.account is None
    assert plan.link_account is None


def test_an_explicit_account_id_wins_over_the_domain() -> None:
    by_domain, by_crm = uuid.UUID(int=10), uuid.UUID(int=11)
    jane = contact(1, account=by_domain)
    ev = evidence_of(
        event({"email": "jane@acme.com", "account_external_ids": {"salesforce": "001X"}}), CONFIG
    )
    state = known(
        jane,
        owners={
            "email:jane@acme.com": jane.contact_id,
            "domain:acme.com": by_domain,
            "account:salesforce:001X": by_crm,
        },
        accounts={
            by_domain: AccountFacts(by_domain),
            by_crm: AccountFacts(by_crm, frozenset({"salesforce"})),
        },
    )
    plan = decide(ev, state, CONFIG)
    assert plan.account is not None
    assert plan.account.account_id == by_crm
    assert plan.link_account == by_crm, "the CRM's account id moves the contact"


def test_a_domain_never_moves_a_contact_that_has_an_account() -> None:
    home, other = uuid.UUID(int=10), uuid.UUID(int=11)
    jane = contact(1, account=home)
    ev = evidence_of(event({"email": "jane@acme.com", "account_domain": "other.com"}), CONFIG)
    state = known(
        jane,
        owners={"email:jane@acme.com": jane.contact_id, "domain:other.com": other},
        accounts={other: AccountFacts(other)},
    )
    assert decide(ev, state, CONFIG).link_account is None


def test_a_crm_account_id_confirms_the_provisional_account_of_its_domain() -> None:
    provisional = uuid.UUID(int=10)
    ev = evidence_of(
        event({"email": "jane@acme.com", "account_external_ids": {"salesforce": "001X"}}), CONFIG
    )
    state = Known(
        owners={"domain:acme.com": provisional},
        accounts={provisional: AccountFacts(provisional, provisional=True)},
    )
    plan = decide(ev, state, CONFIG)
    assert plan.account is not None
    assert (plan.account.account_id, plan.account.is_new) == (provisional, False)
    assert "account:salesforce:001X" in plan.account.claims


def test_a_company_name_only_suggests_an_account() -> None:
    acme = uuid.UUID(int=10)
    state = Known(owners={"company:acme widgets": acme}, accounts={acme: AccountFacts(acme)})
    plan = decide(evidence_of(badge("jane@gmail.com", company="ACME Widgets Inc"), CONFIG), state, CONFIG)
    assert plan.account is None
    assert plan.link_account is None
    assert plan.suggested_account == acme


def test_an_event_with_only_account_identifiers_resolves_no_contact() -> None:
    plan = decide(evidence_of(event({"account_domain": "acme.com"}), CONFIG), Known(), CONFIG)
    assert plan.contact_id is None
    assert plan.account is not None
    assert plan.account.claims == (domain_key("acme.com"),)


# --- properties -----------------------------------------------------------------------------------------


@given(
    st.lists(st.integers(0, 30), min_size=2, max_size=3, unique=True),
    st.permutations(range(3)),
)
def test_the_survivor_is_the_oldest_whatever_order_identifiers_arrive_in(
    ages: list[int], order: list[int]
) -> None:
    people = [contact(n + 1, days=age) for n, age in enumerate(ages)]
    keys = [f"ext:s{n}:{n}" for n in range(len(people))]
    owners = dict(zip(keys, (c.contact_id for c in people), strict=True))
    systems = {f"s{n}": str(n) for n in (i for i in order if i < len(people))}
    plan = decide(
        evidence_of(event({"external_ids": systems}), CONFIG), known(*people, owners=owners), CONFIG
    )
    oldest = min(people, key=lambda c: (c.first_seen, str(c.contact_id)))
    assert plan.contact_id == oldest.contact_id
    assert {m.merged for m in plan.merges} == {c.contact_id for c in people} - {oldest.contact_id}


@pytest.mark.parametrize("email", ["Jane@Acme.com", "jane@ACME.COM", " jane@acme.com "])
def test_spellings_of_one_address_claim_one_contact(email: str) -> None:
    plan = decide(evidence_of(event({"email": email}), CONFIG), Known(), CONFIG)
    assert plan.contact_id == new_contact_id("email:jane@acme.com")
