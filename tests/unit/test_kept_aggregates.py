"""What batches keep for the next (adapters/master_record/kept.py), where no other writer is involved: the
bound, the reuse, and a failed batch. The other writers' cases run on SQLite and PostgreSQL in
tests/contract/test_master_record_contract.py."""

from __future__ import annotations

import pytest
from event_examples import identity_event as event

from touchstream.adapters.config import Settings, SettingsError, load_settings
from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.kept import DEFAULT_KEPT
from touchstream.events import Event
from touchstream.projections.identity import evidence_of


def resolve_in_a_batch(app: MasterRecord, *touches: Event) -> None:
    with app.batch():
        app.prefetch([evidence_of(t, app.identity) for t in touches])
        for touch in touches:
            app.resolve(touch)


def a_batch_that_fails_after_a_change(app: MasterRecord, touch: Event) -> None:
    with app.batch():
        app.prefetch([evidence_of(touch, app.identity)])
        app.resolve(touch)
        raise ZeroDivisionError  # after changes that will never be saved


def test_the_least_recently_used_go_first_beyond_the_bound() -> None:
    measure = MasterRecord.from_url("memory://")
    resolve_in_a_batch(measure, event({"email": "first@alpha-widgets.com"}))
    per_customer = len(measure.kept.items)  # the claim, the contact, the account of the domain
    assert per_customer >= 2
    app = MasterRecord.from_url("memory://", kept_aggregates=per_customer + 1)
    resolve_in_a_batch(app, event({"email": "first@alpha-widgets.com"}))
    first = set(app.kept.items)
    resolve_in_a_batch(app, event({"email": "second@beta-gadgets.com"}))
    assert len(app.kept.items) == per_customer + 1
    assert len(first & set(app.kept.items)) == 1


def test_a_later_batch_takes_what_is_current_from_memory() -> None:
    app = MasterRecord.from_url("memory://")
    touch = event({"email": "again@acme-widgets.com"})
    resolve_in_a_batch(app, touch)
    kept = len(app.kept.items)
    resolve_in_a_batch(app, touch)
    assert app.kept.reused == kept  # nothing changed in between: every aggregate came from memory


def test_what_a_failed_batch_changed_is_not_kept() -> None:
    app = MasterRecord.from_url("memory://")
    resolve_in_a_batch(app, event({"email": "changed@alpha-widgets.com"}))
    changed = set(app.kept.items)
    resolve_in_a_batch(app, event({"email": "untouched@beta-gadgets.com"}))
    untouched = set(app.kept.items) - changed
    with pytest.raises(ZeroDivisionError):
        a_batch_that_fails_after_a_change(
            app, event({"email": "changed@alpha-widgets.com", "phone": "+14155550100"}, day=1)
        )
    stored = {i: app.repository.get(i).version for i in app.kept.items}
    assert {i: a.version for i, a in app.kept.items.items()} == stored
    assert not any(a.pending_events for a in app.kept.items.values())
    assert not changed & set(app.kept.items)  # read again from the store by the next batch
    assert untouched <= set(app.kept.items)  # the other customer's stay


def test_nothing_is_kept_when_the_bound_is_zero() -> None:
    app = MasterRecord.from_url("memory://", kept_aggregates=0)
    touch = event({"email": "once@acme-widgets.com"})
    resolve_in_a_batch(app, touch)
    resolve_in_a_batch(app, touch)
    assert not app.kept.items
    assert app.kept.reused == 0


def test_the_bound_comes_from_the_settings() -> None:
    assert Settings.__dataclass_fields__["master_record_kept"].default == DEFAULT_KEPT
    assert MasterRecord.from_url("memory://", settings=load_settings({})).kept.max_size == DEFAULT_KEPT
    chosen = load_settings({"TOUCHSTREAM_MASTER_RECORD_KEPT": "7"})
    assert MasterRecord.from_url("memory://", settings=chosen).kept.max_size == 7
    with pytest.raises(SettingsError, match="TOUCHSTREAM_MASTER_RECORD_KEPT"):
        load_settings({"TOUCHSTREAM_MASTER_RECORD_KEPT": "-1"})
