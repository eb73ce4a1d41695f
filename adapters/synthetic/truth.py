"""The ground truth: who is who in the generated events, to score an identity-resolution run against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TruthAccount:
    account_id: str
    name: str
    domain: str
    currency: str
    crm_id: str  # the salesforce account id (the CRM record; events may or may not show it)
    external_ids: dict[str, str]  # the account ids that did appear in events, by system
    industry: str = ""  # as the CRM records it

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "account", **self.__dict__}


@dataclass(frozen=True)
class TruthPerson:
    person_id: str
    account_id: str | None
    first_name: str
    last_name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    external_ids: dict[str, tuple[str, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "person", **self.__dict__}


@dataclass(frozen=True)
class Truth:
    """Who is who: accounts and persons that appear in the events, and each event's person and account."""

    accounts: tuple[TruthAccount, ...]
    persons: tuple[TruthPerson, ...]
    events: dict[str, tuple[str, str | None]]  # event_id -> (person_id, account_id)
