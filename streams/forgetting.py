"""Forgetting erased contacts in the read store: what `AbstractReadStore.forget_contacts` does.

The fold writes an erased contact's tombstone (`customer_360.erased = 1`, an erased `projection_state`),
but ReplacingMergeTree keeps every older row version until a merge, readable without FINAL, and the facts
in `touchpoints` keep the emails, phones and free text they arrived with. This removes them, on ClickHouse
18.16 and chDB with the same SQL (mutations: `ALTER TABLE ... DELETE` / `UPDATE`):

- `customer_360`, `projection_state`: every version of the contact that is not the tombstone is deleted;
- `contact_lookup`: every identifier row of the contact is deleted;
- `touchpoints`: every row stays (counts and funnels do not move); the personal columns are blanked
  (`email`, `phone`, a person's `identifier`), `payload` keeps its shape with personal values set to
  null, and `title` / `summary` are derived again without them;
- `work_facts`: a deal's name (`title`) is redacted as in `touchpoints`, in the same pass, and so is
  `contact_timeline`'s `summary`;
- `signals` (ids, scores, products, priorities), `contact_merges` (ids and reason codes),
  `merge_members`, `account_members` and `contact_items` (ids): nothing personal;
- `dead_letters`: a dead letter never resolved to a contact, so it cannot be found by one here.

No OPTIMIZE: a mutation rewrites every part it touches, so after it no active part holds the old values;
the parts it replaced are inactive, and `AbstractReadStore.drop_inactive_parts` makes them leave the disk
as promptly as the engine allows. Contacts without a tombstone are left alone (reported as not erased):
forgetting someone the fold has not erased yet would be undone by the next batch of their events.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .ports import AbstractReadStore

#: Payload fields that hold a person's details or free text they or an agent wrote about them; nulled at
#: any depth. Kept: ids, amounts, stages, scores, enums, catalogue names (content titles, plans, products,
#: themes, event names), and the people on our side (owner, assignee, agent, actor).
PERSONAL_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "job_title",
        "company",
        "stated_company",
        "email",
        "phone",
        "phone_unparsed",
        "date_of_birth",
        "address",
        "person_ids",
        "observed",  # an inbound email's signature block: all of the above
        "subject",  # tickets, emails and meetings written to or by the person (campaigns too: mail merge)
        "name",  # an opportunity's name often names its buyer
        "message",
        "note",
        "notes",
        "requested_by",  # an erasure request: often the person themselves
        "comment",
        "description",
        "reason",
        "resolution",
        "url",  # links carry tracking parameters naming the person
        "page_url",
        "landing_url",
        "extra_fields",  # fields this reader does not know: anything
    }
)

#: The identifier kinds that name an organization, not a person (`touchpoints.identifier_kind`).
ORGANIZATION_KINDS = ("domain", "account")
ERASED = "[erased]"
_TITLE_FIELDS = ("name", "subject", "title")  # as projections/touchpoints.py picks the title
_MUTATION_TEXT = 100_000  # bytes of values per mutation: 18.16 parses at most max_query_size (256 KiB)
_IDS_PER_QUERY = 1_000


@dataclass(frozen=True)
class TableForgotten:
    table: str
    action: str  # "deleted", "redacted" or "untouched"
    rows: int  # row versions deleted or redacted
    why: str = ""


@dataclass(frozen=True)
class ForgetReport:
    forgotten: tuple[str, ...]  # contacts whose derived rows were cleaned
    not_erased: tuple[str, ...]  # asked for, but the fold has written no tombstone for them: left alone
    tables: tuple[TableForgotten, ...]
    inactive_parts: int  # replaced parts still on disk afterwards (the engine removes them later)

    def rows(self, table: str) -> int:
        return sum(t.rows for t in self.tables if t.table == table)


def redact_payload(text: str) -> tuple[str, list[str]]:
    """The payload JSON with every personal field set to null, and the personal strings it held."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "{}", [text]
    found: list[str] = []
    return orjson.dumps(_redact(data, found)).decode(), found


def _redact(value: Any, found: list[str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            if key in PERSONAL_FIELDS:
                found.extend(_strings(inner))
                out[key] = None
            else:
                out[key] = _redact(inner, found)
        return out
    if isinstance(value, list):
        return [_redact(v, found) for v in value]
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def redact_title(redacted_payload: str) -> str:
    data = orjson.loads(redacted_payload)
    for name in _TITLE_FIELDS:
        if isinstance(data, dict) and data.get(name) is not None:
            return str(data[name])
    return ""


def redact_summary(summary: str, event_type: str, personal: list[str], limit: int = 200) -> str:
    """The timeline line with each personal value it quotes replaced by "[erased]"; the bare event type
    when that cannot be done safely (a value too short to replace without mangling the line, or a line at
    the summary's length limit, whose cut-off tail may hold the start of a value)."""
    values = {" ".join(v.split()) for v in personal} - {""}
    if not values:
        return summary
    if len(summary) >= limit or any(len(v) < 3 for v in values):
        return event_type
    summary = " ".join(summary.split())  # as summarize() wrote it
    for value in sorted(values, key=len, reverse=True):
        summary = summary.replace(value, ERASED)
    return summary


def _chunks(items: list[str], size: int = _IDS_PER_QUERY) -> Iterator[tuple[str, ...]]:
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])


def _erased_contacts(store: AbstractReadStore, ids: list[str]) -> set[str]:
    rows = store.query_chunked(
        "SELECT DISTINCT contact_id FROM customer_360 WHERE contact_id IN %(ids)s AND erased = 1", "ids", ids
    )
    return {str(r[0]) for r in rows}


def _delete_versions(store: AbstractReadStore, table: str, condition: str, ids: list[str]) -> int:
    """Delete the rows of `ids` matching `condition` (every version that is not the tombstone)."""
    deleted = 0
    for chunk in _chunks(ids):
        where = f"contact_id IN %(ids)s AND {condition}"
        count = int(store.query(f"SELECT count() FROM {table} WHERE {where}", {"ids": chunk})[0][0])
        if count:
            store.execute(f"ALTER TABLE {table} DELETE WHERE {where}", {"ids": chunk})
            deleted += count
    return deleted


_REDACT_TOUCHPOINTS = """
ALTER TABLE touchpoints UPDATE
    email = '',
    phone = '',
    identifier = if(identifier_kind IN %(organization_kinds)s, identifier, ''),
    title = transform(event_id, %(event_ids)s, %(titles)s, ''),
    summary = transform(event_id, %(event_ids)s, %(summaries)s, type),
    payload = transform(event_id, %(event_ids)s, %(payloads)s, '{}')
WHERE contact_id IN %(ids)s AND event_id IN %(event_set)s
"""


def _redact_touchpoints(store: AbstractReadStore, ids: list[str]) -> tuple[int, int, int]:
    """Blank the personal columns of every row version of these contacts' facts (and the titles of their
    deal and ticket facts, and their timeline's summaries); returns the row versions touched in
    touchpoints, work_facts and contact_timeline."""
    touched = 0
    copies: list[tuple[int, int]] = []  # (work_facts, contact_timeline) row versions redacted per mutation
    for chunk in _chunks(ids):
        rows = store.query(
            "SELECT event_id, any(type), any(title), any(summary), any(payload), count(), "
            "max(email != '' OR phone != '' OR (identifier != '' AND identifier_kind NOT IN %(kinds)s)) "
            "FROM touchpoints WHERE contact_id IN %(ids)s GROUP BY event_id ORDER BY event_id",
            {"ids": chunk, "kinds": ORGANIZATION_KINDS},
        )
        batch: dict[str, tuple[str, str, str]] = {}
        size = 0
        for event_id, event_type, title, summary, payload, versions, identified in rows:
            redacted, personal = redact_payload(str(payload))
            line = redact_summary(str(summary), str(event_type), personal)
            new_title = redact_title(redacted)
            if not identified and (new_title, line, redacted) == (title, summary, payload):
                continue  # forgotten before
            batch[str(event_id)] = (new_title, line, redacted)
            size += len(redacted) + len(line) + 2 * len(str(event_id))
            touched += int(versions)
            if size >= _MUTATION_TEXT:
                copies.append(_update_touchpoints(store, chunk, batch))
                batch, size = {}, 0
        if batch:
            copies.append(_update_touchpoints(store, chunk, batch))
    return touched, sum(w for w, _ in copies), sum(t for _, t in copies)


_REDACT_WORK_FACTS = """
ALTER TABLE work_facts UPDATE title = transform(event_id, %(event_ids)s, %(titles)s, '')
WHERE contact_id IN %(ids)s AND event_id IN %(event_set)s
"""

_REDACT_TIMELINE = """
ALTER TABLE contact_timeline UPDATE summary = transform(event_id, %(event_ids)s, %(summaries)s, type)
WHERE contact_id IN %(ids)s AND event_id IN %(event_set)s
"""


def _update_touchpoints(
    store: AbstractReadStore, ids: tuple[str, ...], batch: dict[str, tuple[str, str, str]]
) -> tuple[int, int]:
    """Redact `batch` (event id -> title, summary, payload) in touchpoints, the same events' titles in
    work_facts (a deal's name) and summaries in contact_timeline; returns the work_facts and
    contact_timeline row versions redacted."""
    event_ids = list(batch)
    chosen = {"ids": ids, "event_set": tuple(event_ids)}
    counted = "SELECT count() FROM {} WHERE contact_id IN %(ids)s AND event_id IN %(event_set)s"
    work = int(store.query(counted.format("work_facts"), chosen)[0][0])
    if work:
        store.execute(
            _REDACT_WORK_FACTS, {**chosen, "event_ids": event_ids, "titles": [batch[e][0] for e in event_ids]}
        )
    timeline = int(store.query(counted.format("contact_timeline"), chosen)[0][0])
    if timeline:
        summaries = [batch[e][1] for e in event_ids]
        store.execute(_REDACT_TIMELINE, {**chosen, "event_ids": event_ids, "summaries": summaries})
    store.execute(
        _REDACT_TOUCHPOINTS,
        {
            "organization_kinds": ORGANIZATION_KINDS,
            "event_ids": event_ids,  # a list is an array (transform), a tuple a set (IN): 18.16 wants both
            "event_set": tuple(event_ids),
            "titles": [batch[e][0] for e in event_ids],
            "summaries": [batch[e][1] for e in event_ids],
            "payloads": [batch[e][2] for e in event_ids],
            "ids": ids,
        },
    )
    return work, timeline


_UNTOUCHED = (
    TableForgotten("signals", "untouched", 0, "reasons and evidence hold ids, scores, products: no person"),
    TableForgotten("contact_merges", "untouched", 0, "contact ids and reason codes only"),
    TableForgotten("merge_members", "untouched", 0, "contact ids only"),
    TableForgotten("account_members", "untouched", 0, "account and contact ids only"),
    TableForgotten("contact_items", "untouched", 0, "contact ids and deal or ticket ids only"),
    TableForgotten("dead_letters", "untouched", 0, "a dead letter never resolved to a contact"),
)


def forget_contacts(
    store: AbstractReadStore, contact_ids: Collection[str], *, drop_parts: bool = True
) -> ForgetReport:
    """See the module docstring; `AbstractReadStore.forget_contacts` is the entry point. With
    `drop_parts=False` the mutations are left running and the replaced parts on disk, for the caller to
    wait for and drop once for many erasures (`AbstractReadStore.wait_for_mutations`, then
    `drop_inactive_parts`, over the report's changed tables): a queued mutation is kept by the engine
    and finished after a restart, and each touches only the parts that existed when it was queued."""
    asked = sorted(set(contact_ids))
    erased = _erased_contacts(store, asked) if asked else set()
    ids = [c for c in asked if c in erased]
    not_erased = tuple(c for c in asked if c not in erased)
    if not ids:
        return ForgetReport((), not_erased, (), 0)
    # The mutations touch other tables, or other rows, than each other and the reads between them: they
    # run side by side, and are waited for below or by the caller (on chDB one by one took ~2.7x as long).
    with store.mutations_in_background():
        customer_360 = _delete_versions(store, "customer_360", "erased = 0", ids)
        state = _delete_versions(store, "projection_state", "visitParamExtractBool(state, 'erased') = 0", ids)
        facts, work, timeline = _redact_touchpoints(store, ids)
        # Emails, phones and external ids by contact: the erased contact keeps none (all rows go).
        lookup = _delete_versions(store, "contact_lookup", "1 = 1", ids)
    tables = (
        TableForgotten("customer_360", "deleted", customer_360),
        TableForgotten("projection_state", "deleted", state),
        TableForgotten("touchpoints", "redacted", facts),
        TableForgotten("work_facts", "redacted", work),
        TableForgotten("contact_timeline", "redacted", timeline),
        TableForgotten("contact_lookup", "deleted", lookup),
        *_UNTOUCHED,
    )
    changed = [t.table for t in tables if t.rows]
    if not drop_parts:
        return ForgetReport(tuple(ids), not_erased, tables, 0)
    for table in changed:
        store.wait_for_mutations(table, timeout=300.0)
    inactive = store.drop_inactive_parts(changed) if changed else 0
    return ForgetReport(tuple(ids), not_erased, tables, inactive)
