"""The same history through the master record in log order and in any order a partitioned raw log allows
(the events of one record key keep their order, different keys interleave arbitrarily: the key is the
event's strongest identifier, as the gateway and the publisher write it) groups the events into the same
contacts. The contact ids may differ (an id derives from whatever created the contact); the sets of event
ids per contact may not. This is what lets the cluster's read models equal the embedded run's
(tests/cluster/test_cluster_run.py).

The histories are those where each phone ends up held by one person (as in the generator): anonymous
calls before the number is known, then the person with that number, and their records under several
strong identifiers linked sooner or later. A number that several people keep holding is ambiguous evidence
and its calls do depend on arrival order (docs/identity.md, rule 5)."""

from __future__ import annotations

import random
import zlib
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
from event_examples import identity_event
from hypothesis import HealthCheck, given, settings, strategies as st

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate_with_truth
from touchstream.events import Event, parse_event
from touchstream.streams.resolve import ResolveStage

PEOPLE = 3
PHONES = ["+14155550100", "+14155550101", "+442079460000"]
FIRST_NAMES = ["Ada", "Bob", "Cleo"]


def grouping(events: list[Event], contact_of: dict[str, Any], app: MasterRecord) -> set[frozenset[str]]:
    """The events of each contact (followed to its survivor) as sets of event ids; events tied to no
    contact form one set, as they do in the read models (an empty contact id)."""
    groups: dict[str, set[str]] = defaultdict(set)
    for event in events:
        found = contact_of[str(event.event_id)]
        groups[str(app.contact(found).id) if found else ""].add(str(event.event_id))
    return {frozenset(group) for group in groups.values()}


def resolve_in(order: list[Event], url: str = "memory://") -> set[frozenset[str]]:
    app = MasterRecord.from_url(url)
    try:
        contact_of = {str(e.event_id): app.resolve(e).contact_id for e in order}
        return grouping(order, contact_of, app)
    finally:
        app.close()


def by_key(events: list[Event], partitions: int | None = None) -> list[list[Event]]:
    """The raw log's queues: one per record key (or per partition of `partitions`), each in log order."""
    queues: dict[Any, list[Event]] = defaultdict(list)
    for event in events:
        key = event.identifiers.strongest()
        queues[key if partitions is None else zlib.crc32(key.encode()) % partitions].append(event)
    return list(queues.values())


def interleave(queues: list[list[Event]], picks: list[int]) -> list[Event]:
    """Take from the queue each pick names (modulo the non-empty ones), then the rest in queue order."""
    pending = [list(q) for q in queues]
    out: list[Event] = []
    for pick in picks:
        live = [q for q in pending if q]
        if not live:
            break
        out.append(live[pick % len(live)].pop(0))
    return out + [e for q in pending for e in q]


@st.composite
def history(draw: st.DrawFn) -> list[Event]:
    """Events about three people, each with a work email, a CRM id, a support id and their own phone:
    some name a person by one strong identifier, some add the phone, some carry only the phone (an
    anonymous call), some state a first name; a phone is seen with strong identifiers only next to the
    person's email, and each person's identifiers are linked at the end."""
    size = draw(st.integers(2, 24))
    events: list[Event] = []
    used: dict[int, set[str]] = defaultdict(set)
    for day in range(size):
        who = draw(st.integers(0, PEOPLE - 1))
        ids: dict[str, Any] = {}
        shape = draw(st.sampled_from(["email", "email+phone", "ext", "ext+email", "zendesk", "call"]))
        if "email" in shape:
            ids["email"] = f"p{who}@acme.example.com"
        if shape.startswith("ext"):
            ids["external_ids"] = {"hubspot": str(100 + who)}
        if shape == "zendesk":
            ids["external_ids"] = {"zendesk": str(200 + who)}
        if shape in ("email+phone", "call"):
            ids["phone"] = PHONES[who]
        used[who].update(k for k in ids if k != "phone")
        if shape != "call" and draw(st.booleans()):
            payload = {"first_name": FIRST_NAMES[who], "last_name": "Lee", "company": "Acme"}
            events.append(identity_event(ids, "ContactDetailsObserved", payload, "crm_admin", day))
        else:
            events.append(identity_event(ids, day=day))
    for who, kinds in sorted(used.items()):
        link = {"email": f"p{who}@acme.example.com"}
        link["external_ids"] = {"hubspot": str(100 + who), "zendesk": str(200 + who)}  # type: ignore[assignment]
        if kinds:
            events.append(identity_event(link, day=size + who))
    return events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history(), st.lists(st.integers(0, 50), max_size=40))
def test_any_interleaving_of_the_raw_log_groups_events_as_the_log_order_does(
    events: list[Event], picks: list[int]
) -> None:
    order = interleave(by_key(events), picks)
    assert sorted(str(e.event_id) for e in order) == sorted(str(e.event_id) for e in events)
    assert resolve_in(order) == resolve_in(events)


def test_calls_before_and_after_the_number_is_known_end_in_one_contact() -> None:
    """The smallest history whose grouping used to depend on arrival order: a call from a number nobody
    held yet, and the person giving that number with their email on another partition."""
    call = identity_event({"phone": PHONES[0]}, day=0)
    person = identity_event({"email": "ann@acme.example.com", "phone": PHONES[0]}, day=1)
    later = identity_event({"phone": PHONES[0]}, day=2)
    one = {frozenset(str(e.event_id) for e in (call, person, later))}
    assert resolve_in([call, person, later]) == one
    assert resolve_in([person, call, later]) == one


def generated() -> list[Event]:
    config = GeneratorConfig(
        customers=40, accounts=6, days=30, seed=3, start=datetime(2026, 1, 5, tzinfo=UTC)
    )
    raw, _truth = generate_with_truth(config)
    return [parse_event(orjson.dumps(e)) for e in raw]


def stage_grouping(order: list[Event], url: str, batch_seed: int) -> set[frozenset[str]]:
    """`order` through the resolve stage as the embedded runner and the workers drive it: batches of random
    size (one unit of work each), the identity cache in front of the master record."""
    app = MasterRecord.from_url(url)
    try:
        stage, sizes, contact_of = ResolveStage(app), random.Random(batch_seed), {}
        at = 0
        while at < len(order):
            chunk = order[at : at + sizes.randint(1, 80)]
            for event, result in zip(
                chunk, stage.process_batch([(e, None, None) for e in chunk]), strict=True
            ):
                contact_of[str(event.event_id)] = result.resolution.contact_id
            at += len(chunk)
        return grouping(order, contact_of, app)
    finally:
        app.close()


def test_the_generated_history_groups_alike_on_twelve_partitions_in_any_order(tmp_path: Any) -> None:
    events = generated()
    expected = stage_grouping(events, f"sqlite:///{tmp_path}/log-order.sqlite", 0)
    queues = by_key(events, partitions=12)
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        picks = [rng.randrange(12) for _ in range(len(events))]
        order = interleave(queues, picks)
        found = stage_grouping(order, f"sqlite:///{tmp_path}/order-{seed}.sqlite", seed)
        apart = found ^ expected
        assert not apart, f"interleaving {seed}: {sum(len(g) for g in apart)} events grouped otherwise"
