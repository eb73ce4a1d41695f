"""The master record end to end on the library's in-memory and SQLite recorders: each rule of
docs/identity.md carried out and stored, merges undone, stewards deciding, attribute changes published."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from event_examples import identity_event as event

from touchstream.adapters.master_record.application import MasterRecord, persistence_env
from touchstream.events import Event
from touchstream.projections.identity import SUSPECT_REASONS, suspect_id
from touchstream.projections.master_record import Contact, published_type


def inbound_email(email: str, observed: dict[str, str], day: float) -> Event:
    payload = {
        "message_id": f"<{day}@x>",
        "mailbox": "support@brightlane.io",
        "subject": "Hi",
        "observed": observed,
    }
    return event({"email": email}, "InboundEmailReceived", payload, "zendesk", day)


@pytest.fixture
def app() -> MasterRecord:
    return MasterRecord.from_url("memory://")


def published(app: MasterRecord) -> list[tuple[str, Any]]:
    notes = app.recorder.select_notifications(1, 10_000)
    return [(published_type(type(e).__qualname__), e) for e in map(app.mapper.to_domain_event, notes)]


def test_persistence_is_chosen_by_url() -> None:
    assert persistence_env("memory://") == {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    assert persistence_env("sqlite:///var/data/master.db")["SQLITE_DBNAME"] == "var/data/master.db"
    assert persistence_env("sqlite:////abs/master.db")["SQLITE_DBNAME"] == "/abs/master.db"
    pg = persistence_env("postgresql://ts:secret@db.internal:6543/master")
    assert pg["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (
        pg["APPLICATION_RECORDER_TOPIC"]
        == "touchstream.adapters.master_record.pg_recorder:ArrayInsertRecorder"
    )
    assert (pg["POSTGRES_HOST"], pg["POSTGRES_PORT"], pg["POSTGRES_DBNAME"]) == (
        "db.internal",
        "6543",
        "master",
    )
    assert (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"]) == ("ts", "secret")
    with pytest.raises(ValueError, match="unknown master-record store"):
        persistence_env("mysql://x")


def test_resolving_the_same_event_twice_changes_nothing(app: MasterRecord) -> None:
    e = event({"email": "jane@acme.com", "external_ids": {"hubspot": "7"}})
    first = app.resolve(e)
    count = app.recorder.max_notification_id()
    second = app.resolve(e)
    assert first.is_new
    assert not second.is_new
    assert (first.contact_id, first.account_id) == (second.contact_id, second.account_id)
    assert app.recorder.max_notification_id() == count


def two_contacts_of_one_person(app: MasterRecord) -> tuple[UUID, UUID, Event]:
    """Jane by email (older), then by a CRM id alone (younger), and the event that ties the two."""
    old = app.resolve(event({"email": "jane@acme.com"}, day=0)).contact_id
    young = app.resolve(
        event({"external_ids": {"salesforce": "003A"}}, source="salesforce", day=1)
    ).contact_id
    assert old
    assert young
    assert old != young
    return old, young, event({"email": "jane@acme.com", "external_ids": {"salesforce": "003A"}}, day=2)


def test_a_merge_maps_the_merged_id_to_the_survivor_forever(app: MasterRecord) -> None:
    old, young, tying = two_contacts_of_one_person(app)
    linked = app.resolve(tying)
    assert linked.contact_id == old
    assert [(m.survivor, m.merged) for m in linked.merges] == [(old, young)]
    assert app.contact(young).id == old
    assert app.owner_of("ext:salesforce:003A") == old
    merged_event = next(e for name, e in published(app) if name == "ContactsMerged")
    assert merged_event.merged_id == young
    assert merged_event.survivor_rule.startswith("oldest")


def test_an_unmerge_restores_the_merged_contact_and_keeps_what_was_learned_since(app: MasterRecord) -> None:
    old = app.resolve(event({"email": "jane@acme.com"}, day=0)).contact_id
    young = app.resolve(event({"email": "j.doe@gmail.com"}, day=1)).contact_id
    assert old
    assert young
    app.resolve(event({"email": "jane@acme.com", "external_ids": {"zendesk": "5"}}, day=2))
    app.resolve(inbound_email("j.doe@gmail.com", {"email": "jane@acme.com"}, day=3))
    assert app.contact(young).id == old
    learned = app.resolve(inbound_email("jane@acme.com", {"phone": "+14155550111"}, day=4))
    assert learned.changed == ("phone",)

    survivor = app.unmerge(young, actor="steward-ann", note="two people")
    assert survivor == old
    alone = app.contact(young)
    assert alone.id == young
    assert alone.merged_into is None
    assert app.owner_of("email:j.doe@gmail.com") == young, "claims were never rewritten"
    kept = app.contact(old)
    assert "email:j.doe@gmail.com" not in kept.identifiers
    assert kept.value("phone") == "+14155550111", "what the survivor learned since the merge stays"
    assert app.resolve(event({"email": "j.doe@gmail.com"}, day=5)).contact_id == young
    assert "ContactsUnmerged" in [name for name, _ in published(app)]


def test_the_new_phone_in_a_support_email_becomes_the_contact_phone_with_provenance(
    app: MasterRecord,
) -> None:
    crm = event(
        {"email": "jane@acme.com", "external_ids": {"salesforce": "003A"}},
        "LeadCreated",
        {"lead_id": "00Q1", "lead_source": "web", "first_name": "Jane", "last_name": "Doe"},
        "salesforce",
        day=0,
    )
    contact_id = app.resolve(crm).contact_id
    assert contact_id
    app.resolve(event({"email": "jane@acme.com", "phone": "+14155550134"}, day=1))
    assert app.contact(contact_id).value("phone") == "+14155550134", "a caller id fills an empty phone"

    signature = inbound_email("jane@acme.com", {"phone": "+1 (646) 555-0188"}, day=30)
    result = app.resolve(signature)
    assert result.changed == ("phone",)
    jane = app.contact(contact_id)
    assert jane.value("phone") == "+16465550188"
    provenance = jane.current["phone"]
    assert (provenance["source"], provenance["department"], provenance["rule"]) == (
        "zendesk",
        "support",
        "trusted",
    )
    changes = [
        e for name, e in published(app) if name == "ContactAttributeChanged" and e.attribute == "phone"
    ]
    assert (changes[-1].old_value, changes[-1].new_value) == ("+14155550134", "+16465550188")
    assert changes[-1].provenance["event_id"] == str(signature.event_id)


def test_a_manual_correction_beats_later_observations(app: MasterRecord) -> None:
    contact_id = app.resolve(inbound_email("jane@acme.com", {"phone": "+14155550134"}, day=0)).contact_id
    assert contact_id
    assert app.correct(contact_id, "phone", "+14155550199", actor="steward-ann")
    app.resolve(inbound_email("jane@acme.com", {"phone": "+14155550177"}, day=300))
    assert app.contact(contact_id).value("phone") == "+14155550199"


def test_weak_evidence_goes_to_the_steward_queue_and_stewards_decide(app: MasterRecord) -> None:
    # Two people's records on one number (an anonymous caller's would merge: test_identity_guards.py).
    caller = app.resolve(event({"email": "j.doe@gmail.com", "phone": "+14155550134"}, day=0)).contact_id
    jane = app.resolve(event({"email": "jane@acme.com", "phone": "+14155550134"}, day=1)).contact_id
    assert caller
    assert jane
    assert caller != jane
    queue = list(app.suspects())
    assert [(s.reason, {s.contact_id, s.other_id}) for s in queue] == [("shared_phone", {caller, jane})]

    survivor = app.merge_suspect(queue[0].id, actor="steward-ann")
    assert survivor == caller, "the oldest survives a steward's merge too"
    assert app.contact(jane).id == caller
    assert list(app.suspects()) == []
    assert [s.status for s in app.suspects(status=None)] == ["merged"]


def test_a_dismissed_suspect_leaves_both_contacts_alone(app: MasterRecord) -> None:
    a = app.resolve(badge_event("jane.doe@acme.com", day=0)).contact_id
    b = app.resolve(badge_event("jdoe@acme.com", day=1)).contact_id
    (suspect,) = app.suspects()
    assert suspect.reason == "same_name_and_company"
    app.dismiss(suspect.id, actor="steward-ann", note="two Jane Does")
    assert list(app.suspects()) == []
    assert a
    assert b
    assert app.contact(a).id != app.contact(b).id
    with pytest.raises(ValueError, match="already dismissed"):
        app.dismiss(suspect.id, actor="steward-bob")


def badge_event(email: str | None, day: float, company: str = "Acme Widgets", **extra: Any) -> Event:
    payload: dict[str, Any] = {
        "event_name": "SaaStr",
        "first_name": "Jane",
        "last_name": "Doe",
        "company": company,
    }
    ids: dict[str, Any] = dict(extra)
    if email:
        payload["email"] = ids["email"] = email
    return event(ids, "EventBadgeScanned", payload, "marketo", day)


def test_a_shared_support_address_does_not_fuse_a_company(app: MasterRecord) -> None:
    people = []
    for n in range(6):
        ids = {"email": "support@acme.com", "external_ids": {"zendesk": f"z{n}"}}
        people.append(app.resolve(event(ids, source="zendesk", day=n)).contact_id)
    assert len(set(people)) == 6, "six people wrote from one shared mailbox: six contacts, no merge"
    role = app.resolve(event({"email": "support@acme.com"}, day=7))
    assert role.contact_id not in people
    assert app.contact(role.contact_id).role  # type: ignore[arg-type]


def test_business_cards_land_on_the_right_account(app: MasterRecord) -> None:
    known = app.resolve(
        event(
            {"email": "boss@acme.com", "account_external_ids": {"salesforce": "001A"}},
            source="salesforce",
            day=0,
        )
    )
    assert known.account_id
    assert not known.provisional_account
    card = app.resolve(badge_event("new.person@acme.com", day=1, account_domain="acme.com"))
    assert card.is_new
    assert card.account_id == known.account_id
    stranger = app.resolve(badge_event("pat@globex.io", day=2, company="Globex"))
    assert stranger.new_account
    assert stranger.provisional_account
    assert stranger.account_id not in (None, known.account_id)
    confirmed = app.resolve(
        event(
            {"email": "pat@globex.io", "account_external_ids": {"salesforce": "001G"}},
            source="salesforce",
            day=3,
        )
    )
    assert confirmed.account_id == stranger.account_id
    assert not confirmed.provisional_account
    globex = app.account(stranger.account_id)  # type: ignore[arg-type]
    assert (globex.domains, globex.external_ids, globex.provisional) == (
        ["globex.io"],
        {"salesforce": "001G"},
        False,
    )
    assert set(globex.contacts) == {str(stranger.contact_id)}


def test_free_mail_never_creates_an_account_and_a_company_name_only_suggests(app: MasterRecord) -> None:
    acme = app.resolve(badge_event("jane@acme.com", day=0)).account_id
    free = app.resolve(badge_event("someone@gmail.com", day=1))
    assert free.account_id is None
    assert not free.new_account
    assert free.suggested_account_id == acme


def test_consent_follows_the_latest_statement_whatever_the_arrival_order(app: MasterRecord) -> None:
    withdrawn = event({"email": "jane@acme.com"}, "ConsentWithdrawn", {"purpose": "marketing_email"}, day=5)
    given = event({"email": "jane@acme.com"}, "ConsentGiven", {"purpose": "marketing_email"}, day=1)
    contact_id = app.resolve(withdrawn).contact_id
    app.resolve(given)
    assert contact_id
    assert app.contact(contact_id).consent["marketing_email"]["granted"] is False


def test_long_contacts_are_snapshotted_and_read_back_the_same(app: MasterRecord) -> None:
    for n in range(60):
        app.resolve(inbound_email("jane@acme.com", {"job_title": f"Title {n}"}, day=n))
    contact_id = app.owner_of("email:jane@acme.com")
    assert contact_id
    assert app.snapshots is not None
    assert list(app.snapshots.get(contact_id)), "a snapshot was taken"
    assert app.contact(contact_id).value("job_title") == "Title 59"


def test_the_sqlite_store_keeps_everything_across_restarts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/master.sqlite"
    first = MasterRecord.from_url(url)
    made = first.resolve(badge_event("jane@acme.com", day=0))
    first.close()
    again = MasterRecord.from_url(url)
    found = again.resolve(event({"email": "JANE@acme.com"}, day=1))
    assert (found.contact_id, found.account_id, found.is_new) == (made.contact_id, made.account_id, False)
    assert isinstance(again.contact(found.contact_id), Contact)  # type: ignore[arg-type]
    again.close()


def test_stewards_list_merge_dismiss_and_unmerge_from_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from touchstream.adapters.cli.stewards import app as stewards

    url = f"sqlite:///{tmp_path}/master.sqlite"
    master = MasterRecord.from_url(url)
    caller = master.resolve(event({"email": "j.doe@gmail.com", "phone": "+14155550134"}, day=0)).contact_id
    jane = master.resolve(event({"email": "jane@acme.com", "phone": "+14155550134"}, day=1)).contact_id
    master.resolve(badge_event("jane.doe@acme.com", day=2))
    master.resolve(badge_event("jdoe@acme.com", day=3))
    by_reason = {s.reason: s.id for s in master.suspects()}
    master.close()
    runner = CliRunner()

    listed = runner.invoke(stewards, ["list", "--store", url])
    assert listed.exit_code == 0, listed.output
    assert "shared_phone" in listed.output
    assert "same_name_and_company" in listed.output
    assert "jane@acme.com" in listed.output

    merged = runner.invoke(stewards, ["merge", str(by_reason["shared_phone"]), "--by", "ann", "--store", url])
    assert merged.exit_code == 0, merged.output
    assert f"survivor {caller}" in merged.output
    dismissed = runner.invoke(
        stewards, ["dismiss", str(by_reason["same_name_and_company"]), "--by", "ann", "--store", url]
    )
    assert dismissed.exit_code == 0, dismissed.output
    assert "no open duplicate suspects" in runner.invoke(stewards, ["list", "--store", url]).output
    again = runner.invoke(
        stewards, ["dismiss", str(by_reason["shared_phone"]), "--by", "bob", "--store", url]
    )
    assert again.exit_code == 1
    assert "already merged" in again.output

    undone = runner.invoke(stewards, ["unmerge", str(jane), "--by", "ann", "--store", url])
    assert undone.exit_code == 0, undone.output
    check = MasterRecord.from_url(url)
    assert jane is not None
    assert check.contact(jane).id == jane
    check.close()


def test_a_merge_in_a_batch_reads_the_pairs_steward_queue_entries_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the pair's open questions looks up one queue entry per reason: read ahead in one go, not
    one by one (two statements each)."""
    app = MasterRecord.from_url(f"sqlite:///{tmp_path / 'master.sqlite'}")
    old, young, tying = two_contacts_of_one_person(app)
    one_by_one: list[UUID] = []
    get = app.repository.get

    def counted(aggregate_id: UUID, **kwargs: Any) -> Any:
        one_by_one.append(aggregate_id)
        return get(aggregate_id, **kwargs)

    monkeypatch.setattr(app.repository, "get", counted)
    with app.batch():
        linked = app.resolve(tying)
    assert [(m.survivor, m.merged) for m in linked.merges] == [(old, young)]
    queue = {suspect_id(old, young, reason) for reason in SUSPECT_REASONS}
    assert not queue & set(one_by_one)
    app.close()
