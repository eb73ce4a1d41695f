"""Finding a customer: exact email / phone / external id matches, or names ranked by similarity over a
bounded candidate set (GET /v1/customers/search)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ....events import normalize_phone
from ....streams.ports import AbstractReadStore
from .shared import as_dicts, contacts_listed, survivors

SearchKind = Literal["auto", "email", "phone", "external_id", "name"]
SEARCH_KINDS: tuple[str, ...] = ("auto", "email", "phone", "external_id", "name")

#: (score, what matched, the candidate row) before merged contacts are folded into their survivors.
Found = list[tuple[float, str, dict[str, Any]]]


@dataclass(frozen=True)
class Match:
    contact_id: str
    score: float
    matched_on: str
    row: dict[str, Any]


_CANDIDATE_COLUMNS = (
    "contact_id, account_id, first_name, last_name, email, phone, company, job_title, lifecycle_stage, "
    "last_seen"
)
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]{6,}$")
CANDIDATES = 200
#: Name matches less similar than this are noise (shared trigrams, nothing more) and are not returned.
MIN_NAME_SCORE = 0.5


def detect_kind(query: str) -> str:
    text = query.strip()
    if "@" in text:
        return "email"
    if _PHONE_LIKE.match(text) and sum(c.isdigit() for c in text) >= 6:
        return "phone"
    if ":" in text and " " not in text:
        return "external_id"
    return "name"


def _grams(query: str) -> list[tuple[str, int]]:
    """(substring, weight) probes for the SQL candidate set: whole tokens weigh 3, their trigrams 1, so a
    misspelt name still shares most trigrams with the right one (ngramDistance is not on 18.16)."""
    probes: dict[str, int] = {}
    for token in re.findall(r"\w+", query.lower()):
        probes[token] = 3
        if len(token) > 3:
            for i in range(len(token) - 2):
                probes.setdefault(token[i : i + 3], 1)
    return list(probes.items())[:24]


def _similarity(query: str, row: Mapping[str, Any]) -> float:
    q = " ".join(query.lower().split())
    full = f"{row.get('first_name', '')} {row.get('last_name', '')}".strip().lower()
    reverse = f"{row.get('last_name', '')} {row.get('first_name', '')}".strip().lower()
    best = 0.0
    for text, weight in ((full, 1.0), (reverse, 0.95), (str(row.get("company", "")).lower(), 0.8)):
        if not text:
            continue
        ratio = difflib.SequenceMatcher(None, q, text).ratio()
        if text == q:
            ratio = 1.0
        elif text.startswith(q) or q in text.split():
            ratio = max(ratio, 0.9)
        best = max(best, ratio * weight)
    return round(best, 4)


def _candidates(store: AbstractReadStore, where: str, params: Mapping[str, Any], limit: int) -> list[dict]:  # type: ignore[type-arg]
    columns, rows = store.query_with_columns(
        f"SELECT {_CANDIDATE_COLUMNS} FROM customer_360 FINAL WHERE erased = 0 AND ({where}) "
        f"ORDER BY last_seen DESC, contact_id LIMIT {int(limit)}",
        params,
    )
    return as_dicts(columns, rows)


#: The master record's answer to "who does this identifier key name now" (`MasterRecord.owner_of`).
OwnerOf = Callable[[str], str | None]


def _external_contacts(store: AbstractReadStore, query: str, owner_of: OwnerOf | None = None) -> list[str]:
    """Contacts named by an external id: the master record's claim when it is wired, and every contact
    whose events were named by that id (events carrying no email are keyed by their external id)."""
    text = query.strip()
    if text.lower().startswith("ext:"):
        text = text[4:]
    system, sep, ident = text.partition(":")
    owners: list[str] = []
    if owner_of is not None and sep and system and ident:
        owner = owner_of(f"ext:{system.lower()}:{ident}")
        if owner:
            owners.append(owner)
    if sep and system and ident:
        named = looked_up(store, f"ext:{system.lower()}:{ident}")[:50]
    else:  # no system named: every external id ending so (a scan of the lookup's ext range)
        rows = store.query(
            "SELECT DISTINCT contact_id FROM contact_lookup "
            "WHERE identifier > 'ext:' AND identifier < 'ext;' AND endsWith(identifier, %(suffix)s) LIMIT 50",
            {"suffix": ":" + text},
        )
        named = [str(r[0]) for r in rows]
    return owners + [c for c in named if c not in owners]


def looked_up(store: AbstractReadStore, identifier: str) -> list[str]:
    """The contact ids `contact_lookup` holds for one identifier (`email:…`, `phone:…`, `ext:…`)."""
    return contacts_listed(store, "contact_lookup", "identifier", identifier)


def _by_email(store: AbstractReadStore, text: str) -> Found:
    email = text.lower()
    found: Found = []
    # Every contact ever written with the email (the lookup, ordered by identifier); then those contacts'
    # current rows, FINAL by the sorting key, must still carry it.
    ids = looked_up(store, f"email:{email}")
    if ids:
        exact = "contact_id IN %(ids)s AND email = %(email)s"
        params = {"ids": tuple(ids), "email": email}
        found.extend((1.0, "email", row) for row in _candidates(store, exact, params, CANDIDATES))
    if not found:
        partial = _candidates(
            store, "positionCaseInsensitiveUTF8(email, %(q)s) > 0", {"q": email}, CANDIDATES
        )
        for row in partial:
            ratio = difflib.SequenceMatcher(None, email, str(row["email"])).ratio()
            found.append((round(ratio * 0.9, 4), "email", row))
    return found


def _by_phone(store: AbstractReadStore, text: str, region: str) -> Found:
    try:
        phone = normalize_phone(text, region)
        ids = looked_up(store, f"phone:{phone}")
        exact = "contact_id IN %(ids)s AND phone = %(phone)s"
        rows = _candidates(store, exact, {"ids": tuple(ids), "phone": phone}, CANDIDATES) if ids else []
    except ValueError:
        digits = "".join(c for c in text if c.isdigit())
        rows = _candidates(store, "position(phone, %(digits)s) > 0", {"digits": digits}, CANDIDATES)
    return [(1.0, "phone", row) for row in rows]


def _by_external_id(store: AbstractReadStore, text: str, owner_of: OwnerOf | None) -> Found:
    named = _external_contacts(store, text, owner_of)
    if not named:
        return []
    rows = _candidates(store, "contact_id IN %(ids)s", {"ids": tuple(named)}, CANDIDATES)
    return [(1.0, "external_id", row) for row in rows]


def _by_name(store: AbstractReadStore, text: str) -> Found:
    probes = _grams(text)
    if not probes:
        return []
    hay = "concat(first_name, ' ', last_name, ' ', company)"
    hits = " + ".join(
        f"{weight} * (positionCaseInsensitiveUTF8({hay}, %(g{i})s) > 0)"
        for i, (_, weight) in enumerate(probes)
    )
    params = {f"g{i}": gram for i, (gram, _) in enumerate(probes)}
    columns, hit_rows = store.query_with_columns(
        f"SELECT {_CANDIDATE_COLUMNS}, {hits} AS hits FROM customer_360 FINAL "
        "WHERE erased = 0 AND hits > 0 "
        f"ORDER BY hits DESC, last_seen DESC, contact_id LIMIT {CANDIDATES}",
        params,
    )
    found: Found = []
    for row in as_dicts(columns, hit_rows):
        row.pop("hits", None)
        score = _similarity(text, row)
        if score >= MIN_NAME_SCORE:
            found.append((score, "name", row))
    return found


def _ranked(store: AbstractReadStore, found: Found, limit: int) -> list[Match]:
    """The best match per surviving contact (merged contacts answer as their survivor), best first."""
    mapped = survivors(store, sorted({str(r["contact_id"]) for _, _, r in found}))
    best: dict[str, Match] = {}
    for score, matched_on, row in found:
        survivor = mapped.get(str(row["contact_id"]), str(row["contact_id"]))
        row = {**row, "contact_id": survivor}
        if survivor not in best or score > best[survivor].score:
            best[survivor] = Match(survivor, score, matched_on, row)
    ranked = sorted(best.values(), key=lambda m: (-m.score, str(m.row.get("last_seen") or ""), m.contact_id))
    return ranked[:limit]


def find_customers(
    store: AbstractReadStore,
    query: str,
    kind: str = "auto",
    limit: int = 10,
    region: str = "US",
    owner_of: OwnerOf | None = None,
) -> list[Match]:
    """Customers matching `query`, best first: exact email / phone / external id matches score 1.0; a name
    (or a partial email) is ranked by similarity over a bounded candidate set."""
    text = query.strip()
    if not text:
        return []
    kind = detect_kind(text) if kind == "auto" else kind
    if kind == "email":
        found = _by_email(store, text)
    elif kind == "phone":
        found = _by_phone(store, text, region)
    elif kind == "external_id":
        found = _by_external_id(store, text, owner_of)
    else:
        found = _by_name(store, text)
    return _ranked(store, found, limit)
