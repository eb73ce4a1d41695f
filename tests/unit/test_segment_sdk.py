"""A newcomer already instrumented with Segment switches by changing the host: the real
segment-analytics-python SDK, pointed at the gateway on loopback, publishes Touchstream events."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from segment.analytics import Client
from segment.analytics.request import APIError

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

    def client(self, **options: Any) -> Client:
        defaults: dict[str, Any] = {"host": self.url, "sync_mode": True, "max_retries": 1, "timeout": 10}
        return Client(self.key, **{**defaults, **options})

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


def test_the_segment_sdk_publishes_through_the_gateway(site: Site) -> None:
    analytics = site.client()
    analytics.identify(
        "u-42",
        {"email": "Jane.Doe@Acme-Widgets.com", "firstName": "Jane", "lastName": "Doe", "title": "CTO"},
    )
    analytics.group("u-42", "acct-7", {"name": "Acme Widgets", "website": "https://www.acme-widgets.com"})
    analytics.track(
        "u-42",
        "Email Opened",
        {"campaign_id": "spring-launch", "email_id": "m-1", "campaign_name": "ignored"},
        context={"traits": {"email": "jane.doe@acme-widgets.com"}},
    )
    analytics.track(
        "u-42",
        "Order Completed",
        {
            "order_id": "o-9",
            "total": 99.5,
            "currency": "EUR",
            "products": [{"sku": "W-1", "price": 49.75, "quantity": 2}],
        },
    )
    analytics.track(
        "u-42",
        "EmailClicked",
        {"campaign_id": "spring-launch", "message_id": "m-1", "url": "https://ex.com/a"},
    )

    events: dict[str, list[Any]] = defaultdict(list)
    for published in site.published():
        events[published["type"]].append(parse_event(json.dumps(published)))
    # The log orders per key, not across keys: tell the two apart by what they carry.
    group, identify = sorted(events["ContactDetailsObserved"], key=lambda e: e.payload.company is None)
    assert identify.identifiers.external_ids == {"webapp": "u-42"}
    assert identify.identifiers.email == "jane.doe@acme-widgets.com"
    assert (identify.payload.first_name, identify.payload.last_name) == ("Jane", "Doe")
    assert identify.payload.job_title == "CTO"
    assert group.identifiers.account_external_ids == {"webapp": "acct-7"}
    assert group.identifiers.account_domain == "acme-widgets.com"
    assert group.payload.company == "Acme Widgets"
    (opened,) = events["EmailOpened"]
    assert (opened.payload.campaign_id, opened.payload.message_id) == ("spring-launch", "m-1")
    assert opened.source == "webapp"
    assert opened.identifiers.strongest() == "email:jane.doe@acme-widgets.com"
    (order,) = events["OrderPlaced"]
    assert order.payload.total.amount == Decimal("99.50")
    assert order.payload.total.currency == "EUR"
    assert order.payload.lines[0].quantity == 2
    assert len(events["EmailClicked"]) == 1


def test_batched_sdk_calls_flush_and_resends_are_deduplicated(site: Site) -> None:
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
    # A resend of the same messages (an SDK retry after a lost answer) publishes nothing new.
    again = site.client()
    first = {"webinar_id": "w-1", "minutes_attended": 0}
    again.track("u-0", "Webinar Attended", first, message_id=message_ids[0], timestamp=WHEN)
    # The same messageId with another body is not a retry: the gateway refuses it rather than guess.
    with pytest.raises(APIError, match="published before with a different body"):
        again.track("u-0", "Webinar Attended", first, message_id=message_ids[0])
    published = site.published()
    assert len(published) == 25
    assert {e["event_id"] for e in published} == set(message_ids)


def test_an_unknown_event_name_is_a_clear_error_in_the_sdk(site: Site) -> None:
    analytics = site.client()
    with pytest.raises(APIError) as raised:
        analytics.track("u-1", "Spaceship Launched", {"fuel": "lots"})
    assert raised.value.status == 400
    assert "track event 'Spaceship Launched' has no mapping" in raised.value.message
    assert site.published() == []


def test_a_wrong_write_key_is_401_in_the_sdk(site: Site) -> None:
    analytics = Client("tsk_wrong", host=site.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as raised:
        analytics.track("u-1", "Email Opened", {"campaign_id": "c", "email_id": "e"})
    assert raised.value.status == 401


def test_the_key_is_checked_before_the_body_is_read(site: Site) -> None:
    opened = {
        "type": "track",
        "userId": "u-1",
        "event": "Email Opened",
        "properties": {"campaign_id": "c", "email_id": "m"},
    }
    # A wrong key with a body that is not even JSON: refused for the key, the body never parsed.
    wrong = httpx.post(f"{site.url}/v1/batch", content=b"{not json", auth=("tsk_wrong", ""))
    assert wrong.status_code == 401, wrong.text
    assert wrong.json()["code"] == "unauthorized"
    right = httpx.post(f"{site.url}/v1/batch", content=b"{not json", auth=(site.key, ""))
    assert right.status_code == 400, right.text
    assert "not valid JSON" in right.json()["message"]
    # A `writeKey` in the body is not a key: without one in the headers the body is never read.
    in_body = httpx.post(f"{site.url}/v1/batch", json={"writeKey": site.key, "batch": [opened]})
    assert in_body.status_code == 401, in_body.text
    assert site.published() == []
