"""The envelope every touchpoint shares, and the base of every typed event."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .values import (
    EARLIEST_INSTANT,
    Department,
    FrozenModel,
    Identifiers,
    Name,
    SystemName,
    UtcDatetime,
)

# How far ahead of the reader's clock a timestamp may be before it is called absurd (clock skew allowance).
MAX_FUTURE_SKEW = timedelta(days=1)


# How many fields a reader does not know it keeps aside in one payload before calling it junk.
MAX_EXTRA_FIELDS = 32
# Each payload model's field names, looked up once: `model_fields` is a descriptor that costs on every event.
_FIELDS: dict[type, frozenset[str]] = {}


def _is_none(value: object) -> bool:
    return value is None


class Payload(FrozenModel):
    """Base of every event's typed payload.

    A field this reader does not know (a producer ahead of the catalogue, a CRM's custom field) is kept
    aside in `extra_fields`, as sent, instead of costing the whole event; nothing downstream reads it as
    typed data. The envelope, identifiers and nested objects stay strict: a typo there is refused. The
    JSON Schema stays strict too: it is the producers' contract (and the compatibility gate's), the
    reader is only lenient so that no event is lost for one field."""

    # Written out only when something was kept aside: every other event serializes as it was sent.
    # Any, not str/JsonValue: the models strip whitespace from strings, and these are kept exactly as sent
    # (they came from JSON, or from the caller's mapping).
    extra_fields: Annotated[dict[Any, Any], Field(max_length=MAX_EXTRA_FIELDS)] | None = Field(
        default=None,
        description="fields of the payload this reader does not know, kept aside as sent",
        exclude_if=_is_none,
    )

    @model_validator(mode="before")
    @classmethod
    def _keep_unknown_fields_aside(cls, data: Any) -> Any:
        known = _FIELDS.get(cls) or _FIELDS.setdefault(cls, frozenset(cls.model_fields))
        if not isinstance(data, dict) or all(k in known for k in data):
            return data
        unknown = {k: v for k, v in data.items() if k not in known}
        kept = {k: v for k, v in data.items() if k in known}
        earlier = kept.get("extra_fields")
        merged = {**earlier, **unknown} if isinstance(earlier, dict) else unknown
        return {**kept, "extra_fields": merged}


class Event(FrozenModel):
    """An immutable touchpoint as published to Kafka.

    `event_id` is chosen by the producer and is the idempotency key: the same id is the same event, however
    often it is sent. `type` and `schema_version` select the payload's model; older versions are upcast when
    read. `occurred_at` is when it happened in the world, `recorded_at` when the source system recorded it.
    """

    home_department: ClassVar[Department] = Department.system

    event_id: UUID
    type: str
    schema_version: int = Field(ge=1)
    occurred_at: UtcDatetime
    recorded_at: UtcDatetime
    source: SystemName = Field(description="the upstream system that published it, e.g. 'hubspot'")
    department: Department
    actor: Name | None = Field(default=None, description="who recorded it (user or agent), if known")
    identifiers: Identifiers
    payload: Payload

    @model_validator(mode="before")
    @classmethod
    def _department_defaults_to_home(cls, data: Any) -> Any:
        if isinstance(data, dict) and "department" not in data:
            return {**data, "department": cls.home_department}
        return data

    @field_validator("occurred_at", "recorded_at")
    @classmethod
    def _plausible_instant(cls, value: Any, info: ValidationInfo) -> Any:
        now = (info.context or {}).get("now") if isinstance(info.context, dict) else None
        if value < EARLIEST_INSTANT:
            raise ValueError("must be after 1970-01-02T00:00:00Z")
        if now is not None and value > now + MAX_FUTURE_SKEW:
            raise ValueError(f"is more than {MAX_FUTURE_SKEW.days} day in the future of {now.isoformat()}")
        return value

    @classmethod
    def current_version(cls) -> int:
        default = cls.model_fields["schema_version"].default
        return int(default) if isinstance(default, int) else 1

    @classmethod
    def type_name(cls) -> str:
        return str(cls.model_fields["type"].default)
