"""Master-data events: details observed about a person, consent, and the right to be forgotten."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .enums import Channel, ConsentPurpose
from .envelope import Event, Payload
from .support import ObservedContactDetails
from .values import Ident, Name, Text


class ContactDetailsObservedPayload(ObservedContactDetails, Payload):
    """Attribute values seen by a source system; survivorship decides which become current."""

    @model_validator(mode="after")
    def _something_observed(self) -> ContactDetailsObservedPayload:
        details = [name for name in type(self).model_fields if name != "extra_fields"]
        if not any(getattr(self, name) is not None for name in details):
            raise ValueError(
                "observe at least one detail: first_name, last_name, job_title, company, email, phone, "
                "date_of_birth, address or person_ids"
            )
        return self


class ContactDetailsObserved(Event):
    type: Literal["ContactDetailsObserved"] = "ContactDetailsObserved"
    schema_version: Literal[1] = 1
    payload: ContactDetailsObservedPayload


class ConsentGivenPayload(Payload):
    purpose: ConsentPurpose
    channel: Channel | None = None
    wording_version: Ident | None = Field(default=None, description="which consent text the person saw")


class ConsentGiven(Event):
    type: Literal["ConsentGiven"] = "ConsentGiven"
    schema_version: Literal[1] = 1
    payload: ConsentGivenPayload


class ConsentWithdrawnPayload(Payload):
    purpose: ConsentPurpose
    channel: Channel | None = None


class ConsentWithdrawn(Event):
    type: Literal["ConsentWithdrawn"] = "ConsentWithdrawn"
    schema_version: Literal[1] = 1
    payload: ConsentWithdrawnPayload


class ErasureRequestedPayload(Payload):
    request_id: Ident
    requested_by: Name | None = None
    note: Text | None = None


class ErasureRequested(Event):
    type: Literal["ErasureRequested"] = "ErasureRequested"
    schema_version: Literal[1] = 1
    payload: ErasureRequestedPayload
