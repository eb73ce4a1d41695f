"""The live feed: the embedded-log source, the fan-out hub, and Server-Sent Events over a real HTTP port,
shaped by the subscriber's role."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from unit.test_api_fixtures import signer, token

from touchstream.adapters.api.compose import embedded_api, embedded_topic_log
from touchstream.adapters.api.feed import EmbeddedLogSource, FeedHub, topic_publisher
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.adapters.web.server import serving
from touchstream.streams.feed_port import FeedMessage


def signal(contact: str, department: str, kind: str, status: str = "raised") -> dict[str, Any]:
    value = {
        "signal_id": f"s-{contact}-{kind}",
        "contact_id": contact,
        "account_id": "acc-1",
        "kind": kind,
        "department": department,
        "status": status,
        "reason": f"because of {contact}",
        "evidence": ["e1"],
    }
    return {"topic": f"signals.{department}", "key": contact, "value": value}


def change(contact: str) -> dict[str, Any]:
    value = {"contact_id": contact, "version": 2, "open_tickets": 1, "health_score": 30, "lead_score": 1.5}
    return {"topic": "customer360.changes", "key": contact, "value": value}


@pytest.mark.timeout(60)
def test_the_embedded_source_delivers_new_messages_to_every_subscriber(tmp_path: Path) -> None:
    opener = embedded_topic_log(tmp_path)
    publish = topic_publisher(opener)
    publish([signal("old", "sales", "warm_lead")])  # before the feed started: history, not news

    async def scenario() -> list[list[FeedMessage]]:
        hub = FeedHub(EmbeddedLogSource(opener, poll_s=0.05))
        got: list[list[FeedMessage]] = []
        async with hub.subscribe() as first, hub.subscribe() as second:
            assert await asyncio.to_thread(hub.source.ready.wait, 10)  # the source has read the end offsets
            await asyncio.to_thread(publish, [signal("c1", "sales", "service_hold"), change("c1")])
            for sub in (first, second):
                got.append([await asyncio.wait_for(sub.queue.get(), 5) for _ in range(2)])
        await hub.stop()
        return got

    for messages in asyncio.run(scenario()):
        assert [(m.topic, m.value["contact_id"]) for m in messages] == [
            ("customer360.changes", "c1"),
            ("signals.sales", "c1"),
        ] or [(m.topic, m.value["contact_id"]) for m in messages] == [
            ("signals.sales", "c1"),
            ("customer360.changes", "c1"),
        ]
        assert len({m.seq for m in messages}) == 2


def test_a_slow_subscriber_loses_its_oldest_messages_only() -> None:
    class Silent(EmbeddedLogSource):
        async def run(self, emit: Any, stop: asyncio.Event) -> None:
            await stop.wait()

    async def scenario() -> tuple[list[str], int, list[str]]:
        hub = FeedHub(Silent(lambda topic: None), queue_size=2, backlog=3)  # type: ignore[arg-type,return-value]
        async with hub.subscribe() as sub:
            for i in range(5):
                hub.publish(FeedMessage("signals.sales", str(i), {"contact_id": str(i)}))
            kept = [sub.queue.get_nowait().value["contact_id"] for _ in range(2)]
            dropped = sub.dropped
        async with hub.subscribe(backlog=3) as late:
            backlog = [late.queue.get_nowait().value["contact_id"] for _ in range(3)]
        await hub.stop()
        return kept, dropped, backlog

    kept, dropped, backlog = asyncio.run(scenario())
    assert kept == ["3", "4"]
    assert dropped == 3
    assert backlog == ["2", "3", "4"]


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[tuple[str, Path, FeedHub]]:
    with ChDBStore(str(tmp_path / "chdb")) as store:
        prepare_read_store(store)
        app = embedded_api(
            lambda: ChDBStore(str(tmp_path / "chdb")), tmp_path / "topics", signer(), poll_s=0.05
        )
        with serving(app) as url:
            yield url, tmp_path / "topics", app.state.api.feed


def read_events(url: str, role: str, want: int, seen: list[dict[str, Any]], ready: threading.Event) -> None:
    with (
        httpx.Client(timeout=20) as client,
        client.stream("GET", f"{url}/v1/feed", params={"access_token": token(role), "backlog": 0}) as answer,
    ):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in answer.iter_lines():
            ready.set()
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                seen.append({"event": event, **orjson.loads(line[6:])})
                if len(seen) >= want:
                    return


@pytest.mark.timeout(60)
def test_server_sent_events_are_shaped_by_role(api_url: tuple[str, Path, FeedHub]) -> None:
    url, topics, hub = api_url
    assert httpx.get(f"{url}/v1/feed").status_code == 401
    assert httpx.get(f"{url}/v1/feed", params={"access_token": "tsa_x.y"}).status_code == 401
    readers: dict[str, tuple[list[dict[str, Any]], threading.Thread, threading.Event]] = {}
    wants = {"sales": 3, "support": 3, "analyst": 4}
    for role, want in wants.items():
        seen: list[dict[str, Any]] = []
        ready = threading.Event()
        thread = threading.Thread(target=read_events, args=(url, role, want, seen, ready), daemon=True)
        thread.start()
        readers[role] = (seen, thread, ready)
    for _, _, ready in readers.values():
        assert ready.wait(10)
    assert hub.source.ready.wait(10)
    deadline = time.monotonic() + 10
    while hub.subscribers < len(wants) and time.monotonic() < deadline:
        time.sleep(0.02)
    publish = topic_publisher(embedded_topic_log(topics))
    publish([signal("c1", "sales", "service_hold"), signal("c2", "support", "churn_risk")])
    publish([change("c1"), change("c2")])
    for _, thread, _ in readers.values():
        thread.join(15)
    sales, support, analyst = (readers[r][0] for r in ("sales", "support", "analyst"))
    assert sorted((m["event"], m.get("kind", "")) for m in sales) == [
        ("change", ""),
        ("change", ""),
        ("signal", "service_hold"),
    ]
    sales_signals = [m for m in sales if m["event"] == "signal"]
    assert [m["kind"] for m in sales_signals] == ["service_hold"]
    assert sales_signals[0]["reason"] == "because of c1"
    sales_changes = [m for m in sales if m["event"] == "change"]
    assert all("open_tickets" not in m and "lead_score" in m for m in sales_changes)
    assert [m["kind"] for m in support if m["event"] == "signal"] == ["churn_risk"]
    assert all("open_tickets" in m and "lead_score" not in m for m in support if m["event"] == "change")
    assert len(analyst) == 4
    assert all(m["contact_id"].startswith("p_") and "reason" not in m for m in analyst)


@pytest.mark.timeout(60)
def test_the_embedded_hub_replays_the_latest_messages_then_follows_without_gap_or_repeat(
    tmp_path: Path,
) -> None:
    opener = embedded_topic_log(tmp_path)
    publish = topic_publisher(opener)
    for i in range(4):  # the demo ran before anyone looked: signals and changes on several topics
        publish([signal(f"c{i}", ("sales", "support")[i % 2], "warm_lead")])
        publish([change(f"c{i}")])

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        hub = FeedHub(EmbeddedLogSource(opener, poll_s=0.05), backlog=5)
        async with hub.subscribe(backlog=20) as sub:
            replayed = [f"{m.kind}:{m.value['contact_id']}" for m in drain(sub.queue)]
            assert await asyncio.to_thread(hub.source.ready.wait, 10)
            await asyncio.to_thread(publish, [signal("new", "sales", "service_hold")])
            live = await asyncio.wait_for(sub.queue.get(), 5)
            assert sub.queue.empty()
        async with hub.subscribe(backlog=2) as late:
            last_two = [f"{m.kind}:{m.value['contact_id']}" for m in drain(late.queue)]
        await hub.stop()
        return replayed, [f"{live.kind}:{live.value['contact_id']}"], last_two

    replayed, live, last_two = asyncio.run(scenario())
    # The hub keeps 5 of the 8, each topic its share (newest first, in turn), shown oldest first.
    assert replayed == ["signal:c0", "signal:c2", "change:c2", "signal:c3", "change:c3"]
    assert live == ["signal:new"]  # followed from right after the replayed ones: nothing twice
    assert last_two == ["change:c3", "signal:new"]


def drain(queue: asyncio.Queue[FeedMessage]) -> list[FeedMessage]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


@pytest.mark.timeout(60)
def test_a_page_opened_after_the_fact_gets_the_recent_signals_shaped_by_role(
    api_url: tuple[str, Path, FeedHub],
) -> None:
    url, topics, _ = api_url
    publish = topic_publisher(embedded_topic_log(topics))
    publish([signal("c1", "sales", "service_hold"), signal("c2", "support", "churn_risk")])
    publish([change("c1")])
    seen: list[dict[str, Any]] = []
    with (
        httpx.Client(timeout=20) as client,
        client.stream(
            "GET", f"{url}/v1/feed", params={"access_token": token("sales"), "backlog": 20}
        ) as answer,
    ):
        event = ""
        for line in answer.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                seen.append({"event": event, **orjson.loads(line[6:])})
                if len(seen) == 2:
                    break
    # Sales hears its own department's signal and the change, never support's churn risk.
    assert [(m["event"], m.get("kind"), m["contact_id"]) for m in seen] == [
        ("signal", "service_hold", "c1"),
        ("change", None, "c1"),
    ]
