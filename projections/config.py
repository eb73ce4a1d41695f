"""The numbers the folds and the departmental SQL use: thresholds, points, SLAs, stage probabilities.

One frozen dataclass with defaults that suit the generator's world; pass another instance to change them.
The SQL side reads the SLA and stage-probability tables, which `config_rows()` fills from the same instance,
so Python and SQL never disagree about a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
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


# Units of the reporting currency per unit of each currency, from the day given until the next entry: the
# forecast converts a deal at the rate in force on its expected close date. Replace with your treasury's.
DEFAULT_REPORTING_CURRENCY = "USD"
DEFAULT_FX_RATES: dict[str, tuple[tuple[date, Decimal], ...]] = {
    "USD": ((date(1970, 1, 1), Decimal("1")),),
    "EUR": (
        (date(1970, 1, 1), Decimal("1.08")),
        (date(2026, 3, 1), Decimal("1.10")),
        (date(2026, 6, 1), Decimal("1.12")),
    ),
}

# CRM adoption: the late stages, each with the days a deal may go without a logged call or meeting.
DEFAULT_LATE_STAGE_QUIET_DAYS: dict[str, int] = {"proposal": 14, "negotiation": 7}


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
    # Warm lead: the points of the marketing touches within the window (since sales last called or met)
    # reach the score; the touches are the signal's evidence.
    warm_lead_score: float = 20.0
    warm_lead_window: timedelta = timedelta(days=14)

    # --- service hold: sales must not upsell ---------------------------------------------------------
    hold_priorities: frozenset[str] = frozenset({"P1", "P2"})
    hold_csat_at_most: int = 2
    hold_nps_at_most: int = 6
    # A bad survey holds for this long; a resolved high-priority ticket keeps the hold for the cool-down.
    survey_hold: timedelta = timedelta(days=14)
    hold_cool_down: timedelta = timedelta(days=3)
    # What a hold covers in the read models (`upsell_holds`): every open opportunity of the held contact's
    # account ("account") or only the contact's own ("contact").
    hold_scope: str = "account"

    # --- upsell: a promoter, engaged, with no open issue and a renewal near ---------------------------
    promoter_nps_at_least: int = 9
    promoter_recent: timedelta = timedelta(days=60)
    engaged_within: timedelta = timedelta(days=45)
    renewal_within: timedelta = timedelta(days=60)

    # --- upsell intent, from any department: a call about upgrading, a ticket or email asking for a bigger
    # plan (its subject), a click or download about pricing; held while a service hold stands ---------
    upsell_intents: frozenset[str] = frozenset({"upgrade"})
    upsell_phrases: tuple[str, ...] = (
        "upgrade",
        "bigger plan",
        "more seats",
        "add seats",
        "enterprise plan",
        "higher tier",
        "pricing",
    )
    upsell_url_markers: tuple[str, ...] = ("/pricing", "/upgrade", "/plans", "/enterprise")
    # A help-desk tag on a ticket that asks for more, and product usage at this share of the plan's limit.
    upsell_tags: frozenset[str] = frozenset({"upgrade", "upsell", "expansion", "more-seats"})
    upsell_usage_share: float = 0.9
    upsell_intent_for: timedelta = timedelta(days=30)
    # `service_hold_lifted` tells sales for this long that they may talk about more again.
    hold_lifted_for: timedelta = timedelta(days=7)

    # --- caller is a sales lead ---------------------------------------------------------------------
    buying_intents: frozenset[str] = frozenset({"purchase_inquiry"})
    caller_lead_for: timedelta = timedelta(days=14)

    # --- churn risk ---------------------------------------------------------------------------------
    churn_health_below: int = 40
    cancellation_intents: frozenset[str] = frozenset({"cancellation"})
    churn_risk_for: timedelta = timedelta(days=30)
    # A key person's detractor NPS or falling CSAT; repeated escalations from anyone.
    key_roles: frozenset[str] = frozenset({"decision_maker", "procurement"})
    key_title_words: tuple[str, ...] = (
        "chief",
        "ceo",
        "cfo",
        "cto",
        "coo",
        "cio",
        "vp",
        "vice president",
        "director",
        "head of",
        "founder",
        "owner",
        "president",
    )
    churn_nps_at_most: int = 6
    csat_drop_at_least: int = 2
    churn_escalations: int = 2
    escalation_window: timedelta = timedelta(days=30)

    # --- nurture (a marketing signal): a lost or disqualified prospect goes back to marketing ----------
    nurture_for: timedelta = timedelta(days=90)

    # --- how long "recent" is for the health score ----------------------------------------------------
    csat_recent: timedelta = timedelta(days=90)
    nps_recent: timedelta = timedelta(days=180)
    complaint_recent: timedelta = timedelta(days=60)

    # --- bounded state (it lives in a Faust table) ---------------------------------------------------
    warm_context_kept: int = 10
    warm_times_kept: int = 250
    recent_event_ids_kept: int = 16
    closed_tickets_kept: int = 10
    scoring_events_kept: int = 32

    # --- the departmental SQL's config tables --------------------------------------------------------
    stage_probabilities: MappingProxyType[str, Decimal] = field(
        default_factory=lambda: _frozen(DEFAULT_STAGE_PROBABILITIES)
    )
    sla_minutes: MappingProxyType[str, tuple[int, int]] = field(
        default_factory=lambda: _frozen(DEFAULT_SLA_MINUTES)
    )
    reporting_currency: str = DEFAULT_REPORTING_CURRENCY
    # currency -> ((valid from, rate to the reporting currency), ...), ascending by day.
    fx_rates: MappingProxyType[str, tuple[tuple[date, Decimal], ...]] = field(
        default_factory=lambda: _frozen(DEFAULT_FX_RATES)
    )
    late_stage_quiet_days: MappingProxyType[str, int] = field(
        default_factory=lambda: _frozen(DEFAULT_LATE_STAGE_QUIET_DAYS)
    )

    def __post_init__(self) -> None:
        _check_currency("reporting_currency", self.reporting_currency)
        # The MQL stage is order-independent only while points only add: a subset of a contact's scoring
        # events never scores higher than all of them.
        if any(points < 0 for points in self.lead_points.values()) or self.buying_call_points < 0:
            raise ValueError("lead_points, buying_call_points: give points of 0 or more")
        if self.hold_scope not in ("account", "contact"):
            raise ValueError(f"hold_scope: give 'account' or 'contact'; got {self.hold_scope!r}")
        for currency, rates in self.fx_rates.items():
            _check_currency(f"fx_rates[{currency!r}]", currency)
            days = [day for day, _ in rates]
            if not rates or days != sorted(set(days)):
                raise ValueError(
                    f"fx_rates[{currency!r}]: give at least one (valid_from, rate), one per day, oldest first"
                )
            if any(rate <= 0 for _, rate in rates):
                raise ValueError(
                    f"fx_rates[{currency!r}]: a rate must be positive (units of "
                    f"{self.reporting_currency} per {currency})"
                )
        for stage, quiet in self.late_stage_quiet_days.items():
            if quiet < 1:
                raise ValueError(f"late_stage_quiet_days[{stage!r}]: give a number of days of at least 1")


def _check_currency(name: str, code: str) -> None:
    if len(code) != 3 or not code.isascii() or not code.isupper():
        raise ValueError(
            f"{name}: a currency is a three-letter ISO 4217 code in capitals, e.g. USD; got {code!r}"
        )


DEFAULT_CONFIG = ProjectionConfig()
