"""The Python client against the real API app (in process) on chDB: models, paging, DataFrames, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from unit.test_api_fixtures import load_story, pick_contact, signer, token

from touchstream.adapters.api.app import create_api
from touchstream.adapters.api.sql_door import chdb_door
from touchstream.adapters.sdk.client import LIST_PATHS, ApiClientError, TouchstreamClient
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.streams.ports import AbstractReadStore


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AbstractReadStore, TestClient]]:
    folder: Path = tmp_path_factory.mktemp("client")
    with ChDBStore(str(folder / "chdb")) as store:
        load_story(store, folder)
        app = create_api(lambda: ChDBStore(str(folder / "chdb")), signer())
        with TestClient(app) as http:
            yield store, http


def client(http: TestClient, role: str) -> TouchstreamClient:
    return TouchstreamClient("http://testserver", token(role), http=http)


def test_search_the_360_view_and_the_timeline(world: tuple[AbstractReadStore, TestClient]) -> None:
    store, http = world
    jane = pick_contact(store)
    with client(http, "sales") as api:
        assert api.me().role == "sales"
        found = api.search(jane["email"])
        assert found[0].contact_id == jane["contact_id"]
        assert found[0].email == jane["email"]
        view = api.customer(jane["contact_id"]).model_dump(exclude_unset=True)
        assert view["contact"]["email"] == jane["email"]
        assert "tickets" not in view  # outside the sales role: unset, not None
        touches = list(api.timeline(jane["contact_id"], page_size=9))
        expected = store.query(
            "SELECT count() FROM timeline WHERE contact_id = %(c)s", {"c": jane["contact_id"]}
        )
        assert len(touches) == expected[0][0]
        assert len({t.event_id for t in touches}) == len(touches)  # type: ignore[attr-defined]
        support = list(api.timeline(jane["contact_id"], departments=["support"]))
        assert {t.department for t in support} <= {"support"}  # type: ignore[attr-defined]
        account = api.account(jane["account_id"])
        assert jane["contact_id"] in [c.contact_id for c in account.contacts]  # type: ignore[attr-defined]


def test_lists_as_models_and_dataframes(world: tuple[AbstractReadStore, TestClient]) -> None:
    store, http = world
    with client(http, "analyst") as api:
        for name in LIST_PATHS:
            api.rows(name, limit=5)
        pipeline = api.rows("pipeline", status="open")
        assert pipeline
        assert all(r.status == "open" for r in pipeline)  # type: ignore[attr-defined]
        nps = api.frame("nps", since="2000-01-01")
        assert list(nps.columns)[:3] == ["period", "account_id", "responses"]
        assert int(nps["responses"].sum()) == store.query("SELECT sum(responses) FROM nps_by_period")[0][0]
        assert nps["account_id"].map(lambda a: a == "" or a.startswith("p_")).all()


def test_refusals_become_errors(world: tuple[AbstractReadStore, TestClient]) -> None:
    _, http = world
    with client(http, "marketing") as api, pytest.raises(ApiClientError) as refused:
        api.rows("pipeline")
    assert refused.value.status == 403
    assert refused.value.error == "forbidden"
    with (
        TouchstreamClient("http://testserver", "tsa_bad.token", http=http) as bad,
        pytest.raises(ApiClientError) as err,
    ):
        bad.me()
    assert err.value.status == 401
    with client(http, "sales") as api, pytest.raises(ApiClientError) as missing:
        api.customer("nobody")
    assert missing.value.status == 404


def test_sql_through_the_door_and_as_a_narrower_role(world: tuple[AbstractReadStore, TestClient]) -> None:
    store, _ = world
    folder = str(store.path)
    app = create_api(lambda: ChDBStore(folder), signer(), open_door=lambda: chdb_door(ChDBStore(folder)))
    query = "SELECT kind, count() AS active FROM active_signals GROUP BY kind ORDER BY kind"
    with TestClient(app) as door_http:
        with TouchstreamClient("http://testserver", token("admin"), http=door_http) as admin:
            columns, rows = admin.sql(query)
            assert columns == ["kind", "active"]
            assert [tuple(r) for r in rows] == [tuple(r) for r in store.query(query)]
            # The operator's door: an admin token reads as the role it names, and only what that role may.
            funnel = "SELECT count() AS periods FROM sales_funnel"
            assert admin.sql(funnel, role="sales")[1] == admin.sql(funnel)[1]
            with pytest.raises(ApiClientError, match="the sales role may not read it"):
                admin.sql(query, role="sales")
            with pytest.raises(ApiClientError) as hidden:
                admin.sql("SELECT open_pipeline FROM customer_360_current", role="marketing")
            assert hidden.value.status == 400
            assert "the marketing role may not read it" in hidden.value.message
        with (
            TouchstreamClient("http://testserver", token("analyst"), http=door_http) as analyst,
            pytest.raises(ApiClientError) as other,
        ):
            analyst.sql(query, role="admin")  # only a token that sees everything may name another role
        assert other.value.status == 403
