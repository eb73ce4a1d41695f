"""An account: its roll-up and its contacts (GET /v1/accounts/{account_id}), read from the merge groups of
the contacts ever written with it (`account_members`, ordered by account), never every contact."""

from __future__ import annotations

from typing import Any

from ....projections.migrations import MIGRATIONS
from ....streams.ports import AbstractReadStore
from .customers import MANY_GROUPS_360
from .shared import as_dicts, contacts_listed, merge_groups

ACCOUNT_CONTACT_COLUMNS = (
    "contact_id, first_name, last_name, email, phone, job_title, company, lifecycle_stage, health_score, "
    "open_tickets, open_opportunities, last_seen"
)


_ACCOUNT_VIEW_PREFIX = "CREATE VIEW IF NOT EXISTS account_360 AS"
_OVER_EVERY_CONTACT = "FROM customer_360_current\nWHERE account_id != ''\n"

#: Above this many contacts ever written with an account (or in their merge groups), its view is read as
#: before, over every contact: the ids go into a query's text three times, and `max_query_size` (256 KiB)
#: holds ~6,500 quoted uuids.
LISTED_CONTACTS = 1_500


_CONTACT_NAMES = tuple(name.strip() for name in ACCOUNT_CONTACT_COLUMNS.split(","))
_GROUPED_BY_ACCOUNT = "SELECT\n    account_id,\n"


def _account_360_sql() -> str:
    """`account_360`'s own SQL (its latest migration) over `MANY_GROUPS_360`'s rows of one account, with one
    more aggregate: each contact's `ACCOUNT_CONTACT_COLUMNS` (`contact_rows`, the survivor id as its
    contact id), so the roll-up and the contacts come from one read of the account's merge groups (that
    read is most of the cost: the contacts lie apart in a table ordered by contact id). The tuple is made a
    level down: the roll-up's aliases (`sum(open_tickets) AS open_tickets`) hide the columns' names."""
    statements = [
        s.strip() for m in MIGRATIONS for s in m.statements if s.strip().startswith(_ACCOUNT_VIEW_PREFIX)
    ]
    if not statements or statements[-1].count(_OVER_EVERY_CONTACT) != 1 or "%" in statements[-1]:
        raise RuntimeError("the account_360 view changed shape: update adapters/api/queries/accounts.py")
    body = statements[-1][len(_ACCOUNT_VIEW_PREFIX) :].strip()
    if not body.startswith(_GROUPED_BY_ACCOUNT):
        raise RuntimeError("the account_360 view changed shape: update adapters/api/queries/accounts.py")
    row = ", ".join(("survivor_id", *_CONTACT_NAMES[1:]))
    rows = f"SELECT *, ({row}) AS contact_row FROM ({MANY_GROUPS_360}\n)"
    aggregates = body[len(_GROUPED_BY_ACCOUNT) :]
    body = f"{_GROUPED_BY_ACCOUNT}    groupArray(contact_row) AS contact_rows,\n{aggregates}"
    return body.replace(_OVER_EVERY_CONTACT, f"FROM ({rows}\n)\nWHERE account_id = %(account)s\n")


ACCOUNT_360_AND_CONTACTS = _account_360_sql()


def account_view(store: AbstractReadStore, account_id: str, contacts: int = 100) -> dict[str, Any] | None:
    """The account's roll-up (`account_360`) and its contacts (`customer_360_current`), each the view's SQL
    over the merge groups of the contacts `account_members` names (ordered by account): never the views
    over every contact, unless the account has more than `LISTED_CONTACTS` of them."""
    if not account_id:
        return None  # the view leaves out contacts without an account
    listed = contacts_listed(store, "account_members", "account_id", account_id)
    if len(listed) > LISTED_CONTACTS:
        return account_view_from_views(store, account_id, contacts)
    groups = merge_groups(store, listed)
    own = sorted({i for g in groups.values() for i in g.ids if i not in g.anonymous})
    if len(own) > LISTED_CONTACTS:
        return account_view_from_views(store, account_id, contacts)
    if not own:
        return None
    survivor_of = {i: g.survivor for g in groups.values() for i in g.ids}
    params = {
        "ids": own,  # a list is an array (transform), a tuple a set (IN): 18.16 wants both
        "survivors": [survivor_of[i] for i in own],
        "id_set": tuple(own),
        "account": account_id,
    }
    columns, rows = store.query_with_columns(ACCOUNT_360_AND_CONTACTS, params)
    if not rows:
        return None
    at = [name for name, _ in columns].index("contact_rows")
    (row,) = rows
    rollup = as_dicts([*columns[:at], *columns[at + 1 :]], [(*row[:at], *row[at + 1 :])])[0]
    # As the views list them: the latest seen first, then by contact id (a stable sort keeps that order).
    seen = _CONTACT_NAMES.index("last_seen")
    by_id = sorted(row[at], key=lambda c: str(c[0]))
    listed_rows = sorted(by_id, key=lambda c: c[seen], reverse=True)[: int(contacts)]
    return {"rollup": rollup, "contacts": as_dicts([(n, "") for n in _CONTACT_NAMES], listed_rows)}


def account_view_from_views(
    store: AbstractReadStore, account_id: str, contacts: int
) -> dict[str, Any] | None:
    """`account_view` from the views over every contact (`account_360`, `customer_360_current`)."""
    columns, rows = store.query_with_columns(
        "SELECT * FROM account_360 WHERE account_id = %(id)s", {"id": account_id}
    )
    if not rows:
        return None
    rollup = as_dicts(columns, rows)[0]
    contact_columns, contact_rows = store.query_with_columns(
        f"SELECT {ACCOUNT_CONTACT_COLUMNS} FROM customer_360_current WHERE account_id = %(id)s "
        f"ORDER BY last_seen DESC, contact_id LIMIT {int(contacts)}",
        {"id": account_id},
    )
    return {"rollup": rollup, "contacts": as_dicts(contact_columns, contact_rows)}


def account_signals(
    store: AbstractReadStore, account_id: str, departments: frozenset[str]
) -> list[dict[str, Any]]:
    """The account's raised account-level signals that have not expired (`active_account_signals`, the
    newest version of each), of the departments given: what sales hears about the account as a whole."""
    columns, rows = store.query_with_columns(
        "SELECT signal_id, kind, department, reason, evidence, raised_at, expires_at "
        "FROM active_account_signals WHERE account_id = %(id)s ORDER BY raised_at DESC, signal_id",
        {"id": account_id},
    )
    return [s for s in as_dicts(columns, rows) if s["department"] in departments]
