"""The master record's orjson transcoder writes the library's JSON transcoder's bytes exactly, for every
value (adapters/master_record/transcoder.py says why that matters), and the master record uses it."""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from event_examples import wire_event
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError
from hypothesis import given, settings, strategies as st

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.transcoder import OrjsonTranscoder
from touchstream.events import parse_event
from touchstream.streams.resolve import ResolveStage


def transcoders() -> tuple[JSONTranscoder, JSONTranscoder]:
    """The library's, and ours, with the transcodings the master record registers."""
    app = MasterRecord()
    library = JSONTranscoder()
    app.register_transcodings(library)
    return library, app.construct_transcoder()


LIBRARY, OURS = transcoders()

instants = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.sampled_from([UTC, None])
) | st.datetimes(timezones=st.just(timezone(timedelta(hours=5, minutes=30))))
scalars = (
    st.text()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.booleans()
    | st.none()
    | st.floats()
    | st.floats(min_value=1e-5, max_value=1e-3)  # where `repr` turns to an exponent
    | st.floats(min_value=1e15, max_value=1e17)
    | st.uuids()
    | st.decimals(allow_nan=False)
    | instants
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4)
    ),
    max_leaves=12,
)


def both(value: Any) -> tuple[bytes | str, bytes | str]:
    """Each transcoder's bytes, or the type of error it raised."""
    out = []
    for transcoder in (LIBRARY, OURS):
        try:
            out.append(transcoder.encode(value))
        except Exception as exc:
            out.append(type(exc).__name__)
    return out[0], out[1]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=12), values, max_size=8))
def test_every_event_state_is_written_as_the_library_writes_it(state: dict[str, Any]) -> None:
    library, ours = both(state)
    assert ours == library


@pytest.mark.parametrize(
    "value",
    [
        # repr and orjson spell these apart: each alone, so that none hides another
        {"f": 1e16},
        {"f": 1.5e16},
        {"f": 1e-7},
        {"f": math.nan},
        {"f": -math.inf},
        {"edges": [1e-4, 9.999999999999999e-05, 9999999999999998.0, -0.0, 0.0, 5e-324, 0.85, -1.5]},
        {"big": 2**64, "neg": -(2**63) - 1},  # beyond orjson's 64 bits
        {1: "int key", None: "none key", 2.5: "float key"},
        {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-3)))},
        {"at": datetime(2026, 1, 2, 3, 4, 5, 0, tzinfo=UTC), "id": UUID(int=7), "amount": Decimal("0.10")},
        {"text": 'quote " backslash \\ nul \x00 del \x7f line \u2028 é 😀'},
        {"nested": [{"ids": (UUID(int=1), UUID(int=2))}, [[datetime(1, 1, 1, tzinfo=UTC)]]]},
    ],
)
def test_values_that_orjson_might_spell_apart_are_written_as_the_library_writes_them(value: Any) -> None:
    library, ours = both(value)
    assert ours == library


def test_an_unregistered_type_fails_as_in_the_library() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        OURS.encode({"x": object()})
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate: the library's error, not orjson's
        OURS.encode({"x": "\ud800"})


def test_the_master_record_stores_through_it_and_reads_its_events_back() -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = MasterRecord.from_url(f"sqlite:///{folder}/m.sqlite")
        try:
            assert isinstance(app.mapper.transcoder, OrjsonTranscoder)
            kinds = ("EmailOpened", "FormSubmitted", "TicketOpened", "EventBadgeScanned")
            events = [parse_event(wire_event(kind, 1)) for kind in kinds]
            ResolveStage(app).process_batch([(event, 0, n) for n, event in enumerate(events)])
            stored = app.recorder.select_notifications(start=1, limit=100)
            assert len({record.topic for record in stored}) >= 4  # contacts, claims, accounts
            for record in stored:
                domain_event = app.mapper.to_domain_event(record)
                again = app.mapper.to_stored_event(domain_event)
                assert again.state == record.state
                assert LIBRARY.encode(LIBRARY.decode(record.state)) == record.state
        finally:
            app.close()
