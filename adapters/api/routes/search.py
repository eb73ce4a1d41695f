"""Finding a customer (GET /v1/customers/search): by email, phone, external id or name; by pseudonym
only for roles that see pseudonyms."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from ....projections.roles import is_pseudonym
from ....streams.ports import AbstractReadStore
from ..auth import Principal
from ..models import SearchAnswer
from ..queries.search import Match, detect_kind, find_customers
from ..state import QueryApi, Refusal
from .access import errors, json_response, require


def _by_pseudonym(api: QueryApi, store: AbstractReadStore, principal: Principal, text: str) -> list[Match]:
    """A pseudonymizing role's search: the pseudonym's contact, or nothing; any other query is refused."""
    real = api.real_id(store, principal, text.strip(), "contact") if is_pseudonym(text.strip()) else None
    if real is None and not is_pseudonym(text.strip()):
        raise Refusal(
            403,
            "forbidden",
            f"the {principal.role.name} role sees pseudonyms only: search by a pseudonym",
        )
    return [Match(real, 1.0, "pseudonym", {"contact_id": real})] if real else []


def router(api: QueryApi) -> APIRouter:
    routes = APIRouter()
    customers = require(api, "customers")

    @routes.get(
        "/v1/customers/search",
        response_model=SearchAnswer,
        responses=errors(401, 403, 503),
        tags=["customers"],
        summary="Find a customer by email, phone, external id or name (fuzzy, ranked)",
    )
    def search(
        q_: str = Query(..., alias="q", min_length=1, max_length=200, description="what to look for"),
        kind: str = Query("auto", pattern="^(auto|email|phone|external_id|name)$"),
        limit: int = Query(10, ge=1, le=100),
        principal: Principal = Depends(customers),  # noqa: B008
    ) -> Response:
        """`kind=auto` reads the query: an `@` is an email, digits a phone, `system:id` an external id,
        anything else a name (similarity over a bounded candidate set). Exact matches score 1.0.
        Pseudonymizing roles (analysts) look customers up by pseudonym only."""
        shaper = api.shaper(principal)
        with api.pool.borrow() as store:
            if principal.role.pseudonymize:
                matches = _by_pseudonym(api, store, principal, q_)
                used = "pseudonym"
            else:
                used = detect_kind(q_) if kind == "auto" else kind
                matches = find_customers(store, q_, used, limit, api.settings.default_region, api.owner_of)
        results = []
        for match in matches:
            row = shaper.row({**match.row, "contact_id": match.contact_id})
            results.append({**row, "score": match.score, "matched_on": match.matched_on})
        api.remember_ids(principal, [m.row for m in matches])
        return json_response({"query": q_, "kind": used, "results": results})

    return routes
