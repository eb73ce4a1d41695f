"""The HTTP gateway: an ASGI app (FastAPI) that authenticates upstream systems, validates their events and
publishes them to the log, answering per event. Wiring only: the work is in ingest.py (prepare,
publish, de-duplicate), auth.py (keys), segment.py (Segment shapes) and the event language.

`create_gateway(open_log, keys, dedup, settings)` builds the app; `touchstream gateway` serves it with
uvicorn. The log is opened lazily on the gateway's log thread, so building the app connects to nothing.

Long because the three doors it wires (events, Segment's shapes, operations) and the OpenAPI touch-ups
share the private refusal and body-reading helpers and the `Gateway` state; each route body is short.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from pydantic import TypeAdapter
from starlette.exceptions import HTTPException

from ...events import Limits, PhoneRegions
from ...streams.ports import AbstractDedupStore, AbstractEventLog
from ..web.headers import install_security_headers
from .auth import ApiKey, Keyring, Unauthorized, authenticate_headers
from .ingest import (
    Draft,
    Ingestor,
    Outcome,
    Readiness,
    Unavailable,
    log_readiness,
    prepare,
)
from .metrics import CONTENT_TYPE, GatewayMetrics
from .models import (
    ErrorBody,
    EventIn,
    EventResult,
    HealthBody,
    IngestResponse,
    SegmentBatch,
    SegmentMessage,
    SegmentResponse,
)
from .segment import map_message


@dataclass(frozen=True)
class GatewaySettings:
    max_batch_events: int = 1000
    max_request_bytes: int = 8 * 1024 * 1024
    max_event_bytes: int = 64 * 1024
    retry_after_s: int = 5
    default_region: str | None = None
    regions: PhoneRegions | None = None  # per source, then the address's country, then the default
    # The whole body must arrive within this many seconds of the handler asking for it (408 otherwise):
    # a client trickling bytes must not hold a connection slot for as long as it likes.
    body_timeout_s: float = 30.0


class _Refusal(Exception):
    """A whole-request answer (401, 400, 413, 503) with its body."""

    def __init__(self, status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_basic = HTTPBasic(auto_error=False, description="Segment style: the API key as user name, empty password")
_AUTH_HEADERS = {"WWW-Authenticate": 'Bearer realm="touchstream", Basic realm="touchstream"'}


def _error(status: int, code: Any, message: str, **extra: Any) -> _Refusal:
    return _Refusal(status, ErrorBody(error=code, message=message, **extra))


def _status_counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    return {
        "accepted": sum(o.status == "accepted" for o in outcomes),
        "duplicates": sum(o.status == "duplicate" for o in outcomes),
        "rejected": sum(o.status == "rejected" for o in outcomes),
    }


# A single event (not a batch) answers with the status of its one outcome.
_SINGLE_STATUS = {"forbidden": 403, "conflict": 409, "too_large": 413}


def _single_status(outcome: Outcome) -> int:
    if outcome.status != "rejected":
        return 200
    return _SINGLE_STATUS.get(outcome.reason or "", 422)


async def _read_body(request: Request, limit: int, timeout_s: float = 30.0) -> bytes:
    declared = request.headers.get("content-length", "")
    too_large = _error(413, "too_large", f"the request body is over {limit} bytes; send smaller batches")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise _Refusal(
            408,
            ErrorBody(error="timeout", message=f"the body did not arrive within {timeout_s:g} s; resend it"),
            {"Connection": "close"},
        ) from None
    body = b"".join(chunks)
    if request.headers.get("content-encoding", "").lower() == "gzip":  # Segment SDKs' gzip option
        inflater = zlib.decompressobj(wbits=31)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise _error(400, "bad_request", f"the gzip body does not inflate: {exc}") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise too_large
    return body


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _error(400, "bad_request", f"the body is not valid JSON: {exc}") from None


class Gateway:
    """Per-app state: keys, the ingestor, metrics, settings. Routes call its methods."""

    def __init__(
        self, keys: Keyring, ingestor: Ingestor, settings: GatewaySettings, metrics: GatewayMetrics
    ) -> None:
        self.keys = keys
        self.ingestor = ingestor
        self.settings = settings
        self.metrics = metrics
        self.limits = Limits(max_event_bytes=settings.max_event_bytes)

    def authenticate(self, presented: str | None) -> ApiKey:
        key = self.keys.identify(presented)
        if key is None:
            why = "no API key came" if not presented else "the API key is not valid"
            raise _Refusal(
                401,
                ErrorBody(error="unauthorized", message=f"{why}: send Authorization: Bearer <key>"),
                _AUTH_HEADERS,
            )
        return key

    def authenticate_request(self, request: Request) -> ApiKey:
        """The key of `request`, from its headers, before anything reads its body (401 otherwise)."""
        try:
            return authenticate_headers(self.keys, request.headers)
        except Unauthorized as exc:
            raise _Refusal(401, ErrorBody(error="unauthorized", message=str(exc)), exc.headers) from None

    async def read_body(self, request: Request) -> bytes:
        return await _read_body(request, self.settings.max_request_bytes, self.settings.body_timeout_s)

    def check_count(self, count: int) -> None:
        if count > self.settings.max_batch_events:
            raise _error(
                413,
                "too_large",
                f"the batch has {count} events; the limit is {self.settings.max_batch_events}: split it",
            )
        if count == 0:
            raise _error(400, "bad_request", "the batch is empty")

    async def ingest(self, drafts: Sequence[Draft], key: ApiKey) -> list[Outcome]:
        prepared = prepare(drafts, key, self.limits, self.settings.default_region, self.settings.regions)
        try:
            published = await self.ingestor.publish(prepared.candidates)
        except Unavailable as exc:
            outcomes = sorted([*prepared.outcomes.values(), *exc.outcomes], key=lambda o: o.index)
            retry = self.settings.retry_after_s
            raise _Refusal(
                503,
                ErrorBody(
                    error="unavailable",
                    message=f"{exc}; retry the same events after {retry} s (their event_ids make it safe)",
                    retry_after_s=retry,
                    results=[EventResult.of(o) for o in outcomes],
                ),
                {"Retry-After": str(retry)},
            ) from exc
        return sorted([*prepared.outcomes.values(), *published], key=lambda o: o.index)


def _presented(bearer: HTTPAuthorizationCredentials | None, basic: HTTPBasicCredentials | None) -> str | None:
    if bearer is not None:
        return bearer.credentials
    if basic is not None:
        return basic.username
    return None


def _refusal_response(refusal: _Refusal) -> JSONResponse:
    return JSONResponse(
        refusal.body.model_dump(mode="json", exclude_none=True), refusal.status, headers=refusal.headers
    )


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the body is not JSON, or not an event / a list of events"},
    401: {"model": ErrorBody, "description": "no API key, or not a valid one"},
    408: {"model": ErrorBody, "description": "the body did not arrive within the body timeout"},
    413: {"model": ErrorBody, "description": "over the request byte limit or the batch count limit"},
    503: {
        "model": ErrorBody,
        "description": "the log is unavailable: retry after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    },
}


def _add_event_routes(app: FastAPI, gateway: Gateway) -> None:
    @app.post(
        "/v1/events",
        response_model=IngestResponse,
        responses={
            **_ERRORS,
            403: {"model": IngestResponse, "description": "single event: outside the key's scope"},
            409: {"model": IngestResponse, "description": "single event: its id was used for another body"},
            422: {"model": IngestResponse, "description": "single event: invalid (field paths and reasons)"},
        },
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}},
        summary="Publish one event or a batch",
        tags=["events"],
    )
    async def post_events(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
        basic: HTTPBasicCredentials | None = Depends(_basic),  # noqa: B008
    ) -> Response:
        """One event (a JSON object) or a batch (a JSON array). Every event gets its own result:
        `accepted` (acknowledged by the log before this answer), `duplicate` (its event_id was published
        within the de-duplication window with the same body), or `rejected` with a reason and, for invalid
        events, every problem's field path. A batch answers 200 even when some events are rejected; a
        single event answers with its own status (403 out of scope, 409 id conflict, 422 invalid)."""
        started = time.perf_counter()
        code = 500
        try:
            # The key first, from the headers alone: no body is read or parsed for an unknown caller.
            key = gateway.authenticate(_presented(bearer, basic))
            data = _decode(await gateway.read_body(request))
            single = isinstance(data, dict)
            if not single and not isinstance(data, list):
                raise _error(400, "bad_request", "send one event (a JSON object) or a batch (a JSON array)")
            drafts: list[Any] = [data] if single else data
            gateway.check_count(len(drafts))
            outcomes = await gateway.ingest(drafts, key)
            gateway.metrics.count("events", outcomes)
            code = _single_status(outcomes[0]) if single else 200
            body = IngestResponse(**_status_counts(outcomes), results=[EventResult.of(o) for o in outcomes])
            return JSONResponse(body.model_dump(mode="json", exclude_none=True), code)
        except _Refusal as refusal:
            code = refusal.status
            gateway.metrics.count("events", [_to_outcome(r) for r in refusal.body.results])
            return _refusal_response(refusal)
        finally:
            gateway.metrics.requests.labels("events", str(code)).inc()
            gateway.metrics.latency.labels("events").observe(time.perf_counter() - started)


def _to_outcome(result: EventResult) -> Outcome:
    return Outcome(result.index, result.status, result.event_id, result.type, result.reason)


def _segment_answer(outcomes: list[Outcome]) -> tuple[int, SegmentResponse]:
    counts = _status_counts(outcomes)
    results = [EventResult.of(o) for o in outcomes]
    rejected = [o for o in outcomes if o.status == "rejected"]
    if not rejected:
        return 200, SegmentResponse(success=True, **counts, results=results)
    # Segment SDKs raise an error carrying `code` and `message` for a 4xx (and do not retry it): a user
    # switching hosts sees each rejection in their own error handler. Accepted messages are published.
    shown = "; ".join(f"#{o.index}: {o.message}" for o in rejected[:5])
    more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
    message = f"{len(rejected)} of {len(outcomes)} messages rejected: {shown}{more}"
    if counts["accepted"] or counts["duplicates"]:
        message += "; the others were accepted"
    return 400, SegmentResponse(success=False, code="rejected", message=message, **counts, results=results)


def _add_segment_routes(app: FastAPI, gateway: Gateway) -> None:
    def route(path: str, call: str | None, body_model: type[Any]) -> None:
        schema_ref = {"$ref": f"#/components/schemas/{body_model.__name__}"}

        @app.post(
            path,
            response_model=SegmentResponse,
            # Segment SDKs read `code` and `message`: every answer here has the Segment shape.
            responses={
                **{status: {**answer, "model": SegmentResponse} for status, answer in _ERRORS.items()},
                400: {"model": SegmentResponse, "description": "rejected messages, or not a Segment body"},
            },
            openapi_extra={
                "requestBody": {"required": True, "content": {"application/json": {"schema": schema_ref}}}
            },
            tags=["segment"],
            name=f"segment_{call or 'batch'}",
            summary=f"Segment-compatible {call or 'batch'}",
            description=(
                "Segment's HTTP tracking API shape: Basic auth with the API key as user name. "
                "Messages become Touchstream events by the table in docs/segment.md."
            ),
        )
        async def segment_call(
            request: Request,
            bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
            basic: HTTPBasicCredentials | None = Depends(_basic),  # noqa: B008
        ) -> Response:
            started = time.perf_counter()
            code = 500
            endpoint = f"segment_{call or 'batch'}"
            try:
                # The key comes in the headers (how Segment's and RudderStack's SDKs send it) and is
                # checked before a byte of the body is read: a `writeKey` inside the body would make
                # every stranger's body worth reading and parsing, so it is not accepted.
                key = gateway.authenticate(_presented(bearer, basic))
                data = _decode(await gateway.read_body(request))
                if not isinstance(data, dict):
                    raise _error(400, "bad_request", "a Segment request body is a JSON object")
                messages = data.get("batch") if call is None else [data]
                if not isinstance(messages, list):
                    raise _error(400, "bad_request", "a Segment batch has a `batch` array of messages")
                gateway.check_count(len(messages))
                drafts = [map_message(m, key.source, call) for m in messages]
                outcomes = await gateway.ingest(drafts, key)
                gateway.metrics.count(endpoint, outcomes)
                code, answer = _segment_answer(outcomes)
                return JSONResponse(answer.model_dump(mode="json", exclude_none=True), code)
            except _Refusal as refusal:
                code = refusal.status
                gateway.metrics.count(endpoint, [_to_outcome(r) for r in refusal.body.results])
                body = refusal.body
                answer = SegmentResponse(
                    success=False, code=body.error, message=body.message, results=body.results
                )
                return JSONResponse(
                    answer.model_dump(mode="json", exclude_none=True), code, headers=refusal.headers
                )
            finally:
                gateway.metrics.requests.labels(endpoint, str(code)).inc()
                gateway.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)

    route("/v1/batch", None, SegmentBatch)
    for call in ("track", "identify", "group"):
        route(f"/v1/{call}", call, SegmentMessage)


def _add_ops_routes(app: FastAPI, gateway: Gateway) -> None:
    @app.get(
        "/healthz",
        response_model=HealthBody,
        response_model_exclude_none=True,
        tags=["operations"],
        summary="The process answers",
    )
    async def healthz() -> HealthBody:
        return HealthBody(status="ok")

    @app.get(
        "/readyz",
        response_model=HealthBody,
        responses={503: {"model": HealthBody, "description": "the log is not reachable"}},
        tags=["operations"],
        summary="The log is reachable: events can be accepted",
    )
    async def readyz() -> Response:
        reason = await gateway.ingestor.ready()
        if reason is None:
            return JSONResponse(HealthBody(status="ok").model_dump(exclude_none=True))
        body = HealthBody(status="unavailable", detail=reason)
        return JSONResponse(
            body.model_dump(), 503, headers={"Retry-After": str(gateway.settings.retry_after_s)}
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(gateway.metrics.render(), media_type=CONTENT_TYPE)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's document plus the request-body schemas it cannot infer from hand-read bodies."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        ref = "#/components/schemas/{model}"
        for model in (EventIn, SegmentBatch, SegmentMessage):
            schema = TypeAdapter(model).json_schema(ref_template=ref)
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        events_body = {
            "oneOf": [
                {"$ref": "#/components/schemas/EventIn"},
                {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/EventIn"}},
            ]
        }
        document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"] = (
            events_body
        )
        app.openapi_schema = document
        return document

    return build


def create_gateway(
    open_log: Callable[[], AbstractEventLog],
    keys: Keyring,
    dedup: AbstractDedupStore,
    settings: GatewaySettings | None = None,
    *,
    readiness: Readiness = log_readiness,
) -> FastAPI:
    """The gateway app. `open_log` is called once, on the gateway's log thread (SQLite connections and
    Kafka clients are bound to the thread that uses them). The app's `state.gateway.ingestor.close()` (run
    at ASGI shutdown) closes the log; the caller closes `dedup`."""
    settings = settings or GatewaySettings()
    metrics = GatewayMetrics()
    ingestor = Ingestor(open_log, dedup, readiness, on_append=metrics.append_latency.observe)
    gateway = Gateway(keys, ingestor, settings, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield
        ingestor.close()

    app = FastAPI(
        title="Touchstream gateway",
        version="1",
        description="Publish touchpoints to Touchstream over HTTP. See docs/gateway.md.",
        lifespan=lifespan,
    )
    app.state.gateway = gateway

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        # FastAPI's own refusals (a malformed Basic header, an unknown path) in our error shape.
        code = (
            "unauthorized"
            if exc.status_code == 401
            else "not_found"
            if exc.status_code == 404
            else "bad_request"
        )
        body = ErrorBody(error=code, message=str(exc.detail))
        return JSONResponse(body.model_dump(exclude_none=True), exc.status_code, headers=exc.headers)

    _add_event_routes(app, gateway)
    _add_segment_routes(app, gateway)
    _add_ops_routes(app, gateway)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    install_security_headers(app)
    return app
