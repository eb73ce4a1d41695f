"""The query API: an ASGI app (FastAPI, as the gateway) over the read models, shaped by the caller's role.

`create_api(open_store, signer, feed=...)` builds the app; `touchstream api` serves it with uvicorn
(adapters/api/compose.py wires it to `bootstrap()`). Every answer passes through the role's `Shaper`
(projections/roles.py): fields outside the role are absent; analysts see pseudonyms. This module only
composes: the routes are in routes/ (one router a resource), the state they share in state.py, the reads
in queries/, tokens in auth.py, the live feed in feed.py, the page in dashboard.py. Building the app
connects to nothing: stores are opened on first use, the feed starts with its first subscriber.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ...streams.ports import AbstractReadStore, ReadStoreError
from ..web.headers import install_security_headers
from .auth import TokenSigner
from .dashboard import render as render_dashboard
from .feed import FeedHub
from .queries.search import OwnerOf
from .routes import accounts, customers, dashboard, feed, lists, operations, search, sql, timeline
from .routes.lists import LIST_ROUTES
from .state import ApiSettings, PseudonymIndex, QueryApi, Refusal, StorePool

__all__ = [
    "LIST_ROUTES",
    "ApiSettings",
    "PseudonymIndex",
    "QueryApi",
    "Refusal",
    "StorePool",
    "create_api",
    "jsonable_errors",
]

#: The routers in the order their routes are matched (and listed in the OpenAPI document): a literal
#: path (/v1/customers/search) before the templated one that would also match it (/v1/customers/{id}).
ROUTERS = (operations, dashboard, search, customers, timeline, accounts, lists, feed, sql)


def create_api(
    open_store: Callable[[], AbstractReadStore],
    signer: TokenSigner,
    *,
    feed: FeedHub | None = None,
    settings: ApiSettings | None = None,
    owner_of: OwnerOf | None = None,
    open_door: Callable[[], AbstractReadStore] | None = None,
) -> FastAPI:
    """The query API app. `open_store` is called for each pooled connection (on request threads); the app
    closes them and stops the feed at ASGI shutdown. `owner_of` (the master record's identifier claims)
    answers external-id searches beyond what the read models hold. `open_door` opens the SQL door's
    read-only connections (`sql_door.open_door_store`); without it POST /v1/sql answers 503."""
    settings = settings or ApiSettings()
    door = StorePool(open_door, 2) if open_door is not None else None
    api = QueryApi(StorePool(open_store, settings.pool_size), signer, feed, settings, owner_of, door)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if feed is not None:
            await feed.stop()
        api.pool.close()
        if api.door is not None:
            api.door.close()

    app = FastAPI(
        title=settings.title,
        version="1",
        description="Role-shaped 360 views, departmental read models and a live feed. See docs/api.md.",
        lifespan=lifespan,
    )
    app.state.api = api
    _install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router(api))
    install_security_headers(app, trusted_html=lambda: [render_dashboard(settings.title)])
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Every refusal answers `{"error", "message"}` with its status; a failed read store is a 503."""

    @app.exception_handler(Refusal)
    async def refused(_: Request, exc: Refusal) -> JSONResponse:
        return JSONResponse({"error": exc.code, "message": exc.message}, exc.status, headers=exc.headers)

    @app.exception_handler(ReadStoreError)
    async def store_failed(_: Request, exc: ReadStoreError) -> JSONResponse:
        return JSONResponse(
            {"error": "unavailable", "message": f"the read store failed: {exc.detail}"},
            503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(exc.status_code, "bad_request")
        return JSONResponse({"error": code, "message": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_errors(exc)}, 422)


def jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
