"""The forecast in one reporting currency and the CRM-adoption views, on hand-made deals (chDB): the rate
in force on the close date converts, a currency without a rate is counted as unconverted, and a late-stage
deal without a logged call or meeting for its stage's days is quiet."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from event_examples import wire_event

from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.events import ResolvedTouchpoint, parse_event
from touchstream.projections.config import ProjectionConfig
from touchstream.projections.touchpoints import TOUCHPOINT_COLUMNS, touchpoint_row

CONFIG = ProjectionConfig(
    reporting_currency="EUR",
    fx_rates={
        "EUR": ((date(1970, 1, 1), Decimal("1")),),
        "USD": ((date(2026, 1, 1), Decimal("0.90")), (date(2026, 6, 1), Decimal("0.80"))),
    },  # type: ignore[arg-type]
    late_stage_quiet_days={"proposal": 10, "negotiation": 5},  # type: ignore[arg-type]
)


def money(amount: str, currency: str) -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def event(
    type_name: str, day: str, contact: str, payload: dict[str, Any], hour: int = 10
) -> tuple[ResolvedTouchpoint, str]:
    wire = wire_event(
        type_name,
        2 if type_name == "OpportunityCreated" else 1,
        event_id=str(uuid.uuid4()),
        occurred_at=f"{day}T{hour:02d}:00:00Z",
        recorded_at=f"{day}T{hour:02d}:00:00Z",
        source="salesforce",
        identifiers={"email": f"{contact.lower()}@example.com"},
        payload=payload,
    )
    return ResolvedTouchpoint(parse_event(wire, now=None), contact, "A1"), wire["event_id"]


def deal(opp: str, contact: str, day: str, amount: dict[str, str], close: str, stage: str) -> list[Any]:
    created = {"opportunity_id": opp, "name": opp, "amount": amount, "owner": "Rep", "expected_close": close}
    out = [event("OpportunityCreated", day, contact, created)]
    if stage != "prospecting":
        change = {"opportunity_id": opp, "from_stage": "prospecting", "to_stage": stage}
        out.append(event("OpportunityStageChanged", day, contact, change, hour=11))  # after the creation
    return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChDBStore]:
    with ChDBStore(str(tmp_path / "chdb")) as opened:
        prepare_read_store(opened, CONFIG)
        call = {"call_id": "c1", "direction": "outbound", "disposition": "connected", "duration_seconds": 60}
        meeting = {"meeting_id": "m1", "subject": "Demo", "duration_minutes": 30}
        items = [
            # Closes in May: converts at 0.90; in June: at 0.80 (the rate valid from June 1st).
            *deal("O-MAY", "C1", "2026-04-01", money("1000.00", "USD"), "2026-05-31", "proposal"),
            *deal("O-JUNE", "C2", "2026-04-01", money("1000.00", "USD"), "2026-06-01", "negotiation"),
            # No GBP rate: counted, not converted.
            *deal("O-GBP", "C3", "2026-04-01", money("500.00", "GBP"), "2026-05-15", "proposal"),
            # Closes before the first USD rate: no rate in force either.
            *deal("O-EARLY", "C4", "2026-04-01", money("10.00", "USD"), "2025-12-31", "qualification"),
            event("CallLogged", "2026-04-20", "C1", call),  # C1's proposal: 10 days ago -> quiet
            event("MeetingHeld", "2026-04-27", "C2", meeting),  # C2's negotiation: 3 days ago -> fine
            event("CallLogged", "2026-03-01", "C3", call),  # before C3's deal: does not count
            event("EmailOpened", "2026-04-30", "C4", {"campaign_id": "x", "message_id": "m"}),  # the newest
        ]
        rows = [touchpoint_row(resolved, 0, offset) for offset, (resolved, _) in enumerate(items)]
        opened.insert_rows("touchpoints", TOUCHPOINT_COLUMNS, rows)
        yield opened


def test_each_deal_converts_at_the_rate_in_force_on_its_close_date(store: ChDBStore) -> None:
    got = store.query(
        "SELECT close_month, stage, reporting_currency, opportunities, unconverted, pipeline, "
        "weighted_pipeline FROM sales_forecast_monthly ORDER BY close_month, stage"
    )
    assert got == [
        (date(2025, 12, 1), "qualification", "EUR", 1, 1, Decimal("0"), Decimal("0")),
        (date(2026, 5, 1), "proposal", "EUR", 2, 1, Decimal("900.00"), Decimal("450.00")),
        (date(2026, 6, 1), "negotiation", "EUR", 1, 0, Decimal("800.00"), Decimal("600.00")),
    ]


def test_a_late_stage_deal_without_a_call_or_meeting_for_its_days_is_quiet(store: ChDBStore) -> None:
    got = store.query(
        "SELECT opportunity_id, calls, meetings, days_since_activity, late_stage, quiet "
        "FROM crm_deal_activity ORDER BY opportunity_id"
    )
    assert got == [
        ("O-EARLY", 0, 0, 29, 0, 0),  # quiet for long, but not in a late stage
        ("O-GBP", 0, 0, 29, 1, 1),  # the only call was before the deal
        ("O-JUNE", 0, 1, 3, 1, 0),
        ("O-MAY", 1, 0, 10, 1, 1),
    ]
    assert store.query(
        "SELECT owner, open_deals, late_stage_deals, quiet_late_stage_deals, quiet_deals, logged_activities, "
        "activities_per_deal, days_since_last_activity, stalest_deal_days FROM crm_adoption"
    ) == [("Rep", 4, 3, 2, ["O-GBP", "O-MAY"], 2, 0.5, 3, 29)]


def test_bad_rates_are_refused_with_the_field_and_the_fix() -> None:
    with pytest.raises(ValueError, match=r"fx_rates\['USD'\].*oldest first"):
        ProjectionConfig(fx_rates={"USD": ((date(2026, 2, 1), Decimal(1)), (date(2026, 1, 1), Decimal(1)))})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reporting_currency: a currency is a three-letter"):
        ProjectionConfig(reporting_currency="usd")
    with pytest.raises(ValueError, match="must be positive"):
        ProjectionConfig(fx_rates={"EUR": ((date(2026, 1, 1), Decimal(0)),)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"late_stage_quiet_days\['proposal'\]"):
        ProjectionConfig(late_stage_quiet_days={"proposal": 0})  # type: ignore[arg-type]
