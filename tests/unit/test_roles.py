"""The role matrix: every role against every field of the 360 view. A field is present exactly when the
role's documented sections hold it; outside the role it is absent (not blank, not null)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from touchstream.projections.roles import (
    AMOUNT_COLUMNS,
    FIELDS,
    PERSONAL_FIELDS,
    ROLES,
    SECTIONS,
    RoleConfigError,
    Shaper,
    is_pseudonym,
    pseudonym,
    roles_from_mapping,
    segments,
)

KEY = b"k" * 32

# The documented matrix (docs/roles.md): which sections each built-in role sees.
EXPECTED_SECTIONS = {
    "sales": {
        "identity",
        "contact",
        "role",
        "account",
        "lifecycle",
        "engagement",
        "consent",
        "warm_context",
        "pipeline",
        "sales_promise",
        "service_hold",
        "signals",
    },
    "marketing": {
        "identity",
        "contact",
        "account",
        "lifecycle",
        "engagement",
        "segments",
        "consent",
        "warm_context",
        "signals",
    },
    "support": {
        "identity",
        "contact",
        "role",
        "account",
        "lifecycle",
        "tickets",
        "subscriptions",
        "satisfaction",
        "sales_promise",
        "signals",
    },
    "contact_center": {
        "identity",
        "contact",
        "account",
        "lifecycle",
        "consent",
        "tickets",
        "subscriptions",
        "satisfaction",
        "sales_promise",
        "service_hold",
        "signals",
    },
    "analyst": set(SECTIONS) - {"contact", "role", "sales_promise"},
    "admin": set(SECTIONS),
}


def full_document() -> dict[str, Any]:
    """Every field with a distinctive, non-empty value (so absence can never be mistaken for blank)."""
    doc: dict[str, Any] = {f: f"value-of-{f}" for f in FIELDS}
    doc["active_signals"] = [
        {"kind": "service_hold", "department": "sales", "reason": "open P1 ticket 7", "raised_at": None},
        {"kind": "churn_risk", "department": "support", "reason": "detractor", "raised_at": None},
        {"kind": "nurture", "department": "marketing", "reason": "lost deal", "raised_at": None},
    ]
    doc["open_deals"] = [{"opportunity_id": "o1", "name": "Acme expansion", "stage": "proposal"}]
    return doc


def test_the_built_in_roles_are_the_documented_ones() -> None:
    assert set(ROLES) == set(EXPECTED_SECTIONS)
    for name, role in ROLES.items():
        assert set(role.sections) == EXPECTED_SECTIONS[name], name


@pytest.mark.parametrize(("role_name", "field"), list(itertools.product(sorted(ROLES), FIELDS)))
def test_every_role_against_every_field(role_name: str, field: str) -> None:
    role = ROLES[role_name]
    shaped = Shaper(role, KEY).profile(full_document())
    present = {f: section for section, fields in shaped.items() for f in fields}
    section = next(s for s, fields in SECTIONS.items() if field in fields)
    visible = section in EXPECTED_SECTIONS[role_name] and not (role.pseudonymize and field in PERSONAL_FIELDS)
    if visible:
        assert present.get(field) == section, f"{role_name} must see {field}"
        assert shaped[section][field] not in (None, "")
    else:
        assert field not in present, f"{role_name} must not see {field}"
    # A section either carries fields or is absent: never an empty placeholder.
    assert all(shaped.values())


def test_the_department_rules_of_the_issue() -> None:
    def sees(role: str) -> set[str]:
        return set(Shaper(ROLES[role], KEY).profile(full_document()).keys())

    sales = Shaper(ROLES["sales"], KEY).profile(full_document())
    assert {"contact", "role", "account", "pipeline", "warm_context", "service_hold"} <= set(sales)
    assert sales["service_hold"]["service_hold_reason"] == "value-of-service_hold_reason"
    assert {"tickets", "subscriptions", "satisfaction", "sales_promise"} <= sees("support")
    assert {"engagement", "segments", "consent"} <= sees("marketing")
    marketing_fields = {
        f for fields in Shaper(ROLES["marketing"], KEY).profile(full_document()).values() for f in fields
    }
    assert not marketing_fields & AMOUNT_COLUMNS
    assert "open_pipeline" not in marketing_fields
    assert "lifetime_revenue" not in marketing_fields
    assert sees("admin") == set(SECTIONS)


def test_signals_in_the_view_are_those_of_the_departments_the_role_hears() -> None:
    kinds = {
        name: [
            s["kind"]
            for s in Shaper(role, KEY).profile(full_document()).get("signals", {}).get("active_signals", [])
        ]
        for name, role in ROLES.items()
    }
    assert kinds["sales"] == ["service_hold"]
    assert kinds["marketing"] == ["nurture"]
    assert kinds["support"] == ["churn_risk"]
    assert kinds["contact_center"] == ["service_hold", "churn_risk"]
    assert kinds["admin"] == ["service_hold", "churn_risk", "nurture"]
    analyst = Shaper(ROLES["analyst"], KEY).profile(full_document())["signals"]["active_signals"]
    assert all("reason" not in s for s in analyst)


def test_analysts_see_stable_keyed_pseudonyms_not_identities() -> None:
    analyst = Shaper(ROLES["analyst"], KEY)
    doc = full_document()
    shaped = analyst.profile(doc)
    contact_id = shaped["identity"]["contact_id"]
    assert is_pseudonym(contact_id)
    assert (
        contact_id == pseudonym(KEY, "value-of-contact_id") == analyst.profile(doc)["identity"]["contact_id"]
    )
    assert contact_id != pseudonym(b"x" * 32, "value-of-contact_id")
    assert is_pseudonym(shaped["account"]["account_id"])
    flat = str(shaped)
    for field in PERSONAL_FIELDS:
        assert f"value-of-{field}" not in flat
    assert "value-of-contact_id" not in flat
    row = analyst.row(
        {"contact_id": "c1", "name": "Acme deal", "amount": "10.00", "summary": "x", "owner": "o"}
    )
    assert row == {"contact_id": pseudonym(KEY, "c1"), "amount": "10.00", "owner": "o"}
    assert pseudonym(KEY, "") == ""


def test_lists_and_timelines_hide_amounts_from_roles_without_the_pipeline() -> None:
    marketing = Shaper(ROLES["marketing"], KEY)
    assert marketing.row({"account_id": "a", "open_pipeline": "5.00", "contacts": 3}) == {
        "account_id": "a",
        "contacts": 3,
    }
    won = {"type": "OpportunityWon", "summary": "Opportunity o1 won: 1200.00 USD", "department": "sales"}
    assert marketing.timeline_item(won)["summary"] == "OpportunityWon"
    assert Shaper(ROLES["sales"], KEY).timeline_item(won)["summary"] == won["summary"]
    assert "summary" not in Shaper(ROLES["analyst"], KEY).timeline_item(won)


def test_change_messages_are_shaped_like_the_view() -> None:
    value = {"contact_id": "c1", "version": 3, "health_score": 40, "open_tickets": 1, "lead_score": 2.0}
    assert Shaper(ROLES["marketing"], KEY).change(value) == {
        "contact_id": "c1",
        "version": 3,
        "health_score": 40,
        "lead_score": 2.0,
    }
    assert Shaper(ROLES["support"], KEY).change(value) == {
        "contact_id": "c1",
        "version": 3,
        "health_score": 40,
        "open_tickets": 1,
    }
    assert Shaper(ROLES["analyst"], KEY).change(value)["contact_id"] == pseudonym(KEY, "c1")


def test_configuration_adds_roles() -> None:
    roles = roles_from_mapping(
        {
            "partner": {
                "extends": "marketing",
                "sections": ["identity", "segments"],
                "endpoints": ["customers"],
            },
            "auditor": {
                "sections": ["*"],
                "endpoints": ["*"],
                "signal_departments": ["sales"],
                "pseudonymize": True,
            },
        }
    )
    assert set(roles) == set(ROLES) | {"partner", "auditor"}
    partner = Shaper(roles["partner"], KEY).profile(full_document())
    assert set(partner) == {"identity", "segments"}
    assert roles["partner"].signal_departments == ROLES["marketing"].signal_departments
    auditor = roles["auditor"]
    assert auditor.pseudonymize
    assert auditor.sees_amounts
    assert not auditor.fields & PERSONAL_FIELDS
    for bad in (
        {"x": {"sections": ["nope"]}},
        {"x": {"extends": "ghost"}},
        {"x": {"colour": "red"}},
        {"x": {"pseudonymize": "yes"}},
        {"x": []},
    ):
        with pytest.raises(RoleConfigError):
            roles_from_mapping(bad)  # type: ignore[arg-type]


def test_segments_are_derived_from_the_profile() -> None:
    got = segments(
        {
            "lifecycle_stage": "customer",
            "last_nps": 10,
            "warm_touches": 2,
            "marketing_consent": 1,
            "health_score": 80,
        }
    )
    assert got == [
        "lifecycle:customer",
        "nps:promoter",
        "engaged:since-last-sales-contact",
        "consent:marketing",
        "health:high",
    ]
    assert "nps:detractor" in segments({"last_nps": 3})
    assert "consent:no-marketing" in segments({"marketing_consent": 0})
