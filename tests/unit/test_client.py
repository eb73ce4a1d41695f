"""The Python client against the real API app (in process) on chDB: models, paging, DataFrames, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from unit.test_api_fixtures import load_story, pick_contact, signer, token

from touchstream.adapters.api import create_api
from touchstream.adapters.chdb_store import ChDBStore
from touchstream.adapters.client import LIST_PATHS, ApiClientError, TouchstreamClient
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
