"""A newcomer instrumented with RudderStack switches by changing the data plane URL: the real
rudder-sdk-python SDK, pointed at the gateway on loopback, publishes Touchstream events. RudderStack sends
an identify's traits in `context.traits` only, gzips every body and posts everything to /v1/batch."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rudderstack.analytics import Client
from rudderstack.analytics.request import APIError

from touchstream.adapters.gateway.app import create_gateway
from touchstream.adapters.gateway.auth import Keyring, add_key
from touchstream.adapters.gateway.dedup import SQLiteDedupStore
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.web.server import serving
from touchstream.events import parse_event
from touchstream.streams.ports import AbstractEventLog

pytestmark = pytest.mark.timeout(90)
WHEN = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class Site:
    def __init__(self, tmp_path: Path, url: str, key: str) -> None:
        self.log_path = tmp_path / "log.sqlite"
        self.url, self.key = url, key

    def client(self, key: str | None = None, **options: Any) -> Client:
        defaults: dict[str, Any] = {"host": self.url, "sync_mode": True, "max_retries": 1, "timeout": 10}
        return Client(key or self.key, **{**defaults, **options})

    def published(self) -> list[dict[str, Any]]:
        with SQLiteEventLog(self.log_path) as log:
            records = [r for p in range(log.partitions) for r in log.read(p, 0, 10_000)]
        return [json.loads(r.value) for r in records]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    keys = tmp_path / "keys.toml"
    key, _ = add_key(keys, name="webapp", source="webapp")
    dedup = SQLiteDedupStore(tmp_path / "dedup.sqlite")

    def open_log() -> AbstractEventLog:
        return SQLiteEventLog(tmp_path / "log.sqlite")

    app = create_gateway(open_log, Keyring.from_file(keys), dedup)
    with serving(app) as url:
        yield Site(tmp_path, url, key)
    dedup.close()


def test_the_rudderstack_sdk_publishes_through_the_gateway(site: Site) -> None:
    analytics = site.client()
    analytics.identify(
        "u-42",
        {"email": "Jane.Doe@Acme-Widgets.com", "firstName": "Jane", "lastName": "Doe", "title": "CTO"},
    )
    analytics.group("u-42", "acct-7", {"name": "Acme Widgets", "website": "https://www.acme-widgets.com"})
    analytics.track(
        "u-42",
        "Email Opened",
        {"campaign_id": "spring-launch", "email_id": "m-1"},
        context={"traits": {"email": "jane.doe@acme-widgets.com"}},
    )
    analytics.track(
        "u-42",
        "Order Completed",
        {
            "order_id": "o-9",
            "revenue": 99.5,
            "currency": "EUR",
            "products": [{"sku": "W-1", "price": 49.75, "quantity": 2}],
        },
    )

    events: dict[str, list[Any]] = defaultdict(list)
    for published in site.published():
        events[published["type"]].append(parse_event(json.dumps(published)))
    group, identify = sorted(events["ContactDetailsObserved"], key=lambda e: e.payload.company is None)
    # The identify's traits came in context.traits: every one of them was read.
    assert identify.identifiers.external_ids == {"webapp": "u-42"}
    assert identify.identifiers.email == "jane.doe@acme-widgets.com"
    assert (identify.payload.first_name, identify.payload.last_name) == ("Jane", "Doe")
    assert identify.payload.job_title == "CTO"
    assert group.identifiers.account_external_ids == {"webapp": "acct-7"}
    assert group.identifiers.account_domain == "acme-widgets.com"
    assert group.payload.company == "Acme Widgets"
    (opened,) = events["EmailOpened"]
    assert (opened.payload.campaign_id, opened.payload.message_id) == ("spring-launch", "m-1")
    assert opened.identifiers.strongest() == "email:jane.doe@acme-widgets.com"
    (order,) = events["OrderPlaced"]
    assert order.payload.total.amount == Decimal("99.50")
    assert order.payload.lines[0].quantity == 2


def test_batched_rudderstack_calls_flush_and_resends_are_deduplicated(site: Site) -> None:
    analytics = site.client(sync_mode=False, upload_size=10)
    message_ids = [str(uuid.uuid4()) for _ in range(25)]
    for n, mid in enumerate(message_ids):
        analytics.track(
            f"u-{n % 4}",
            "Webinar Attended",
            {"webinar_id": "w-1", "minutes_attended": n},
            message_id=mid,
            timestamp=WHEN,
        )
    analytics.flush()
    analytics.join()
    again = site.client()
    first = {"webinar_id": "w-1", "minutes_attended": 0}
    again.track("u-0", "Webinar Attended", first, message_id=message_ids[0], timestamp=WHEN)
    with pytest.raises(APIError, match="published before with a different body"):
        again.track("u-0", "Webinar Attended", first, message_id=message_ids[0])
    published = site.published()
    assert len(published) == 25
    assert {e["event_id"] for e in published} == set(message_ids)


def test_rudderstack_errors_reach_the_sdk(site: Site) -> None:
    with pytest.raises(APIError) as unknown:
        site.client().track("u-1", "Spaceship Launched", {"fuel": "lots"})
    assert unknown.value.status == 400
    assert "track event 'Spaceship Launched' has no mapping" in unknown.value.message
    with pytest.raises(APIError) as wrong_key:
        site.client("tsk_wrong", max_retries=0).track("u-1", "Email Opened", {"campaign_id": "c"})
    assert wrong_key.value.status == 401
    assert site.published() == []
