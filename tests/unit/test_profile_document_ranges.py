"""The 360 document reads one merge group's `customer_360` rows, and its deals, tickets and signals from
per-contact ranges (`contact_items`, `work_facts`, `signals` by contact id): for every contact of a story,
merged or not, they are exactly what the analyst views (`customer_360_current`, `sales_pipeline`,
`support_tickets`, `active_signals`) answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from event_examples import wire_event
from unit.test_api_fixtures import load_story, story_config

from touchstream.adapters.api import queries as q
from touchstream.adapters.bootstrap import open_embedded_pipeline
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate_with_truth
from touchstream.streams.ports import AbstractReadStore
from touchstream.streams.steps import write_merges


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChDBStore]:
    folder = tmp_path_factory.mktemp("ranges")
    with ChDBStore(str(folder / "chdb")) as opened:
        load_story(opened, folder, story_config(customers=80, accounts=16, seed=11))
        yield opened


def from_views(store: AbstractReadStore, contact_id: str) -> dict[str, Any]:
    """The old reads: the views over every fact, filtered by the merge group."""
    survivor, ids = q.merge_group(store, contact_id)
    columns, deals = store.query_with_columns(
        "SELECT opportunity_id, name, stage, owner, expected_close, amount, currency FROM sales_pipeline "
        "WHERE status = 'open' AND contact_id IN %(ids)s ORDER BY created_at, opportunity_id",
        {"ids": tuple(ids)},
    )
    open_deals = q.as_dicts(columns, deals)
    columns, tickets = store.query_with_columns(
        "SELECT ticket_id, priority, status, product, channel, opened_at, resolved_at FROM support_tickets "
        "WHERE contact_id IN %(ids)s ORDER BY opened_at DESC, ticket_id LIMIT 20",
        {"ids": tuple(ids)},
    )
    columns_s, signals = store.query_with_columns(
        "SELECT kind, department, reason, raised_at, expires_at FROM active_signals "
        "WHERE contact_id = %(id)s ORDER BY raised_at, kind",
        {"id": survivor},
    )
    return {
        "open_deals": [
            {k: d[k] for k in ("opportunity_id", "name", "stage", "owner", "expected_close")}
            for d in open_deals
        ],
        "deal_amounts": [
            {k: d[k] for k in ("opportunity_id", "stage", "amount", "currency")} for d in open_deals
        ],
        "tickets": q.as_dicts(columns, tickets),
        "active_signals": q.as_dicts(columns_s, signals),
    }


def compared(store: AbstractReadStore, contacts: list[str] | None = None) -> tuple[int, int, int]:
    """Each contact's document against the views: every contact of the story unless `contacts` names some."""
    if contacts is None:
        contacts = [str(r[0]) for r in store.query("SELECT DISTINCT contact_id FROM customer_360 ORDER BY 1")]
    deals = tickets = signals = 0
    for contact in contacts:
        doc = q.profile_document(store, contact)
        assert doc is not None
        expected = from_views(store, contact)
        assert {k: doc[k] for k in expected} == expected, contact
        deals += len(doc["open_deals"])
        tickets += len(doc["tickets"])
        signals += len(doc["active_signals"])
    return deals, tickets, signals


def test_deals_tickets_and_signals_are_the_views_answers(store: AbstractReadStore) -> None:
    deals, tickets, signals = compared(store)
    assert deals > 0  # the story has each kind, so the comparison compared something
    assert tickets > 0
    assert signals > 0


@pytest.fixture(scope="module")
def merged_store(tmp_path_factory: pytest.TempPathFactory, store: ChDBStore) -> Iterator[AbstractReadStore]:
    folder = tmp_path_factory.mktemp("merged")
    with ChDBStore(store.path, database="merged") as opened:  # one chDB path per process
        load_merged_story(opened, folder)
        yield opened


def load_merged_story(opened: AbstractReadStore, folder: Path) -> None:
    """A story through the real master record: people merged, anonymous callers handed to their person."""
    raw, _truth = generate_with_truth(GeneratorConfig(customers=60, accounts=10, days=30, seed=5))
    # One person under a work and a personal address, tied later by a helpdesk id: a merge.
    jane = [
        wire_event(
            "EmailOpened",
            1,
            event_id=str(uuid.UUID(int=day)),
            occurred_at=f"2026-03-{day:02d}T10:00:00Z",
            identifiers={"email": email, **ids},
        )
        for day, email, ids in (
            (1, "jane.doe@acme-widgets.com", {}),
            (2, "jane.d@gmail.com", {"external_ids": {"zendesk": "42"}}),
            (3, "jane.doe@acme-widgets.com", {"external_ids": {"zendesk": "42"}}),
        )
    ]
    prepare_read_store(opened)
    for events in ([*raw, *jane[:2]], jane[2:]):
        with Publisher.for_embedded(folder / "log") as publisher:
            for event in events:
                publisher.send(event)
        master = f"sqlite:///{folder / 'master.sqlite'}"
        with open_embedded_pipeline(folder / "log", opened, master) as run:
            run.run_until_caught_up()


def test_the_profile_is_the_views_row_of_its_survivor(merged_store: AbstractReadStore) -> None:
    store = merged_store
    merges = dict(
        store.query("SELECT reason, count() FROM contact_merges FINAL WHERE active = 1 GROUP BY reason")
    )
    assert merges.pop("anonymous_caller", 0) > 0  # both kinds of merge group are compared
    assert sum(merges.values()) > 0
    contacts = [str(r[0]) for r in store.query("SELECT DISTINCT contact_id FROM customer_360 ORDER BY 1")]
    for contact in contacts:
        doc = q.profile_document(store, contact)
        assert doc is not None
        columns, rows = store.query_with_columns(
            "SELECT * FROM customer_360_current WHERE contact_id = %(id)s", {"id": doc["contact_id"]}
        )
        (expected,) = q.as_dicts(columns, rows)
        expected["warm_context"] = orjson.loads(expected["warm_context"] or "[]")
        del expected["active_signals"]  # the document's are the active_signals view's rows (above)
        assert {k: doc[k] for k in expected} == expected, contact
    assert q.profile_document(store, "no-such-contact") is None


def test_a_contact_alone_reads_its_row_as_the_group_aggregates_would(merged_store: AbstractReadStore) -> None:
    """The one-row read (`ONE_ROW_360`, most documents) answers exactly what the view's aggregates over a
    group of that one row answer: the same columns, in order, and the same values."""
    store = merged_store
    merged = {str(r[0]) for r in store.query("SELECT merged_id FROM contact_merges FINAL WHERE active = 1")}
    merged |= {
        str(r[0]) for r in store.query("SELECT survivor_id FROM contact_merges FINAL WHERE active = 1")
    }
    alone = [str(r[0]) for r in store.query("SELECT contact_id FROM customer_360 FINAL ORDER BY 1")]
    alone = [c for c in alone if c not in merged]
    assert len(alone) > 10
    for contact in alone:
        one_columns, one = store.query_with_columns(q.ONE_ROW_360, {"id": contact})
        group_columns, group = store.query_with_columns(
            q.ONE_GROUP_360, {"ids": (contact,), "survivor": contact}
        )
        assert [n for n, _ in one_columns] == [n for n, _ in group_columns]
        assert one == group, contact
        # The row's `profile` column (what the document reads) holds those values, in that order.
        assert list(q.own_row(store, contact).items()) == list(q.as_dicts(one_columns, one)[0].items()), (
            contact
        )
    assert store.query("SELECT count() FROM customer_360 WHERE profile = ''") == [(0,)]


def test_a_row_written_before_the_profile_column_is_read_column_by_column(
    merged_store: AbstractReadStore,
) -> None:
    merged = {str(r[0]) for r in merged_store.query("SELECT merged_id FROM contact_merges FINAL")}
    contacts = [str(r[0]) for r in merged_store.query("SELECT contact_id FROM customer_360 FINAL ORDER BY 1")]
    contact = next(c for c in contacts if c not in merged)
    before = q.profile_document(merged_store, contact)
    merged_store.execute(
        "INSERT INTO customer_360 SELECT * REPLACE ('' AS profile, version + 1 AS version) "
        "FROM customer_360 FINAL WHERE contact_id = %(id)s",
        {"id": contact},
    )
    latest = "SELECT profile FROM customer_360 FINAL WHERE contact_id = %(id)s"
    assert merged_store.query(latest, {"id": contact}) == [("",)]
    assert q.profile_document(merged_store, contact) == before


def test_a_contact_never_merged_is_answered_from_its_profile_column(
    merged_store: AbstractReadStore,
) -> None:
    grouped = merged_store.query("SELECT merged_id, survivor_id FROM contact_merges FINAL WHERE active = 1")
    merged = {str(c) for pair in grouped for c in pair}
    contacts = [str(r[0]) for r in merged_store.query("SELECT contact_id FROM customer_360 FINAL ORDER BY 1")]
    contact = next(c for c in reversed(contacts) if c not in merged)
    latest = "SELECT profile FROM customer_360 FINAL WHERE contact_id = %(id)s"
    [(profile,)] = merged_store.query(latest, {"id": contact})
    edited = {**orjson.loads(profile), "job_title": "Read from the profile column"}
    again = (
        "INSERT INTO customer_360 SELECT * REPLACE (%(profile)s AS profile, version + 1 AS version) "
        "FROM customer_360 FINAL WHERE contact_id = %(id)s"
    )
    merged_store.execute(again, {"id": contact, "profile": orjson.dumps(edited).decode()})
    try:
        # Only the profile says so: the row's columns still hold the projection's value.
        assert q.own_row(merged_store, contact)["job_title"] == "Read from the profile column"
        columns, rows = merged_store.query_with_columns(q.ONE_ROW_360, {"id": contact})
        assert q.as_dicts(columns, rows)[0]["job_title"] == orjson.loads(profile)["job_title"]
    finally:
        merged_store.execute(again, {"id": contact, "profile": profile})
    assert q.own_row(merged_store, contact)["job_title"] == orjson.loads(profile)["job_title"]


def test_a_merged_contact_reads_its_survivors_deals_and_tickets(store: AbstractReadStore) -> None:
    with_work = store.query(
        "SELECT contact_id, count() AS n FROM contact_items GROUP BY contact_id ORDER BY n DESC, contact_id "
        "LIMIT 2"
    )
    (loser, _), (survivor, _) = with_work
    write_merges(store, [(loser, survivor, 1, "test", 1)])
    merged = q.profile_document(store, loser)
    assert merged is not None
    assert merged["contact_id"] == survivor
    assert {k: merged[k] for k in ("open_deals", "tickets")} == {
        k: v for k, v in from_views(store, survivor).items() if k in ("open_deals", "tickets")
    }
    compared(store, [loser, survivor])  # the only documents the merge row changes


def test_the_document_reads_no_view_over_every_fact(store: AbstractReadStore) -> None:
    """With the views' base empty, the document still has its deals and tickets: it reads its ranges."""
    contact = str(
        store.query("SELECT contact_id FROM contact_items WHERE startsWith(item, 't:') ORDER BY 1 LIMIT 1")[
            0
        ][0]
    )
    before = q.profile_document(store, contact)
    assert before is not None
    assert before["tickets"]
    store.execute("CREATE TABLE touchpoints_kept AS touchpoints")
    store.execute("INSERT INTO touchpoints_kept SELECT * FROM touchpoints")
    store.execute("TRUNCATE TABLE touchpoints")
    try:
        assert from_views(store, contact)["tickets"] == []
        after = q.profile_document(store, contact)
        assert after is not None
        assert after["tickets"] == before["tickets"]
    finally:
        store.execute("INSERT INTO touchpoints SELECT * FROM touchpoints_kept")
        store.execute("DROP TABLE touchpoints_kept")
