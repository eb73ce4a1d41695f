"""What every read shares: read-store values as JSON, and the re-pointing of merged contacts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ....projections.customer_360 import NEVER as NEVER, jsonable as jsonable  # re-exported
from ....streams.ports import AbstractReadStore, Column

FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2105, 12, 31)


def as_dicts(columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    names = [name for name, _ in columns]
    return [{n: jsonable(v) for n, v in zip(names, row, strict=True)} for row in rows]


@dataclass(frozen=True)
class MergeGroup:
    """One contact's merge group as the views re-point it (`contact_merges`, active rows)."""

    survivor: str
    ids: list[str]  # the survivor and every contact merged into it, sorted
    anonymous: frozenset[str]  # those merged as anonymous callers: their own 360 rows are left out


# The active merges naming the contacts, or naming their survivors as survivor: the candidates are the
# contacts and the members `merge_members` (ordered by survivor) lists under them or under their
# survivors; each is kept as its `contact_merges` row (ordered by merged id) stands now. Both are ranges
# of sorting keys.
_MERGE_GROUPS = """
SELECT merged_id, survivor_id, reason = 'anonymous_caller' FROM contact_merges FINAL
WHERE active = 1 AND (merged_id IN %(ids)s OR merged_id IN (
    SELECT merged_id FROM merge_members WHERE survivor_id IN %(ids)s OR survivor_id IN (
        SELECT survivor_id FROM contact_merges FINAL WHERE merged_id IN %(ids)s AND active = 1)))
"""


def merge_groups(store: AbstractReadStore, contact_ids: Sequence[str]) -> dict[str, MergeGroup]:
    """Each contact's merge group (`contact_id -> its group`), in one round trip."""
    if not contact_ids:
        return {}
    rows = [(str(m), str(s), bool(a)) for m, s, a in store.query(_MERGE_GROUPS, {"ids": tuple(contact_ids)})]
    survivor_of = {m: s for m, s, _ in rows}
    members: dict[str, dict[str, bool]] = {}
    for merged_id, survivor_id, anonymous in rows:
        members.setdefault(survivor_id, {})[merged_id] = anonymous
    groups: dict[str, MergeGroup] = {}
    for contact_id in contact_ids:
        survivor = survivor_of.get(contact_id, contact_id)
        merged = members.get(survivor, {})
        groups[contact_id] = MergeGroup(
            survivor,
            sorted({survivor, *merged}),
            frozenset(m for m, anonymous in merged.items() if anonymous),
        )
    return groups


def merge_group_of(store: AbstractReadStore, contact_id: str) -> MergeGroup:
    """The merge group `contact_id` belongs to, in one round trip."""
    return merge_groups(store, [contact_id])[contact_id]


def merge_group(store: AbstractReadStore, contact_id: str) -> tuple[str, list[str]]:
    """(survivor, every contact id whose rows belong to it): the view's re-pointing, for one contact."""
    group = merge_group_of(store, contact_id)
    return group.survivor, group.ids


def survivors(store: AbstractReadStore, contact_ids: Sequence[str]) -> dict[str, str]:
    if not contact_ids:
        return {}
    rows = store.query(
        "SELECT merged_id, survivor_id FROM contact_merges FINAL WHERE merged_id IN %(ids)s AND active = 1",
        {"ids": tuple(contact_ids)},
    )
    mapped = {str(m): str(s) for m, s in rows}
    return {c: mapped.get(c, c) for c in contact_ids}


def contacts_listed(store: AbstractReadStore, table: str, key: str, value: str) -> list[str]:
    """The contact ids `table` (ordered by `key`, then contact id) lists under `value`, sorted: a range of
    its sorting key, one granule or a few however big the table. Candidates only: the caller keeps those
    whose current rows still say so."""
    rows = store.query(f"SELECT DISTINCT contact_id FROM {table} WHERE {key} = %(value)s", {"value": value})
    return sorted(str(r[0]) for r in rows)
