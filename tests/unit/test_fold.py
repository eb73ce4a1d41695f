"""The 360 fold's algebra: per-contact order is all that matters, folding twice is folding once, and the
state survives JSON (it lives in a Faust table)."""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any

import orjson
from hypothesis import given, settings, strategies as st
from unit.test_read_models_oracle import dataset

from touchstream.events import ResolvedTouchpoint
from touchstream.projections.fold import fold
from touchstream.projections.state import ContactState
from touchstream.streams.project import project_batch

# (resolved, partition, offset) for the first events of the generator's data, offsets per contact order.
Item = tuple[ResolvedTouchpoint, int, int]


@functools.cache
def items() -> tuple[Item, ...]:
    data = dataset()
    chosen = [e for e in data.events if data.person(e) in _people()][:400]
    return tuple(
        (ResolvedTouchpoint(e, data.person(e), data.account(e) or None), 0, offset)
        for offset, e in enumerate(chosen)
    )


@functools.cache
def _people() -> frozenset[str]:
    data = dataset()
    counts: dict[str, int] = defaultdict(int)
    for e in data.events:
        counts[data.person(e)] += 1
    return frozenset(sorted(counts, key=lambda p: -counts[p])[:6])


def run(sequence: list[Item]) -> tuple[dict[str, dict[str, Any]], dict[str, list[Any]]]:
    states: dict[str, ContactState] = {}
    outputs: dict[str, list[Any]] = defaultdict(list)
    for resolved, partition, offset in sequence:
        state, out = fold(states.get(resolved.contact_id), resolved, offset, partition=partition)
        states[resolved.contact_id] = state
        outputs[resolved.contact_id].append((out.profile, out.signals, out.messages))
    return {c: s.to_json() for c, s in states.items()}, dict(outputs)


@st.composite
def interleavings(draw: st.DrawFn) -> list[Item]:
    """The same events in another order that keeps each contact's own order."""
    queues: dict[str, list[Item]] = defaultdict(list)
    for item in items():
        queues[item[0].contact_id].append(item)
    order: list[Item] = []
    while queues:
        contact = draw(st.sampled_from(sorted(queues)))
        order.append(queues[contact].pop(0))
        if not queues[contact]:
            del queues[contact]
    return order


def test_the_stories_reach_many_states() -> None:
    states, _ = run(list(items()))
    assert len(states) == 6
    assert sum(s["touches"] for s in states.values()) == len(items())


@settings(max_examples=25, deadline=None)
@given(order=interleavings())
def test_any_order_keeping_per_contact_order_gives_the_same_result(order: list[Item]) -> None:
    assert run(order) == run(list(items()))


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=0, max_value=399), again=st.integers(min_value=1, max_value=50))
def test_folding_twice_is_folding_once(cut: int, again: int) -> None:
    """A replay (from any earlier point) changes no state and writes nothing."""
    sequence = list(items())
    once, _ = run(sequence)
    states: dict[str, ContactState] = {}
    for resolved, partition, offset in sequence[: cut + again] + sequence[cut:]:
        states[resolved.contact_id], _ = fold(
            states.get(resolved.contact_id), resolved, offset, partition=partition
        )
    assert {c: s.to_json() for c, s in states.items()} == once


def test_a_retried_event_at_a_new_offset_is_not_counted_twice() -> None:
    resolved, _, _ = items()[0]
    state, first = fold(None, resolved, 10)
    again, second = fold(state, resolved, 11)
    assert first.profile is not None
    assert second.profile is None
    assert again.touches == 1
    assert again.positions == {"0": 11}


@settings(max_examples=15, deadline=None)
@given(cut=st.integers(min_value=1, max_value=399))
def test_the_state_survives_a_json_round_trip(cut: int) -> None:
    """Stopping anywhere, storing the states as JSON and going on gives what one run gives."""
    sequence = list(items())
    whole, _ = run(sequence)
    states: dict[str, ContactState] = {}
    for resolved, _partition, offset in sequence[:cut]:
        states[resolved.contact_id], _ = fold(states.get(resolved.contact_id), resolved, offset)
    thawed = {c: ContactState.from_json(orjson.loads(orjson.dumps(s.to_json()))) for c, s in states.items()}
    assert {c: s.to_json() for c, s in thawed.items()} == {c: s.to_json() for c, s in states.items()}
    for resolved, _partition, offset in sequence[cut:]:
        thawed[resolved.contact_id], _ = fold(thawed.get(resolved.contact_id), resolved, offset)
    assert {c: s.to_json() for c, s in thawed.items()} == whole


def test_a_batch_writes_each_contacts_final_row_once() -> None:
    states: dict[str, ContactState] = {}
    batch = project_batch(items(), states)
    assert len(batch.touchpoints) == len(items())
    assert sorted(row[0] for row in batch.profiles) == sorted(_people())
    one_by_one, _ = run(list(items()))
    assert {c: s.to_json() for c, s in batch.final_states.items()} == one_by_one


def test_a_batch_changes_its_own_copies_never_the_states_it_started_from() -> None:
    """A contact's later events in a batch fold in place into the copy its first event made; the states
    the batch started from stay as they were, so a batch whose write failed folds again from them."""
    first, rest = list(items()[:150]), list(items()[150:])
    states: dict[str, ContactState] = {}
    project_batch(first, states)
    started_from = dict(states)
    as_they_were = {c: s.to_json() for c, s in started_from.items()}
    batch = project_batch(rest, dict(started_from))
    assert {c: s.to_json() for c, s in started_from.items()} == as_they_were
    assert all(batch.final_states[c] is not s for c, s in started_from.items() if c in batch.final_states)
    one_by_one, _ = run(first + rest)
    assert {c: s.to_json() for c, s in batch.final_states.items()} == one_by_one


def test_a_state_kept_before_the_tuples_grew_loads_and_folds_on() -> None:
    """A Faust table or projection_state may hold states written before tickets and opportunities carried
    their event times and before subscriptions had a history: they load, padded, and fold on."""
    old = {
        "contact_id": "C1",
        "touches": 3,
        "customer_since": 1_700_000_000,
        "tickets": {"T1": ["P1", 1, "e1", 0, 1_700_000_000]},
        "opportunities": {"O1": ["proposal", "100.00", "USD"]},
        "subscriptions": {"S1": 1_800_000_000},
        "signals": {},
    }
    state = ContactState.from_json(old)
    assert state.tickets["T1"] == ("P1", 1, "e1", 0, 1_700_000_000, 0, "", 0)
    assert state.opportunities["O1"] == ("proposal", "100.00", "USD", 0, 0)
    # An order re-derives churn from the subscription history, seeded from the old active subscriptions.
    resolved = next(i[0] for i in items() if i[0].event.type == "OrderPlaced")
    folded, out = fold(state, resolved, 0)
    assert out.profile is not None
    assert folded.subscription_history == {"S1": (1_800_000_000, 1, 0)}
    assert folded.subscriptions == {"S1": 1_800_000_000}
    assert folded.lifecycle == "customer"
    assert folded.tickets["T1"][:2] == ("P1", 1)
