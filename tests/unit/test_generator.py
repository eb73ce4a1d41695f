"""The synthetic dataset: every line is a valid event, the truth matches the events, every story exists."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from touchstream.adapters.synthetic.generator import (
    NOT_GENERATED,
    GeneratorConfig,
    Truth,
    TruthPerson,
    estimated_events,
    generate,
    generate_with_truth,
    write_dataset,
)
from touchstream.events import EVENT_TYPES, Event, parse_event

# Our own list, not the generator's: a test that shares the list under test proves nothing.
FREE_MAIL = {"gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me"}
FREE_MAIL |= {"gmx.com", "gmx.de", "live.com", "msn.com", "mail.com", "yandex.ru", "protonmail.com"}
SMALL = GeneratorConfig(customers=300, accounts=40, days=90, seed=7)
MEDIUM = GeneratorConfig(customers=2_000, accounts=250, days=90, seed=11)
MARKETING_TYPES = {
    "CampaignEmailSent",
    "EmailOpened",
    "EmailClicked",
    "FormSubmitted",
    "ContentDownloaded",
    "WebinarRegistered",
    "WebinarAttended",
    "AdClicked",
    "EventBadgeScanned",
}


class Dataset:
    """The small dataset, parsed, with look-ups the tests share."""

    def __init__(self, raw: list[dict[str, Any]], truth: Truth) -> None:
        self.raw = raw
        self.truth = truth
        # `now` pinned past the window: the check for future timestamps must not depend on the wall clock.
        now = SMALL.start + timedelta(days=SMALL.days + 1)
        self.events: list[Event] = [parse_event(orjson.dumps(event), now=now) for event in raw]
        self.persons = {p.person_id: p for p in truth.persons}
        self.accounts = {a.account_id: a for a in truth.accounts}
        self.by_person: dict[str, list[Event]] = defaultdict(list)
        self.by_account: dict[str, list[Event]] = defaultdict(list)
        for event in self.events:
            person_id, account_id = self.owner(event)
            self.by_person[person_id].append(event)
            if account_id is not None:
                self.by_account[account_id].append(event)

    def owner(self, event: Event) -> tuple[str, str | None]:
        owner: tuple[str, str | None] = self.truth.events[str(event.event_id)]
        return owner

    def person(self, event: Event) -> TruthPerson:
        return self.persons[self.owner(event)[0]]

    def of_type(self, type_name: str) -> list[Event]:
        return [event for event in self.events if event.type == type_name]


@pytest.fixture(scope="module")
def small() -> Dataset:
    raw, truth = generate_with_truth(SMALL)
    return Dataset(raw, truth)


def test_every_event_parses_and_has_a_fresh_v4_uuid(small: Dataset) -> None:
    assert len(small.events) > 5_000
    ids = [uuid.UUID(str(event.event_id)) for event in small.events]
    assert all(i.version == 4 for i in ids)
    assert len(set(ids)) == len(ids)
    assert all(event.schema_version == EVENT_TYPES[event.type].current_version() for event in small.events)


def test_times_are_in_the_window_and_sorted(small: Dataset) -> None:
    start = SMALL.start
    end = start + timedelta(days=SMALL.days)
    occurred = [event.occurred_at for event in small.events]
    assert occurred == sorted(occurred)
    assert all(start <= t <= end for t in occurred)
    assert all(e.occurred_at <= e.recorded_at <= end for e in small.events)


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    config = GeneratorConfig(customers=120, accounts=15, days=45, seed=3)
    for name in ("a", "b"):
        write_dataset(config, tmp_path / f"{name}.jsonl", tmp_path / f"{name}.truth.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.truth.jsonl").read_bytes() == (tmp_path / "b.truth.jsonl").read_bytes()
    other = GeneratorConfig(customers=120, accounts=15, days=45, seed=4)
    write_dataset(other, tmp_path / "c.jsonl", tmp_path / "c.truth.jsonl")
    assert (tmp_path / "c.jsonl").read_bytes() != (tmp_path / "a.jsonl").read_bytes()


def test_write_dataset_counts_match_the_files(tmp_path: Path) -> None:
    config = GeneratorConfig(customers=400, accounts=50, days=60, seed=5)
    reported: list[int] = []
    summary = write_dataset(config, tmp_path / "e.jsonl", tmp_path / "t.jsonl", progress=reported.append)
    lines = (tmp_path / "e.jsonl").read_bytes().splitlines()
    assert summary["events"] == len(lines) == sum(reported)
    assert all(n <= 10_000 for n in reported)
    assert summary["events_by_type"] == dict(Counter(orjson.loads(line)["type"] for line in lines))
    kinds = Counter(orjson.loads(line)["kind"] for line in (tmp_path / "t.jsonl").read_bytes().splitlines())
    assert kinds == {"account": summary["accounts"], "person": summary["persons"], "event": len(lines)}
    assert not list(tmp_path.glob("*.tmp"))
    assert [e["event_id"] for e in generate(config)] == [orjson.loads(line)["event_id"] for line in lines]


def test_every_identifier_belongs_to_the_truth_person_and_account(small: Dataset) -> None:
    for event in small.events:
        person_id, account_id = small.owner(event)
        person = small.persons[person_id]
        ids = event.identifiers
        assert person.account_id == account_id
        assert ids.email is None or ids.email in person.emails, event
        assert ids.phone is None or ids.phone in person.phones, event
        for system, value in ids.external_ids.items():
            assert value in person.external_ids[system], event
        if ids.account_domain is not None or ids.account_external_ids:
            assert account_id is not None, event
            account = small.accounts[account_id]
            assert ids.account_domain in (None, account.domain), event
            for system, value in ids.account_external_ids.items():
                assert account.external_ids[system] == value, event
        for email, phone in _observed(event):
            assert email is None or email in person.emails, event
            assert phone is None or phone in person.phones, event


def _p(event: Event) -> Any:
    """The typed payload, loosely: each test knows which type it reads."""
    return event.payload


def _observed(event: Event) -> list[tuple[str | None, str | None]]:
    """Contact details carried in a payload (business cards, signatures, admin observations)."""
    payload: Any = event.payload
    if event.type in ("EventBadgeScanned", "ContactDetailsObserved"):
        return [(payload.email, payload.phone)]
    if event.type == "InboundEmailReceived":
        return [(payload.observed.email, payload.observed.phone)]
    return []


def test_no_two_people_share_a_strong_identifier(small: Dataset) -> None:
    owners: dict[str, str] = {}
    for person in small.truth.persons:
        keys = [f"email:{e}" for e in person.emails]
        keys += [f"ext:{s}:{v}" for s, values in person.external_ids.items() for v in values]
        for key in keys:
            assert owners.setdefault(key, person.person_id) == person.person_id, key
    domains = [account.domain for account in small.truth.accounts]
    assert len(domains) == len(set(domains))


def test_free_mail_never_defines_an_account(small: Dataset) -> None:
    assert all(account.domain not in FREE_MAIL for account in small.truth.accounts)
    domains = {e.identifiers.account_domain for e in small.events} - {None}
    assert domains
    assert not domains & FREE_MAIL
    consumers = [p for p in small.truth.persons if p.account_id is None]
    assert consumers
    assert all(email.split("@")[1] in FREE_MAIL for p in consumers for email in p.emails)


def test_the_mess_of_real_crms_is_there(small: Dataset) -> None:
    spellings: dict[str, set[str]] = defaultdict(set)
    formats: set[str] = set()
    for raw in small.raw:
        ids = raw["identifiers"]
        if "email" in ids:
            spellings[ids["email"].lower()].add(ids["email"])
        if "phone" in ids:
            formats.add("".join("9" if ch.isdigit() else ch for ch in ids["phone"]))
    assert any(len(s) > 1 for s in spellings.values()), "the same email in different cases"
    assert len(formats) >= 4, formats
    work_and_personal = [
        p
        for p in small.truth.persons
        if p.account_id and any(e.split("@")[1] in FREE_MAIL for e in p.emails) and len(p.emails) > 1
    ]
    assert work_and_personal
    assert any(len(ids) > 1 for p in small.truth.persons for ids in p.external_ids.values())
    currencies = {e["payload"]["total"]["currency"] for e in small.raw if e["type"] == "OrderPlaced"}
    assert currencies == {"USD", "EUR"}


def test_badge_scan_of_a_new_person_at_a_known_domain(small: Dataset) -> None:
    found = [
        scan
        for scan in small.of_type("EventBadgeScanned")
        if small.by_person[small.owner(scan)[0]][0] is scan
        and _account_seen_before(small, scan)
        and scan.identifiers.account_domain is not None
    ]
    assert found


def test_badge_scan_at_a_brand_new_company(small: Dataset) -> None:
    found = [
        scan
        for scan in small.of_type("EventBadgeScanned")
        if small.owner(scan)[1] is not None and not _account_seen_before(small, scan)
    ]
    assert found
    assert all(_p(scan).company for scan in found)


def _account_seen_before(small: Dataset, event: Event) -> bool:
    account_id = small.owner(event)[1]
    return account_id is not None and small.by_account[account_id][0] is not event


def test_inbound_email_reveals_a_new_phone_that_is_used_later(small: Dataset) -> None:
    revealed = 0
    for mail in small.of_type("InboundEmailReceived"):
        phone = _p(mail).observed.phone
        history = small.by_person[small.owner(mail)[0]]
        earlier = history[: history.index(mail)]
        if phone is None or not earlier or any(phone in _phones(e) for e in earlier):
            continue
        assert phone in small.person(mail).phones
        later = history[history.index(mail) + 1 :]
        revealed += 1 if any(phone == e.identifiers.phone for e in later) else 0
    assert revealed, "a known person's new phone from a signature, seen again in later events"


def _phones(event: Event) -> set[str]:
    return {p for p in [event.identifiers.phone, *(ph for _, ph in _observed(event))] if p}


def test_a_non_customer_calls_with_purchase_intent(small: Dataset) -> None:
    calls = [
        call
        for call in small.of_type("ContactCenterCall")
        if _p(call).intent == "purchase_inquiry"
        and _p(call).caller_role != "unknown"
        and small.owner(call)[1] is not None
        and not _account_seen_before(small, call)
    ]
    assert calls
    # ...and that caller later becomes a lead with an email, linking the phone to a person.
    later_leads = [
        e for call in calls for e in small.by_person[small.owner(call)[0]] if e.type == "LeadCreated"
    ]
    assert any(_p(lead).lead_source == "contact_center" for lead in later_leads)


def test_p1_tickets_flow_from_open_to_resolved(small: Dataset) -> None:
    opened = {_p(e).ticket_id: e for e in small.of_type("TicketOpened")}
    assert any(_p(e).priority == "P1" for e in opened.values())
    first_reply: dict[str, datetime] = {}
    for update in small.of_type("TicketUpdated"):
        ticket = _p(update).ticket_id
        assert opened[ticket].occurred_at <= update.occurred_at
        if _p(update).public_reply:
            first_reply.setdefault(ticket, update.occurred_at)
    for resolved in small.of_type("TicketResolved"):
        ticket = _p(resolved).ticket_id
        assert first_reply[ticket] <= resolved.occurred_at
    assert small.of_type("TicketReopened")
    csat_tickets = {_p(e).ticket_id for e in small.of_type("CsatSubmitted")}
    resolved_at = {_p(e).ticket_id: e.occurred_at for e in small.of_type("TicketResolved")}
    assert csat_tickets
    assert csat_tickets <= set(resolved_at)


def test_a_promoter_with_a_renewal_due(small: Dataset) -> None:
    renewals = [(small.owner(e)[1], e.occurred_at) for e in small.of_type("SubscriptionRenewed")]
    promoters = [
        e
        for e in small.of_type("NpsSubmitted")
        if _p(e).score >= 9
        and any(
            account == small.owner(e)[1] and e.occurred_at < at <= e.occurred_at + timedelta(days=30)
            for account, at in renewals
        )
    ]
    assert promoters
    assert any(_p(e).score <= 6 for e in small.of_type("NpsSubmitted"))


def test_leads_are_nurtured_by_marketing_before_sales_calls(small: Dataset) -> None:
    leads = small.of_type("LeadCreated")
    assert leads
    for lead in leads:
        if _p(lead).lead_source == "contact_center":
            continue
        history = small.by_person[small.owner(lead)[0]]
        first_sales = next(e for e in history if e.department == "sales")
        assert any(e.type in MARKETING_TYPES and e.occurred_at < first_sales.occurred_at for e in history)


def test_opportunities_move_through_stages_in_order(small: Dataset) -> None:
    order = ["prospecting", "qualification", "proposal", "negotiation"]
    stage: dict[str, str] = {}
    closed: set[str] = set()
    for event in small.events:
        payload: Any = event.payload
        if event.type == "OpportunityCreated":
            stage[payload.opportunity_id] = payload.stage
        elif event.type == "OpportunityStageChanged":
            assert payload.from_stage == stage[payload.opportunity_id]
            assert order.index(payload.to_stage) == order.index(payload.from_stage) + 1
            stage[payload.opportunity_id] = payload.to_stage
        elif event.type in ("OpportunityWon", "OpportunityLost"):
            assert payload.opportunity_id in stage
            assert payload.opportunity_id not in closed
            closed.add(payload.opportunity_id)
    won = small.of_type("OpportunityWon")
    assert won
    assert small.of_type("OpportunityLost")
    won_accounts = {small.owner(e)[1] for e in won}
    started = {small.owner(e)[1] for e in small.of_type("SubscriptionStarted")}
    assert won_accounts & started


def test_every_event_type_appears_in_a_medium_dataset() -> None:
    seen = Counter(event["type"] for event in generate(MEDIUM))
    assert set(seen) == set(EVENT_TYPES) - set(NOT_GENERATED)
    departments = {e["department"] for e in generate(GeneratorConfig(customers=200, accounts=25, days=60))}
    assert departments == {"marketing", "sales", "support", "contact_center", "commerce", "system"}


def test_estimates_and_targets_are_close() -> None:
    config = GeneratorConfig.for_events(40_000, days=60, seed=2)
    actual = sum(1 for _ in generate(config))
    assert abs(actual - 40_000) / 40_000 < 0.2
    assert abs(actual - estimated_events(config)) / actual < 0.2


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="UTC"):
        GeneratorConfig(start=datetime(2026, 1, 1))  # naive on purpose
    with pytest.raises(ValueError, match="at least 1"):
        GeneratorConfig(customers=0)
    assert GeneratorConfig().start == datetime(2026, 1, 1, tzinfo=UTC)
