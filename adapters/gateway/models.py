"""The gateway's wire shapes, as pydantic models: they are its OpenAPI document (answers and request
bodies). Request bodies are read by hand (size caps before parsing, one error per event), so their models
only describe; the event language in `touchstream.events` decides what is valid."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ...events import EVENT_TYPES, Department
from .ingest import Outcome, Reason, Status


class ProblemOut(BaseModel):
    path: str = Field(description="dotted field path in the event, `$` for the whole event")
    message: str
    got: str | None = Field(default=None, description="what came, shortened")


class EventResult(BaseModel):
    index: int = Field(description="position of the event in the request (0 for a single event)")
    status: Status
    event_id: str | None = None
    type: str | None = None
    reason: Reason | None = Field(default=None, description="why it was rejected")
    message: str | None = None
    problems: list[ProblemOut] = Field(default_factory=list)
    partition: int | None = Field(default=None, description="where the log put an accepted event")
    offset: int | None = None

    @classmethod
    def of(cls, outcome: Outcome) -> EventResult:
        return cls(
            index=outcome.index,
            status=outcome.status,
            event_id=outcome.event_id,
            type=outcome.type,
            reason=outcome.reason,
            message=outcome.message,
            problems=[ProblemOut(path=p.path, message=p.message, got=p.got) for p in outcome.problems],
            partition=outcome.partition,
            offset=outcome.offset,
        )


class IngestResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


ErrorCode = Literal[
    "unauthorized", "bad_request", "too_large", "unavailable", "not_found", "rejected", "timeout"
]


class ErrorBody(BaseModel):
    error: ErrorCode
    message: str
    retry_after_s: int | None = Field(default=None, description="on 503: seconds to wait before retrying")
    results: list[EventResult] = Field(
        default_factory=list, description="on 503: what is known per event (see docs/gateway.md)"
    )


class SegmentResponse(BaseModel):
    """Segment's answer shape (`success`, and on errors `code` + `message`, which its SDKs raise), plus
    one result per message."""

    success: bool
    code: str | None = None
    message: str | None = None
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    results: list[EventResult] = Field(default_factory=list)


class HealthBody(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = None


# --- request bodies (documentation; see the module docstring) --------------------------------------------


_TYPE_NAMES: list[JsonValue] = [*sorted(EVENT_TYPES)]


class IdentifiersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = None
    phone: str | None = None
    external_ids: dict[str, str] = Field(default_factory=dict)
    account_domain: str | None = None
    account_external_ids: dict[str, str] = Field(default_factory=dict)


class EventIn(BaseModel):
    """One event in the wire form of docs/events.md; `payload` follows its type's JSON Schema."""

    model_config = ConfigDict(extra="forbid")
    event_id: str = Field(json_schema_extra={"format": "uuid"})
    type: str = Field(json_schema_extra={"enum": _TYPE_NAMES})
    schema_version: int = Field(ge=1)
    occurred_at: datetime
    recorded_at: datetime
    source: str
    department: Department | None = None
    actor: str | None = None
    identifiers: IdentifiersIn
    payload: dict[str, Any]


class SegmentMessage(BaseModel):
    """A Segment tracking-API message (track, identify or group); other fields are ignored."""

    model_config = ConfigDict(extra="allow")
    type: Literal["track", "identify", "group"] | None = None
    messageId: str | None = None
    userId: str | None = None
    anonymousId: str | None = None
    event: str | None = None
    groupId: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime | None = None


class SegmentBatch(BaseModel):
    model_config = ConfigDict(extra="allow")
    batch: list[SegmentMessage]
    sentAt: datetime | None = None
    writeKey: str | None = Field(
        default=None, description="ignored: the key is read from the Authorization header only"
    )
