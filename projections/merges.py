"""Contact merges as a map for query-time re-pointing: rows for `contact_merges` (merged_id -> survivor_id).

The master record emits ContactsMerged / ContactsUnmerged; nothing already written is rewritten. The
analyst views join `contact_merges` (ANY LEFT JOIN ... USING contact_id) and count a merged contact's
history under its survivor. SQL follows one hop only, so this fold flattens chains: when B (which absorbed
A) is merged into C, A's row is re-emitted pointing at C; an unmerge re-points whatever hung below.
Versions come from the masterdata log offset, so replays are idempotent (ReplacingMergeTree).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

CONTACT_MERGES_TABLE = "contact_merges"
MERGE_COLUMNS = ("merged_id", "survivor_id", "active", "reason", "version")
#: The same merges ordered by survivor (migration 20), so a merge group is read as a range of keys. Only
#: candidates: a member re-pointed to another survivor since keeps its row here, and a reader keeps those
#: whose `contact_merges` row (FINAL, by merged id) still names the survivor.
MERGE_MEMBERS_TABLE = "merge_members"
MEMBER_COLUMNS = ("survivor_id", "merged_id", "version")
#: The master record's events, as published on `masterdata.events`, that change who is merged into whom.
MERGE_TYPES = ("ContactsMerged", "ContactsUnmerged")


def member_rows(merge_rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """`merge_members` rows (survivor, merged, version) of the active ones among `contact_merges` rows."""
    return [(survivor, merged, version) for merged, survivor, active, _, version in merge_rows if active]


@dataclass
class MergeMap:
    parent: dict[str, str] = field(default_factory=dict)  # active direct merges: merged -> survivor
    reasons: dict[str, str] = field(default_factory=dict)

    def root(self, contact_id: str) -> str:
        seen = {contact_id}
        while contact_id in self.parent:
            contact_id = self.parent[contact_id]
            if contact_id in seen:  # a cycle is the master record's bug; stop rather than loop
                break
            seen.add(contact_id)
        return contact_id

    def _roots(self) -> dict[str, str]:
        return {merged: self.root(merged) for merged in self.parent}

    def _changes(self, before: dict[str, str], version: int, released: str | None) -> list[tuple[Any, ...]]:
        after = self._roots()
        rows = [
            (merged, root, 1, self.reasons.get(merged, ""), version)
            for merged, root in sorted(after.items())
            if before.get(merged) != root
        ]
        if released is not None and released not in after:
            rows.append((released, "", 0, self.reasons.pop(released, ""), version))
        return rows

    def merged(
        self, merged_id: str, survivor_id: str, version: int, reason: str = ""
    ) -> list[tuple[Any, ...]]:
        """ContactsMerged: `merged_id`'s history now counts under `survivor_id` (and so does anything that
        had been merged into `merged_id`)."""
        if merged_id == survivor_id:
            raise ValueError("a contact cannot be merged into itself")
        before = self._roots()
        self.parent[merged_id] = survivor_id
        self.reasons[merged_id] = reason
        return self._changes(before, version, None)

    def unmerged(self, merged_id: str, version: int) -> list[tuple[Any, ...]]:
        """ContactsUnmerged: `merged_id` stands alone again; contacts merged into it follow it back."""
        before = self._roots()
        self.parent.pop(merged_id, None)
        return self._changes(before, version, merged_id)

    def to_json(self) -> dict[str, Any]:
        return {"parent": dict(self.parent), "reasons": dict(self.reasons)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MergeMap:
        return cls(dict(data.get("parent", {})), dict(data.get("reasons", {})))
