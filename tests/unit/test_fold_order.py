"""Order independence of the 360 fold: the generator's histories of six contacts (every department), in any
arrival order and with producers' retries, give the same 360 rows and the same active signals as in event
time order. Only the lead score is compared within float rounding (a late event's points are decayed to
the newest scoring event; the sum is the same, its rounding path is not)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st
from unit.test_fold import Item, items
from unit.test_signals import T0, USD, event

from touchstream.events import ResolvedTouchpoint
from touchstream.projections.config import ProjectionConfig
from touchstream.projections.customer_360 import CUSTOMER_360_COLUMNS, profile_row
from touchstream.projections.fold import fold
from touchstream.projections.state import ContactState

LEAD_SCORE = CUSTOMER_360_COLUMNS.index("lead_score")
PROFILE = CUSTOMER_360_COLUMNS.index("profile")


def read_models(sequence: list[Item]) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """Fold `sequence` as it arrives (offsets are arrival positions); each contact's 360 row and active
    signals (kind -> reason, evidence, expiry, when it was raised and so its id: the instant its rule began
    to hold, in event time, whatever order told it)."""
    states: dict[str, ContactState] = {}
    for offset, (resolved, _, _) in enumerate(sequence):
        contact = str(resolved.contact_id)
        states[contact], _ = fold(states.get(contact), resolved, offset)
    return {
        contact: (
            list(profile_row(s, s.version)),
            {
                kind: (sig.reason, sig.evidence, sig.expires_at, sig.raised_at, sig.signal_id)
                for kind, sig in s.signals.items()
            },
        )
        for contact, s in states.items()
    }


def in_time_order() -> list[Item]:
    return sorted(items(), key=lambda item: (item[0].event.occurred_at, str(item[0].event.event_id)))


def assert_same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(got) == set(expected)
    for contact, (row, signals) in expected.items():
        got_row, got_signals = got[contact]
        # Rounded to 6 decimals at each step, along different paths: equal to a few millionths.
        assert got_row[LEAD_SCORE] == pytest.approx(row[LEAD_SCORE], abs=1e-5), contact
        got_row[LEAD_SCORE] = row[LEAD_SCORE]
        # The row's `profile` JSON carries the same lead score.
        got_row[PROFILE], row[PROFILE] = orjson.loads(got_row[PROFILE]), orjson.loads(row[PROFILE])
        assert got_row[PROFILE]["lead_score"] == pytest.approx(row[PROFILE]["lead_score"], abs=1e-5), contact
        got_row[PROFILE]["lead_score"] = row[PROFILE]["lead_score"]
        assert dict(zip(CUSTOMER_360_COLUMNS, got_row, strict=True)) == dict(
            zip(CUSTOMER_360_COLUMNS, row, strict=True)
        ), contact
        assert got_signals == signals, contact


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[Item], list[Item]]:
    """The events up to some instant, in event time order and in any order with some of them delivered
    again a few positions later (a retry)."""
    history = in_time_order()[: draw(st.integers(1, len(items())))]
    order = draw(st.permutations(history))
    retried = draw(st.lists(st.tuples(st.integers(0, len(order) - 1), st.integers(1, 6)), max_size=12))
    sequence = list(order)
    for position, delay in sorted(retried, reverse=True):
        sequence.insert(min(position + delay, len(sequence)), order[position])
    return history, sequence


def test_the_histories_carry_signals_of_many_kinds() -> None:
    """The comparison proves something: along the histories the contacts hold signals of many kinds."""
    kinds: set[str] = set()
    history = in_time_order()
    for cut in range(20, len(history), 20):
        kinds |= {kind for _, signals in read_models(history[:cut]).values() for kind in signals}
    assert len(kinds) >= 4, kinds


@settings(max_examples=20, deadline=None)
@given(arrival=arrivals())
def test_any_arrival_order_with_retries_gives_the_same_read_models_and_signals(
    arrival: tuple[list[Item], list[Item]],
) -> None:
    history, sequence = arrival
    assert_same(read_models(sequence), read_models(history))


def test_a_resolution_that_arrives_before_the_opening_closes_the_ticket() -> None:
    tickets = [i for i in in_time_order() if i[0].event.type in ("TicketOpened", "TicketResolved")]
    opened = next(i for i in tickets if i[0].event.type == "TicketOpened")
    ticket_id = opened[0].event.payload.__dict__["ticket_id"]
    pair = [i for i in tickets if i[0].event.payload.__dict__["ticket_id"] == ticket_id]
    assert [i[0].event.type for i in pair] == ["TicketOpened", "TicketResolved"]
    assert_same(read_models(pair[::-1]), read_models(pair))
    ((row, _),) = read_models(pair[::-1]).values()
    assert row[CUSTOMER_360_COLUMNS.index("open_tickets")] == 0


def _marketing_touch(type_name: str, days: float, n: int) -> ResolvedTouchpoint:
    payload: dict[str, Any] = {
        "FormSubmitted": {"form_id": "demo", "page_url": "https://acme.example/demo"},
        "WebinarAttended": {"webinar_id": "w-1", "minutes_attended": 40},
        "EmailOpened": {"campaign_id": "cmp-1", "message_id": "m-1"},
    }[type_name]
    return ResolvedTouchpoint(event(type_name, payload, timedelta(days=days), n), "P1", None)


def test_mql_is_where_event_time_puts_it_when_the_peak_arrives_late() -> None:
    """A form and a webinar on one day score 18 (MQL at 15); a lone open two months later scores 1 on a
    decayed remainder. In time order the contact is an MQL; when the open comes first, the other two
    arrive decayed to it — still an MQL, because the stage is the peak by event time."""
    peak = [_marketing_touch("FormSubmitted", 0, 1), _marketing_touch("WebinarAttended", 0, 2)]
    later = _marketing_touch("EmailOpened", 60, 3)
    stages = []
    for sequence in ([*peak, later], [later, *peak], [later, peak[1], peak[0]]):
        state: ContactState | None = None
        for offset, resolved in enumerate(sequence):
            state, _ = fold(state, resolved, offset)
        assert state is not None
        stages.append((state.lifecycle, round(state.lead_score, 4)))
    assert stages[0][0] == "mql"
    assert stages == [stages[0]] * 3


def test_a_late_sales_call_cuts_the_warm_touches_before_it_beyond_the_kept_context() -> None:
    """Seventeen opens, a call after the third: fourteen warm touches in time order. A call that arrives
    last, when only the newest ten touches are kept with their details, cuts off the same three."""
    config = ProjectionConfig(warm_context_kept=10)
    opens = [_marketing_touch("EmailOpened", day, n) for n, day in enumerate(range(1, 18), start=10)]
    call_payload = {
        "call_id": "c-1",
        "direction": "outbound",
        "disposition": "connected",
        "duration_seconds": 60,
    }
    call = ResolvedTouchpoint(event("CallLogged", call_payload, timedelta(days=3.5), 99), "P1", None)
    counts = []
    for sequence in ([*opens[:3], call, *opens[3:]], [*opens, call], [*opens[::-1], call]):
        state: ContactState | None = None
        for offset, resolved in enumerate(sequence):
            state, _ = fold(state, resolved, offset, config)
        assert state is not None
        counts.append((state.warm_count, [t[2] for t in state.warm_recent]))
    assert counts[0][0] == 14
    assert counts == [counts[0]] * 3


def _support(type_name: str, payload: dict[str, Any], days: float, n: int) -> ResolvedTouchpoint:
    return ResolvedTouchpoint(event(type_name, payload, timedelta(days=days), n), "C1", "A1")


def _fold_all(touches: list[ResolvedTouchpoint]) -> ContactState:
    state = None
    for offset, touch in enumerate(touches):
        state, _ = fold(state, touch, offset)
    assert state is not None
    return state


def test_a_priority_raise_is_an_escalation_whatever_arrives_first() -> None:
    opened = _support(
        "TicketOpened", {"ticket_id": "T9", "subject": "Down", "priority": "P3", "channel": "web"}, 1, 1
    )
    raised = _support("TicketUpdated", {"ticket_id": "T9", "status": "open", "priority": "P1"}, 3, 2)
    middle = _support("TicketUpdated", {"ticket_id": "T9", "status": "open", "priority": "P1"}, 2, 3)
    call = _support(
        "ContactCenterCall",
        {
            "call_id": "c9",
            "intent": "complaint",
            "disposition": "escalated",
            "caller_role": "end_user",
            "duration_seconds": 60,
        },
        4,
        4,
    )
    # The raise P3 -> P1 on day 3, and the call: two escalations, a churn risk, in either arrival order.
    for order in ([opened, raised, call], [raised, call, opened], [call, raised, opened]):
        state = _fold_all([_support("OrderPlaced", {"order_id": "o", "total": USD}, 0, 0), *order])
        day = 86_400
        start = int(T0.timestamp())
        assert state.escalations == (
            (start + 3 * day, str(raised.event.event_id)),
            (start + 4 * day, str(call.event.event_id)),
        )
        assert "churn_risk" in state.signals
    # A late update on day 2 was the raise; day 3's P1 -> P1 is none, whatever arrives when.
    for order in (
        [opened, middle, raised, call],
        [raised, call, opened, middle],
        [middle, call, raised, opened],
    ):
        state = _fold_all([_support("OrderPlaced", {"order_id": "o", "total": USD}, 0, 0), *order])
        assert [e for _, e in state.escalations] == [str(middle.event.event_id), str(call.event.event_id)]
