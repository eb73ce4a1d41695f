"""Resolving a batch as one unit of work decides exactly what resolving event by event decides: the same
contact and account per event, the same merges and suspects, the same events recorded in the master
record. Random streams (shared emails, phones, names and companies, so merges, suspects and switchboards
happen) go through both paths."""

from __future__ import annotations

import itertools
import tempfile
from typing import Any

from event_examples import identity_event
from hypothesis import HealthCheck, given, settings, strategies as st

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.events import Event
from touchstream.streams.resolve import ResolveStage

EMAILS = [
    "ada@acme.example.com",
    "bob@acme.example.com",
    "ada@gmail.com",
    "info@acme.example.com",
    "c@x.example.org",
]
PHONES = ["+14155550100", "+14155550101", "+442079460000"]
NAMES = [("Ada", "Lovelace"), ("Bob", "Stone"), ("Robert", "Stone")]
EXTERNAL = ["1", "2", "3"]


@st.composite
def touch(draw: st.DrawFn, day: int) -> Event:
    identifiers: dict[str, Any] = {}
    if draw(st.booleans()):
        identifiers["email"] = draw(st.sampled_from(EMAILS))
    if draw(st.booleans()):
        identifiers["phone"] = draw(st.sampled_from(PHONES))
    if draw(st.booleans()) or not identifiers:
        identifiers["external_ids"] = {"hubspot": draw(st.sampled_from(EXTERNAL))}
    if draw(st.booleans()):
        first, last = draw(st.sampled_from(NAMES))
        return identity_event(
            identifiers,
            "ContactDetailsObserved",
            {"first_name": first, "last_name": last, "company": "Acme"},
            day=day,
        )
    return identity_event(identifiers, day=day)


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[Event], list[int]]:
    size = draw(st.integers(1, 30))
    events = [draw(touch(day)) for day in range(size)]
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, size - 1)), max_size=5))))
    return events, cuts


def answers(stage: ResolveStage, results: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (
            r.touchpoint.contact_id,
            r.touchpoint.account_id,
            r.resolution.is_new,
            tuple(sorted((str(m.merged), str(m.survivor)) for m in r.resolution.merges)),
            tuple(sorted((str(s.contact_id), str(s.other_id), s.reason) for s in r.resolution.suspects)),
        )
        for r in results
    ]


def recorded(app: MasterRecord) -> list[tuple[str, int, str]]:
    last = app.recorder.max_notification_id() or 0
    found = app.recorder.select_notifications(1, last + 1) if last else []
    return sorted((str(n.originator_id), n.originator_version, n.topic) for n in found)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_a_batch_decides_what_the_events_decide_one_by_one(stream: tuple[list[Event], list[int]]) -> None:
    events, cuts = stream
    # The batch runs on SQLite so its read-ahead goes through the bulk read (bulk_read.py), not the
    # one-by-one fallback of the in-memory store.
    folder = tempfile.TemporaryDirectory(prefix="resolve-batch-")
    one_app = MasterRecord.from_url("memory://")
    batch_app = MasterRecord.from_url(f"sqlite:///{folder.name}/master.sqlite")
    one, batched = ResolveStage(one_app), ResolveStage(batch_app)
    singly = [one.process(event, 0, n) for n, event in enumerate(events)]
    together: list[Any] = []
    bounds = [0, *cuts, len(events)]
    for start, end in itertools.pairwise(bounds):
        together += batched.process_batch([(events[n], 0, n) for n in range(start, end)])
    assert answers(batched, together) == answers(one, singly)
    assert recorded(batch_app) == recorded(one_app)
    one_app.close()
    batch_app.close()
    folder.cleanup()


def test_a_failed_batch_writes_nothing_and_forgets_what_it_learned() -> None:
    app = MasterRecord.from_url("memory://")
    stage = ResolveStage(app)
    first = identity_event({"email": "ada@acme.example.com"})

    class Boom(Exception):
        pass

    real = app.resolve
    calls = []

    def failing(event: Event, evidence: Any = None, raw: Any = None) -> Any:
        calls.append(event)
        if len(calls) == 2:
            raise Boom
        return real(event, evidence, raw)

    app.resolve = failing  # type: ignore[method-assign]
    try:
        stage.process_batch([(first, 0, 0), (identity_event({"email": "bob@acme.example.com"}), 0, 1)])
    except Boom:
        pass
    else:
        raise AssertionError("the failure did not come out")
    app.resolve = real  # type: ignore[method-assign]
    assert app.recorder.max_notification_id() in (None, 0)  # nothing of the batch was written
    assert len(stage.cache) == 0  # nor remembered: it may name what was never written
    again = stage.process(first, 0, 0)
    assert again.resolution.is_new
