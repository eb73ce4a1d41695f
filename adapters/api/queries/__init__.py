"""The query API's reads: SQL over the analyst views (docs/queries.md), answers as plain JSON-ready dicts.

Every function takes an `AbstractReadStore`, so the same code answers from chDB (embedded) and from the
ClickHouse 18.16 server. Nothing here knows about roles: `touchstream.projections.roles.Shaper` shapes
what these functions return.

Per-customer reads filter the base tables by contact id (their sorting key) and re-point merged contacts
the way the views do, so a lookup costs the same with 1k or 1M contacts; lists read the views.

One module a resource, as the routers (adapters/api/routes/): `search`, `customers` (the 360 document),
`timeline`, `accounts`, `lists`; `shared` holds JSON values and merge re-pointing. Their names are
importable from here too.
"""

from __future__ import annotations

from .accounts import ACCOUNT_CONTACT_COLUMNS, account_view
from .customers import ONE_GROUP_360, ONE_ROW_360, own_row, profile_document
from .lists import JSON_TYPES, LISTS, ViewSpec, list_view
from .search import (
    CANDIDATES,
    MIN_NAME_SCORE,
    SEARCH_KINDS,
    Match,
    OwnerOf,
    SearchKind,
    detect_kind,
    find_customers,
)
from .shared import (
    FIRST_DAY,
    LAST_DAY,
    NEVER,
    MergeGroup,
    as_dicts,
    jsonable,
    merge_group,
    merge_group_of,
    survivors,
)
from .timeline import decode_cursor, encode_cursor, timeline

__all__ = [
    "ACCOUNT_CONTACT_COLUMNS",
    "CANDIDATES",
    "FIRST_DAY",
    "JSON_TYPES",
    "LAST_DAY",
    "LISTS",
    "MIN_NAME_SCORE",
    "NEVER",
    "ONE_GROUP_360",
    "ONE_ROW_360",
    "SEARCH_KINDS",
    "Match",
    "MergeGroup",
    "OwnerOf",
    "SearchKind",
    "ViewSpec",
    "account_view",
    "as_dicts",
    "decode_cursor",
    "detect_kind",
    "encode_cursor",
    "find_customers",
    "jsonable",
    "list_view",
    "merge_group",
    "merge_group_of",
    "own_row",
    "profile_document",
    "survivors",
    "timeline",
]
