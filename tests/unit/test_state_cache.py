"""The fold's state cache: compact, bounded by bytes, and transparent (an evicted state is read back)."""

from __future__ import annotations

import sys
from datetime import timedelta

import orjson
import pytest

from touchstream.adapters.synthetic.generator import GeneratorConfig, generate_with_truth
from touchstream.events import ResolvedTouchpoint, parse_event
from touchstream.projections.fold import fold
from touchstream.projections.state import ContactState
from touchstream.streams.state_cache import StateCache, decode_state, encode_state


def real_states(limit: int = 200) -> dict[str, ContactState]:
    """States folded from the generator's events, one per true person (as bench/memory.py makes them)."""
    config = GeneratorConfig.for_events(6_000)
    raw, truth = generate_with_truth(config)
    now = config.start + timedelta(days=config.days + 1)
    states: dict[str, ContactState] = {}
    for offset, wire in enumerate(raw):
        event = parse_event(orjson.dumps(wire), now=now)
        contact, account = truth.events[str(event.event_id)]
        if contact is None:
            continue
        resolved = ResolvedTouchpoint(event, contact, account, 0, offset)
        states[contact], _ = fold(states.get(contact), resolved, offset, with_profile=False)
    return dict(list(states.items())[:limit])


def test_a_state_comes_back_as_it_went_in() -> None:
    for state in real_states().values():
        assert decode_state(encode_state(state)) == state


def test_a_state_costs_at_most_two_kilobytes_in_the_cache() -> None:
    states = real_states()
    cache = StateCache(hot=0)  # the bytes alone (the decoded tier is a few thousand states, not a million)
    cache.update(states)
    assert len(cache) == len(states)
    assert cache.nbytes / len(cache) <= 2048
    # And far less than the same states as Python objects.
    assert cache.nbytes < sum(sys.getsizeof(s.__dict__) for s in states.values()) * 4


def test_the_least_recently_used_state_goes_first_past_the_bound() -> None:
    state = next(iter(real_states(1).values()))
    ids = [f"contact-{n:03d}" for n in range(12)]  # same length: every entry costs the same
    probe = StateCache(hot=0)
    probe[ids[0]] = state
    cache = StateCache(max_bytes=probe.nbytes * 10)
    for contact_id in ids[:10]:
        cache[contact_id] = state
    assert len(cache) == 10
    assert cache.evictions == 0
    assert cache[ids[0]] == state  # used: now the most recent
    cache[ids[10]] = state
    assert ids[1] not in cache  # the least recently used went
    assert ids[0] in cache
    assert (len(cache), cache.evictions) == (10, 1)
    assert cache.nbytes <= cache.max_bytes


def test_a_cache_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="positive size"):
        StateCache(max_bytes=0)


def test_recently_used_states_are_handed_out_decoded_and_written_back_only_when_changed() -> None:
    states = real_states(30)
    cache = StateCache(hot=10)
    cache.update(states)
    ids = list(states)
    assert len(cache) == 30
    assert (cache.decodes, cache.encodes) == (0, 20)
    # The last ten went in decoded and are handed out as they are; the first twenty were encoded.
    assert all(cache[c] is states[c] for c in ids[20:])
    assert cache.decodes == 0
    read = cache[ids[0]]  # decoded once, then hot
    assert read == states[ids[0]]
    assert read is not states[ids[0]]
    assert cache[ids[0]] is read
    assert cache.decodes == 1
    cache[ids[0]] = read  # handed back unchanged: its bytes stay, nothing is encoded
    changed = read.copy()
    changed.version += 1
    cache[ids[1]] = changed
    assert cache.encodes == 20 + 2  # the hot states that made room for ids[0] and ids[1]
    # Push every hot state out: each comes back equal, whether its bytes were kept or written anew.
    for contact_id in ids[2:20]:
        assert cache[contact_id] == states[contact_id]
    assert cache[ids[0]] == states[ids[0]]
    assert cache[ids[1]] == changed
    assert sorted(cache) == sorted(ids)
    assert len(cache) == 30
    del cache[ids[1]]
    assert ids[1] not in cache
    assert len(cache) == 29
    with pytest.raises(KeyError):
        cache[ids[1]]


def test_the_decoded_tier_counts_against_the_bound() -> None:
    states = real_states(50)
    small = StateCache(max_bytes=100_000)  # room for two decoded states at a quarter of the bound
    assert small.hot_max == 2
    small.update(states)
    assert small.nbytes <= small.max_bytes
    assert small.evictions > 0
    kept = 0
    for contact_id, state in states.items():  # reading one may push another out: ask each in turn
        if contact_id in small:
            assert small[contact_id] == state
            kept += 1
    assert kept
