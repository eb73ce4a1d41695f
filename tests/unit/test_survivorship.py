"""Survivorship: manual correction > most recent from a trusted source > most recent; order-independent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, strategies as st

from touchstream.projections.survivorship import (
    AttributeHistory,
    Observation,
    SurvivorshipRules,
    current,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def obs(value: str, source: str, days: int, manual: bool = False, confidence: float = 0.8) -> Observation:
    return Observation(
        attribute="phone",
        value=value,
        source=source,
        department="sales",
        observed_at=T0 + timedelta(days=days),
        confidence=confidence,
        manual=manual,
    )


def test_nothing_observed_has_no_current_value() -> None:
    assert current([]) is None


def test_most_recent_wins_among_untrusted_sources() -> None:
    choice = current([obs("+1", "hubspot", 1), obs("+2", "marketo", 2)])
    assert choice is not None
    assert (choice.observation.value, choice.rule) == ("+2", "most_recent")


def test_trusted_source_beats_a_more_recent_untrusted_one() -> None:
    choice = current([obs("+1", "salesforce", 1), obs("+2", "hubspot", 5)])
    assert choice is not None
    assert (choice.observation.value, choice.rule) == ("+1", "trusted")


def test_a_trusted_source_below_the_confidence_floor_counts_as_untrusted() -> None:
    rules = SurvivorshipRules(min_trusted_confidence=0.9)
    choice = current([obs("+1", "salesforce", 1, confidence=0.5), obs("+2", "hubspot", 5)], rules)
    assert choice is not None
    assert choice.observation.value == "+2"


def test_manual_correction_beats_everything_until_a_later_correction() -> None:
    seen = [obs("+1", "salesforce", 9), obs("+9", "steward", 1, manual=True)]
    choice = current(seen)
    assert choice is not None
    assert (choice.observation.value, choice.rule) == ("+9", "manual")
    later = current([*seen, obs("+8", "steward", 2, manual=True)])
    assert later is not None
    assert later.observation.value == "+8"


def test_the_new_phone_from_a_support_signature_replaces_the_old_crm_phone() -> None:
    # zendesk (a signature block in a customer's email) is trusted, and newer than the CRM's value.
    choice = current([obs("+1415", "salesforce", 1), obs("+1646", "zendesk", 30)])
    assert choice is not None
    assert choice.observation.value == "+1646"


def test_history_keeps_one_observation_per_value_and_source() -> None:
    history = AttributeHistory()
    assert history.add(obs("+1", "hubspot", 1))
    assert not history.add(obs("+1", "hubspot", 1)), "the same observation again tells nothing new"
    assert history.add(obs("+1", "hubspot", 3)), "a later sighting refreshes the time"
    assert not history.add(obs("+1", "hubspot", 2)), "an older sighting does not"
    assert history.add(obs("+2", "hubspot", 2))
    assert len(history.by_slot) == 2


def test_observation_round_trips_through_its_dict() -> None:
    original = obs("+1", "zendesk", 4, manual=True)
    assert Observation.from_dict(original.to_dict()) == original


_observations = st.lists(
    st.builds(
        obs,
        value=st.sampled_from(["+1", "+2", "+3"]),
        source=st.sampled_from(["salesforce", "hubspot", "zendesk", "marketo", "steward"]),
        days=st.integers(0, 5),
        manual=st.booleans(),
        confidence=st.sampled_from([0.3, 0.6, 0.9]),
    ),
    max_size=12,
)


@given(_observations, st.randoms())
def test_the_winner_does_not_depend_on_arrival_order(seen: list[Observation], rnd: object) -> None:
    shuffled = list(seen)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert current(seen) == current(shuffled)


@given(_observations)
def test_a_manual_correction_always_wins_when_present(seen: list[Observation]) -> None:
    choice = current(seen)
    if any(o.manual for o in seen):
        assert choice is not None
        assert choice.observation.manual
