"""The numbers the folds and the departmental SQL use: thresholds, points, SLAs, stage probabilities.

One frozen dataclass with defaults that suit the generator's world; pass another instance to change them.
The SQL side reads the SLA and stage-probability tables, which `config_rows()` fills from the same instance,
so Python and SQL never disagree about a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

# Marketing engagement that counts towards the lead score, in points per event (decaying, see below).
DEFAULT_LEAD_POINTS: dict[str, float] = {
    "EmailOpened": 1.0,
    "EmailClicked": 3.0,
    "AdClicked": 2.0,
    "ContentDownloaded": 5.0,
    "WebinarRegistered": 4.0,
    "WebinarAttended": 8.0,
    "FormSubmitted": 10.0,
    "EventBadgeScanned": 8.0,
}

# Probability of winning by open stage: the forecast weights open pipeline with it.
DEFAULT_STAGE_PROBABILITIES: dict[str, Decimal] = {
    "prospecting": Decimal("0.1000"),
    "qualification": Decimal("0.2500"),
    "proposal": Decimal("0.5000"),
    "negotiation": Decimal("0.7500"),
}

# (first response, resolution) targets in minutes by ticket priority.
DEFAULT_SLA_MINUTES: dict[str, tuple[int, int]] = {
    "P1": (60, 8 * 60),
    "P2": (4 * 60, 24 * 60),
    "P3": (24 * 60, 5 * 24 * 60),
    "P4": (2 * 24 * 60, 10 * 24 * 60),
}


def _frozen(mapping: dict[str, Any]) -> MappingProxyType[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ProjectionConfig:
    # --- lead score: points per engagement, halved every `lead_score_half_life` -----------------------
    lead_points: MappingProxyType[str, float] = field(default_factory=lambda: _frozen(DEFAULT_LEAD_POINTS))
    # A buying-intent call is the strongest marketing-independent sign of interest.
    buying_call_points: float = 15.0
    lead_score_half_life: timedelta = timedelta(days=14)
    mql_score: float = 15.0
    warm_lead_score: float = 20.0

    # --- service hold: sales must not upsell ---------------------------------------------------------
    hold_priorities: frozenset[str] = frozenset({"P1", "P2"})
    hold_csat_at_most: int = 2
    hold_nps_at_most: int = 6
    # A bad survey holds for this long; a resolved high-priority ticket keeps the hold for the cool-down.
    survey_hold: timedelta = timedelta(days=14)
    hold_cool_down: timedelta = timedelta(days=3)

    # --- upsell: a promoter, engaged, with no open issue and a renewal near ---------------------------
    promoter_nps_at_least: int = 9
    promoter_recent: timedelta = timedelta(days=60)
    engaged_within: timedelta = timedelta(days=45)
    renewal_within: timedelta = timedelta(days=60)

    # --- caller is a sales lead ---------------------------------------------------------------------
    buying_intents: frozenset[str] = frozenset({"purchase_inquiry"})
    caller_lead_for: timedelta = timedelta(days=14)

    # --- churn risk ---------------------------------------------------------------------------------
    churn_health_below: int = 40
    cancellation_intents: frozenset[str] = frozenset({"cancellation"})
    churn_risk_for: timedelta = timedelta(days=30)

    # --- nurture (a marketing signal): a lost or disqualified prospect goes back to marketing ----------
    nurture_for: timedelta = timedelta(days=90)

    # --- how long "recent" is for the health score ----------------------------------------------------
    csat_recent: timedelta = timedelta(days=90)
    nps_recent: timedelta = timedelta(days=180)
    complaint_recent: timedelta = timedelta(days=60)

    # --- bounded state (it lives in a Faust table) ---------------------------------------------------
    warm_context_kept: int = 10
    recent_event_ids_kept: int = 16
    closed_tickets_kept: int = 10

    # --- the departmental SQL's config tables --------------------------------------------------------
    stage_probabilities: MappingProxyType[str, Decimal] = field(
        default_factory=lambda: _frozen(DEFAULT_STAGE_PROBABILITIES)
    )
    sla_minutes: MappingProxyType[str, tuple[int, int]] = field(
        default_factory=lambda: _frozen(DEFAULT_SLA_MINUTES)
    )


DEFAULT_CONFIG = ProjectionConfig()
