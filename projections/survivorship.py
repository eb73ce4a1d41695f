"""Survivorship: which of the values observed for an attribute is the current one, and why.

Every observed value keeps its provenance (source system, department, time, confidence). The current value is
chosen from the whole set, never from arrival order, by one stated rule:

1. the most recent manual correction (an operator said so);
2. otherwise the most recent observation from a trusted source with at least `min_trusted_confidence`;
3. otherwise the most recent observation of any source.

Ties on time break on confidence, then source name, then value, so every process picks the same winner.
Pure code: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Systems where a person verified the value or the customer wrote it in a business conversation: the CRM,
# master-data admins, the help desk (signature blocks), billing. Forms, badge scans and ad networks are typed
# by strangers or OCR, so they only fill gaps.
DEFAULT_TRUSTED_SOURCES: frozenset[str] = frozenset({"salesforce", "crm_admin", "zendesk", "stripe"})

# How much an observation is believed, by how it was made; a manual correction is certain.
MANUAL_CONFIDENCE = 1.0
CONFIDENCE_BY_EVENT_TYPE: Mapping[str, float] = {
    "ContactDetailsObserved": 0.9,
    "LeadCreated": 0.8,
    "InboundEmailReceived": 0.8,
    "EventBadgeScanned": 0.7,
    "FormSubmitted": 0.6,
}
DEFAULT_CONFIDENCE = 0.5


@dataclass(frozen=True)
class SurvivorshipRules:
    trusted_sources: frozenset[str] = DEFAULT_TRUSTED_SOURCES
    min_trusted_confidence: float = 0.5


@dataclass(frozen=True)
class Observation:
    """One value seen for one attribute, with where, when and how sure."""

    attribute: str
    value: str
    source: str
    department: str
    observed_at: datetime
    confidence: float = DEFAULT_CONFIDENCE
    manual: bool = False
    event_id: str | None = None
    actor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the aggregate stores dicts: the library's transcoder knows datetimes, not ours)."""
        return {
            "attribute": self.attribute,
            "value": self.value,
            "source": self.source,
            "department": self.department,
            "observed_at": self.observed_at,
            "confidence": self.confidence,
            "manual": self.manual,
            "event_id": self.event_id,
            "actor": self.actor,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observation:
        return cls(**dict(data))

    @property
    def slot(self) -> str:
        """Observations of the same value from the same source (and kind) replace each other: history stays
        bounded by distinct values, not by how often a value is repeated."""
        return slot_of(self.manual, self.source, self.value)


#: Between a slot's parts: the master record's forgetting rewrites only keys that have it (they quote values).
SLOT_SEPARATOR = "|"


def slot_of(manual: bool, source: str, value: str) -> str:
    """`Observation.slot` without building the observation (replaying a contact reads one per event)."""
    return f"{int(manual)}{SLOT_SEPARATOR}{source}{SLOT_SEPARATOR}{value}"


@dataclass(frozen=True)
class Choice:
    observation: Observation
    rule: str  # "manual", "trusted", "most_recent"


def _recency(obs: Observation) -> tuple[datetime, float, str, str]:
    return (obs.observed_at, obs.confidence, obs.source, obs.value)


def current(
    observations: Iterable[Observation], rules: SurvivorshipRules = SurvivorshipRules()
) -> Choice | None:
    """The winning observation and the rule that chose it; None when nothing was observed."""
    seen = list(observations)
    if not seen:
        return None
    manual = [o for o in seen if o.manual]
    if manual:
        return Choice(max(manual, key=_recency), "manual")
    trusted = [
        o for o in seen if o.source in rules.trusted_sources and o.confidence >= rules.min_trusted_confidence
    ]
    if trusted:
        return Choice(max(trusted, key=_recency), "trusted")
    return Choice(max(seen, key=_recency), "most_recent")


@dataclass
class AttributeHistory:
    """The observations of one attribute, one per slot (value x source x manual), newest kept."""

    by_slot: dict[str, Observation] = field(default_factory=dict)

    def add(self, obs: Observation) -> bool:
        """Keep `obs` if it tells something new (a new slot, or a later time for a known one)."""
        known = self.by_slot.get(obs.slot)
        if known is not None and _recency(known) >= _recency(obs):
            return False
        self.by_slot[obs.slot] = obs
        return True

    def current(self, rules: SurvivorshipRules = SurvivorshipRules()) -> Choice | None:
        return current(self.by_slot.values(), rules)
