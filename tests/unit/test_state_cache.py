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
    cache = StateCache()
    cache.update(states)
    assert len(cache) == len(states)
    assert cache.nbytes / len(cache) <= 2048
    # And far less than the same states as Python objects.
    assert cache.nbytes < sum(sys.getsizeof(s.__dict__) for s in states.values()) * 4


def test_the_least_recently_used_state_goes_first_past_the_bound() -> None:
    state = next(iter(real_states(1).values()))
    ids = [f"contact-{n:03d}" for n in range(12)]  # same length: every entry costs the same
    probe = StateCache()
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
