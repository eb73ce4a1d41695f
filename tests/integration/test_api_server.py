"""The query API against the real ClickHouse 18.16 server: a generated story projected by the embedded
runner into a fresh server database, then every endpoint, the role matrix, and schemathesis."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from unit.test_api_fixtures import (
    EXTERNAL_ID,
    auth,
    check_account_signals,
    load_story,
    open_door_when_ready,
    pick_contact,
    signer,
    sql_password,
    token,
)

from touchstream.adapters.api.app import LIST_ROUTES, create_api
from touchstream.adapters.api.queries import ONE_GROUP_360, ONE_ROW_360, as_dicts, own_row
from touchstream.adapters.api.sql_door import SqlRefused, check, open_door_store
from touchstream.adapters.bootstrap import Runtime
from touchstream.adapters.config import load_settings
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.projections.roles import ROLES, pseudonym
from touchstream.streams.ports import AbstractReadStore, ReadStoreError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(
    clickhouse_endpoint: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AbstractReadStore, str, int, str]]:
    host, port = clickhouse_endpoint
    folder: Path = tmp_path_factory.mktemp("api_server")
    database = "t_api_" + folder.name.replace("-", "_")[-12:]
    with ClickHouseServerStore(host, port, database, create_database=True) as store:
        try:
            load_story(store, folder)
            yield store, host, port, database
        finally:
            store.execute(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture(scope="module")
def client(server: tuple[AbstractReadStore, str, int, str]) -> Iterator[TestClient]:
    _, host, port, database = server
    door_settings = replace(
        load_settings(
            {
                "TOUCHSTREAM_MODE": "production",
                "TOUCHSTREAM_CLICKHOUSE_HOST": host,
                "TOUCHSTREAM_CLICKHOUSE_PORT": str(port),
                "TOUCHSTREAM_CLICKHOUSE_DATABASE": database,
            }
        ),
        clickhouse_sql_password=sql_password(),
    )
    open_door_when_ready(Runtime(door_settings)).close()
    app = create_api(
        lambda: ClickHouseServerStore(host, port, database),
        signer(),
        open_door=lambda: open_door_store(Runtime(door_settings)),
    )
    with TestClient(app) as opened:
        yield opened


def get(client: TestClient, path: str, role: str, **params: Any) -> Any:
    answer = client.get(path, params=params, headers=auth(role))
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.timeout(240)
def test_the_role_matrix_on_the_server(
    client: TestClient, server: tuple[AbstractReadStore, str, int, str]
) -> None:
    store = server[0]
    jane = pick_contact(store, "phone != '' AND account_id != ''")
    for role_name, role in ROLES.items():
        ref = (
            pseudonym(signer().pseudonym_key, jane["contact_id"]) if role.pseudonymize else jane["contact_id"]
        )
        view = get(client, f"/v1/customers/{ref}", role_name)
        assert {f for section in view.values() for f in section} == set(role.fields), role_name
        for path, _, endpoint, _ in LIST_ROUTES:
            answer = client.get(path, headers=auth(role_name))
            assert answer.status_code == (200 if role.may(endpoint) else 403), (role_name, path, answer.text)
    sales = get(client, f"/v1/customers/{jane['contact_id']}", "sales")
    assert sales["contact"]["email"] == jane["email"]
    assert sales["identity"]["touches"] == jane["touches"]


@pytest.mark.timeout(240)
def test_search_timeline_account_and_lists_on_the_server(
    client: TestClient, server: tuple[AbstractReadStore, str, int, str]
) -> None:
    store = server[0]
    jane = pick_contact(store, "phone != '' AND account_id != ''")
    found = get(client, "/v1/customers/search", "sales", q=jane["email"])["results"]
    assert found[0]["contact_id"] == jane["contact_id"]
    assert found[0]["score"] == 1.0
    by_name = get(client, "/v1/customers/search", "sales", q=f"{jane['first_name']} {jane['last_name'][:-1]}")
    assert by_name["results"][0]["contact_id"] == jane["contact_id"]
    by_ext = get(client, "/v1/customers/search", "support", q=":".join(EXTERNAL_ID))["results"]
    assert by_ext[0]["last_name"] == "Quantrill"
    expected = store.query(
        "SELECT event_id FROM timeline WHERE contact_id = %(c)s ORDER BY occurred_at DESC, event_id DESC",
        {"c": jane["contact_id"]},
    )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 25} | ({"cursor": cursor} if cursor else {})
        page = get(client, f"/v1/customers/{jane['contact_id']}/timeline", "support", **params)
        seen.extend(i["event_id"] for i in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r[0] for r in expected]
    account = get(client, f"/v1/accounts/{jane['account_id']}", "sales")
    assert account["rollup"]["contacts"] == len(account["contacts"])
    open_deals = get(client, "/v1/pipeline", "sales", status="open", limit=1000)["rows"]
    assert len(open_deals) == store.query("SELECT count() FROM sales_pipeline WHERE status = 'open'")[0][0]
    nps = get(client, "/v1/satisfaction/nps", "marketing", since="2000-01-01", limit=1000)["rows"]
    assert sum(r["responses"] for r in nps) == store.query("SELECT sum(responses) FROM nps_by_period")[0][0]
    holds = get(client, "/v1/signals", "sales", kind="service_hold", limit=1000)["rows"]
    assert len(holds) == store.query("SELECT count() FROM active_signals WHERE kind = 'service_hold'")[0][0]
    assert get(client, "/v1/data-quality", "analyst")["rows"]


@pytest.mark.timeout(240)
def test_an_account_answer_carries_its_live_account_level_signals_on_the_server(
    client: TestClient, server: tuple[AbstractReadStore, str, int, str]
) -> None:
    store = server[0]
    check_account_signals(client, store, pick_contact(store, "account_id != ''")["account_id"])


def test_read_only_sql_is_refused_twice_on_the_server(
    server: tuple[AbstractReadStore, str, int, str],
) -> None:
    _, host, port, database = server
    with pytest.raises(SqlRefused):
        check("DROP TABLE touchpoints", ROLES["admin"], {})
    with ClickHouseServerStore(host, port, database, settings={"readonly": 1}) as readonly:
        statement = check(
            "SELECT count() FROM customer_360_current",
            ROLES["admin"],
            {"customer_360_current": ["contact_id"]},
        )
        assert readonly.query(statement)[0][0] > 0
        with pytest.raises(ReadStoreError, match="readonly"):
            readonly.execute("CREATE TABLE sneaky (a UInt8) ENGINE = Memory")


def test_the_sql_door_over_http_on_the_server(
    client: TestClient, server: tuple[AbstractReadStore, str, int, str]
) -> None:
    """POST /v1/sql runs as the read-only user: the analyst's aggregate answers, a file read is refused
    by the door, and the engine refuses what the door would never send (its profile is readonly=1)."""
    store = server[0]
    query = "SELECT kind, count() AS n FROM active_signals GROUP BY kind ORDER BY kind"
    answer = client.post("/v1/sql", json={"sql": query}, headers=auth("analyst"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [list(r) for r in store.query(query)]
    refused = client.post("/v1/sql", json={"sql": "SELECT file('/etc/passwd')"}, headers=auth("admin"))
    assert refused.status_code == 400
    assert refused.json()["message"].startswith("refused: function file()")
    assert client.post("/v1/sql", json={"sql": query}, headers=auth("support")).status_code == 403
    with client.app.state.api.door.borrow() as door:  # type: ignore[attr-defined]
        assert door.query("SELECT value FROM system.settings WHERE name = 'readonly'") == [("1",)]
        with pytest.raises(ReadStoreError, match="readonly"):
            door.execute("CREATE TABLE sneaky (a UInt8) ENGINE = Memory")


@pytest.mark.timeout(240)
def test_schemathesis_finds_no_5xx_on_the_server(client: TestClient) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    headers = {"Authorization": f"Bearer {token('admin')}"}
    excluded = [positive_data_acceptance, negative_data_rejection]  # as in tests/unit/test_api_openapi.py
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path != "/v1/feed"]
    for operation, mode in itertools.product(operations, [GenerationMode.POSITIVE]):

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=excluded)

        check()


@pytest.mark.timeout(240)
def test_a_contact_alone_reads_its_row_as_the_group_aggregates_would_on_the_server(
    server: tuple[AbstractReadStore, str, int, str],
) -> None:
    """`ONE_ROW_360` on 18.16 answers what `ONE_GROUP_360` over that one row answers (also on chDB:
    tests/unit/test_profile_document_ranges.py)."""
    store = server[0]
    contacts = [
        str(r[0]) for r in store.query("SELECT contact_id FROM customer_360 FINAL ORDER BY 1 LIMIT 40")
    ]
    assert contacts
    for contact in contacts:
        one_columns, one = store.query_with_columns(ONE_ROW_360, {"id": contact})
        group_columns, group = store.query_with_columns(
            ONE_GROUP_360, {"ids": (contact,), "survivor": contact}
        )
        assert [n for n, _ in one_columns] == [n for n, _ in group_columns]
        assert one == group, contact
        # The row's `profile` column (what the document reads) holds those values, in that order.
        assert list(own_row(store, contact).items()) == list(as_dicts(one_columns, one)[0].items()), contact
