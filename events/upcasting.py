"""Upcasters: old schema versions become the current one when read, so stored events never change.

An upcaster takes the whole event as a JSON-like dict at version N and returns it at version N+1. Reading
chains them: v1 -> v2 -> … -> current. Register one for every version bump; `schemas check` relies on them
to call an old producer's schema still accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JsonDict = dict[str, Any]
Upcaster = Callable[[JsonDict], JsonDict]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(type_name, from_version)] = fn
        return fn

    return register


def can_upcast(type_name: str, from_version: int, to_version: int) -> bool:
    return all((type_name, v) in UPCASTERS for v in range(from_version, to_version))


def upcast(data: JsonDict, type_name: str, from_version: int, to_version: int) -> JsonDict:
    """Raises KeyError naming the missing step when the chain has a gap."""
    for version in range(from_version, to_version):
        step = UPCASTERS.get((type_name, version))
        if step is None:
            raise KeyError(f"no upcaster for {type_name} v{version} -> v{version + 1}")
        data = step(data)
        data["schema_version"] = version + 1
    return data


@upcaster("OpportunityCreated", 1)
def _opportunity_amount_gets_currency(data: JsonDict) -> JsonDict:
    """v1 sent `amount` as a bare number, always US dollars; v2 sends Money {amount, currency}."""
    payload = data.get("payload")
    if isinstance(payload, dict) and not isinstance(payload.get("amount"), dict):
        payload = {**payload, "amount": {"amount": payload.get("amount"), "currency": "USD"}}
        data = {**data, "payload": payload}
    return data
