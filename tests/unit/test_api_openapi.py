"""The query API's OpenAPI document drives schemathesis over every operation: no request, valid or not,
with any role's token, gets a 5xx or an answer the document does not describe.

Driven through schemathesis' Python API (one bounded hypothesis run per operation and mode), as the
gateway's test does; the live feed (an endless event stream) is covered by test_feed.py instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from unit.test_api_fixtures import load_story, signer, token

from touchstream.adapters.api.app import create_api
from touchstream.adapters.api.sql_door import open_door_store
from touchstream.adapters.bootstrap import Runtime
from touchstream.adapters.config import load_settings
from touchstream.adapters.storage.chdb_store import ChDBStore

EXAMPLES = 25
STREAMS = {"/v1/feed"}
# Two checks assume more than a query string can say. A cursor is opaque: a schema-valid string this API
# never gave out is rightly a 400, which the positive-data check counts as a rejected valid request. And
# a query string has no types: a scalar parameter sent twice is read as its last value (FastAPI), which the
# negative-data check counts as accepted invalid data. Every other check runs: no 5xx, documented status
# codes, content types, headers and bodies, authentication enforced.
EXCLUDED = [positive_data_acceptance, negative_data_rejection]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    folder: Path = tmp_path_factory.mktemp("api_openapi")
    with ChDBStore(str(folder / "chdb")) as store:
        load_story(store, folder)
        runtime = Runtime(
            load_settings(
                {
                    "TOUCHSTREAM_MODE": "embedded",
                    "TOUCHSTREAM_DATA_DIR": str(folder),
                    "TOUCHSTREAM_CLICKHOUSE_DATABASE": "default",
                }
            )
        )
        built = create_api(
            lambda: ChDBStore(str(folder / "chdb")), signer(), open_door=lambda: open_door_store(runtime)
        )
        yield built
        built.state.api.pool.close()
        built.state.api.door.close()


def _run(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)

    check()


@pytest.mark.timeout(170)
@pytest.mark.parametrize("role", ["admin", "analyst"])
def test_no_request_gets_a_5xx_or_an_undocumented_answer(app: FastAPI, role: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {op.path for op in operations}
    assert paths >= {
        "/v1/customers/search",
        "/v1/customers/{contact_id}",
        "/v1/customers/{contact_id}/timeline",
        "/v1/accounts/{account_id}",
        "/v1/pipeline",
        "/v1/forecast",
        "/v1/funnel",
        "/v1/campaigns",
        "/v1/support/tickets",
        "/v1/satisfaction/nps",
        "/v1/data-quality",
        "/v1/signals",
        "/v1/feed",
        "/v1/me",
        "/v1/sql",
    }
    headers = {"Authorization": f"Bearer {token(role)}"}
    modes = list(GenerationMode) if role == "admin" else [GenerationMode.POSITIVE]
    for operation, mode in itertools.product(operations, modes):
        if operation.path in STREAMS:
            continue
        try:
            _run(operation, mode, headers)
        except Unsatisfiable:
            if mode is not GenerationMode.NEGATIVE:
                raise
