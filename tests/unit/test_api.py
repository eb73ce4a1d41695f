"""The query API on chDB with a generated story: roles enforced (401/403), the role matrix through HTTP,
search, the 360 view, timeline paging, the account view and the filtered lists."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from unit.test_api_fixtures import (
    EXTERNAL_ID,
    SECRET,
    auth,
    check_account_signals,
    load_story,
    pick_contact,
    signer,
    token,
)

from touchstream.adapters.api.app import LIST_ROUTES, create_api
from touchstream.adapters.api.auth import TokenSigner
from touchstream.adapters.api.queries import profile_document
from touchstream.adapters.api.sql_door import open_door_store
from touchstream.adapters.bootstrap import Runtime
from touchstream.adapters.config import load_settings
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.projections.roles import FIELDS, ROLES, pseudonym
from touchstream.streams.ports import AbstractReadStore


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api")


@pytest.fixture(scope="module")
def store(folder: Path) -> Iterator[AbstractReadStore]:
    with ChDBStore(str(folder / "chdb")) as opened:
        load_story(opened, folder)
        yield opened


@pytest.fixture(scope="module")
def client(store: AbstractReadStore, folder: Path) -> Iterator[TestClient]:
    settings = load_settings(
        {
            "TOUCHSTREAM_MODE": "embedded",
            "TOUCHSTREAM_DATA_DIR": str(folder),
            "TOUCHSTREAM_CLICKHOUSE_DATABASE": "default",
        }
    )
    app = create_api(
        lambda: ChDBStore(str(folder / "chdb")),
        signer(),
        open_door=lambda: open_door_store(Runtime(settings)),
    )
    with TestClient(app) as opened:
        yield opened


@pytest.fixture(scope="module")
def jane(store: AbstractReadStore) -> dict[str, Any]:
    """The busiest named contact with a phone, an account, and an open ticket or deal."""
    return pick_contact(store, "phone != '' AND account_id != ''")


def get(client: TestClient, path: str, role: str, **params: Any) -> Any:
    answer = client.get(path, params=params, headers=auth(role))
    assert answer.status_code == 200, answer.text
    return answer.json()


def fields_of(view: dict[str, dict[str, Any]]) -> set[str]:
    return {f for section in view.values() for f in section}


def test_no_token_a_forged_one_or_an_expired_one_is_401(client: TestClient, jane: dict[str, Any]) -> None:
    path = f"/v1/customers/{jane['contact_id']}"
    assert client.get(path).status_code == 401
    assert client.get(path).headers["www-authenticate"].startswith("Bearer")
    forged = TokenSigner(b"another secret that is long enough!!").mint("admin", "mallory", 3600)
    expired = signer().mint("admin", "old", 60, now=time.time() - 3600)
    tampered = token("sales")[:-2] + "xx"
    for bad in (forged, expired, tampered, "tsa_nonsense", "Bearer"):
        answer = client.get(path, headers={"Authorization": f"Bearer {bad}"})
        assert answer.status_code == 401, bad
        assert answer.json()["error"] == "unauthorized"


def test_every_role_against_every_endpoint(client: TestClient, jane: dict[str, Any]) -> None:
    paths = {endpoint: path for path, _, endpoint, _ in LIST_ROUTES}
    paths["customers"] = "/v1/customers/search?q=" + jane["email"]
    paths["timeline"] = f"/v1/customers/{jane['contact_id']}/timeline"
    paths["accounts"] = f"/v1/accounts/{jane['account_id']}"
    for role_name, role in ROLES.items():
        for endpoint, path in sorted(paths.items()):
            answer = client.get(path, headers=auth(role_name))
            if not role.may(endpoint):
                assert answer.status_code == 403, (role_name, endpoint)
                assert answer.json()["error"] == "forbidden"
            elif role.pseudonymize and endpoint in ("customers", "timeline", "accounts"):
                # analysts address people by pseudonym only; real ids and emails are refused or unknown
                assert answer.status_code in (403, 404), (role_name, endpoint)
            else:
                assert answer.status_code == 200, (role_name, endpoint, answer.text)


def test_the_role_matrix_through_the_api(
    client: TestClient, store: AbstractReadStore, jane: dict[str, Any]
) -> None:
    document = profile_document(store, jane["contact_id"])
    assert document is not None
    assert set(document) >= set(FIELDS), "the document must carry every field the matrix speaks of"
    for role_name, role in ROLES.items():
        ref = (
            pseudonym(signer().pseudonym_key, jane["contact_id"]) if role.pseudonymize else jane["contact_id"]
        )
        view = get(client, f"/v1/customers/{ref}", role_name)
        assert fields_of(view) == set(role.fields), role_name
        me = get(client, "/v1/me", role_name)
        assert set(me["fields"]) == set(role.fields)
        assert me["role"] == role_name


def test_the_360_view_answers_with_the_story(
    client: TestClient, store: AbstractReadStore, jane: dict[str, Any]
) -> None:
    sales = get(client, f"/v1/customers/{jane['contact_id']}", "sales")
    assert sales["contact"]["email"] == jane["email"]
    assert sales["role"]["company"] == jane["company"]
    assert sales["identity"]["touches"] == jane["touches"]
    assert sales["pipeline"]["open_pipeline"] == str(jane["open_pipeline"])
    assert sales["lifecycle"]["lifecycle_stage"] == jane["lifecycle_stage"]
    holds = store.query(
        "SELECT reason FROM active_signals WHERE contact_id = %(c)s AND kind = 'service_hold'",
        {"c": jane["contact_id"]},
    )
    assert sales["service_hold"]["service_hold"] == bool(holds)
    assert sales["service_hold"]["service_hold_reason"] == (holds[0][0] if holds else None)
    marketing = get(client, f"/v1/customers/{jane['contact_id']}", "marketing")
    assert "pipeline" not in marketing
    assert "open_pipeline" not in str(marketing)
    assert marketing["segments"]["segments"][0] == f"lifecycle:{jane['lifecycle_stage']}"
    support = get(client, f"/v1/customers/{jane['contact_id']}", "support")
    assert support["tickets"]["open_tickets"] == jane["open_tickets"]
    assert all("amount" not in deal for deal in support["sales_promise"]["open_deals"])
    analyst = get(client, f"/v1/customers/{pseudonym(signer().pseudonym_key, jane['contact_id'])}", "analyst")
    assert jane["email"] not in str(analyst)
    assert jane["contact_id"] not in str(analyst)
    assert client.get("/v1/customers/nobody", headers=auth("sales")).status_code == 404


def test_search_by_email_phone_external_id_and_a_misspelt_name(
    client: TestClient, store: AbstractReadStore, jane: dict[str, Any]
) -> None:
    by_email = get(client, "/v1/customers/search", "sales", q=jane["email"].upper())
    assert by_email["kind"] == "email"
    assert by_email["results"][0]["contact_id"] == jane["contact_id"]
    assert by_email["results"][0]["score"] == 1.0
    local = "(" + jane["phone"][2:5] + ") " + jane["phone"][5:8] + "-" + jane["phone"][8:]
    by_phone = get(
        client,
        "/v1/customers/search",
        "support",
        q=local if jane["phone"].startswith("+1") else jane["phone"],
    )
    assert by_phone["kind"] == "phone"
    assert jane["contact_id"] in [r["contact_id"] for r in by_phone["results"]]
    first, last = jane["first_name"], jane["last_name"]
    typo = f"{first[0]}{first[2]}{first[1]}{first[3:]} {last}" if len(first) > 3 else f"{first} {last[:-1]}"
    by_name = get(client, "/v1/customers/search", "sales", q=typo)
    assert by_name["kind"] == "name"
    ranked = [r["contact_id"] for r in by_name["results"]]
    assert ranked[0] == jane["contact_id"], (typo, by_name["results"][:3])
    scores = [r["score"] for r in by_name["results"]]
    assert scores == sorted(scores, reverse=True)
    system, ident = EXTERNAL_ID
    owner = store.query(
        "SELECT DISTINCT contact_id FROM touchpoints FINAL WHERE identifier = %(i)s",
        {"i": f"ext:{system}:{ident}"},
    )[0][0]
    by_ext = get(client, "/v1/customers/search", "support", q=f"{system}:{ident}")
    assert by_ext["kind"] == "external_id"
    assert [r["contact_id"] for r in by_ext["results"]] == [owner]
    assert by_ext["results"][0]["last_name"] == "Quantrill"
    by_bare_id = get(client, "/v1/customers/search", "support", q=ident, kind="external_id")
    assert [r["contact_id"] for r in by_bare_id["results"]] == [owner]
    nothing = get(client, "/v1/customers/search", "sales", q="zzqxj nobody")
    assert nothing["results"] == []
    marketing = get(client, "/v1/customers/search", "marketing", q=jane["email"])
    assert "phone" in marketing["results"][0]
    analyst = client.get("/v1/customers/search", params={"q": jane["email"]}, headers=auth("analyst"))
    assert analyst.status_code == 403
    alias = pseudonym(signer().pseudonym_key, jane["contact_id"])
    assert get(client, "/v1/customers/search", "analyst", q=alias)["results"][0]["contact_id"] == alias


def test_timeline_pages_through_everything_newest_first(
    client: TestClient, store: AbstractReadStore, jane: dict[str, Any]
) -> None:
    expected = store.query(
        "SELECT event_id FROM timeline WHERE contact_id = %(c)s ORDER BY occurred_at DESC, event_id DESC",
        {"c": jane["contact_id"]},
    )
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = get(client, f"/v1/customers/{jane['contact_id']}/timeline", "sales", **params)
        seen.extend(item["event_id"] for item in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r[0] for r in expected]
    assert pages == (len(expected) + 6) // 7 or pages == len(expected) // 7 + 1
    support_only = get(
        client, f"/v1/customers/{jane['contact_id']}/timeline", "sales", department="support", limit=500
    )
    assert support_only["items"]
    assert {i["department"] for i in support_only["items"]} == {"support"}
    foreign = client.get(f"/v1/customers/{jane['contact_id']}/timeline?cursor=abc", headers=auth("sales"))
    assert foreign.status_code == 400
    assert foreign.json()["error"] == "bad_request"
    malformed = client.get(f"/v1/customers/{jane['contact_id']}/timeline?cursor=!!", headers=auth("sales"))
    assert malformed.status_code == 422


def test_marketing_timeline_lines_carry_no_amounts(client: TestClient, store: AbstractReadStore) -> None:
    rows = store.query(
        "SELECT contact_id FROM timeline WHERE type = 'OpportunityWon' ORDER BY event_id LIMIT 1"
    )
    assert rows
    contact = rows[0][0]
    sales = get(client, f"/v1/customers/{contact}/timeline", "sales", type="OpportunityWon", limit=5)
    marketing = get(client, f"/v1/customers/{contact}/timeline", "marketing", type="OpportunityWon", limit=5)
    assert any(any(c.isdigit() for c in i["summary"]) for i in sales["items"])
    assert {i["summary"] for i in marketing["items"]} == {"OpportunityWon"}


def test_account_view_rolls_up_its_contacts(client: TestClient, jane: dict[str, Any]) -> None:
    sales = get(client, f"/v1/accounts/{jane['account_id']}", "sales")
    assert sales["rollup"]["contacts"] == len(sales["contacts"])
    assert jane["contact_id"] in [c["contact_id"] for c in sales["contacts"]]
    assert "open_pipeline" in sales["rollup"]
    marketing = get(client, f"/v1/accounts/{jane['account_id']}", "marketing")
    assert "open_pipeline" not in marketing["rollup"]
    assert "lifetime_revenue" not in marketing["rollup"]
    alias = pseudonym(signer().pseudonym_key, jane["account_id"])
    analyst = get(client, f"/v1/accounts/{alias}", "analyst")
    assert analyst["rollup"]["account_id"] == alias
    assert all("email" not in c and c["contact_id"].startswith("p_") for c in analyst["contacts"])
    assert client.get("/v1/accounts/none", headers=auth("sales")).status_code == 404


def test_an_account_answer_carries_its_account_level_signals_for_roles_that_hear_them(
    client: TestClient, store: AbstractReadStore, jane: dict[str, Any]
) -> None:
    check_account_signals(client, store, jane["account_id"])


def test_lists_filter_and_shape(client: TestClient, store: AbstractReadStore) -> None:
    open_deals = get(client, "/v1/pipeline", "sales", status="open", limit=1000)["rows"]
    assert open_deals
    assert {r["status"] for r in open_deals} == {"open"}
    assert len(open_deals) == store.query("SELECT count() FROM sales_pipeline WHERE status = 'open'")[0][0]
    p1 = get(client, "/v1/support/tickets", "support", priority="P1", limit=1000)["rows"]
    assert {r["priority"] for r in p1} <= {"P1"}
    funnel = get(client, "/v1/funnel", "marketing", since="2000-01-01")["rows"]
    assert sum(r["leads"] for r in funnel) == store.query("SELECT sum(leads) FROM sales_funnel")[0][0]
    assert get(client, "/v1/funnel", "marketing", since="2999-01-01")["rows"] == []
    analyst_pipeline = get(client, "/v1/pipeline", "analyst", limit=5)["rows"]
    assert all("name" not in r and r["contact_id"].startswith("p_") for r in analyst_pipeline)
    quality = get(client, "/v1/data-quality", "admin", department="sales")["rows"]
    assert quality
    assert {r["department"] for r in quality} == {"sales"}
    paged = [get(client, "/v1/pipeline", "sales", limit=3, offset=o)["rows"] for o in (0, 3)]
    assert [r["opportunity_id"] for r in paged[0] + paged[1]] == [
        r["opportunity_id"] for r in get(client, "/v1/pipeline", "sales", limit=6)["rows"]
    ]


def test_signals_list_only_the_departments_a_role_hears(client: TestClient, store: AbstractReadStore) -> None:
    every = {r[0] for r in store.query("SELECT DISTINCT department FROM active_signals")}
    assert "sales" in every
    assert "support" in every
    for role_name, role in ROLES.items():
        if not role.may("signals"):
            continue
        rows = get(client, "/v1/signals", role_name, limit=1000)["rows"]
        assert {r["department"] for r in rows} == every & role.signal_departments, role_name
    holds = get(client, "/v1/signals", "sales", kind="service_hold", limit=1000)["rows"]
    assert holds
    assert all(r["kind"] == "service_hold" and r["reason"] for r in holds)
    assert get(client, "/v1/signals", "sales", department="support")["rows"] == []


def test_secret_is_not_in_any_answer(client: TestClient, jane: dict[str, Any]) -> None:
    answer = client.get(f"/v1/customers/{jane['contact_id']}", headers=auth("admin"))
    assert SECRET.decode() not in answer.text


def test_the_sql_door_over_http_answers_per_role(client: TestClient, store: AbstractReadStore) -> None:
    def sql(role: str, statement: str) -> Any:
        return client.post("/v1/sql", json={"sql": statement}, headers=auth(role))

    query = "SELECT kind, count() AS n FROM active_signals GROUP BY kind ORDER BY kind"
    answer = sql("analyst", query)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"columns": ["kind", "n"], "rows": [list(r) for r in store.query(query)]}
    # Analysts read no identity; marketing no money; sales may not use the door at all (the matrix).
    hidden = sql("analyst", "SELECT contact_id FROM active_signals")
    assert hidden.status_code == 400
    assert hidden.json()["message"] == (
        "refused: column contact_id of active_signals: the analyst role may not read it"
    )
    assert sql("sales", query).status_code == 403
    leaked = sql("admin", "SELECT * FROM file('/etc/hostname', 'LineAsString')")
    assert leaked.status_code == 400
    assert "function file(): it reads or writes files" in leaked.json()["message"]
    failed = sql("admin", "SELECT no_such_column FROM touchpoints")
    assert failed.status_code == 400
    assert failed.json()["message"].startswith("the query failed")
    assert sql("admin", "SELECT count() FROM touchpoints").json()["rows"][0][0] > 0
