"""The query API: an ASGI app (FastAPI, as the gateway) over the read models, shaped by the caller's role.

`create_api(open_store, signer, feed=...)` builds the app; `touchstream api` serves it with uvicorn
(adapters/api/compose.py wires it to `bootstrap()`). Every answer passes through the role's `Shaper`
(projections/roles.py): fields outside the role are absent; analysts see pseudonyms. The work is in
api_queries (SQL), api_auth (tokens), feed (the live feed) and dashboard (the page). Building the app
connects to nothing: stores are opened on first use, the feed starts with its first subscriber.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from ...events import Department
from ...projections.roles import SECTIONS, Shaper, is_pseudonym, pseudonym
from ...streams.ports import AbstractReadStore, FeedMessage, ReadStoreError
from ..web.headers import install_security_headers
from . import queries as q
from .auth import Principal, TokenError, TokenSigner
from .dashboard import render as render_dashboard
from .feed import FeedHub
from .models import (
    LIST_MODELS,
    AccountAnswer,
    ApiError,
    Customer360,
    Health,
    Me,
    SearchAnswer,
    SqlAnswer,
    SqlQuery,
    TimelinePage,
)


@dataclass(frozen=True)
class ApiSettings:
    default_region: str = "US"
    pool_size: int = 4
    max_limit: int = 1000
    heartbeat_s: float = 15.0
    title: str = "Touchstream query API"


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


_AUTH_HEADERS = {"WWW-Authenticate": 'Bearer realm="touchstream-api"'}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


class StorePool:
    """Read stores for the request threads: each used by one thread at a time, opened on demand."""

    def __init__(self, open_store: Callable[[], AbstractReadStore], size: int) -> None:
        self._open = open_store
        self._idle: queue.LifoQueue[AbstractReadStore] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._all: list[AbstractReadStore] = []
        self._lock = threading.Lock()

    @contextmanager
    def borrow(self) -> Iterator[AbstractReadStore]:
        if not self._slots.acquire(timeout=60):
            raise Refusal(503, "unavailable", "every read-store connection is busy; retry shortly")
        try:
            try:
                store = self._idle.get_nowait()
            except queue.Empty:
                try:
                    store = self._open()
                except ReadStoreError as exc:
                    raise Refusal(503, "unavailable", f"the read store is unavailable: {exc.detail}") from exc
                with self._lock:
                    self._all.append(store)
            broken = False
            try:
                yield store
            except ReadStoreError:
                broken = True
                raise
            finally:
                if broken and not _alive(store):
                    with self._lock:
                        if store in self._all:
                            self._all.remove(store)
                    store.close()
                else:
                    self._idle.put(store)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close every store; the pool opens new ones if it is used again."""
        with self._lock:
            stores, self._all = self._all, []
            while True:
                try:
                    self._idle.get_nowait()
                except queue.Empty:
                    break
        for store in stores:
            store.close()


def _alive(store: AbstractReadStore) -> bool:
    try:
        store.query("SELECT 1")
    except ReadStoreError:
        return False
    return True


class PseudonymIndex:
    """Pseudonym -> identity for the ids the API hands to pseudonymizing roles. HMAC cannot be reversed, so
    a pseudonym never seen is looked up by hashing the known ids (at most once per `refresh_s`)."""

    def __init__(self, key: bytes, refresh_s: float = 10.0) -> None:
        self.key = key
        self._known: dict[str, str] = {}
        self._refreshed = 0.0
        self._refresh_s = refresh_s
        self._lock = threading.Lock()

    def remember(self, value: str) -> str:
        alias = pseudonym(self.key, value)
        if alias:
            with self._lock:
                self._known[alias] = value
        return alias

    def resolve(self, store: AbstractReadStore, alias: str) -> str | None:
        if not is_pseudonym(alias):
            return None
        with self._lock:
            if alias in self._known:
                return self._known[alias]
            if time.monotonic() - self._refreshed < self._refresh_s:
                return None
            self._refreshed = time.monotonic()
        rows = store.query(
            "SELECT DISTINCT contact_id FROM customer_360 "
            "UNION ALL SELECT DISTINCT account_id FROM customer_360"
        )
        found = {pseudonym(self.key, str(r[0])): str(r[0]) for r in rows if r[0]}
        with self._lock:
            self._known.update(found)
            return self._known.get(alias)


class QueryApi:
    """Per-app state; routes call its methods."""

    def __init__(
        self,
        pool: StorePool,
        signer: TokenSigner,
        feed: FeedHub | None,
        settings: ApiSettings,
        owner_of: q.OwnerOf | None = None,
        door: StorePool | None = None,
    ) -> None:
        self.owner_of = owner_of
        self.door = door
        self.pool = pool
        self.signer = signer
        self.feed = feed
        self.settings = settings
        self.pseudonyms = PseudonymIndex(signer.pseudonym_key)

    def authenticate(self, token: str | None) -> Principal:
        try:
            return self.signer.verify(token)
        except TokenError as exc:
            raise Refusal(401, "unauthorized", str(exc), _AUTH_HEADERS) from None

    def shaper(self, principal: Principal) -> Shaper:
        return Shaper(principal.role, self.signer.pseudonym_key)

    def real_id(self, store: AbstractReadStore, principal: Principal, ref: str, what: str) -> str:
        """The id behind `ref`: a pseudonymizing role names contacts and accounts by pseudonym only."""
        if not principal.role.pseudonymize:
            return ref
        real = self.pseudonyms.resolve(store, ref)
        if real is None:
            raise Refusal(404, "not_found", f"no {what} has the pseudonym {ref!r}")
        return real

    def remember_ids(self, principal: Principal, rows: list[dict[str, Any]]) -> None:
        if principal.role.pseudonymize:
            for row in rows:
                for column in ("contact_id", "account_id"):
                    if row.get(column):
                        self.pseudonyms.remember(str(row[column]))


_bearer = HTTPBearer(
    auto_error=False, description="Authorization: Bearer <token> (`touchstream api tokens add`)"
)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "a parameter is malformed (e.g. a cursor this API did not give out)",
        401: "no token, or not a valid one (forged, expired, unknown role)",
        403: "the token's role may not use this endpoint",
        404: "nothing with that id",
        503: "the read store is unavailable: retry shortly",
    }
    return {code: {"model": ApiError, "description": text[code]} for code in codes}


def _require(api: QueryApi, endpoint: str) -> Callable[..., Principal]:
    def dependency(
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> Principal:
        principal = api.authenticate(bearer.credentials if bearer is not None else None)
        if not principal.role.may(endpoint):
            raise Refusal(
                403, "forbidden", f"the {principal.role.name} role may not use the {endpoint} endpoints"
            )
        return principal

    return dependency


LIST_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("/v1/pipeline", "pipeline", "pipeline", "Sales pipeline: one row per opportunity"),
    ("/v1/pipeline/transitions", "stage_transitions", "pipeline", "Stage transitions by month"),
    ("/v1/forecast", "forecast", "forecast", "Open pipeline by quarter, owner and currency (weighted)"),
    ("/v1/funnel", "funnel", "funnel", "Leads by month and source, and what became of them"),
    ("/v1/campaigns", "campaigns", "campaigns", "Campaign engagement"),
    ("/v1/campaigns/attribution", "attribution", "attribution", "Won revenue attributed to campaigns"),
    ("/v1/support/tickets", "tickets", "support", "Support tickets against their SLA"),
    ("/v1/support/sla", "sla", "support", "Tickets and SLA breaches by priority"),
    ("/v1/support/complaints", "complaints", "support", "Complaint themes by month"),
    ("/v1/satisfaction/csat", "csat", "satisfaction", "CSAT by month, product and account"),
    ("/v1/satisfaction/nps", "nps", "satisfaction", "NPS by month and account"),
    (
        "/v1/data-quality",
        "data_quality",
        "data_quality",
        "Data quality (CRM adoption) by source and department",
    ),
    ("/v1/signals", "signals", "signals", "Signals active now (for the departments the role hears)"),
)


def _add_list_route(app: FastAPI, api: QueryApi, path: str, name: str, endpoint: str, summary: str) -> None:
    spec = q.LISTS[name]
    params = [
        inspect.Parameter(
            "principal",
            inspect.Parameter.KEYWORD_ONLY,
            default=Depends(_require(api, endpoint)),
            annotation=Principal,
        ),
        inspect.Parameter(
            "limit",
            inspect.Parameter.KEYWORD_ONLY,
            default=Query(100, ge=1, le=api.settings.max_limit),
            annotation=int,
        ),
        inspect.Parameter(
            "offset", inspect.Parameter.KEYWORD_ONLY, default=Query(0, ge=0, le=10_000_000), annotation=int
        ),
    ]
    if spec.period:
        for bound, text in (("since", "on or after this day"), ("until", "before this day")):
            params.append(
                inspect.Parameter(
                    bound,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=Query(None, description=f"{spec.period} {text}"),
                    annotation=date | None,
                )
            )
    for column in spec.filters:
        params.append(
            inspect.Parameter(
                column,
                inspect.Parameter.KEYWORD_ONLY,
                default=Query(None, max_length=200, description=f"only rows whose {column} is this"),
                annotation=str | None,
            )
        )

    def handler(**values: Any) -> Response:
        principal: Principal = values["principal"]
        shaper = api.shaper(principal)
        with api.pool.borrow() as store:
            filters: dict[str, str | list[str]] = {}
            for column in spec.filters:
                value = values.get(column)
                if value is None:
                    continue
                if column in ("contact_id", "account_id"):
                    value = api.real_id(store, principal, value, column.split("_")[0])
                filters[column] = value
            if name == "signals":
                hears = sorted(principal.role.signal_departments)
                wanted = filters.get("department")
                filters["department"] = [d for d in hears if wanted is None or d == wanted]
            rows = q.list_view(
                store,
                name,
                filters,
                since=values.get("since"),
                until=values.get("until"),
                limit=values["limit"],
                offset=values["offset"],
            )
        api.remember_ids(principal, rows)
        shaped = [shaper.row(r) for r in rows]
        return _json({"rows": shaped, "limit": values["limit"], "offset": values["offset"]})

    handler.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    handler.__name__ = f"list_{name}"
    app.get(
        path,
        response_model=LIST_MODELS[name],
        responses=_errors(401, 403, 404, 503),
        summary=summary,
        description=f"Rows of the `{spec.view}` view (docs/queries.md), shaped by the caller's role: "
        "amount columns only for roles that see amounts; pseudonyms and no free text for analysts.",
        tags=["lists"],
    )(handler)


def _add_customer_routes(app: FastAPI, api: QueryApi) -> None:
    customers = _require(api, "customers")

    @app.get(
        "/v1/customers/search",
        response_model=SearchAnswer,
        responses=_errors(401, 403, 503),
        tags=["customers"],
        summary="Find a customer by email, phone, external id or name (fuzzy, ranked)",
    )
    def search(
        q_: str = Query(..., alias="q", min_length=1, max_length=200, description="what to look for"),
        kind: str = Query("auto", pattern="^(auto|email|phone|external_id|name)$"),
        limit: int = Query(10, ge=1, le=100),
        principal: Principal = Depends(customers),  # noqa: B008
    ) -> Response:
        """`kind=auto` reads the query: an `@` is an email, digits a phone, `system:id` an external id,
        anything else a name (similarity over a bounded candidate set). Exact matches score 1.0.
        Pseudonymizing roles (analysts) look customers up by pseudonym only."""
        shaper = api.shaper(principal)
        with api.pool.borrow() as store:
            if principal.role.pseudonymize:
                real = (
                    api.real_id(store, principal, q_.strip(), "contact") if is_pseudonym(q_.strip()) else None
                )
                if real is None and not is_pseudonym(q_.strip()):
                    raise Refusal(
                        403,
                        "forbidden",
                        f"the {principal.role.name} role sees pseudonyms only: search by a pseudonym",
                    )
                matches = [q.Match(real, 1.0, "pseudonym", {"contact_id": real})] if real else []
                used = "pseudonym"
            else:
                used = q.detect_kind(q_) if kind == "auto" else kind
                matches = q.find_customers(store, q_, used, limit, api.settings.default_region, api.owner_of)
        results = []
        for match in matches:
            row = shaper.row({**match.row, "contact_id": match.contact_id})
            results.append({**row, "score": match.score, "matched_on": match.matched_on})
        api.remember_ids(principal, [m.row for m in matches])
        return _json({"query": q_, "kind": used, "results": results})

    @app.get(
        "/v1/customers/{contact_id}",
        response_model=Customer360,
        response_model_exclude_unset=True,
        responses=_errors(401, 403, 404, 503),
        tags=["customers"],
        summary="The 360 view of a customer, as the caller's role sees it",
    )
    def customer(
        contact_id: str = Path(..., min_length=1, max_length=200),
        principal: Principal = Depends(customers),  # noqa: B008
    ) -> Response:
        """Sections and fields outside the role are absent (see GET /v1/me and docs/roles.md). A merged
        contact's id answers with the survivor's view."""
        with api.pool.borrow() as store:
            real = api.real_id(store, principal, contact_id, "contact")
            document = q.profile_document(store, real)
        if document is None:
            raise Refusal(404, "not_found", f"no customer {contact_id!r}")
        api.remember_ids(principal, [document])
        return _json(api.shaper(principal).profile(document))

    timeline_access = _require(api, "timeline")

    @app.get(
        "/v1/customers/{contact_id}/timeline",
        response_model=TimelinePage,
        responses=_errors(400, 401, 403, 404, 503),
        tags=["customers"],
        summary="A customer's touchpoints, newest first, with cursor paging and department filters",
    )
    def customer_timeline(
        contact_id: str = Path(..., min_length=1, max_length=200),
        department: list[Department] = Query(default_factory=list),  # noqa: B008
        event_type: list[str] = Query(default_factory=list, alias="type", max_length=20),  # noqa: B008
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = Query(
            None, max_length=400, pattern="^[A-Za-z0-9_-]+$", description="next_cursor of the previous page"
        ),
        principal: Principal = Depends(timeline_access),  # noqa: B008
    ) -> Response:
        shaper = api.shaper(principal)
        with api.pool.borrow() as store:
            real = api.real_id(store, principal, contact_id, "contact")
            try:
                items, next_cursor = q.timeline(
                    store,
                    real,
                    departments=[d.value for d in department],
                    types=event_type,
                    limit=limit,
                    cursor=cursor,
                )
            except ValueError as exc:
                raise Refusal(400, "bad_request", str(exc)) from None
        return _json(
            {
                "contact_id": shaper.identity(real),
                "items": [shaper.timeline_item(i) for i in items],
                "next_cursor": next_cursor,
            }
        )

    accounts = _require(api, "accounts")

    @app.get(
        "/v1/accounts/{account_id}",
        response_model=AccountAnswer,
        responses=_errors(401, 403, 404, 503),
        tags=["accounts"],
        summary="An account: its roll-up and its contacts",
    )
    def account(
        account_id: str = Path(..., min_length=1, max_length=200),
        contacts: int = Query(100, ge=1, le=1000),
        principal: Principal = Depends(accounts),  # noqa: B008
    ) -> Response:
        shaper = api.shaper(principal)
        with api.pool.borrow() as store:
            real = api.real_id(store, principal, account_id, "account")
            found = q.account_view(store, real, contacts)
        if found is None:
            raise Refusal(404, "not_found", f"no account {account_id!r}")
        api.remember_ids(principal, [found["rollup"], *found["contacts"]])
        people = [shaper.row(c) for c in found["contacts"]]
        return _json({"rollup": shaper.row(found["rollup"]), "contacts": people})


def _add_sql_route(app: FastAPI, api: QueryApi) -> None:
    sql_access = _require(api, "sql")

    @app.post(
        "/v1/sql",
        response_model=SqlAnswer,
        responses=_errors(400, 401, 403, 503),
        tags=["sql"],
        summary="One read-only query through the SQL door, as the caller's role may read",
    )
    def sql(
        body: SqlQuery,
        principal: Principal = Depends(sql_access),  # noqa: B008
    ) -> Response:
        """Parsed and allow-listed (adapters/api/sql_door.py): one SELECT over the views the role may read and
        only their columns it may see; no files, no table functions, no settings; the answer is capped.
        Runs as the read-only ClickHouse user (chDB: a read-only session). A refusal is 400 and says what
        was refused and why."""
        from .sql_door import SqlRefused, run

        if api.door is None:
            raise Refusal(503, "unavailable", "this API serves no SQL door")
        role = principal.role
        if body.role is not None and body.role != role.name:
            # An operator's door (the CLI mints an admin token): read as the narrower role they name.
            if not role.sees_everything:
                raise Refusal(403, "forbidden", f"the {role.name} role may not run SQL as another role")
            if body.role not in api.signer.roles:
                raise Refusal(400, "bad_request", f"unknown role {body.role!r}")
            role = api.signer.roles[body.role]
        try:
            with api.door.borrow() as store:
                try:
                    columns, rows = run(store, body.sql, role)
                except SqlRefused as exc:
                    raise Refusal(400, "bad_request", f"refused: {exc}") from None
                except ReadStoreError as exc:
                    raise Refusal(400, "bad_request", f"the query failed: {exc.detail}") from None
        except SqlRefused as exc:  # the door's own connection was refused (not read-only, no password)
            raise Refusal(503, "unavailable", f"the SQL door is closed: {exc}") from None
        return _json({"columns": columns, "rows": [[q.jsonable(v) for v in row] for row in rows]})


def _shape_message(shaper: Shaper, message: FeedMessage) -> dict[str, Any] | None:
    if message.kind == "signal":
        if not shaper.role.may("signals") or not shaper.signal_visible(str(message.value.get("department"))):
            return None
        return shaper.row(message.value)
    if not shaper.role.may("customers"):
        return None
    return shaper.change(message.value)


def _add_feed_route(app: FastAPI, api: QueryApi) -> None:
    @app.get(
        "/v1/feed",
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
                "description": "Server-Sent Events: `signal` (a signals.* message) and `change` (a "
                "customer360.changes message), shaped by the role; `: keep-alive` comments in between",
            },
            **_errors(401, 403, 503),
        },
        tags=["feed"],
        summary="Live feed of signals and customer changes (Server-Sent Events)",
    )
    async def feed(
        backlog: int = Query(20, ge=0, le=50, description="start with up to this many recent messages"),
        access_token: str | None = Query(None, description="the token, for EventSource (no headers)"),
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> Response:
        principal = api.authenticate(bearer.credentials if bearer is not None else access_token)
        if not principal.role.may("signals"):
            raise Refusal(403, "forbidden", f"the {principal.role.name} role may not use the feed")
        hub = api.feed
        if hub is None:
            raise Refusal(503, "unavailable", "this API serves no live feed")
        shaper = api.shaper(principal)

        async def events() -> AsyncIterator[bytes]:
            yield b"retry: 2000\n\n"
            async with hub.subscribe(backlog) as sub:
                while True:
                    try:
                        message = await asyncio.wait_for(sub.queue.get(), api.settings.heartbeat_s)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    body = _shape_message(shaper, message)
                    if body is None:
                        continue
                    data = orjson.dumps({"topic": message.topic, **body})
                    yield b"id: %d\nevent: %s\ndata: %s\n\n" % (message.seq, message.kind.encode(), data)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _add_ops_routes(app: FastAPI, api: QueryApi) -> None:
    @app.get("/healthz", response_model=Health, tags=["operations"], summary="The process answers")
    def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/v1/me",
        response_model=Me,
        responses=_errors(401),
        tags=["operations"],
        summary="Who the token says you are, and what your role sees",
    )
    def me(
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> Me:
        principal = api.authenticate(bearer.credentials if bearer is not None else None)
        role = principal.role
        return Me(
            role=role.name,
            subject=principal.subject,
            expires_at=principal.expires_at,
            pseudonymized=role.pseudonymize,
            sees_amounts=role.sees_amounts,
            sections=[s for s in SECTIONS if s in role.sections],
            fields=sorted(role.fields),
            endpoints=sorted(role.endpoints),
            signal_departments=sorted(role.signal_departments),
        )

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get(
        "/dashboard",
        response_class=HTMLResponse,
        tags=["dashboard"],
        summary="The live dashboard (HTML; the token goes in the page, never in the URL sent to us)",
    )
    def dashboard() -> HTMLResponse:
        from .dashboard import render

        return HTMLResponse(render(api.settings.title))


def create_api(
    open_store: Callable[[], AbstractReadStore],
    signer: TokenSigner,
    *,
    feed: FeedHub | None = None,
    settings: ApiSettings | None = None,
    owner_of: q.OwnerOf | None = None,
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

    _add_ops_routes(app, api)
    _add_customer_routes(app, api)
    for path, name, endpoint, summary in LIST_ROUTES:
        _add_list_route(app, api, path, name, endpoint, summary)
    _add_feed_route(app, api)
    _add_sql_route(app, api)
    install_security_headers(app, trusted_html=lambda: [render_dashboard(settings.title)])
    return app


def jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
