"""The live feed (GET /v1/feed): Server-Sent Events of signals and customer changes from the app's
`FeedHub` (adapters/api/feed.py), each message shaped by the role or withheld from it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials

from ....projections.roles import Shaper
from ....streams.feed_port import FeedMessage
from ..feed import FeedHub
from ..state import QueryApi, Refusal
from .access import bearer_scheme, errors


def _shape_message(shaper: Shaper, message: FeedMessage) -> dict[str, Any] | None:
    if message.kind == "signal":
        if not shaper.role.may("signals") or not shaper.signal_visible(str(message.value.get("department"))):
            return None
        return shaper.row(message.value)
    if not shaper.role.may("customers"):
        return None
    return shaper.change(message.value)


async def _events(hub: FeedHub, shaper: Shaper, backlog: int, heartbeat_s: float) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    async with hub.subscribe(backlog) as sub:
        while True:
            try:
                message = await asyncio.wait_for(sub.queue.get(), heartbeat_s)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            body = _shape_message(shaper, message)
            if body is None:
                continue
            data = orjson.dumps({"topic": message.topic, **body})
            yield b"id: %d\nevent: %s\ndata: %s\n\n" % (message.seq, message.kind.encode(), data)


def router(api: QueryApi) -> APIRouter:
    routes = APIRouter()

    @routes.get(
        "/v1/feed",
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
                "description": "Server-Sent Events: `signal` (a signals.* message) and `change` (a "
                "customer360.changes message), shaped by the role; `: keep-alive` comments in between",
            },
            **errors(401, 403, 503),
        },
        tags=["feed"],
        summary="Live feed of signals and customer changes (Server-Sent Events)",
    )
    async def feed(
        backlog: int = Query(20, ge=0, le=50, description="start with up to this many recent messages"),
        access_token: str | None = Query(None, description="the token, for EventSource (no headers)"),
        bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),  # noqa: B008
    ) -> Response:
        principal = api.authenticate(bearer.credentials if bearer is not None else access_token)
        if not principal.role.may("signals"):
            raise Refusal(403, "forbidden", f"the {principal.role.name} role may not use the feed")
        hub = api.feed
        if hub is None:
            raise Refusal(503, "unavailable", "this API serves no live feed")
        return StreamingResponse(
            _events(hub, api.shaper(principal), backlog, api.settings.heartbeat_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return routes
