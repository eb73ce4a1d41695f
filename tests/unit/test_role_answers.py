"""Roles on every answer: every role × every endpoint × a seeded customer whose ticket text, CSAT comment,
deal amount and personal details are unique markers. A marker may appear in an answer only if the role
may read what it is (projections/roles.py); the built-in roles are walked exhaustively, and hypothesis
walks configured roles (any sections, endpoints, departments, pseudonymized or not) the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st
from unit.test_api_fixtures import SECRET, load_story, story_config, wire

from touchstream.adapters.api.app import LIST_ROUTES, create_api
from touchstream.adapters.api.auth import TokenSigner
from touchstream.adapters.api.sql_door import DOOR_VIEWS, SqlRefused, open_door_store, run, schema
from touchstream.adapters.bootstrap import Runtime
from touchstream.adapters.config import load_settings
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.projections.roles import (
    DEPARTMENTS,
    ENDPOINTS,
    ROLES,
    SECTIONS,
    Role,
    pseudonym,
    roles_from_mapping,
)
from touchstream.streams.ports import AbstractReadStore

TAG = uuid.uuid4().hex[:8]
EMAIL = f"zelda.marker{TAG}@markco{TAG}.example"
LAST_NAME = f"Marker{TAG}"
PHONE = "+14155550199"
COMPANY = f"MarkCo{TAG}"
TICKET_TEXT = f"TicketText{TAG}"
CSAT_COMMENT = f"CsatComment{TAG}"
AMOUNT = "987654.32"


def seeded_events() -> list[dict[str, Any]]:
    ids = {"email": EMAIL, "account_domain": f"markco{TAG}.example"}
    return [
        wire(
            "ContactDetailsObserved",
            {
                "first_name": "Zelda",
                "last_name": LAST_NAME,
                "company": COMPANY,
                "job_title": "CTO",
                "phone": PHONE,
            },
            ids,
            "hubspot",
        ),
        wire(
            "OpportunityCreated",
            {
                "opportunity_id": f"opp{TAG}",
                "name": "Expansion",
                "amount": {"amount": AMOUNT, "currency": "USD"},
            },
            ids,
            "salesforce",
        ),
        wire(
            "TicketOpened",
            {
                "ticket_id": f"t{TAG}",
                "subject": f"{TICKET_TEXT} printer on fire",
                "priority": "P2",
                "channel": "email",
            },
            ids,
            "zendesk",
        ),
        wire(
            "CsatSubmitted",
            {"survey_id": f"s{TAG}", "score": 2, "comment": f"{CSAT_COMMENT} slow"},
            ids,
            "zendesk",
        ),
    ]


def may_see(role: Role) -> dict[str, bool]:
    """Which markers the role may read: the rule the answers must obey."""
    person = not role.pseudonymize
    return {
        EMAIL: person and "contact" in role.sections,
        LAST_NAME: person and "contact" in role.sections,
        PHONE: person and "contact" in role.sections,
        COMPANY: person and "role" in role.sections,
        TICKET_TEXT: person and "tickets" in role.sections,
        CSAT_COMMENT: person and "satisfaction" in role.sections,
        AMOUNT: role.sees_amounts,
    }


@dataclass
class World:
    folder: Path
    store: AbstractReadStore
    contact_id: str
    account_id: str
    schema: dict[str, list[str]]  # the SQL door's views and their columns


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("role_answers")
    settings = load_settings({"TOUCHSTREAM_MODE": "embedded", "TOUCHSTREAM_DATA_DIR": str(folder)})
    with Runtime(settings).read_store() as store:
        load_story(store, folder, story_config(customers=20, accounts=4), extra=seeded_events())
        found = store.query(
            "SELECT contact_id, account_id FROM customer_360_current WHERE email = %(e)s", {"e": EMAIL}
        )
        assert found, "the seeded customer was not projected"
        tables = {v: c for v, c in schema(store).items() if v in DOOR_VIEWS}
        yield World(folder, store, str(found[0][0]), str(found[0][1]), tables)


def calls(world: World, role: Role) -> list[tuple[str, str, dict[str, Any]]]:
    """(endpoint, path, params) for every GET endpoint, aimed at the seeded customer where it can be."""
    key = SECRET_SIGNER.pseudonym_key
    contact = pseudonym(key, world.contact_id) if role.pseudonymize else world.contact_id
    account = pseudonym(key, world.account_id) if role.pseudonymize else world.account_id
    out: list[tuple[str, str, dict[str, Any]]] = [
        ("customers", "/v1/customers/search", {"q": contact if role.pseudonymize else f"Zelda {LAST_NAME}"}),
        ("customers", "/v1/customers/search", {"q": EMAIL}),
        ("customers", f"/v1/customers/{contact}", {}),
        ("timeline", f"/v1/customers/{contact}/timeline", {"limit": 500}),
        ("accounts", f"/v1/accounts/{account}", {}),
    ]
    from touchstream.adapters.api.queries import LISTS

    for path, name, endpoint, _ in LIST_ROUTES:
        params: dict[str, Any] = {"limit": 1000}
        if "contact_id" in LISTS[name].filters:
            params["contact_id"] = contact
        out.append((endpoint, path, params))
    return out


SECRET_SIGNER = TokenSigner(SECRET)


def answers_obey(world: World, roles: dict[str, Role], name: str) -> str:
    """Every answer the role gets, checked; returns all the text it was shown."""
    role = roles[name]
    signer = TokenSigner(SECRET, roles)
    settings = load_settings({"TOUCHSTREAM_MODE": "embedded", "TOUCHSTREAM_DATA_DIR": str(world.folder)})
    app = create_api(
        lambda: ChDBStore(str(world.folder / "chdb"), database="touchstream"),
        signer,
        open_door=lambda: open_door_store(Runtime(settings)),
    )
    allowed = may_see(role)
    seen: list[str] = []
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {signer.mint(name, 'prop', 600)}"}
        for endpoint, path, params in calls(world, role):
            answer = client.get(path, params=params, headers=headers)
            if not role.may(endpoint):
                assert answer.status_code == 403, (name, path, answer.text)
                continue
            assert answer.status_code in (200, 403, 404), (name, path, answer.text)
            body = answer.json()
            if isinstance(body, dict):
                body.pop("query", None)  # the search echoes what the caller typed
            text = orjson.dumps(body).decode()
            for marker, ok in allowed.items():
                assert ok or marker not in text, (name, path, marker)
            seen.append(text)
        seen.extend(door_answers(client, headers, world, role, allowed))
    return "\n".join(seen)


def door_answers(
    client: TestClient, headers: dict[str, str], world: World, role: Role, allowed: dict[str, bool]
) -> list[str]:
    """POST /v1/sql: every view the role may read, every column it may see (and a * where it may not)."""
    out: list[str] = []
    for view, columns in sorted(world.schema.items()):
        readable = role.readable_columns(view, columns)
        statement = f"SELECT {', '.join(readable) or '*'} FROM {view} LIMIT 50000"
        answer = client.post("/v1/sql", json={"sql": statement}, headers=headers)
        if not role.may("sql"):
            assert answer.status_code == 403, (role.name, answer.text)
            return out
        assert answer.status_code == (200 if readable else 400), (role.name, view, answer.text)
        text = orjson.dumps(answer.json()).decode()
        for marker, ok in allowed.items():
            assert ok or marker not in text, (role.name, view, marker)
        out.append(text)
    return out


@pytest.mark.parametrize("name", sorted(ROLES))
def test_every_built_in_role_against_every_endpoint(world: World, name: str) -> None:
    shown = answers_obey(world, ROLES, name)
    role = ROLES[name]
    # The other half: what a role may read does reach it (so the walk above can fail both ways).
    if role.may("timeline") and not role.pseudonymize and "tickets" in role.sections:
        assert TICKET_TEXT in shown, name
    if role.may("customers") and not role.pseudonymize and "contact" in role.sections:
        assert EMAIL in shown, name
    if role.may("customers") and role.sees_amounts:
        assert AMOUNT in shown.replace('"', ""), name


def test_marketing_reads_no_ticket_text_and_no_amount_through_the_timeline(world: World) -> None:
    shown = answers_obey(world, ROLES, "marketing")
    assert TICKET_TEXT not in shown
    assert AMOUNT not in shown
    assert COMPANY not in shown  # search and account answers per role: no role-and-influence section
    assert EMAIL in shown


def test_the_sql_door_answers_per_role(world: World) -> None:
    settings = load_settings({"TOUCHSTREAM_MODE": "embedded", "TOUCHSTREAM_DATA_DIR": str(world.folder)})
    door = open_door_store(Runtime(settings))
    try:
        tables = schema(door)
        for name, role in sorted(ROLES.items()):
            allowed = may_see(role)
            shown: list[str] = []
            for view in sorted(DOOR_VIEWS & set(tables)):
                readable = role.readable_columns(view, tables[view])
                if not readable:
                    with pytest.raises(SqlRefused, match=f"table {view}"):
                        run(door, f"SELECT count() FROM {view}", role)
                    continue
                _, rows = run(door, f"SELECT {', '.join(readable)} FROM {view} LIMIT 50000", role)
                text = orjson.dumps([[str(v) for v in r] for r in rows]).decode()
                for marker, ok in allowed.items():
                    assert ok or marker not in text, (name, view, marker)
                shown.append(text)
            if name == "admin":
                assert all(m in "".join(shown) for m in (EMAIL, COMPANY, TICKET_TEXT, AMOUNT))
    finally:
        door.close()


_custom_roles = st.builds(
    lambda sections, endpoints, departments, pseudonymize: {
        "sections": sorted(sections),
        "endpoints": sorted(endpoints),
        "signal_departments": sorted(departments),
        "pseudonymize": pseudonymize,
    },
    st.sets(st.sampled_from(sorted(SECTIONS))),
    st.sets(st.sampled_from(ENDPOINTS), min_size=1),
    st.sets(st.sampled_from(DEPARTMENTS)),
    st.booleans(),
)


# Each example walks every endpoint and view (~3 s): a dozen random roles keep the suite in its budget.
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(table=_custom_roles)
def test_any_configured_role_sees_only_what_it_may(world: World, table: dict[str, Any]) -> None:
    roles = roles_from_mapping({"custom": table})
    answers_obey(world, roles, "custom")
