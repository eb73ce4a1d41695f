"""The gateway's OpenAPI document is complete enough for schemathesis to drive every operation, and no
request it generates - valid or not, with or without a key - gets a 5xx or an undocumented answer.

schemathesis is driven through its Python API (one bounded hypothesis run per operation and mode) rather
than its pytest plugin, whose fixture integration does not run on this pytest version.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from touchstream.adapters.gateway.app import GatewaySettings, create_gateway
from touchstream.adapters.gateway.auth import Keyring, add_key
from touchstream.adapters.gateway.dedup import SQLiteDedupStore
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.streams.ports import AbstractEventLog

EXAMPLES = 40
# Two checks assume one status per request, which a batch API does not give: a schema-valid envelope
# with an invalid payload is rightly a 422 (the event language decides), and a batch answers 200 with a
# rejection per bad event. Every other check runs: no 5xx, documented status codes, content types,
# headers and bodies, and authentication enforced.
EXCLUDED = [positive_data_acceptance, negative_data_rejection]


def _run(operation: Any, mode: GenerationMode, key: str) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, excluded_checks=EXCLUDED)

    check()


@pytest.mark.timeout(120)
def test_no_request_gets_a_5xx_or_an_undocumented_answer(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    key, _ = add_key(keys, name="fuzz", source="hubspot")
    dedup = SQLiteDedupStore(tmp_path / "dedup.sqlite")

    def open_log() -> AbstractEventLog:
        return SQLiteEventLog(tmp_path / "log.sqlite")

    app = create_gateway(open_log, Keyring.from_file(keys), dedup, GatewaySettings(max_batch_events=20))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {op.path for op in operations}
    assert paths >= {
        "/v1/events",
        "/v1/batch",
        "/v1/track",
        "/v1/identify",
        "/v1/group",
        "/readyz",
        "/metrics",
    }
    nothing_to_violate: list[str] = []
    try:
        for operation, mode in itertools.product(operations, list(GenerationMode)):
            if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
                continue  # the GETs take no parameters: there is nothing to send wrong
            try:
                _run(operation, mode, key)
            except Unsatisfiable:
                if mode is not GenerationMode.NEGATIVE:
                    raise
                nothing_to_violate.append(operation.path)
    finally:
        app.state.gateway.ingestor.close()
        dedup.close()
    # Segment messages allow any extra field, so some have no schema-violating form; ours must have one.
    assert "/v1/events" not in nothing_to_violate
