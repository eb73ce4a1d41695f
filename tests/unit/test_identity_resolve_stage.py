"""The resolve stage: enriched touchpoints keyed by contact id, and a cache that never changes an answer."""

from __future__ import annotations

import uuid
from datetime import timedelta

import orjson
from event_examples import identity_event as event

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate
from touchstream.events import parse_event, parse_resolved
from touchstream.streams.resolve import IdentityCache, ResolveStage


def test_a_resolved_touchpoint_carries_its_ids_and_is_keyed_by_contact() -> None:
    stage = ResolveStage(MasterRecord.from_url("memory://"))
    out = stage.process(event({"email": "jane@acme.com"}), raw_partition=3, raw_offset=17)
    wire = parse_resolved(out.touchpoint.to_json())
    assert wire.contact_id == str(out.resolution.contact_id)
    assert wire.account_id == str(out.resolution.account_id)
    assert out.key == str(out.resolution.contact_id).encode()
    assert (wire.raw_partition, wire.raw_offset) == (3, 17)
    assert wire.event.type == "EmailOpened"
    assert wire.event.identifiers.email == "jane@acme.com"


def test_known_identifiers_are_answered_from_the_cache() -> None:
    stage = ResolveStage(MasterRecord.from_url("memory://"))
    first = stage.process(event({"email": "jane@acme.com", "external_ids": {"hubspot": "7"}}))
    again = stage.process(event({"email": "jane@acme.com", "external_ids": {"hubspot": "7"}}, day=1))
    assert (first.cached, again.cached) == (False, True)
    assert again.resolution.contact_id == first.resolution.contact_id
    assert again.resolution.account_id == first.resolution.account_id
    unseen = stage.process(event({"email": "jane@acme.com", "external_ids": {"zendesk": "9"}}, day=2))
    assert not unseen.cached, "an identifier the cache has not seen goes to the master record"


def test_a_merge_invalidates_what_it_made_stale() -> None:
    stage = ResolveStage(MasterRecord.from_url("memory://"))
    old = stage.process(event({"email": "jane@acme.com"}, day=0)).resolution.contact_id
    young = stage.process(event({"email": "j@gmail.com"}, day=1)).resolution.contact_id
    assert stage.process(event({"email": "j@gmail.com"}, day=2)).cached
    merged = stage.process(
        event({"email": "jane@acme.com", "external_ids": {"x": "1"}, "phone": "+14155550134"})
    )
    assert merged.resolution.merges == ()
    stage.cache.put("email:j@gmail.com", young)  # as it was before the merge
    linked = stage.process(event({"email": "j@gmail.com", "external_ids": {"x": "1"}}, day=3))
    assert [m.merged for m in linked.resolution.merges] == [young]
    assert stage.cache.get("email:j@gmail.com") == old, "re-learnt from the merge's own answer"
    after = stage.process(event({"email": "j@gmail.com"}, day=4))
    assert after.resolution.contact_id == old


def test_another_workers_merge_read_from_masterdata_events_drops_entries() -> None:
    cache = IdentityCache()
    a, b = uuid.uuid4(), uuid.uuid4()
    cache.put("email:a@x.com", a)
    cache.put("email:b@x.com", b)
    stage = ResolveStage(MasterRecord.from_url("memory://"))
    stage.cache = cache
    stage.on_masterdata({"type": "ContactsMerged", "aggregate_id": str(b), "data": {"merged_id": str(a)}})
    assert cache.get("email:a@x.com") is None
    assert cache.get("email:b@x.com") is None


def test_the_cache_is_bounded() -> None:
    cache = IdentityCache(max_size=3)
    owner = uuid.uuid4()
    for n in range(5):
        cache.put(f"email:{n}@x.com", owner)
    assert len(cache) == 3
    assert cache.get("email:0@x.com") is None
    assert cache.get("email:4@x.com") == owner


def test_cached_answers_equal_uncached_ones_on_realistic_data() -> None:
    config = GeneratorConfig(customers=60, accounts=8, days=45, seed=5)
    now = config.start + timedelta(days=config.days + 1)
    events = [parse_event(orjson.dumps(e), now=now) for e in generate(config)]
    cached_app, plain_app = MasterRecord.from_url("memory://"), MasterRecord.from_url("memory://")
    stage = ResolveStage(cached_app)
    for e in events:
        staged = stage.process(e).resolution
        plain = plain_app.resolve(e)
        assert (staged.contact_id is None) == (plain.contact_id is None)
        if plain.contact_id is not None and staged.contact_id is not None:
            assert cached_app.contact(staged.contact_id).id == plain_app.contact(plain.contact_id).id, e
        assert staged.account_id == plain.account_id or plain.contact_id is None
    print(f"cache hits {stage.hits} / {stage.hits + stage.misses}")
    assert stage.hits > stage.misses, "most touchpoints name someone already known"
