"""Read models compared across runs of the same history (the cluster against the embedded run, the
embedded run in log order against other interleavings of the raw log): every view and table, with ids
renamed to names that do not depend on arrival order, and processing columns left out."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from unit.test_read_models_oracle import QUERIES

#: Columns that say when or where a row was processed, not what it holds: left out of the comparison
#: with the embedded run (the oracle comparison covers the rest).
PROCESSING_COLUMNS = frozenset({"updated_at", "version", "log_partition", "log_offset"})
#: The read models compared with the embedded run: every view of the oracle suite and the tables.
COMPARED: dict[str, str] = {
    **QUERIES,
    "touchpoint_facts": "SELECT * FROM touchpoints FINAL ORDER BY event_id",
    "dead_letters": "SELECT event_type, source, department, error FROM dead_letters FINAL ORDER BY error",
    "customer_360_current": "SELECT * FROM customer_360_current ORDER BY contact_id",
    "signals": "SELECT * FROM signals FINAL ORDER BY contact_id, signal_id",
    "contact_merges": "SELECT * FROM contact_merges FINAL WHERE active = 1 ORDER BY merged_id",
    # `contact_merges` without an anonymous caller's merges (ARRIVAL_LOGS): the merges of people.
    "merges_of_people": (
        "SELECT * FROM contact_merges FINAL WHERE active = 1 AND reason != 'anonymous_caller' "
        "ORDER BY merged_id"
    ),
    # 18.16 on a Distributed table: FINAL with ORDER BY needs the version column in the SELECT.
    "owners": "SELECT event_id, contact_id, log_offset FROM touchpoints FINAL ORDER BY event_id",
}
Model = tuple[list[str], list[list[str]]]  # column names, rows as text

#: Tables that log what was decided as events arrived, and so depend on the order they arrived in:
#: - `signals` holds every signal raised, cleared or updated, on what was known at the time: a call seen
#:   before the lead it came after raises a `caller_is_lead` that the lead then clears, and an anonymous
#:   caller's contact raises its own before its person is known. What is in force at the end (the
#:   `active_signals` view, `customer_360_current.active_signals`) is compared, and must be equal.
#: - `contact_merges` holds an anonymous caller's merge into its person, made only where the calls came
#:   first (docs/identity.md, rule 5); the merges of people (`merges_of_people`) must be equal.
#: Printed, not failed, by the order tests; every other model must be equal.
ARRIVAL_LOGS: dict[str, str] = {
    "signals": "every signal raised, on what was known when: the ones a later event cleared differ",
    "contact_merges": "the merges made: an anonymous caller's into its person, where the calls came first",
}
#: Columns naming a contact or an account: ids derive from whatever created the contact (its first strong
#: identifier, or an anonymous call), which depends on arrival order; compared by their canonical names.
CONTACT_COLUMNS = frozenset({"contact_id", "original_contact_id", "merged_id", "survivor_id"})


def survivor_of(merges: Model) -> Callable[[str], str]:
    """A contact id followed through the active rows of `contact_merges` to the contact it ends in."""
    columns, rows = merges
    merged, survivor = columns.index("merged_id"), columns.index("survivor_id")
    parent = {row[merged]: row[survivor] for row in rows}

    def root(contact: str) -> str:
        seen = {contact}
        while contact in parent and parent[contact] not in seen:
            contact = parent[contact]
            seen.add(contact)
        return contact

    return root


def grouping(models: dict[str, Model]) -> set[frozenset[str]]:
    """The events of each contact (merges followed), as sets of event ids: the identity decisions, whatever
    the ids; the events tied to no contact form one set."""
    root = survivor_of(models["contact_merges"])
    contacts: dict[str, set[str]] = {}
    for event_id, contact_id in models["owners"][1]:
        contacts.setdefault(root(contact_id) if contact_id else "", set()).add(event_id)
    return {frozenset(events) for events in contacts.values()}


def canonical(models: dict[str, Model]) -> dict[str, Model]:
    """Every model with its ids replaced by names that do not depend on arrival order, rows sorted:
    a contact id (current, original, merged or survivor) becomes `contact:<smallest event id of the
    contact it ends in>`, an account id `account:<its domain, else its company>`, a signal id
    `signal:<contact>|<kind>|<raised_at>` (it derives from the contact id)."""
    root = survivor_of(models["contact_merges"])
    events: dict[str, list[str]] = {}
    for event_id, contact_id in models["owners"][1]:
        if contact_id:
            events.setdefault(root(contact_id), []).append(event_id)
    contact_names = {c: "contact:" + min(found) for c, found in events.items()}

    def contact(value: str) -> str:
        return contact_names.get(root(value), value) if value else value

    columns, rows = models["accounts"]
    at = {name: columns.index(name) for name in ("account_id", "domain", "company")}
    account_names = {r[at["account_id"]]: f"account:{r[at['domain']] or r[at['company']]}" for r in rows}
    columns, rows = models["signals"]
    at = {name: columns.index(name) for name in ("signal_id", "contact_id", "kind", "raised_at")}
    signal_names = {
        r[at["signal_id"]]: f"signal:{contact(r[at['contact_id']])}|{r[at['kind']]}|{r[at['raised_at']]}"
        for r in rows
    }
    renamed: dict[str, Model] = {}
    for name, (columns, rows) in models.items():
        rename: dict[int, Callable[[str], str]] = {}
        for i, column in enumerate(columns):
            if column in CONTACT_COLUMNS or column.endswith("_contact_id"):
                rename[i] = contact
            elif column == "account_id":
                rename[i] = lambda v: account_names.get(v, v)
            elif column == "signal_id":
                rename[i] = lambda v: signal_names.get(v, v)
        fixed = [[rename[i](v) if i in rename else v for i, v in enumerate(row)] for row in rows]
        renamed[name] = (columns, sorted(fixed))
    return renamed


def comparable(name: str, columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> Model:
    keep = [i for i, (column, _) in enumerate(columns) if column not in PROCESSING_COLUMNS]
    return [columns[i][0] for i in keep], [[str(row[i]) for i in keep] for row in rows]


def differences(found: dict[str, Model], expected: dict[str, Model]) -> dict[str, str]:
    """The models that differ, each with its row counts, the columns that differ in its first differing
    pair of rows, and that pair (found, expected)."""
    differ = {}
    for name, (columns, rows) in expected.items():
        if found[name][1] == rows:
            continue
        pair = next((f, e) for f, e in itertools.zip_longest(found[name][1], rows) if f != e)
        apart = (
            [c for c, f, e in zip(columns, *pair, strict=True) if f != e] if None not in pair else ["(row)"]
        )
        differ[name] = (
            f"{len(found[name][1])} rows vs {len(rows)}; columns {', '.join(apart)} in the first differing "
            f"rows (found, expected): {str(pair)[:600]}"
        )
    return differ
